//! Workload 3, latency: the cycles of every alloc, free and realloc call on
//! the random-actions stream, as percentiles; and the realloc calls again by
//! what each did (stayed and shrank, stayed and grew, or moved), with the
//! share of calls that took each path, so a subject that grows in place
//! more often, or whose in-place paths cost more than a move, shows it.
//!
//! Each call is bracketed by `lfence; rdtsc; lfence` on both sides, so the
//! figure holds the call, the dynamic dispatch into the subject and one
//! timer pair; the timer pair alone is measured and shown as "timer
//! overhead". The counter runs on while the thread is descheduled, which on
//! a busy machine puts the scheduler's time slices (milliseconds) into the
//! tail. So the calls run in batches of [`BATCH`], each bracketed by the
//! thread's CPU-time clock as well: a batch whose counter time exceeds its
//! CPU time by more than [`DESCHEDULED_NS`] was descheduled, and its samples
//! are dropped (the share dropped is reported). What stays holds the
//! allocator, its page faults and short interrupts. Each figure is the
//! median over the trials.

use crate::clock::thread_cpu_secs;
use crate::ops::{Driver, Kind, NoProbe, Op, Probe, RandomActions, ReallocPath};
use crate::report::{Progress, Table, median, ratio};
use crate::roster::{self, BASELINE, CAPACITY};

/// The unit of [`stamp`].
#[cfg(target_arch = "x86_64")]
pub const UNIT: &str = "cycles";
/// The unit of [`stamp`].
#[cfg(not(target_arch = "x86_64"))]
pub const UNIT: &str = "ns";

/// A serialised time-stamp counter read.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn stamp() -> u64 {
    use core::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: `lfence` (SSE2) and `rdtsc` exist on every x86_64 CPU; neither
    // touches memory.
    unsafe {
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
}

/// Nanoseconds since the first call (no time-stamp counter here).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn stamp() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Time-stamp counter ticks per nanosecond, measured against `Instant`
/// over about 50 ms (1.0 where [`stamp`] counts nanoseconds).
pub fn ticks_per_ns() -> f64 {
    let t0 = std::time::Instant::now();
    let s0 = stamp();
    while t0.elapsed().as_millis() < 50 {
        std::hint::spin_loop();
    }
    let s1 = stamp();
    (s1 - s0) as f64 / t0.elapsed().as_nanos() as f64
}

/// Calls per batch (about a tenth of a millisecond to a millisecond).
pub const BATCH: usize = 4096;

/// A batch whose counter time exceeds its CPU time by more than this was
/// descheduled: its samples are dropped.
pub const DESCHEDULED_NS: f64 = 20_000.0;

/// What to run.
#[derive(Clone, Debug)]
pub struct Params {
    /// The random-actions max size.
    pub max: usize,
    /// Untimed operations first.
    pub warmup: usize,
    /// Recorded operations per trial.
    pub ops: usize,
    /// Trials; each statistic is the median over them.
    pub trials: usize,
    /// The stream's seed.
    pub seed: u64,
}

/// Where a [`Recorder`]'s per-path series start: after one per [`Kind`].
const PATHS_AT: usize = Kind::ALL.len();

/// Sample vectors a [`Recorder`] keeps: one per [`Kind`], then one per
/// [`ReallocPath`] (the realloc samples again, sorted by what they did).
const SERIES: usize = PATHS_AT + ReallocPath::ALL.len();

/// Records every call's duration by kind, and each successful realloc's
/// by path as well.
#[derive(Debug, Default)]
struct Recorder {
    samples: [Vec<u64>; SERIES],
}

impl Recorder {
    fn lens(&self) -> [usize; SERIES] {
        core::array::from_fn(|k| self.samples[k].len())
    }

    fn truncate(&mut self, lens: [usize; SERIES]) {
        for (v, n) in self.samples.iter_mut().zip(lens) {
            v.truncate(n);
        }
    }
}

impl Probe for Recorder {
    #[inline(always)]
    fn begin(&mut self) -> u64 {
        stamp()
    }

    #[inline(always)]
    fn end(&mut self, kind: Kind, start: u64) {
        let t = stamp();
        self.samples[kind as usize].push(t.wrapping_sub(start));
    }

    #[inline(always)]
    fn realloc_path(&mut self, path: ReallocPath) {
        if let Some(&t) = self.samples[Kind::Realloc as usize].last() {
            self.samples[PATHS_AT + path as usize].push(t);
        }
    }
}

/// One subject's figures: per kind, and the share of batches dropped.
#[derive(Clone, Copy, Debug)]
struct Measured {
    /// Per [`Kind`], then per [`ReallocPath`] (as [`Recorder::samples`]).
    stats: [Stats; SERIES],
    dropped: f64,
}

/// p50, p99, p99.9, max and the call count.
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    calls: usize,
}

fn stats(v: &mut [u64]) -> Stats {
    if v.is_empty() {
        return Stats::default();
    }
    v.sort_unstable();
    let at = |q: f64| v[((q * v.len() as f64) as usize).min(v.len() - 1)] as f64;
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: v[v.len() - 1] as f64,
        calls: v.len(),
    }
}

