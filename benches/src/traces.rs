//! Workload 4, replay of the real traces in `traces/`: time, and the
//! footprint at peak against peak live bytes and against the alignment
//! floor.
//!
//! Each subject replays each trace twice over:
//!
//! - once through the simulator's checked replay
//!   ([`sysarena_sim::replay::replay`]) on a fresh subject, which verifies
//!   every block (inside the region, aligned, no overlap) and gives the
//!   footprint at peak (the highest end of a live block when live bytes
//!   first peak);
//! - then, on another fresh subject, a tight loop (ids index a vector of
//!   live blocks, no checks) for the time: one untimed warm-up pass that
//!   also faults the subject's memory in, everything freed, then timed
//!   passes (thread CPU time), each followed by freeing what is still live;
//!   the median is reported.
//!
//! The alignment floor is the peak of live bytes with every size rounded
//! up to its alignment (a 0-byte block counts as 1 byte, as in the replay):
//! the least any allocator that honours alignment can use.
//!
//! Every subject has a time budget per trace ([`TIME_BUDGET`], the
//! simulator's default): the checked replay stops where it runs out, and
//! such a subject gets no timed passes — its row says at which event it
//! stopped (linked-list walks its free list on every call and stops on the
//! whole traces). The timed passes of a subject that finished stop early
//! once they have used the budget too (at least one pass is timed).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sysarena_sim::budget::{DEFAULT_TIME_BUDGET, Stopped};
use sysarena_sim::replay::{ReplayOptions, replay};
use sysarena_sim::subject::{Block, Subject};
use sysarena_sim::trace::{Event, Trace};

use crate::clock::{Lap, Stopwatch};
use crate::report::{Progress, Table};
use crate::roster::{self, BASELINE, CAPACITY};

/// The recorded traces, in table order.
pub const TRACES: &[&str] = &["sqlite3", "python-jsontool", "perl-wordfreq"];

/// Each subject's time budget per trace: for the checked replay, and again
/// for the timed passes.
pub const TIME_BUDGET: Duration = DEFAULT_TIME_BUDGET;

/// What to run.
#[derive(Clone, Debug)]
pub struct Params {
    /// The directory holding `<name>.trace.gz`.
    pub dir: PathBuf,
    /// Which traces.
    pub traces: Vec<String>,
    /// Replay only the first this many events of each trace.
    pub prefix: Option<usize>,
    /// Timed passes; the median is reported.
    pub trials: usize,
}

/// Peak live bytes and the alignment floor of a trace.
fn floors(trace: &Trace) -> (usize, usize) {
    let max_id = max_id(trace);
    let mut sizes = vec![(0usize, 0usize); max_id + 1];
    let (mut live, mut aligned, mut peak, mut floor) = (0usize, 0usize, 0usize, 0usize);
    let round = |size: usize, align: usize| size.max(1).next_multiple_of(align.max(1));
    for e in &trace.events {
        match *e {
            Event::Alloc { id, size, align } => {
                sizes[id as usize] = (size, align);
                live += size;
                aligned += round(size, align);
            }
            Event::Free { id } => {
                let (size, align) = sizes[id as usize];
                live -= size;
                aligned -= round(size, align);
            }
            Event::Realloc { id, size } => {
                let (old, align) = sizes[id as usize];
                sizes[id as usize].0 = size;
                live = live - old + size;
                aligned = aligned - round(old, align) + round(size, align);
            }
        }
        peak = peak.max(live);
        floor = floor.max(aligned);
    }
    (peak, floor)
}

fn max_id(trace: &Trace) -> usize {
    trace
        .events
        .iter()
        .map(|e| match *e {
            Event::Alloc { id, .. } | Event::Free { id } | Event::Realloc { id, .. } => id,
        })
        .max()
        .unwrap_or(0) as usize
}

/// One unchecked pass; returns the time and the refused requests, and
/// leaves every block freed. Each live block is kept with the key its
/// subject returned ([`Subject::alloc_keyed`]).
#[inline(never)]
fn pass(
    subject: &mut dyn Subject,
    trace: &Trace,
    blocks: &mut [Option<(Block, u32)>],
) -> (Lap, u64) {
    let mut failures = 0u64;
    let t = Stopwatch::start();
    for e in &trace.events {
        match *e {
            Event::Alloc { id, size, align } => match subject.alloc_keyed(size, align) {
                Some((offset, key)) => {
                    let block = Block {
                        offset,
                        size,
                        align,
                    };
                    blocks[id as usize] = Some((block, key));
                }
                None => failures += 1,
            },
            Event::Free { id } => {
                if let Some((block, key)) = blocks[id as usize].take() {
                    // SAFETY: `block` was returned by this subject and was
                    // live until taken out of `blocks` just now.
                    unsafe { subject.free_keyed(block, key) };
                }
            }
            Event::Realloc { id, size } => {
                if let Some((block, key)) = blocks[id as usize] {
                    // SAFETY: `block` is live; replaced on success.
                    match unsafe { subject.realloc_keyed(block, key, size) } {
                        Some((offset, key)) => {
                            let block = Block {
                                offset,
                                size,
                                align: block.align,
                            };
                            blocks[id as usize] = Some((block, key));
                        }
                        None => failures += 1,
                    }
                }
            }
        }
    }
    let lap = t.lap();
    for slot in blocks.iter_mut() {
        if let Some((block, key)) = slot.take() {
            // SAFETY: every block left in `blocks` is live; each is freed once.
            unsafe { subject.free_keyed(block, key) };
        }
    }
    (lap, failures)
}

