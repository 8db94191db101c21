//! Steps a trace through subjects and captures what the pictures need: the
//! heap map at chosen steps, the free-block histogram there, and (through
//! [`replay`](sysarena_sim::replay::replay)) the metrics over time. Each
//! subject is replayed for its figures, within its time budget, then
//! stepped by a [`Tracker`] up to where that replay stopped.

use sysarena_sim::budget::Stopped;
use sysarena_sim::metrics::Summary;
use sysarena_sim::replay::{Controls, ReplayOptions, replay_controlled};
use sysarena_sim::trace::{Event, Trace};

use super::tracker::{Outcome, Subj, Tracker};
use crate::heapmap::{HeapMap, TableStrip, fmt_bytes};
use crate::sim::BudgetArgs;

/// Free-block sizes in power-of-two classes: `counts[k]` free blocks of
/// `[2^k, 2^(k+1))` bytes.
pub fn histogram(extents: &[(usize, usize)]) -> Vec<usize> {
    let mut counts = Vec::new();
    for &(_, len) in extents {
        if len == 0 {
            continue;
        }
        let k = (usize::BITS - 1 - len.leading_zeros()) as usize;
        if counts.len() <= k {
            counts.resize(k + 1, 0);
        }
        counts[k] += 1;
    }
    counts
}

/// The steps at which keyframes are taken: `0`, `n` and evenly spaced
/// steps between, at most `max` + 1 in all.
pub fn keyframe_steps(n: usize, max: usize) -> Vec<usize> {
    let k = n.min(max.max(1));
    if k == 0 {
        return vec![0];
    }
    let mut steps: Vec<usize> = (0..=k).map(|i| i * n / k).collect();
    steps.dedup();
    steps
}

/// One subject's captures at the keyframe steps.
#[derive(Clone, Debug)]
pub struct Keyframe {
    /// Events applied.
    pub step: usize,
    /// The step asked for: [`Keyframe::step`] unless the subject stopped
    /// before it.
    pub wanted: usize,
    /// Where and why the subject stopped, when it stopped before
    /// [`Keyframe::wanted`] (its time budget ran out): the frame shows it
    /// at its stop.
    pub stopped: Option<Stopped>,
    /// The heap map of the view.
    pub map: HeapMap,
    /// Free-block histogram (power-of-two classes) of the whole region.
    pub histogram: Vec<usize>,
    /// Free bytes, largest free, free blocks.
    pub free: (usize, usize, usize),
    /// Live bytes (requested).
    pub live_bytes: usize,
    /// The arena-table strip, for sysarena subjects.
    pub table: Option<TableStrip>,
    /// Where the highest block ends ([`Tracker::reach`]).
    pub reach: usize,
    /// The event applied just before (what made this frame).
    pub last: Option<(Event, Outcome)>,
}

/// Everything the pictures show about one subject.
#[derive(Debug)]
pub struct SubjectRun {
    /// The subject's name.
    pub name: String,
    /// Whether free space is the subject's own (sysarena) or derived gaps.
    pub exact: bool,
    /// The replay's figures.
    pub summary: Summary,
    /// The replay's time series.
    pub series: Vec<sysarena_sim::metrics::Sample>,
    /// The keyframes, in step order, one for every step asked for.
    pub frames: Vec<Keyframe>,
}

impl SubjectRun {
    /// The subject's name, and where it stopped if its time budget ran
    /// out: `talc (stopped after event 250 of 1000 (25%): its time budget
    /// of 30 s ran out)`. For legends, where a shorter line or curve needs
    /// its reason beside it.
    pub fn label(&self) -> String {
        self.label_for(self.summary.stopped)
    }

    /// The name, and `stop` beside it if there is one (a frame's
    /// [`Keyframe::stopped`], for a picture of one step).
    pub fn label_for(&self, stop: Option<Stopped>) -> String {
        match stop {
            Some(s) => format!("{} ({s})", self.name),
            None => self.name.clone(),
        }
    }
}

