//! Every peer replays a real trace prefix consistently.

use sysarena_sim::registry::{self, DEFAULT_CAPACITY};
use sysarena_sim::replay::{ReplayOptions, replay};
use sysarena_sim::subject::Block;

use super::common::{checked, sqlite_20k};

#[test]
fn every_peer_replays_sqlite3_prefix_without_overlap() {
    let trace = sqlite_20k();
    let stats = trace.stats();
    for name in registry::peer_names() {
        let mut s = registry::by_name(name, DEFAULT_CAPACITY).unwrap();
        let opts = checked(1000);
        let r = replay(trace, s.as_mut(), &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let sum = &r.summary;
        assert_eq!(sum.subject, name);
        assert_eq!(sum.failed_requests, 0, "{name}: {sum:?}");
        assert_eq!(sum.skipped_events, 0, "{name}");
        // Every free matched a live block: live bytes at the end are the trace's.
        assert_eq!(sum.end.live_bytes, stats.live_bytes_at_end, "{name}");
        assert_eq!(sum.end.live_blocks, stats.live_blocks_at_end, "{name}");
        assert_eq!(sum.peak_live_bytes, stats.peak_live_bytes, "{name}");
        assert!(
            sum.footprint_ratio >= 1.0,
            "{name}: {}",
            sum.footprint_ratio
        );
        assert_eq!(r.series.len(), 21, "{name}");
        if name != "offset-allocator" {
            assert_eq!(sum.misaligned_blocks, 0, "{name}");
        }
        // Figures are reproducible on a fresh subject.
        let mut again = registry::by_name(name, DEFAULT_CAPACITY).unwrap();
        let r2 = replay(trace, again.as_mut(), &opts).unwrap();
        assert_eq!(r2.summary, r.summary, "{name}");
        assert_eq!(r2.series, r.series, "{name}");
    }
}

#[test]
fn every_peer_reports_out_of_memory_and_recovers() {
    for name in registry::peer_names() {
        // 32 MiB: the slab subject takes a 2 MiB-aligned 2 MiB page per size
        // class above 256 B, and TLSF needs twice that free to align one.
        let mut s = registry::by_name(name, 32 << 20).unwrap();
        assert_eq!(s.capacity(), 32 << 20);
        assert!(
            s.alloc(64 << 20, 16).is_none(),
            "{name}: more than the region"
        );
        let a = s.alloc(1000, 16).unwrap_or_else(|| panic!("{name}"));
        let b = Block {
            offset: a,
            size: 1000,
            align: 16,
        };
        // SAFETY: `b` was just allocated by `s` and is live.
        let moved = unsafe { s.realloc(b, 5000) }.unwrap_or_else(|| panic!("{name}"));
        // SAFETY: the realloc returned the block's new offset.
        unsafe {
            s.free(Block {
                offset: moved,
                size: 5000,
                align: 16,
            })
        };
        assert!(s.alloc(100, 8).is_some(), "{name}");
    }
}

#[test]
fn unknown_subjects_and_bad_capacities_are_errors() {
    let e = registry::by_name("nope", 1 << 20).unwrap_err();
    assert!(e.to_string().contains("talc"), "{e}");
    assert!(registry::by_name("offset-allocator", 1 << 33).is_err());
    assert!(registry::by_name("talc", 0).is_err());
    assert_eq!(
        registry::all(1 << 20).unwrap().len(),
        registry::names().len()
    );
}

#[test]
fn offset_allocator_ignores_alignment_and_the_replay_counts_it() {
    let t = sysarena_sim::trace::Trace::parse_native("t", "a 1 3 1\na 2 8 64\na 3 8 64\n").unwrap();
    let mut s = registry::by_name("offset-allocator", 1 << 20).unwrap();
    assert!(!s.honours_alignment());
    let r = replay(&t, s.as_mut(), &ReplayOptions::default()).unwrap();
    assert!(r.summary.misaligned_blocks >= 1, "{:?}", r.summary);
}

#[test]
fn over_aligned_requests_are_judged_by_address_and_no_subject_is_blamed() {
    // 64 KiB and 1 MiB alignments exceed a region's page alignment, so a
    // peer's correctly aligned address sits at an offset that is not.
    let text = "a 1 100 65536\na 2 100 65536\nf 1\na 3 5000 1048576\na 4 8 16\n";
    let t = sysarena_sim::trace::Trace::parse_native("t", text).unwrap();
    for name in registry::names() {
        let mut s = registry::by_name(&name, 8 << 20).unwrap();
        let origin = s.alignment_origin();
        let r = replay(&t, s.as_mut(), &ReplayOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if s.honours_alignment() {
            assert_eq!(r.summary.misaligned_blocks, 0, "{name}");
            assert_eq!(r.summary.failed_requests, 0, "{name}: {:?}", r.summary);
        }
        if registry::peer_names().contains(&name.as_str()) && name != "offset-allocator" {
            // A peer over real memory: the address is what is aligned.
            assert_ne!(origin, 0, "{name}");
            let off = s.alloc(64, 1 << 16).unwrap_or_else(|| panic!("{name}"));
            assert_eq!((origin + off) % (1 << 16), 0, "{name}");
        } else {
            assert_eq!(origin, 0, "{name}");
        }
    }
}

#[test]
fn every_sysarena_subject_replays_sqlite3_prefix() {
    let trace = sqlite_20k();
    let stats = trace.stats();
    let opts = checked(1000);
    let names = sysarena_sim::sysarena_subject::names();
    assert_eq!(names.len(), 10);
    for name in names
        .iter()
        .map(String::as_str)
        .chain(["sysarena/first-fit/deferred+defrag"])
    {
        let mut s = registry::by_name(name, DEFAULT_CAPACITY).unwrap();
        assert_eq!(s.name(), name);
        let r = replay(trace, s.as_mut(), &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let sum = &r.summary;
        assert_eq!(sum.free_source, sysarena_sim::metrics::FreeSource::Subject);
        assert_eq!(sum.misaligned_blocks, 0, "{name}");
        assert_eq!(sum.peak_live_bytes, stats.peak_live_bytes, "{name}");
        if name.contains("immediate") || name.ends_with("+defrag") {
            assert_eq!(sum.failed_requests, 0, "{name}: {sum:?}");
            assert_eq!(sum.end.live_bytes, stats.live_bytes_at_end, "{name}");
        }
        // Without headers, free + in-use arenas tile the region.
        assert!(
            sum.end.free_bytes + sum.end.live_bytes <= sum.capacity,
            "{name}"
        );
        let mut again = registry::by_name(name, DEFAULT_CAPACITY).unwrap();
        let r2 = replay(trace, again.as_mut(), &opts).unwrap();
        assert_eq!(r2.summary, r.summary, "{name}");
    }
}

#[test]
fn classic_first_fit_fails_on_the_checkerboard_with_room_to_spare() {
    use sysarena_sim::workload::{Workload, WorkloadParams};
    let p = WorkloadParams {
        max_size: 1024,
        capacity: 64 * 1024,
        ..WorkloadParams::default()
    };
    let t = Workload::Checkerboard.generate(&p);
    let mut s = registry::by_name("sysarena/first-fit/deferred", 64 * 1024).unwrap();
    let r = replay(&t, s.as_mut(), &ReplayOptions::default()).unwrap();
    assert_eq!(r.summary.failed_requests, 1, "{:?}", r.summary);
    // Half the region is free, but in 1 KiB holes: no hole fits 2 KiB.
    assert_eq!(r.summary.failed_with_fitting_gap, 0);
    assert_eq!(r.summary.end.free_bytes, 32 * 1024);
    assert_eq!(r.summary.end.largest_free, 1024);
}

/// Every subject — each sysarena policy × coalescing mode and each peer —
/// replays a prefix of each recorded trace with no overlap, no block outside
/// its region, every free matched, and the trace's own peak live bytes.
#[test]
fn every_subject_replays_every_recorded_trace_prefix() {
    for file in [
        "sqlite3.trace.gz",
        "python-jsontool.trace.gz",
        "perl-wordfreq.trace.gz",
    ] {
        let trace = super::common::recorded(file, 8_000);
        let stats = trace.stats();
        for name in registry::names() {
            let mut s = registry::by_name(&name, DEFAULT_CAPACITY).unwrap();
            let opts = checked(2000);
            // A violation (overlap, outside the region) is an error here.
            let r = replay(&trace, s.as_mut(), &opts)
                .unwrap_or_else(|e| panic!("{file} on {name}: {e}"));
            let sum = &r.summary;
            if sum.failed_requests == 0 {
                assert_eq!(
                    sum.peak_live_bytes, stats.peak_live_bytes,
                    "{file} on {name}"
                );
                assert_eq!(sum.skipped_events, 0, "{file} on {name}");
                assert_eq!(
                    sum.end.live_bytes, stats.live_bytes_at_end,
                    "{file} on {name}"
                );
            }
        }
    }
}
