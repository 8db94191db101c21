//! Where each policy puts the same request.

use super::common::check;
use sysarena::{AllocError, ArenaManager, Coalescing, Config, OomReason, Policy};

/// Holes of 100 @ 0, 50 @ 110 and 200 @ 170, everything else in use.
fn holes(policy: Policy) -> ArenaManager<16> {
    let mut m = ArenaManager::<16>::with_config(1000, Config::new(policy, Coalescing::Deferred));
    let sizes = [100, 10, 50, 10, 200, 10, 620];
    let offs: Vec<_> = sizes
        .iter()
        .map(|&s| m.alloc(s, 1).unwrap().offset())
        .collect();
    for i in [0, 2, 4] {
        m.free(offs[i]).unwrap();
    }
    check(&m);
    m
}

#[test]
fn first_fit_takes_the_lowest_address() {
    assert_eq!(holes(Policy::FirstFit).alloc(40, 1).unwrap().offset(), 0);
}

#[test]
fn best_fit_takes_the_smallest_hole() {
    assert_eq!(holes(Policy::BestFit).alloc(40, 1).unwrap().offset(), 110);
}

#[test]
fn worst_fit_takes_the_largest_hole() {
    assert_eq!(holes(Policy::WorstFit).alloc(40, 1).unwrap().offset(), 170);
}

#[test]
fn segregated_fit_takes_a_hole_from_the_first_class_that_fits() {
    assert_eq!(
        holes(Policy::SegregatedFit).alloc(40, 1).unwrap().offset(),
        110
    );
}

#[test]
fn next_fit_continues_from_the_last_allocation() {
    let mut m = holes(Policy::NextFit);
    // Only the 200 hole holds 150; the rover is then at 320.
    assert_eq!(m.alloc(150, 1).unwrap().offset(), 170);
    // First fit would go back to 0; next fit takes the rest of that hole.
    assert_eq!(m.alloc(10, 1).unwrap().offset(), 320);
    // Past the end of the region, it wraps around.
    assert_eq!(m.alloc(45, 1).unwrap().offset(), 0);
    check(&m);
}

#[test]
fn every_policy_reports_fragmentation_the_same_way() {
    for policy in Policy::ALL {
        let mut m = holes(policy);
        assert_eq!(
            m.alloc(250, 1),
            Err(AllocError::OutOfMemory(OomReason::NoFit {
                needed: 250,
                free_bytes: 350,
                largest_free: 200
            })),
            "{policy}"
        );
        let s = m.stats();
        assert!((s.fragmentation() - (1.0 - 200.0 / 350.0)).abs() < 1e-12);
    }
}

#[test]
fn segregated_fit_falls_back_to_the_requests_own_class() {
    // Class [992, 1008) holds two free arenas: 995 at its head (too small)
    // and 1007 behind it. A request of 1000 rounds up to the class starting
    // at 1008, which is empty: plain TLSF would fail here.
    let mut m = ArenaManager::<8>::with_config(4000, Config::fast());
    let a = m.alloc(1007, 1).unwrap();
    m.alloc(8, 1).unwrap();
    let c = m.alloc(995, 1).unwrap();
    m.alloc(4000 - 1007 - 8 - 995, 1).unwrap();
    m.free(a.offset()).unwrap();
    m.free(c.offset()).unwrap();
    let before = m.stats();
    let got = m.alloc(1000, 1).unwrap();
    assert_eq!(got.offset(), a.offset());
    let s = m.stats();
    assert_eq!(s.fallback_searches - before.fallback_searches, 1);
    assert_eq!(s.fallback_hits - before.fallback_hits, 1);
    check(&m);
}

#[test]
fn segregated_fit_takes_a_fit_behind_its_own_class_head_before_a_larger_class() {
    // Class [992, 1008) holds 995 at its head (too small for 1000) and 1007
    // behind it; a free 2001-byte arena sits in a class that surely fits.
    // Sizes that are not multiples of 8 are never cached, so all three are
    // in the free index.
    let mut m = ArenaManager::<16>::with_config(4096, Config::fast());
    let a = m.alloc(1007, 1).unwrap();
    m.alloc(8, 1).unwrap();
    let c = m.alloc(995, 1).unwrap();
    m.alloc(8, 1).unwrap();
    let big = m.alloc(2001, 1).unwrap();
    m.alloc(4096 - 1007 - 8 - 995 - 8 - 2001, 1).unwrap();
    for b in [a, c, big] {
        m.free(b.offset()).unwrap();
    }
    let before = m.stats();
    let got = m.alloc(1000, 1).unwrap();
    assert_eq!(
        got.offset(),
        a.offset(),
        "the 1007-byte arena of the own class, not a split of the 2001-byte one"
    );
    let s = m.stats();
    assert_eq!(s.largest_free, 2001, "the larger arena is left whole");
    assert_eq!(
        s.fallback_searches, before.fallback_searches,
        "a class above held an arena: plain TLSF would not have failed"
    );
    check(&m);
}

#[test]
fn segregated_fit_takes_an_exact_fit_from_the_own_class() {
    let mut m = ArenaManager::<8>::with_config(4096, Config::fast());
    let a = m.alloc(80, 16).unwrap();
    m.alloc(16, 16).unwrap();
    m.free(a.offset()).unwrap();
    let spares = m.stats().spare_descriptors;
    // 80 rounds up to the class at 82 under TLSF; the own class has it.
    assert_eq!(m.alloc(80, 16).unwrap().offset(), a.offset());
    assert_eq!(
        m.stats().spare_descriptors,
        spares,
        "an exact fit needs no split"
    );
    assert_eq!(m.stats().fallback_searches, 0);
    check(&m);
}

#[test]
fn segregated_fit_finds_an_aligned_fit_behind_a_misaligned_head() {
    let mut m = ArenaManager::<16>::with_config(4096, Config::fast());
    // Two free arenas of 72 bytes, one starting at an odd offset.
    let x = m.alloc(72, 8).unwrap(); // [0, 72)
    m.alloc(8, 8).unwrap();
    let y = m.alloc(64, 64).unwrap(); // [128, 192)
    m.alloc(4096 - 192, 1).unwrap();
    m.free(x.offset()).unwrap();
    m.free(y.offset()).unwrap();
    check(&m);
    let got = m.alloc(64, 64).unwrap();
    assert_eq!(got.offset() % 64, 0);
    check(&m);
}

#[test]
fn switching_to_immediate_merges_first() {
    let mut m = ArenaManager::<16>::new(100);
    let a = m.alloc(10, 1).unwrap();
    let b = m.alloc(10, 1).unwrap();
    m.free(a.offset()).unwrap();
    m.free(b.offset()).unwrap();
    m.set_config(Config::new(Policy::BestFit, Coalescing::Immediate));
    check(&m);
    assert_eq!(m.stats().free_arenas, 1);
}
