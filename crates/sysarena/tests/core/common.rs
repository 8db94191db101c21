//! Helpers shared by the test modules.

use proptest::prelude::*;
use sysarena::{ArenaManager, Coalescing, Config, Policy, TableStorage};

/// Any policy with any coalescing mode, for the property tests.
pub fn any_config() -> impl Strategy<Value = Config> {
    (
        prop::sample::select(Policy::ALL.to_vec()),
        prop::sample::select(Coalescing::ALL.to_vec()),
    )
        .prop_map(|(p, c)| Config::new(p, c))
}

/// `native` in a native run, `miri` under Miri, which interprets the tests
/// far more slowly: how many cases or operations a property test runs.
pub const fn native_or_miri(native: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { native }
}

/// A property test's settings: `cases` cases, and no file of failing
/// seeds under Miri (its isolation forbids the file).
pub fn proptest_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: if cfg!(miri) {
            None
        } else {
            ProptestConfig::default().failure_persistence
        },
        ..ProptestConfig::default()
    }
}

/// Checks the manager's own invariants and the accounting invariant.
pub fn check<const N: usize, S: TableStorage>(m: &ArenaManager<N, S>) {
    m.check_invariants().unwrap_or_else(|e| panic!("{e}"));
    let s = m.stats();
    assert_eq!(
        s.in_use_bytes + s.free_bytes,
        s.capacity,
        "used + free != capacity"
    );
    assert_eq!(
        s.free_arenas + s.used_arenas + s.spare_descriptors,
        s.descriptors
    );
    // The arena iterator agrees with the stats.
    let (mut free, mut used) = (0, 0);
    for a in m.arenas() {
        if a.in_use {
            used += a.size;
        } else {
            free += a.size;
        }
    }
    assert_eq!((used, free), (s.in_use_bytes, s.free_bytes));
}

/// `(offset, size, in_use)` of every arena, in address order.
pub fn layout<const N: usize, S: TableStorage>(
    m: &ArenaManager<N, S>,
) -> Vec<(usize, usize, bool)> {
    m.arenas().map(|a| (a.offset, a.size, a.in_use)).collect()
}