/// Capture settings.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    /// Region size of every subject.
    pub capacity: usize,
    /// The steps to capture (sorted).
    pub steps: Vec<usize>,
    /// Heap-map width, in cells.
    pub width: usize,
    /// The address range shown, `[0, view)`; `None` picks one from the
    /// subjects' largest footprint.
    pub view: Option<usize>,
    /// Table-strip width, in cells (0: none).
    pub table_width: usize,
    /// No progress bar.
    pub quiet: bool,
    /// How long each subject may replay, and on which clock. One that runs
    /// out stops there: its figures and pictures cover the events it
    /// reached, and they say so. Drawing it up to that event takes about
    /// as long again.
    pub budget: BudgetArgs,
}

impl CaptureOptions {
    /// Options for tests: the whole region shown, 32 cells wide with a
    /// 32-cell table strip, no progress bar, and a budget of `budget` on a
    /// clock of 1 µs a reading (two an event: 1 ms stops after about 500
    /// events on any machine).
    #[cfg(test)]
    pub(crate) fn ticking(
        capacity: usize,
        steps: Vec<usize>,
        budget: Option<std::time::Duration>,
    ) -> Self {
        CaptureOptions {
            capacity,
            steps,
            width: 32,
            view: Some(capacity),
            table_width: 32,
            quiet: true,
            budget: BudgetArgs {
                time_budget: crate::sim::Budget(budget),
                tick_clock: Some(1000),
            },
        }
    }
}

/// `name: error`, unless the error already starts with the name (a
/// subject's own errors do), so no message says `talc: talc: …`.
fn named(name: &str, e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    if text.starts_with(name) {
        text
    } else {
        format!("{name}: {text}")
    }
}

/// Replays `trace` against every subject of `names` and captures each at
/// `options.steps`. Returns the runs and the view used.
pub fn capture(
    trace: &Trace,
    names: &[String],
    options: &CaptureOptions,
) -> Result<(Vec<SubjectRun>, usize), String> {
    // Each subject is replayed twice: once for its figures, once stepped
    // for the pictures.
    let events = trace.events.len() as u64;
    if let Some(view) = options.view.filter(|&v| v > options.capacity) {
        return Err(format!(
            "--view {} is larger than the {} region: give at most the capacity (--capacity)",
            fmt_bytes(view),
            fmt_bytes(options.capacity)
        ));
    }
    let bar = crate::sim::progress(options.quiet, Some(2 * names.len() as u64 * events));
    let mut results = Vec::new();
    let replay_options = ReplayOptions {
        time_budget: options.budget.time_budget.0,
        ..ReplayOptions::default()
    };
    for name in names {
        bar.set_message(format!("replaying {name}"));
        let mut s = Subj::new(name, options.capacity).map_err(|e| named(name, &e))?;
        let mut clock = options.budget.clock();
        let mut done = 0u64;
        let r = replay_controlled(
            trace,
            s.get_mut(),
            &replay_options,
            Controls {
                progress: &mut |n| {
                    done += n as u64;
                    bar.inc(n as u64);
                },
                clock: &mut clock,
                stop: None,
            },
        )
        .map_err(|e| named(name, &e))?;
        // A subject that stopped early still fills its share of the bar.
        bar.inc(events.saturating_sub(done));
        results.push(r);
    }
    let view = options.view.unwrap_or_else(|| {
        let fp = results
            .iter()
            .map(|r| r.summary.max_footprint)
            .max()
            .unwrap_or(0);
        view_for(fp, options.capacity)
    });
    let mut runs = Vec::new();
    for (name, r) in names.iter().zip(results) {
        bar.set_message(format!("drawing {name}"));
        let mut t = Tracker::new(name, options.capacity).map_err(|e| named(name, &e))?;
        let mut frames: Vec<Keyframe> = Vec::with_capacity(options.steps.len());
        let mut last = None;
        let mut i = 0;
        // A subject that stopped is drawn up to its stop, never past it:
        // the stepped replay has no budget of its own, and its pictures
        // must show what its figures measured.
        let stopped = r.summary.stopped;
        let reach = stopped.map_or(trace.events.len(), |s| s.at_event);
        for &wanted in &options.steps {
            let wanted = wanted.min(trace.events.len());
            let step = wanted.min(reach);
            while i < step {
                let ev = trace.events[i];
                last = Some((ev, t.apply(&ev)));
                i += 1;
                if i.is_multiple_of(4096) {
                    bar.inc(4096);
                }
            }
            let mut f = match frames.last() {
                // Past the stop nothing changes: the frame at the stop again.
                Some(prev) if prev.step == step => prev.clone(),
                _ => frame(&t, view, options, last),
            };
            f.wanted = wanted;
            f.stopped = stopped.filter(|_| wanted > step);
            frames.push(f);
        }
        bar.inc(events - (i as u64 / 4096 * 4096).min(events));
        runs.push(SubjectRun {
            name: name.clone(),
            exact: t.exact(),
            summary: r.summary,
            series: r.series,
            frames,
        });
    }
    bar.finish_and_clear();
    Ok((runs, view))
}

