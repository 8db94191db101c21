//! Helpers shared by the hostile-input and out-of-band tests: every config,
//! a snapshot of everything a caller can observe, and a heap over memory the
//! test owns.

use sysarena::{
    ArenaInfo, ArenaManager, Coalescing, Config, Heap, Policy, Stats, TableEntry, TableStorage,
};
use sysarena_testkit::AlignedRegion;

/// Every policy under both coalescing modes.
pub fn configs() -> impl Iterator<Item = Config> {
    Policy::ALL
        .into_iter()
        .flat_map(|p| Coalescing::ALL.into_iter().map(move |c| Config::new(p, c)))
}

/// The configs a test runs under: all of them natively; under Miri, which
/// looks for undefined behaviour rather than policy logic, the classic and
/// the fast model, which cover both coalescing modes and both kinds of
/// search (every policy runs natively, on the same inputs).
pub fn test_configs() -> Vec<Config> {
    if cfg!(miri) {
        vec![Config::classic(), Config::fast()]
    } else {
        configs().collect()
    }
}

/// The manager's own invariants and the accounting invariant: the core
/// tests' check, shared.
pub use crate::common::check;

/// [`check`] after a hostile call. Under Miri, where `check_invariants`
/// (a walk of every size class) costs about a quarter of a second, only the
/// accounting: the snapshot comparison still covers every call, and the
/// cases run the full [`check`] at their set-up points. Natively, all of it.
pub fn check_after_call<const N: usize, S: TableStorage>(m: &ArenaManager<N, S>) {
    if cfg!(miri) {
        let s = m.stats();
        assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity);
        assert_eq!(
            s.free_arenas + s.used_arenas + s.spare_descriptors,
            s.descriptors
        );
    } else {
        check(m);
    }
}

/// Everything a caller can observe of a manager: the accounting, the arenas
/// in address order and every table slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub stats: Stats,
    pub arenas: Vec<ArenaInfo>,
    pub table: Vec<TableEntry>,
}

impl Snapshot {
    pub fn of<const N: usize, S: TableStorage>(m: &ArenaManager<N, S>) -> Snapshot {
        Snapshot {
            stats: m.stats(),
            arenas: m.arenas().collect(),
            table: m.table().collect(),
        }
    }

    /// Asserts that `m` looks exactly as it did when `self` was taken.
    ///
    /// Two exceptions, by design: `Stats::fallback_searches` counts the
    /// searches segregated fit made (a work counter, like a cache-miss
    /// count), and a failed search is a search: it may go up by one. And an
    /// allocation that fails flushes the fast model's quick lists first
    /// (documented on `alloc`): the cached arenas, free already, become
    /// ordinary free arenas and merge with their free neighbours. Then the
    /// in-use arenas and every byte count must be unchanged.
    pub fn assert_same<const N: usize, S: TableStorage>(&self, m: &ArenaManager<N, S>, what: &str) {
        let now = Snapshot::of(m);
        let searches = now.stats.fallback_searches - self.stats.fallback_searches;
        assert!(searches <= 1, "{what}: {searches} fallback searches");
        let mut now_masked = now.clone();
        now_masked.stats.fallback_searches = self.stats.fallback_searches;
        if self.stats.cached_arenas > 0 && now.stats.cached_arenas == 0 {
            assert_flushed_only(self, &now_masked, what);
        } else {
            assert_eq!(&now_masked, self, "{what}: the manager changed");
        }
        check_after_call(m);
    }
}

/// `now` is `before` with its quick lists flushed, and nothing else changed.
fn assert_flushed_only(before: &Snapshot, now: &Snapshot, what: &str) {
    let live = |s: &Snapshot| -> Vec<ArenaInfo> {
        s.arenas.iter().filter(|a| a.in_use).copied().collect()
    };
    assert_eq!(live(now), live(before), "{what}: an in-use arena changed");
    let (b, n) = (before.stats, now.stats);
    assert_eq!(
        (
            b.capacity,
            b.free_bytes,
            b.in_use_bytes,
            b.requested_bytes,
            b.used_arenas
        ),
        (
            n.capacity,
            n.free_bytes,
            n.in_use_bytes,
            n.requested_bytes,
            n.used_arenas
        ),
        "{what}: a byte count changed"
    );
    assert!(
        n.largest_free >= b.largest_free,
        "{what}: the largest free arena shrank"
    );
}

/// A heap over memory the test owns and frees on drop (Miri checks leaks).
#[derive(Debug)]
pub struct Owned<const N: usize> {
    pub heap: Heap<N>,
    /// Declared after the heap, so that it drops after it.
    _mem: AlignedRegion,
}

impl<const N: usize> Owned<N> {
    /// A heap of `N` descriptors over `len` fresh bytes aligned to 64.
    pub fn new(len: usize, config: Config) -> Self {
        let mem = AlignedRegion::new(len, 64);
        // SAFETY: the region is `len` bytes, exclusively the heap's, and
        // freed only when `Owned` drops, after the heap.
        let heap = unsafe { Heap::new(mem.base(), len, config) };
        Owned { heap, _mem: mem }
    }
}

impl<const N: usize> core::ops::Deref for Owned<N> {
    type Target = Heap<N>;
    fn deref(&self) -> &Heap<N> {
        &self.heap
    }
}

impl<const N: usize> core::ops::DerefMut for Owned<N> {
    fn deref_mut(&mut self) -> &mut Heap<N> {
        &mut self.heap
    }
}

/// The shared deterministic generator (xorshift64*).
pub use sysarena_testkit::Rng;
