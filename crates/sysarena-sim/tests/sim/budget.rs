//! Time budgets and the stop flag: a replay stops between events, says
//! where and why, and its figures are those of the events it reached. Time
//! here is a [`TickClock`]: the budget counts clock readings (work), so the
//! tests do not depend on the machine's speed.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use sysarena_sim::budget::{StopReason, TickClock};
use sysarena_sim::registry;
use sysarena_sim::replay::{Controls, ReplayOptions, ReplayResult, replay_controlled};
use sysarena_sim::trace::Trace;

use super::common::{Bump, checked, sqlite_20k};

/// Replays `trace` on a fresh `name` with a tick clock of 1 µs a reading.
fn ticked(
    trace: &Trace,
    name: &str,
    budget: Option<Duration>,
    stop: Option<&AtomicBool>,
) -> (ReplayResult, u64, usize) {
    let mut s = registry::by_name(name, registry::DEFAULT_CAPACITY).unwrap();
    let mut clock = TickClock::new(Duration::from_micros(1));
    let mut reported = 0;
    let options = ReplayOptions {
        time_budget: budget,
        ..checked(1000)
    };
    let r = replay_controlled(
        trace,
        s.as_mut(),
        &options,
        Controls {
            progress: &mut |n| reported += n,
            clock: &mut clock,
            stop,
        },
    )
    .unwrap();
    (r, clock.readings(), reported)
}

#[test]
fn a_spent_budget_stops_the_replay_between_events_and_says_where() {
    let trace = sqlite_20k();
    // Two readings a subject call (a few more for the start and the end):
    // a budget of 10,000 readings stops after about 5,000 calls.
    let (r, readings, reported) = ticked(trace, "talc", Some(Duration::from_micros(10_000)), None);
    let stopped = r.summary.stopped.expect("the budget ran out");
    assert_eq!(stopped.of, 20_000);
    assert_eq!(stopped.reason, StopReason::TimeBudget { seconds: 0.01 });
    assert!((4_000..6_000).contains(&stopped.at_event), "{stopped:?}");
    assert_eq!(r.summary.events, stopped.at_event);
    assert_eq!(
        reported, stopped.at_event,
        "progress adds up to the events replayed"
    );
    // It stopped as soon as the budget was spent: at most one call late.
    assert!(readings <= 10_000 + 4, "{readings} readings");
    assert_eq!(r.series.last().unwrap().event, stopped.at_event);
    assert!(
        stopped.to_string().starts_with(&format!(
            "stopped after event {} of 20000 (",
            stopped.at_event
        )),
        "{stopped}"
    );

    // Its figures are exactly those of the prefix it reached.
    let prefix = Trace {
        name: trace.name.clone(),
        events: trace.events[..stopped.at_event].to_vec(),
    };
    let (whole, _, _) = ticked(&prefix, "talc", None, None);
    assert_eq!(whole.summary.stopped, None);
    let mut expected = whole.summary.clone();
    expected.stopped = r.summary.stopped;
    assert_eq!(r.summary.peak_live_bytes, expected.peak_live_bytes);
    assert_eq!(r.summary, expected);
}

#[test]
fn a_budget_that_suffices_changes_nothing() {
    let trace = sqlite_20k();
    let (bounded, _, reported) = ticked(trace, "rlsf", Some(Duration::from_secs(3600)), None);
    let (free, _, _) = ticked(trace, "rlsf", None, None);
    assert_eq!(bounded.summary.stopped, None);
    assert_eq!(bounded.summary, free.summary);
    assert_eq!(bounded.series, free.series);
    assert_eq!(reported, 20_000);
}

#[test]
fn the_stop_flag_stops_before_the_next_event() {
    let trace = sqlite_20k();
    let stop = AtomicBool::new(true);
    let (r, _, _) = ticked(trace, "buddy", None, Some(&stop));
    let stopped = r.summary.stopped.unwrap();
    assert_eq!(stopped.reason, StopReason::Interrupted);
    assert_eq!(stopped.at_event, 0);
    assert_eq!(r.summary.events, 0);
    assert_eq!(r.summary.peak_live_bytes, 0);
    assert_eq!(
        stopped.to_string(),
        "stopped after event 0 of 20000 (0%): interrupted"
    );
}

#[test]
fn every_subject_stops_within_one_call_of_its_budget() {
    // The slowest subjects per call (linked-list walks its free list) are
    // bounded by the same rule as the fastest: the budget counts readings.
    let trace = sqlite_20k();
    for name in registry::names() {
        let (r, readings, _) = ticked(trace, &name, Some(Duration::from_micros(2_001)), None);
        let stopped = r.summary.stopped.unwrap_or_else(|| panic!("{name}"));
        assert!(
            stopped.at_event > 0 && stopped.at_event < 2_000,
            "{name}: {stopped:?}"
        );
        assert!(readings <= 2_001 + 4, "{name}: {readings}");
    }
}

#[test]
fn the_default_options_carry_the_default_budget() {
    assert_eq!(
        ReplayOptions::default().time_budget,
        Some(sysarena_sim::budget::DEFAULT_TIME_BUDGET)
    );
    let t = Trace::parse_native("t", "a 1 10\nf 1\n").unwrap();
    let r =
        sysarena_sim::replay::replay(&t, &mut Bump::new(64), &ReplayOptions::default()).unwrap();
    assert_eq!(r.summary.stopped, None);
    assert_eq!(r.summary.events, 2);
}