#[derive(Clone, Debug)]
enum Outcome {
    Done {
        /// Thread CPU seconds of the median pass.
        seconds: f64,
        /// Wall seconds of the same pass.
        wall: f64,
        footprint: usize,
        failures: usize,
        misaligned: usize,
    },
    /// The checked replay ran out of budget: no timed passes.
    Stopped(Stopped),
    Error(String),
}

fn measure(name: &str, trace: &Trace, p: &Params) -> Outcome {
    let checked = roster::build(name, CAPACITY)
        .map_err(|e| e.to_string())
        .and_then(|mut s| {
            let opts = ReplayOptions {
                sample_every: Some(trace.events.len().max(1)),
                release_at_end: false,
                time_budget: Some(TIME_BUDGET),
            };
            replay(trace, s.as_mut(), &opts).map_err(|e| e.to_string())
        });
    let summary = match checked {
        Ok(r) => r.summary,
        Err(e) => return Outcome::Error(e),
    };
    if let Some(stopped) = summary.stopped {
        return Outcome::Stopped(stopped);
    }
    let mut subject = match roster::build(name, CAPACITY) {
        Ok(s) => s,
        Err(e) => return Outcome::Error(e.to_string()),
    };
    let mut blocks = vec![None; max_id(trace) + 1];
    pass(subject.as_mut(), trace, &mut blocks);
    // Timed passes until `trials` are done or the budget is used (at least
    // one).
    let mut laps: Vec<Lap> = Vec::new();
    let mut spent = 0.0;
    while laps.len() < p.trials.max(1) && (laps.is_empty() || spent < TIME_BUDGET.as_secs_f64()) {
        let lap = pass(subject.as_mut(), trace, &mut blocks).0;
        spent += lap.wall;
        laps.push(lap);
    }
    laps.sort_by(|a, b| a.cpu.total_cmp(&b.cpu));
    let mid = laps[laps.len() / 2];
    Outcome::Done {
        seconds: mid.cpu,
        wall: mid.wall,
        footprint: summary.footprint_at_peak,
        failures: summary.failed_requests,
        misaligned: summary.misaligned_blocks,
    }
}

/// The path of trace `name` in `dir`.
pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.trace.gz"))
}