fn median_stats(trials: &[Stats]) -> Stats {
    let pick = |f: fn(&Stats) -> f64| median(&mut trials.iter().map(f).collect::<Vec<_>>());
    Stats {
        p50: pick(|s| s.p50),
        p99: pick(|s| s.p99),
        p999: pick(|s| s.p999),
        max: pick(|s| s.max),
        calls: trials.first().map_or(0, |s| s.calls),
    }
}

/// The timer pair's own cost: the median of many empty measurements.
fn overhead() -> f64 {
    let mut r = Recorder::default();
    for _ in 0..100_000 {
        let t = r.begin();
        r.end(Kind::Alloc, t);
    }
    stats(&mut r.samples[0]).p50
}

/// Runs every subject; one table per kind, and the CSV table.
pub fn run(subjects: &[&str], p: &Params, progress: &mut Progress) -> Vec<Table> {
    let ticks_per_ns = ticks_per_ns();
    let mut results: Vec<Result<Measured, String>> = Vec::new();
    for name in subjects {
        progress.step(&format!("latency: max {}: {name}", p.max));
        results.push(measure(name, p, ticks_per_ns));
    }
    let timer = overhead();
    let base = subjects
        .iter()
        .position(|n| *n == BASELINE)
        .and_then(|b| results[b].as_ref().ok().map(|m| m.stats));
    let mut tables = Vec::new();
    let mut csv = Table::new(
        "latency",
        &[
            "subject",
            "op",
            "unit",
            "calls",
            "p50",
            "p99",
            "p99_9",
            "max",
            "p99_ratio_to_talc",
            "max_ratio_to_talc",
            "batches_dropped",
            "error",
        ],
    );
    for kind in Kind::ALL {
        let mut t = Table::new(
            format!(
                "Latency of {} ({UNIT}; random actions, max {}; median of {} trials)",
                kind.name(),
                p.max,
                p.trials
            ),
            &[
                "subject",
                "p50",
                "p99",
                "p99.9",
                "max",
                "p99 / talc",
                "max / talc",
                "dropped",
            ],
        );
        for (name, r) in subjects.iter().zip(&results) {
            match r {
                Ok(m) => {
                    let s = m.stats[kind as usize];
                    let b = base.map(|b| b[kind as usize]);
                    let row = vec![
                        (*name).to_owned(),
                        format!("{:.0}", s.p50),
                        format!("{:.0}", s.p99),
                        format!("{:.0}", s.p999),
                        format!("{:.0}", s.max),
                        ratio(s.p99, b.map(|b| b.p99)),
                        ratio(s.max, b.map(|b| b.max)),
                        format!("{:.1}%", m.dropped * 100.0),
                    ];
                    csv.row(vec![
                        (*name).to_owned(),
                        kind.name().to_owned(),
                        UNIT.to_owned(),
                        s.calls.to_string(),
                        row[1].clone(),
                        row[2].clone(),
                        row[3].clone(),
                        row[4].clone(),
                        row[5].clone(),
                        row[6].clone(),
                        format!("{:.4}", m.dropped),
                        String::new(),
                    ]);
                    t.row(row);
                }
                Err(e) => {
                    t.row(vec![
                        (*name).to_owned(),
                        "error".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                    ]);
                    t.note(format!("{name}: {e}"));
                    csv.row(vec![
                        (*name).to_owned(),
                        kind.name().to_owned(),
                        UNIT.to_owned(),
                        "0".into(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        e.clone(),
                    ]);
                }
            }
            if let Some(n) = roster::note(name) {
                t.note(n);
            }
        }
        t.note(format!(
            "each call timed with lfence+rdtsc on both sides; the timer pair alone costs \
             {timer:.0} {UNIT} (p50), included in every figure; {} warm-up operations, \
             then {} recorded operations per trial, in batches of {BATCH}; \"dropped\": the share \
             of batches during which the thread was descheduled (counter time > CPU time + \
             {:.0} µs), whose samples are left out",
            p.warmup,
            p.ops,
            DESCHEDULED_NS / 1000.0
        ));
        tables.push(t);
    }
    tables.push(by_path(subjects, &results, p, timer, &mut csv));
    tables.push(csv);
    tables
}

/// The realloc samples again, by what each call did: the share of
/// successful calls that took each path and its p50 · p99, and the same
/// rows into `csv` (op `realloc: <path>`).
fn by_path(
    subjects: &[&str],
    results: &[Result<Measured, String>],
    p: &Params,
    timer: f64,
    csv: &mut Table,
) -> Table {
    let mut headers = vec!["subject".to_owned()];
    headers.extend(ReallocPath::ALL.iter().map(|path| path.name().to_owned()));
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut t = Table::new(
        format!(
            "Latency of realloc by path ({UNIT}, p50 · p99, and the share of calls; \
             random actions, max {}; median of {} trials)",
            p.max, p.trials
        ),
        &headers,
    );
    for (name, r) in subjects.iter().zip(results) {
        let Ok(m) = r else { continue };
        let paths = &m.stats[PATHS_AT..];
        let total: usize = paths.iter().map(|s| s.calls).sum();
        let mut row = vec![(*name).to_owned()];
        for (path, s) in ReallocPath::ALL.iter().zip(paths) {
            if s.calls == 0 {
                row.push("-".to_owned());
            } else {
                let share = 100.0 * s.calls as f64 / total as f64;
                row.push(format!("{:.0} · {:.0} ({share:.1} %)", s.p50, s.p99));
            }
            csv.row(vec![
                (*name).to_owned(),
                format!("realloc: {}", path.name()),
                UNIT.to_owned(),
                s.calls.to_string(),
                format!("{:.0}", s.p50),
                format!("{:.0}", s.p99),
                format!("{:.0}", s.p999),
                format!("{:.0}", s.max),
                String::new(),
                String::new(),
                format!("{:.4}", m.dropped),
                String::new(),
            ]);
        }
        t.row(row);
    }
    t.note(format!(
        "the realloc calls of the table above, sorted by where the block ended up: at its old \
         place with its old size or smaller, at its old place grown, or moved (its bytes \
         copied); failed calls are left out; the timer pair ({timer:.0} {UNIT}) is included"
    ));
    t
}

fn measure(name: &str, p: &Params, ticks_per_ns: f64) -> Result<Measured, String> {
    let mut subject = roster::build(name, CAPACITY).map_err(|e| e.to_string())?;
    let mut generator = RandomActions::new(p.seed, p.max);
    let mut driver = Driver::new();
    let mut buf: Vec<Op> = Vec::new();
    generator.fill(&mut buf, p.warmup);
    driver.run(subject.as_mut(), &buf, &mut NoProbe);
    let mut per_trial: [Vec<Stats>; SERIES] = Default::default();
    let (mut batches, mut dropped) = (0usize, 0usize);
    for _ in 0..p.trials.max(1) {
        generator.fill(&mut buf, p.ops);
        let mut rec = Recorder::default();
        for v in &mut rec.samples {
            v.reserve(p.ops);
        }
        for chunk in buf.chunks(BATCH) {
            let lens = rec.lens();
            let cpu = thread_cpu_secs();
            let t = stamp();
            driver.run(subject.as_mut(), chunk, &mut rec);
            let ticks = stamp().wrapping_sub(t);
            let cpu_ns = (thread_cpu_secs() - cpu) * 1e9;
            batches += 1;
            if ticks as f64 / ticks_per_ns - cpu_ns > DESCHEDULED_NS {
                rec.truncate(lens);
                dropped += 1;
            }
        }
        for (k, v) in rec.samples.iter_mut().enumerate() {
            per_trial[k].push(stats(v));
        }
    }
    driver.release(subject.as_mut());
    Ok(Measured {
        stats: core::array::from_fn(|k| median_stats(&per_trial[k])),
        dropped: dropped as f64 / batches.max(1) as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_realloc_sample_is_filed_under_its_path_too() {
        let mut r = Recorder::default();
        let t = r.begin();
        r.end(Kind::Realloc, t);
        r.realloc_path(ReallocPath::Moved);
        // A failed realloc: timed, but no path.
        let t = r.begin();
        r.end(Kind::Realloc, t);
        let t = r.begin();
        r.end(Kind::Realloc, t);
        r.realloc_path(ReallocPath::InPlaceSmaller);
        assert_eq!(r.samples[Kind::Realloc as usize].len(), 3);
        assert_eq!(
            r.samples[PATHS_AT + ReallocPath::Moved as usize],
            [r.samples[2][0]]
        );
        assert_eq!(
            r.samples[PATHS_AT + ReallocPath::InPlaceSmaller as usize],
            [r.samples[2][2]]
        );
        assert!(r.samples[PATHS_AT + ReallocPath::InPlaceLarger as usize].is_empty());
        // A dropped batch takes its path samples with it.
        let lens = r.lens();
        let t = r.begin();
        r.end(Kind::Realloc, t);
        r.realloc_path(ReallocPath::InPlaceLarger);
        r.truncate(lens);
        assert_eq!(r.lens(), lens);
    }

    #[test]
    fn the_by_path_table_has_every_path_and_a_share_per_subject() {
        let p = Params {
            max: 200,
            warmup: 1000,
            ops: 20_000,
            trials: 1,
            seed: 7,
        };
        // Infinitely many ticks per nanosecond: no batch counts as
        // descheduled, so a busy machine cannot drop every sample.
        let m = measure(BASELINE, &p, f64::INFINITY).unwrap();
        let paths = &m.stats[PATHS_AT..];
        let total: usize = paths.iter().map(|s| s.calls).sum();
        assert!(paths[ReallocPath::Moved as usize].calls > 0);
        assert!(total <= m.stats[Kind::Realloc as usize].calls);
        let mut csv = Table::new("latency", &["a"; 12]);
        let t = by_path(&[BASELINE], &[Ok(m)], &p, 50.0, &mut csv);
        let text = t.to_markdown();
        for path in ReallocPath::ALL {
            assert!(text.contains(path.name()), "{text}");
        }
        assert!(text.contains(" %)"), "{text}");
    }
}
