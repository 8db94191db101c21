//! Workload 1, random actions: operations per second on the issue's
//! stream ([`RandomActions`]), for each max size.

use crate::clock::{Lap, Stopwatch};
use crate::ops::{Driver, NoProbe, Op, RandomActions};
use crate::report::{Progress, Table, ratio};
use crate::roster::{self, BASELINE, CAPACITY};

/// Operations generated and timed at a time.
const CHUNK: usize = 1 << 16;

/// What to run.
#[derive(Clone, Debug)]
pub struct Params {
    /// The max sizes (one column each).
    pub maxes: Vec<usize>,
    /// Untimed operations first (the subject reaches its steady state).
    pub warmup: usize,
    /// Timed operations per trial.
    pub ops: usize,
    /// Trials; the median is reported.
    pub trials: usize,
    /// The stream's seed.
    pub seed: u64,
}

/// One subject at one max size.
#[derive(Clone, Debug)]
struct Cell {
    /// Operations per second of thread CPU time.
    ops_per_sec: f64,
    /// The median trial's CPU seconds.
    seconds: f64,
    /// The same trial's wall seconds.
    wall: f64,
    failures: u64,
    error: Option<String>,
}

/// Runs every subject at every max; returns the ops/s table, the ratio
/// table and the long-form CSV table.
pub fn run(subjects: &[&str], p: &Params, progress: &mut Progress) -> [Table; 3] {
    let mut cells: Vec<Vec<Cell>> = Vec::new();
    for name in subjects {
        let mut row = Vec::new();
        for &max in &p.maxes {
            progress.step(&format!("random actions: max {max}: {name}"));
            row.push(measure(name, max, p));
        }
        cells.push(row);
    }
    let base = subjects.iter().position(|n| *n == BASELINE);
    let mut headers = vec!["subject".to_owned()];
    headers.extend(p.maxes.iter().map(|m| format!("max {m}")));
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut speed = Table::new(
        "Random actions: million operations per second of thread CPU time (median of trials)",
        &headers,
    );
    let mut ratios = Table::new(
        "Random actions: operations per second, ratio to talc (> 1 is faster)",
        &headers,
    );
    let mut csv = Table::new(
        "random actions",
        &[
            "subject",
            "max",
            "ops",
            "trials",
            "cpu_seconds_median_trial",
            "wall_seconds_same_trial",
            "ops_per_sec",
            "ratio_to_talc",
            "failures",
            "error",
        ],
    );
    for (name, row) in subjects.iter().zip(&cells) {
        let mut s = vec![(*name).to_owned()];
        let mut r = vec![(*name).to_owned()];
        for (j, c) in row.iter().enumerate() {
            let b = base
                .map(|b| &cells[b][j])
                .filter(|b| b.error.is_none())
                .map(|b| b.ops_per_sec);
            match &c.error {
                Some(e) => {
                    s.push("error".into());
                    r.push("error".into());
                    speed.note(format!("{name}: {e}"));
                }
                None => {
                    s.push(format!("{:.2}", c.ops_per_sec / 1e6));
                    r.push(ratio(c.ops_per_sec, b));
                }
            }
            if c.failures > 0 {
                speed.note(format!(
                    "{name} at max {}: {} requests refused",
                    p.maxes[j], c.failures
                ));
            }
            csv.row(vec![
                (*name).to_owned(),
                p.maxes[j].to_string(),
                p.ops.to_string(),
                p.trials.to_string(),
                format!("{:.6}", c.seconds),
                format!("{:.6}", c.wall),
                format!("{:.0}", c.ops_per_sec),
                ratio(c.ops_per_sec, b),
                c.failures.to_string(),
                c.error.clone().unwrap_or_default(),
            ]);
        }
        speed.row(s);
        ratios.row(r);
        if let Some(n) = roster::note(name) {
            speed.note(n);
        }
    }
    speed.note(format!(
        "{} untimed warm-up operations, then {} timed trials of {} operations each, \
         in chunks of {CHUNK} generated before they are timed (thread CPU time, so time \
         spent descheduled is left out); every subject over its own {} MiB region; seed {:#x}",
        p.warmup,
        p.trials,
        p.ops,
        CAPACITY >> 20,
        p.seed
    ));
    [speed, ratios, csv]
}

fn measure(name: &str, max: usize, p: &Params) -> Cell {
    let mut subject = match roster::build(name, CAPACITY) {
        Ok(s) => s,
        Err(e) => {
            return Cell {
                ops_per_sec: 0.0,
                seconds: 0.0,
                wall: 0.0,
                failures: 0,
                error: Some(e.to_string()),
            };
        }
    };
    let mut generator = RandomActions::new(p.seed, max);
    let mut driver = Driver::new();
    let mut buf: Vec<Op> = Vec::with_capacity(CHUNK);
    let mut left = p.warmup;
    while left > 0 {
        let n = left.min(CHUNK);
        generator.fill(&mut buf, n);
        driver.run(subject.as_mut(), &buf, &mut NoProbe);
        left -= n;
    }
    let mut laps: Vec<Lap> = Vec::with_capacity(p.trials);
    for _ in 0..p.trials.max(1) {
        let mut lap = Lap::default();
        let mut left = p.ops;
        while left > 0 {
            let n = left.min(CHUNK);
            generator.fill(&mut buf, n);
            let t = Stopwatch::start();
            driver.run(subject.as_mut(), &buf, &mut NoProbe);
            lap += t.lap();
            left -= n;
        }
        laps.push(lap);
    }
    driver.release(subject.as_mut());
    laps.sort_by(|a, b| a.cpu.total_cmp(&b.cpu));
    let mid = laps[laps.len() / 2];
    Cell {
        ops_per_sec: p.ops as f64 / mid.cpu.max(1e-12),
        seconds: mid.cpu,
        wall: mid.wall,
        failures: driver.failures,
        error: None,
    }
}