/// Runs every subject on every trace; the summary tables (time, footprint)
/// and the CSV table.
pub fn run(subjects: &[&str], p: &Params, progress: &mut Progress) -> Vec<Table> {
    let prefix_note = p
        .prefix
        .map_or(String::new(), |n| format!(", first {n} events"));
    let mut time = Table::new(
        format!(
            "Trace replay: time (ms of thread CPU time, median of {} warm passes{prefix_note}; ×talc: talc's time / the subject's, > 1 is faster)",
            p.trials
        ),
        &[],
    );
    let mut foot = Table::new(
        format!(
            "Trace replay: footprint at peak / peak live bytes, and / alignment floor{prefix_note}"
        ),
        &[],
    );
    let mut csv = Table::new(
        "traces",
        &[
            "trace",
            "events",
            "subject",
            "status",
            "cpu_seconds",
            "wall_seconds",
            "ns_per_event",
            "speed_ratio_to_talc",
            "peak_live_bytes",
            "alignment_floor",
            "footprint_at_peak",
            "footprint_per_peak_live",
            "footprint_per_floor",
            "failed_requests",
            "misaligned_blocks",
        ],
    );
    let mut loaded = Vec::new();
    for name in &p.traces {
        progress.step(&format!("traces: reading {name}"));
        match Trace::from_path(path(&p.dir, name), None, p.prefix) {
            Ok(t) => loaded.push((name.clone(), Ok(t))),
            Err(e) => loaded.push((name.clone(), Err(e.to_string()))),
        }
    }
    let mut time_headers = vec!["subject".to_owned()];
    let mut foot_headers = vec!["subject".to_owned()];
    for (name, _) in &loaded {
        time_headers.push(format!("{name} ms"));
        time_headers.push(format!("{name} ×talc"));
        foot_headers.push(format!("{name} /live"));
        foot_headers.push(format!("{name} /floor"));
    }
    time.headers = time_headers;
    foot.headers = foot_headers;
    // Per subject, the time and footprint cells of every trace so far.
    let mut time_cells: Vec<Vec<String>> = subjects.iter().map(|n| vec![(*n).to_owned()]).collect();
    let mut foot_cells = time_cells.clone();
    let mut floor_row = vec!["alignment floor".to_owned()];
    for (tname, trace) in &loaded {
        let trace = match trace {
            Ok(t) => t,
            Err(e) => {
                time.note(format!("{tname}: cannot read: {e}"));
                for c in time_cells.iter_mut().chain(&mut foot_cells) {
                    c.extend(["error".into(), "-".into()]);
                }
                floor_row.extend(["-".into(), "-".into()]);
                continue;
            }
        };
        let (peak, floor) = floors(trace);
        floor_row.push(format!("{:.3}", floor as f64 / peak.max(1) as f64));
        floor_row.push("1.000".into());
        let results: Vec<Outcome> = subjects
            .iter()
            .map(|name| {
                progress.step(&format!(
                    "traces: {tname} ({} events): {name}",
                    trace.events.len()
                ));
                measure(name, trace, p)
            })
            .collect();
        let base_secs =
            subjects
                .iter()
                .position(|n| *n == BASELINE)
                .and_then(|b| match results[b] {
                    Outcome::Done { seconds, .. } => Some(seconds),
                    _ => None,
                });
        for (i, name) in subjects.iter().enumerate() {
            let mut row = vec![
                tname.clone(),
                trace.events.len().to_string(),
                (*name).to_owned(),
            ];
            match &results[i] {
                Outcome::Done {
                    seconds,
                    wall,
                    footprint,
                    failures,
                    misaligned,
                } => {
                    let speed = base_secs.map_or("-".into(), |b| format!("{:.2}", b / seconds));
                    let per_live = *footprint as f64 / peak.max(1) as f64;
                    let per_floor = *footprint as f64 / floor.max(1) as f64;
                    time_cells[i].push(format!("{:.1}", seconds * 1e3));
                    time_cells[i].push(speed.clone());
                    foot_cells[i].push(format!("{per_live:.3}"));
                    foot_cells[i].push(format!("{per_floor:.3}"));
                    if *failures > 0 {
                        foot.note(format!("{name} on {tname}: {failures} requests refused"));
                    }
                    if *misaligned > 0 {
                        foot.note(format!("{name} on {tname}: {misaligned} misaligned blocks"));
                    }
                    row.extend([
                        "ok".to_owned(),
                        format!("{seconds:.6}"),
                        format!("{wall:.6}"),
                        format!("{:.1}", seconds * 1e9 / trace.events.len().max(1) as f64),
                        speed,
                        peak.to_string(),
                        floor.to_string(),
                        footprint.to_string(),
                        format!("{per_live:.4}"),
                        format!("{per_floor:.4}"),
                        failures.to_string(),
                        misaligned.to_string(),
                    ]);
                }
                Outcome::Stopped(stopped) => {
                    let why = format!("{stopped}");
                    time.note(format!("{name} on {tname}: {why}"));
                    let cell = format!("stopped {:.0}%", (stopped.fraction() * 100.0).floor());
                    time_cells[i].extend([cell, "-".to_owned()]);
                    foot_cells[i].extend(["-".to_owned(), "-".to_owned()]);
                    row.push(why);
                    row.extend(std::iter::repeat_n(String::new(), 11));
                }
                Outcome::Error(why) => {
                    time.note(format!("{name} on {tname}: {why}"));
                    for c in [&mut time_cells[i], &mut foot_cells[i]] {
                        c.extend(["error".to_owned(), "-".to_owned()]);
                    }
                    row.push(why.clone());
                    row.extend(std::iter::repeat_n(String::new(), 11));
                }
            }
            csv.row(row);
        }
    }
    for (i, name) in subjects.iter().enumerate() {
        time.row(time_cells[i].clone());
        foot.row(foot_cells[i].clone());
        if let Some(n) = roster::note(name) {
            foot.note(n);
        }
    }
    foot.row(floor_row);
    foot.note(
        "footprint at peak: the highest end of a live block when live bytes first peak \
         (the simulator's checked replay); the floor row gives floor / peak live bytes",
    );
    vec![time, foot, csv]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_rounds_to_alignment() {
        let t = Trace::parse_native("t", "a 1 10 16\na 2 0 8\nr 1 40\nf 2\na 3 1 64\n").unwrap();
        // live: 10, 10, 40, 40, 41; aligned: 16, 24, 56, 48, 112.
        assert_eq!(floors(&t), (41, 112));
    }
}