fn frame(
    t: &Tracker,
    view: usize,
    options: &CaptureOptions,
    last: Option<(Event, Outcome)>,
) -> Keyframe {
    let extents = t.free_extents();
    let free = sysarena_sim::subject::FreeStats::from_extents(&extents);
    let live_bytes = t.live_bytes();
    Keyframe {
        step: t.applied,
        wanted: t.applied,
        stopped: None,
        map: t.heap_map(view, options.width),
        histogram: histogram(&extents),
        free: (free.free_bytes, free.largest_free, free.free_blocks),
        live_bytes,
        table: if options.table_width > 0 {
            t.table_strip(options.table_width).map(|(s, _)| s)
        } else {
            None
        },
        reach: t.reach(),
        last,
    }
}

/// The address range to show for a largest footprint `fp`: the next power
/// of two at or above `fp` plus a little free tail, at most `capacity`.
pub fn view_for(fp: usize, capacity: usize) -> usize {
    if fp == 0 {
        return capacity.clamp(1, 4096);
    }
    (fp + fp / 16).next_power_of_two().min(capacity).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_cover_both_ends() {
        assert_eq!(keyframe_steps(10, 4), vec![0, 2, 5, 7, 10]);
        assert_eq!(keyframe_steps(3, 400), vec![0, 1, 2, 3]);
        assert_eq!(keyframe_steps(0, 400), vec![0]);
    }

    #[test]
    fn histogram_classes() {
        assert_eq!(histogram(&[(0, 1), (5, 3), (9, 4), (20, 0)]), vec![1, 1, 1]);
    }

    #[test]
    fn a_subject_out_of_budget_is_drawn_at_its_stop_and_no_further() {
        use std::time::Duration;
        use sysarena_sim::workload::{Workload, WorkloadParams};
        let capacity = 1 << 20;
        let trace = Workload::Random.generate(&WorkloadParams {
            ops: 3000,
            capacity,
            ..WorkloadParams::default()
        });
        let names = ["sysarena/first-fit/deferred".to_owned()];
        let options = |steps, budget| CaptureOptions::ticking(capacity, steps, budget);
        let n = trace.events.len();
        let (runs, _) = capture(
            &trace,
            &names,
            &options(vec![0, n / 2, n], Some(Duration::from_millis(1))),
        )
        .unwrap();
        let stop = runs[0].summary.stopped.expect("the budget stops it");
        assert!(stop.at_event > 100 && stop.at_event < n / 2, "{stop}");
        let f = &runs[0].frames;
        assert_eq!(f.len(), 3, "a frame for every step asked for");
        assert_eq!((f[0].step, f[0].wanted, f[0].stopped), (0, 0, None));
        for (k, wanted) in [(1, n / 2), (2, n)] {
            assert_eq!(f[k].step, stop.at_event);
            assert_eq!(f[k].wanted, wanted);
            assert_eq!(f[k].stopped, Some(stop));
        }
        assert!(runs[0].label().contains("its time budget of 1 ms ran out"));
        // The frame at the stop is the subject after exactly those events,
        // as an unlimited capture of that step draws it.
        let (whole, _) = capture(&trace, &names, &options(vec![stop.at_event], None)).unwrap();
        let at = &whole[0].frames[0];
        assert_eq!(whole[0].summary.stopped, None);
        assert_eq!(f[1].map.run_length(), at.map.run_length());
        assert_eq!(f[2].live_bytes, at.live_bytes);
        assert_eq!(f[2].free, at.free);
        assert_eq!(
            f[2].table.as_ref().map(|t| t.run_length()),
            at.table.as_ref().map(|t| t.run_length())
        );
    }
}
