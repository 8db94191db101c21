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
/// seeds under Miri (its isolation forbids the file). Natively,
/// `SYSARENA_PROPTEST_SCALE=K` runs K times as many cases (a deeper run by
/// hand: `SYSARENA_PROPTEST_SCALE=50 cargo test --release -p sysarena
/// --test core`); unset, empty or not a positive number, it is 1.
pub fn proptest_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases.saturating_mul(scale()),
        failure_persistence: if cfg!(miri) {
            None
        } else {
            ProptestConfig::default().failure_persistence
        },
        ..ProptestConfig::default()
    }
}

/// `SYSARENA_PROPTEST_SCALE` as a positive number, else 1 (always 1 under
/// Miri, whose isolation hides the environment).
fn scale() -> u32 {
    if cfg!(miri) {
        return 1;
    }
    std::env::var("SYSARENA_PROPTEST_SCALE")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|&k| k > 0)
        .unwrap_or(1)
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
