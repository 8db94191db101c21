//! The replay's checks and figures, against hand-made subjects.

use sysarena_sim::metrics::FreeSource;
use sysarena_sim::replay::{ReplayError, ReplayOptions, Violation, replay};

use super::common::Bump;
use sysarena_sim::trace::Trace;

fn trace(text: &str) -> Trace {
    Trace::parse_native("t", text).unwrap()
}

#[test]
fn figures_of_a_bump_allocator() {
    let t = trace("a 1 100 4\na 2 100 4\nf 1\na 3 50 4\nr 2 10\n");
    let mut s = Bump::new(1000);
    let r = replay(
        &t,
        &mut s,
        &ReplayOptions {
            sample_every: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    let sum = &r.summary;
    assert_eq!(sum.peak_live_bytes, 200);
    assert_eq!(sum.footprint_at_peak, 200);
    assert_eq!(sum.max_footprint, 262);
    assert_eq!(sum.footprint_ratio, 1.0);
    assert_eq!(sum.jw_fragmentation, 0.0);
    assert_eq!(sum.free_source, FreeSource::Gaps);
    assert_eq!(sum.end.live_bytes, 60);
    assert_eq!(sum.end.footprint, 262);
    // Live: [200,250) and the moved block 2 at [252,262).
    // Gaps: [0,200), [250,252), [262,1000): 940 free, largest 738.
    assert_eq!(
        (
            sum.end.free_bytes,
            sum.end.largest_free,
            sum.end.free_blocks
        ),
        (940, 738, 3)
    );
    assert!((sum.end.external_fragmentation - (1.0 - 738.0 / 940.0)).abs() < 1e-12);
    assert_eq!(r.series.len(), 6);
    assert_eq!(r.timing.calls, 5);
}

#[test]
fn failures_are_counted_with_whether_a_gap_fitted() {
    // Fill 100 of 100, free the first half: a 40-byte request fails in the
    // bump allocator though a 50-byte gap exists; a 60-byte one has no gap.
    let t = trace("a 1 50 1\na 2 50 1\nf 1\na 3 40 1\na 4 60 1\nf 3\nr 4 5\nf 4\n");
    let mut s = Bump::new(100);
    s.report_extents = true;
    let r = replay(&t, &mut s, &ReplayOptions::default()).unwrap();
    let sum = &r.summary;
    assert_eq!(sum.failed_allocs, 2);
    assert_eq!(sum.failed_requests, 2);
    assert_eq!(sum.failed_with_fitting_gap, 1);
    assert_eq!(sum.failed_with_fitting_free_extent, Some(0));
    assert_eq!(sum.skipped_events, 3);
    assert_eq!(sum.free_source, FreeSource::Subject);
}

#[test]
fn overlaps_out_of_region_and_misalignment_are_errors() {
    let mut s = Bump::new(1000);
    s.fixed = Some(8);
    let e = replay(
        &trace("a 1 16 8\na 2 16 8\n"),
        &mut s,
        &ReplayOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            ReplayError::Violation {
                event: 2,
                violation: Violation::Overlap {
                    offset: 8,
                    other_offset: 8,
                    other_end: 24,
                    ..
                },
                ..
            }
        ),
        "{e}"
    );
    s.fixed = Some(990);
    let e = replay(&trace("a 1 16 2\n"), &mut s, &ReplayOptions::default()).unwrap_err();
    assert!(matches!(
        e,
        ReplayError::Violation {
            violation: Violation::OutOfRegion { .. },
            ..
        }
    ));
    s.fixed = Some(4);
    let e = replay(&trace("a 1 16 8\n"), &mut s, &ReplayOptions::default()).unwrap_err();
    assert!(matches!(
        e,
        ReplayError::Violation {
            violation: Violation::Misaligned {
                offset: 4,
                align: 8
            },
            ..
        }
    ));
}

#[test]
fn inconsistent_hand_made_traces_are_errors() {
    let mut t = Trace::new("hand");
    t.events.push(sysarena_sim::trace::Event::Free { id: 3 });
    let e = replay(&t, &mut Bump::new(100), &ReplayOptions::default()).unwrap_err();
    assert!(matches!(e, ReplayError::BadTrace { event: 1, .. }), "{e}");
}

#[test]
fn results_serialise_to_json() {
    let t = trace("a 1 100\nf 1\n");
    let r = replay(&t, &mut Bump::new(1000), &ReplayOptions::default()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(v["summary"]["peak_live_bytes"], 100);
    assert_eq!(v["summary"]["subject"], "bump");
    assert!(v["series"].as_array().unwrap().len() >= 2);
}

#[test]
fn a_sysarena_subject_says_when_its_table_ran_out() {
    use sysarena::Config;
    use sysarena_sim::sysarena_subject::SysarenaSubject;
    // Four descriptors: three blocks and the free rest; the fourth block
    // fits the free arena but splitting it needs a fifth descriptor.
    let mut s = SysarenaSubject::new(Config::classic(), 1 << 16, 4).unwrap();
    let r = replay(
        &trace("a 1 16\na 2 16\na 3 16\na 4 16\na 5 100000\n"),
        &mut s,
        &ReplayOptions::default(),
    )
    .unwrap();
    assert_eq!(r.summary.failed_requests, 2, "{:?}", r.summary);
    // The 4th: a free arena fits, no descriptor; the 5th: nothing fits.
    assert_eq!(r.summary.failed_no_descriptor, 1, "{:?}", r.summary);
    assert_eq!(r.summary.failed_with_fitting_free_extent, Some(1));
}

/// A subject that reports only `free_stats` (O(1) sampling), not its free
/// extents: whether a failed request had a fitting free extent is unknown,
/// `None` as documented (it read `Some(0)`: "no fitting extent").
#[test]
fn no_free_extents_means_no_fitting_extent_count() {
    #[derive(Debug)]
    struct StatsOnly(Bump);
    impl sysarena_sim::subject::Subject for StatsOnly {
        fn name(&self) -> &str {
            "stats-only"
        }
        fn capacity(&self) -> usize {
            self.0.capacity()
        }
        fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
            self.0.alloc(size, align)
        }
        unsafe fn free(&mut self, block: sysarena_sim::subject::Block) {
            // SAFETY: forwarded.
            unsafe { self.0.free(block) }
        }
        unsafe fn realloc(
            &mut self,
            block: sysarena_sim::subject::Block,
            new_size: usize,
        ) -> Option<usize> {
            // SAFETY: forwarded.
            unsafe { self.0.realloc(block, new_size) }
        }
        fn free_stats(&self) -> Option<sysarena_sim::subject::FreeStats> {
            let free = self.0.capacity - self.0.top;
            Some(sysarena_sim::subject::FreeStats::from_extents(&[(
                self.0.top, free,
            )]))
        }
    }
    let t = trace("a 1 50 1\na 2 50 1\nf 1\na 3 40 1\n");
    let r = replay(
        &t,
        &mut StatsOnly(Bump::new(100)),
        &ReplayOptions::default(),
    )
    .unwrap();
    assert_eq!(r.summary.failed_requests, 1);
    assert_eq!(r.summary.failed_with_fitting_gap, 1);
    assert_eq!(r.summary.free_source, FreeSource::Subject);
    assert_eq!(r.summary.failed_with_fitting_free_extent, None);
}

/// A block that is both outside the region and misaligned is reported as
/// outside the region (the alignment check ran first), in words.
#[test]
fn a_block_outside_the_region_is_out_of_region_whatever_its_alignment() {
    let mut s = Bump::new(1000);
    s.fixed = Some(usize::MAX - 3);
    let e = replay(&trace("a 1 16 16\n"), &mut s, &ReplayOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            ReplayError::Violation {
                violation: Violation::OutOfRegion { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("lies outside the region of 1000 bytes"),
        "{e}"
    );
}
