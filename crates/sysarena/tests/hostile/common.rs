//! Helpers shared by the hostile-input and out-of-band tests: every config,
//! a snapshot of everything a caller can observe, and a heap over memory the
//! test owns.

use core::alloc::Layout;
use core::ptr::NonNull;

use sysarena::{
    ArenaInfo, ArenaManager, Coalescing, Config, Heap, Policy, Stats, TableEntry, TableStorage,
};

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
pub use crate::shared::check;

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
    /// One exception, by design: `Stats::fallback_searches` counts the
    /// searches segregated fit made (a work counter, like a cache-miss
    /// count), and a failed search is a search. It may go up by one; nothing
    /// else may change.
    pub fn assert_same<const N: usize, S: TableStorage>(&self, m: &ArenaManager<N, S>, what: &str) {
        let now = Snapshot::of(m);
        let searches = now.stats.fallback_searches - self.stats.fallback_searches;
        assert!(searches <= 1, "{what}: {searches} fallback searches");
        let mut now_masked = now.clone();
        now_masked.stats.fallback_searches = self.stats.fallback_searches;
        assert_eq!(&now_masked, self, "{what}: the manager changed");
        check_after_call(m);
    }
}

/// A heap over memory the test owns and frees on drop (Miri checks leaks).
#[derive(Debug)]
pub struct Owned<const N: usize> {
    pub heap: Heap<N>,
    base: NonNull<u8>,
    layout: Layout,
}

impl<const N: usize> Owned<N> {
    /// A heap of `N` descriptors over `len` fresh bytes aligned to 64.
    pub fn new(len: usize, config: Config) -> Self {
        let layout = Layout::from_size_align(len, 64).unwrap();
        // SAFETY: `len` is not zero (every caller passes a constant > 0).
        let base = NonNull::new(unsafe { std::alloc::alloc(layout) }).expect("test memory");
        // SAFETY: the allocation is `len` bytes, exclusively the heap's, and
        // freed only when `Owned` drops, after the heap.
        let heap = unsafe { Heap::new(base, len, config) };
        Owned { heap, base, layout }
    }
}

impl<const N: usize> Drop for Owned<N> {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the heap is not used
        // after this.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) };
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

/// A small deterministic generator (xorshift64*): no dependency, the same
/// sequence under Miri and natively.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
