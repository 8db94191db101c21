//! Workloads are deterministic per seed.

use sysarena_sim::registry;
use sysarena_sim::replay::{ReplayOptions, replay};
use sysarena_sim::workload::{Workload, WorkloadParams};

fn params(seed: u64) -> WorkloadParams {
    WorkloadParams {
        seed,
        ops: 3000,
        capacity: 1 << 18,
        ..WorkloadParams::default()
    }
}

#[test]
fn same_seed_same_trace_other_seed_other_trace() {
    for w in Workload::ALL {
        let a = w.generate(&params(1));
        let b = w.generate(&params(1));
        assert_eq!(a, b, "{w}");
        a.validate().unwrap();
        if w != Workload::Checkerboard {
            assert_ne!(a.events, w.generate(&params(2)).events, "{w}");
        }
    }
}

#[test]
fn generated_traces_round_trip_through_the_native_format() {
    for w in Workload::ALL {
        let t = w.generate(&params(7));
        let back =
            sysarena_sim::trace::Trace::parse_native(&t.name, &t.to_native_string()).unwrap();
        assert_eq!(back.events, t.events, "{w}");
    }
}

#[test]
fn checkerboard_leaves_half_free_and_no_hole_fits() {
    let p = WorkloadParams {
        max_size: 1024,
        capacity: 64 * 1024,
        ..WorkloadParams::default()
    };
    let t = Workload::Checkerboard.generate(&p);
    // 64 allocs, 32 frees, one big request.
    assert_eq!(t.events.len(), 64 + 32 + 1);
    let mut talc = registry::by_name("talc", 1 << 20).unwrap();
    let r = replay(&t, talc.as_mut(), &ReplayOptions::default()).unwrap();
    assert_eq!(
        r.summary.failed_requests, 0,
        "a 1 MiB region has room to spare"
    );
}
