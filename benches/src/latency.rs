//! Workload 3, latency: the cycles of every alloc, free and realloc call on
//! the random-actions stream, as percentiles.
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
use crate::ops::{Driver, Kind, NoProbe, Op, Probe, RandomActions};
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

/// Records every call's duration by kind.
#[derive(Debug, Default)]
struct Recorder {
    samples: [Vec<u64>; 3],
}

impl Recorder {
    fn lens(&self) -> [usize; 3] {
        [
            self.samples[0].len(),
            self.samples[1].len(),
            self.samples[2].len(),
        ]
    }

    fn truncate(&mut self, lens: [usize; 3]) {
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
}

/// One subject's figures: per kind, and the share of batches dropped.
#[derive(Clone, Copy, Debug)]
struct Measured {
    stats: [Stats; 3],
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
    tables.push(csv);
    tables
}

fn measure(name: &str, p: &Params, ticks_per_ns: f64) -> Result<Measured, String> {
    let mut subject = roster::build(name, CAPACITY).map_err(|e| e.to_string())?;
    let mut generator = RandomActions::new(p.seed, p.max);
    let mut driver = Driver::new();
    let mut buf: Vec<Op> = Vec::new();
    generator.fill(&mut buf, p.warmup);
    driver.run(subject.as_mut(), &buf, &mut NoProbe);
    let mut per_trial: [Vec<Stats>; 3] = Default::default();
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
        stats: [
            median_stats(&per_trial[0]),
            median_stats(&per_trial[1]),
            median_stats(&per_trial[2]),
        ],
        dropped: dropped as f64 / batches.max(1) as f64,
    })
}
