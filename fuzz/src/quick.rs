//! Checks of the fast model's quick lists shared by the targets that run
//! it (`chaos`, `heap_patterns`, `movable`): what the manager says it
//! caches must add up, stay within the documented bounds, and never be in
//! use; a failed operation may have flushed the lists and nothing else.

use std::collections::BTreeMap;

use sysarena::{
    ArenaInfo, ArenaManager, Coalescing, Config, Policy, QUICK_DEPTH, QUICK_GRANULE, QUICK_LIMIT,
    QUICK_MAX_BYTES, QUICK_SHARE, Stats, TableStorage,
};

/// The size of a quick-list-sized request from two fuzz bytes: a multiple
/// of [`QUICK_GRANULE`] from one granule up to the largest below
/// [`QUICK_LIMIT`], so that it lands in a stack. (A byte reached only
/// 2 KiB of the 8 KiB the lists take.)
pub fn quick_size(granules: u16) -> usize {
    (usize::from(granules) % (QUICK_LIMIT / QUICK_GRANULE - 1) + 1) * QUICK_GRANULE
}

/// The config a fuzz input picks: the fast model when the top bit of
/// `policy` is set (half the inputs), else the policy its other bits name
/// with the coalescing mode `immediate` says.
pub fn config_from(policy: u8, immediate: bool) -> Config {
    if policy & 0x80 != 0 {
        return Config::fast();
    }
    let policy = Policy::ALL[usize::from(policy & 0x7f) % Policy::ALL.len()];
    let coalescing = if immediate {
        Coalescing::Immediate
    } else {
        Coalescing::Deferred
    };
    Config::new(policy, coalescing)
}

/// Whether `config` is the fast model, the only one that caches.
pub fn is_fast(config: Config) -> bool {
    config.policy == Policy::SegregatedFit && config.coalescing == Coalescing::Immediate
}

/// The stats and every arena: what a failed operation must leave as it
/// was (but for a flush of the quick lists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub stats: Stats,
    pub arenas: Vec<ArenaInfo>,
}

impl Snapshot {
    pub fn of<const N: usize, S: TableStorage>(m: &ArenaManager<N, S>) -> Snapshot {
        let mut stats = m.stats();
        // Counters of searches made, not state.
        stats.fallback_searches = 0;
        stats.fallback_hits = 0;
        Snapshot {
            stats,
            arenas: m.arenas().collect(),
        }
    }

    fn in_use(&self) -> Vec<ArenaInfo> {
        self.arenas.iter().filter(|a| a.in_use).copied().collect()
    }
}

/// `after` is `before`, or (when `may_flush`) `before` with its quick
/// lists flushed: the cached arenas, free already, became ordinary free
/// arenas and merged with their free neighbours; no in-use arena and no
/// byte count changed.
pub fn assert_same_or_flushed(before: &Snapshot, after: &Snapshot, may_flush: bool, what: &str) {
    if before == after {
        return;
    }
    assert!(
        may_flush && before.stats.cached_arenas > 0 && after.stats.cached_arenas == 0,
        "{what}: a failed operation changed the manager\nbefore: {before:?}\nafter: {after:?}"
    );
    assert_eq!(
        before.in_use(),
        after.in_use(),
        "{what}: a failed operation changed an in-use arena"
    );
    let (b, a) = (before.stats, after.stats);
    let counts = |s: Stats| {
        (
            s.capacity,
            s.free_bytes,
            s.in_use_bytes,
            s.requested_bytes,
            s.used_arenas,
        )
    };
    assert_eq!(counts(b), counts(a), "{what}: a flush changed a byte count");
    assert!(
        a.free_arenas <= b.free_arenas,
        "{what}: a flush split an arena"
    );
    assert!(
        a.largest_free >= b.largest_free,
        "{what}: a flush shrank the largest free arena"
    );
}

/// The promise behind every out-of-memory error of the fast model: the
/// quick lists were flushed (and the request retried) first, so a request
/// never fails while cached arenas, merged with their free neighbours,
/// could hold it. `cached_before` is what the lists held before the
/// refused operation; after it nothing may be cached. (The other checks
/// cannot see a missing flush: a cached arena is free, and no single one
/// fits a request that only their merge would hold.)
pub fn assert_flushed_before_oom(cached_before: usize, cached_after: usize, what: &str) {
    assert!(
        cached_before == 0 || cached_after == 0,
        "{what}: out of memory with {cached_after} arenas still cached (before: {cached_before}): the quick lists were not flushed first"
    );
}

/// The quick lists as the manager reports them add up and keep their
/// bounds; returns the cached arenas by offset.
pub fn check_quick_lists<const N: usize, S: TableStorage>(
    m: &ArenaManager<N, S>,
) -> BTreeMap<usize, usize> {
    let s = m.stats();
    let mut cached = BTreeMap::new();
    let mut per_size: BTreeMap<usize, usize> = BTreeMap::new();
    for a in m.arenas() {
        if !a.cached {
            continue;
        }
        assert!(!a.in_use, "a cached arena is in use: {a:?}");
        assert!(
            a.size < QUICK_LIMIT && a.size.is_multiple_of(QUICK_GRANULE),
            "{a:?}"
        );
        assert_eq!(a.used, 0, "a cached arena keeps a request: {a:?}");
        *per_size.entry(a.size).or_default() += 1;
        cached.insert(a.offset, a.size);
    }
    assert!(per_size.values().all(|&n| n <= QUICK_DEPTH), "{per_size:?}");
    assert_eq!(s.cached_arenas, cached.len(), "cached_arenas");
    assert_eq!(
        s.cached_bytes,
        cached.values().sum::<usize>(),
        "cached_bytes"
    );
    assert!(s.cached_bytes <= s.free_bytes, "{s:?}");
    assert!(s.cached_arenas <= s.free_arenas, "{s:?}");
    assert!(
        s.cached_bytes <= QUICK_MAX_BYTES.min(s.capacity / QUICK_SHARE),
        "{s:?}"
    );
    assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity, "{s:?}");
    if !is_fast(m.config()) {
        assert_eq!(s.cached_arenas, 0, "only the fast model caches: {s:?}");
    }
    for (&off, &size) in &cached {
        let a = m
            .arena_at(off)
            .expect("a cached arena is in the offset map");
        assert!(a.cached && !a.in_use && a.size == size, "{a:?}");
    }
    cached
}
