//! Replays a [`Trace`] against a [`Subject`], checking every block it hands
//! out and measuring what it does with its memory.
//!
//! Every block the subject returns is checked: it must lie inside the
//! region, must not overlap any live block, and must be aligned as asked,
//! judged by address for a subject over real memory
//! ([`Subject::alignment_origin`]) (unless the subject says it [does not honour
//! alignment](Subject::honours_alignment), in which case misaligned blocks
//! are counted). A broken subject gives a [`ReplayError::Violation`], never a
//! panic. A refused alloc is counted as failed, and later frees and
//! reallocs of that block are skipped; a refused realloc leaves the block
//! live.
//!
//! Per event the replay does O(log n) work (a hash map from ids to blocks,
//! the [`LiveSet`]); gap figures are read only at sample points, every
//! [`ReplayOptions::sample_every`] events.
//!
//! Every replay has a [time budget](crate::budget) (30 s by default,
//! [`ReplayOptions::time_budget`]): a subject too slow for the trace stops
//! where its budget runs out, and its result says so
//! ([`Summary::stopped`]) while covering the events it reached.
//! [`replay_controlled`] also takes a stop flag (for Ctrl-C) and a clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::budget::{Clock, DEFAULT_TIME_BUDGET, StopReason, Stopped, SystemClock};
use crate::metrics::{FreeSource, LiveSet, Sample, Summary, Timing};
use crate::subject::{Block, Subject};
use crate::trace::Trace;

mod error;
mod state;

pub use self::error::{ReplayError, Violation};
use self::state::State;

/// How many samples an automatic interval aims for.
pub const AUTO_SAMPLES: usize = 2000;

/// Replay settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayOptions {
    /// Take a sample every this many events; `None` picks an interval that
    /// gives about [`AUTO_SAMPLES`] samples. A sample is always taken after
    /// the last event.
    pub sample_every: Option<usize>,
    /// Free every block still live at the end (so the subject is empty
    /// again; the figures are taken before).
    pub release_at_end: bool,
    /// Stop once the replay has run this long (checked before every event);
    /// `None` for no limit. Default: [`DEFAULT_TIME_BUDGET`].
    pub time_budget: Option<Duration>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            sample_every: None,
            release_at_end: false,
            time_budget: Some(DEFAULT_TIME_BUDGET),
        }
    }
}

/// What steers a replay from outside: progress reports, the clock that
/// times it (and its budget) and a flag that stops it.
pub struct Controls<'a> {
    /// Called with the number of events replayed since the last call (at
    /// every sample point and at the end), so the calls add up to the
    /// events replayed. For progress bars.
    pub progress: &'a mut dyn FnMut(usize),
    /// The time source for the timing figures and the budget.
    pub clock: &'a mut dyn Clock,
    /// When set (from another thread or a signal handler), the replay stops
    /// before its next event with [`StopReason::Interrupted`].
    pub stop: Option<&'a AtomicBool>,
}

impl std::fmt::Debug for Controls<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controls")
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

/// A subject's replay of a trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayResult {
    /// The deterministic figures.
    pub summary: Summary,
    /// Time spent.
    pub timing: Timing,
    /// The time series.
    pub series: Vec<Sample>,
}

impl ReplayResult {
    /// The result as pretty JSON (for `--json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("replay results serialise")
    }
}

/// Replays `trace` against `subject`, within
/// [`ReplayOptions::time_budget`].
///
/// The subject should be fresh (nothing live); blocks it already holds are
/// invisible to the checks.
///
/// # Errors
/// [`ReplayError::Violation`] when the subject hands out a bad block,
/// [`ReplayError::BadTrace`] for an inconsistent hand-made trace. Running
/// out of budget is no error: the result's [`Summary::stopped`] says so.
pub fn replay(
    trace: &Trace,
    subject: &mut dyn Subject,
    options: &ReplayOptions,
) -> Result<ReplayResult, ReplayError> {
    replay_with_progress(trace, subject, options, &mut |_| {})
}

/// [`replay`], calling `progress(n)` as it goes: `n` events were replayed
/// since the last call (at every sample point and at the end), so the calls
/// add up to the events replayed. For progress bars.
///
/// # Errors
/// As [`replay`].
pub fn replay_with_progress(
    trace: &Trace,
    subject: &mut dyn Subject,
    options: &ReplayOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<ReplayResult, ReplayError> {
    replay_controlled(
        trace,
        subject,
        options,
        Controls {
            progress,
            clock: &mut SystemClock::new(),
            stop: None,
        },
    )
}

/// [`replay`] steered by `controls`: progress reports, the clock, and a flag
/// that stops it early (Ctrl-C). A replay stopped by its budget or the flag
/// returns `Ok` with [`Summary::stopped`] set; its figures cover the events
/// before the stop.
///
/// # Errors
/// As [`replay`].
pub fn replay_controlled(
    trace: &Trace,
    subject: &mut dyn Subject,
    options: &ReplayOptions,
    controls: Controls<'_>,
) -> Result<ReplayResult, ReplayError> {
    let Controls {
        progress,
        clock,
        stop,
    } = controls;
    let start = clock.now();
    let deadline = options.time_budget.map(|b| start.saturating_add(b));
    let every = options
        .sample_every
        .unwrap_or_else(|| trace.events.len().div_ceil(AUTO_SAMPLES))
        .max(1);
    let capacity = subject.capacity();
    let free_source = if subject.free_stats().is_some() {
        FreeSource::Subject
    } else {
        FreeSource::Gaps
    };
    let summary = Summary {
        subject: subject.name().to_owned(),
        trace: trace.name.clone(),
        capacity,
        events: trace.events.len(),
        allocs: 0,
        frees: 0,
        reallocs: 0,
        failed_requests: 0,
        failed_allocs: 0,
        failed_reallocs: 0,
        failed_with_fitting_gap: 0,
        // Counted only for a subject that reports its free extents (one
        // that reports only `free_stats` cannot say which would fit).
        failed_with_fitting_free_extent: subject.free_extents().map(|_| 0),
        failed_no_descriptor: 0,
        skipped_events: 0,
        misaligned_blocks: 0,
        peak_live_bytes: 0,
        peak_live_blocks: 0,
        footprint_at_peak: 0,
        max_footprint: 0,
        footprint_ratio: 0.0,
        jw_fragmentation: 0.0,
        max_external_fragmentation: 0.0,
        free_source,
        end: Sample::default(),
        stopped: None,
    };
    let honours_alignment = subject.honours_alignment();
    let origin = subject.alignment_origin();
    let mut state = State {
        subject,
        clock,
        now: start,
        live: LiveSet::new(capacity),
        blocks: HashMap::new(),
        summary,
        timing: Timing::default(),
        live_bytes: 0,
        honours_alignment,
        origin,
        cache: None,
    };
    let mut series = Vec::with_capacity(trace.events.len() / every + 2);
    series.push(state.sample(0));
    let mut stopped = None;
    for (i, event) in trace.events.iter().enumerate() {
        let reason = if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            Some(StopReason::Interrupted)
        } else if deadline.is_some_and(|d| state.now >= d) {
            let budget = options.time_budget.unwrap_or_default();
            Some(StopReason::TimeBudget {
                seconds: budget.as_secs_f64(),
            })
        } else {
            None
        };
        if let Some(reason) = reason {
            stopped = Some(Stopped {
                at_event: i,
                of: trace.events.len(),
                reason,
            });
            break;
        }
        state.step(i, event)?;
        if (i + 1) % every == 0 {
            series.push(state.sample(i + 1));
            progress(every);
        }
    }
    let replayed = stopped.map_or(trace.events.len(), |s| s.at_event);
    progress(replayed % every);
    let end = state.sample(replayed);
    if series.last().map(|s| s.event) != Some(end.event) {
        series.push(end);
    }
    let mut summary = state.summary.clone();
    summary.end = end;
    summary.events = replayed;
    summary.stopped = stopped;
    summary.max_external_fragmentation = series
        .iter()
        .map(|s| s.external_fragmentation)
        .fold(0.0, f64::max);
    if summary.peak_live_bytes > 0 {
        summary.footprint_ratio = summary.footprint_at_peak as f64 / summary.peak_live_bytes as f64;
        summary.jw_fragmentation = summary.footprint_ratio - 1.0;
    }
    if options.release_at_end {
        let live: Vec<(Block, u32)> = state.blocks.values().flatten().copied().collect();
        for (block, key) in live {
            // SAFETY: every block left in `blocks` was returned by this
            // subject and is live; each is freed once.
            unsafe { state.subject.free_keyed(block, key) };
        }
        state.blocks.clear();
    }
    let mut timing = state.timing;
    timing.wall_ns = state.clock.now().saturating_sub(start).as_nanos() as u64;
    if timing.calls > 0 {
        timing.ns_per_op = timing.subject_ns as f64 / timing.calls as f64;
    }
    Ok(ReplayResult {
        summary,
        timing,
        series,
    })
}

/// Replays `trace` against every subject in turn (each within its own
/// budget), stopping at the first violation.
///
/// # Errors
/// As [`replay`].
pub fn replay_all(
    trace: &Trace,
    subjects: &mut [Box<dyn Subject>],
    options: &ReplayOptions,
) -> Result<Vec<ReplayResult>, ReplayError> {
    subjects
        .iter_mut()
        .map(|s| replay(trace, s.as_mut(), options))
        .collect()
}
