//! Workload 2, heap efficiency: how much of the region holds requested
//! bytes when a subject first refuses a request.
//!
//! Each step draws 0..=9: 0–4 allocate `uniform[4, cap)` bytes with
//! `cap = uniform[16, 10000)` at [`Rng::align`]; 5 frees a random live
//! block; 6–9 reallocate a random live block to `uniform[1, 100000)`. (With
//! nothing live, 5–9 do nothing.) A round ends at the first refused request
//! and scores the live requested bytes then / the region size. Every round
//! starts a fresh subject; round `r` uses the same seed for every subject,
//! so all subjects see the same stream up to their own first failure.

use sysarena_sim::subject::{Block, Subject};

use crate::report::{Progress, Table, ratio};
use crate::rng::Rng;
use crate::roster::{self, BASELINE, CAPACITY};

/// Largest allocation + 1 (`cap`'s upper bound).
pub const MAX_ALLOC: usize = 10_000;
/// Largest realloc + 1.
pub const MAX_REALLOC: usize = 100_000;
/// A round that has not failed after this many steps stops (never reached
/// with a 128 MiB region; a guard against a subject that never refuses).
const STEP_LIMIT: usize = 10_000_000;

/// What to run.
#[derive(Clone, Debug)]
pub struct Params {
    /// Rounds per subject.
    pub rounds: usize,
    /// Seed of round 0 (round `r` uses `seed + r`).
    pub seed: u64,
}

#[derive(Clone, Debug, Default)]
struct Outcome {
    efficiency: Vec<f64>,
    steps: Vec<usize>,
    error: Option<String>,
}

/// One round: the efficiency at the first failure and the steps taken.
fn round(subject: &mut dyn Subject, seed: u64) -> (f64, usize) {
    let mut rng = Rng::new(seed);
    let mut live: Vec<Block> = Vec::with_capacity(8192);
    let mut live_bytes = 0usize;
    let mut steps = 0;
    while steps < STEP_LIMIT {
        steps += 1;
        let draw = rng.below(10);
        if draw <= 4 {
            let cap = rng.range(16, MAX_ALLOC);
            let size = rng.range(4, cap);
            let align = rng.align();
            match subject.alloc(size, align) {
                Some(offset) => {
                    live.push(Block {
                        offset,
                        size,
                        align,
                    });
                    live_bytes += size;
                }
                None => break,
            }
        } else if live.is_empty() {
            continue;
        } else if draw == 5 {
            let block = live.swap_remove(rng.below(live.len()));
            live_bytes -= block.size;
            // SAFETY: `block` was returned by this subject and was live
            // until it left `live` just now.
            unsafe { subject.free(block) };
        } else {
            let i = rng.below(live.len());
            let size = rng.range(1, MAX_REALLOC);
            let block = live[i];
            // SAFETY: `block` is live; replaced on success, kept on failure.
            match unsafe { subject.realloc(block, size) } {
                Some(offset) => {
                    live[i] = Block {
                        offset,
                        size,
                        align: block.align,
                    };
                    live_bytes = live_bytes - block.size + size;
                }
                None => break,
            }
        }
    }
    (live_bytes as f64 / subject.capacity() as f64, steps)
}

/// Runs every subject; the summary table and the per-round CSV table.
pub fn run(subjects: &[&str], p: &Params, progress: &mut Progress) -> [Table; 2] {
    let mut outcomes = Vec::new();
    for name in subjects {
        let mut o = Outcome::default();
        for r in 0..p.rounds {
            progress.step(&format!(
                "heap efficiency: {name}: round {}/{}",
                r + 1,
                p.rounds
            ));
            match roster::build(name, CAPACITY) {
                Ok(mut s) => {
                    let (e, steps) = round(s.as_mut(), p.seed.wrapping_add(r as u64));
                    o.efficiency.push(e);
                    o.steps.push(steps);
                }
                Err(e) => {
                    o.error = Some(e.to_string());
                    break;
                }
            }
        }
        outcomes.push(o);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let base = subjects
        .iter()
        .position(|n| *n == BASELINE)
        .filter(|&b| outcomes[b].error.is_none())
        .map(|b| mean(&outcomes[b].efficiency));
    let mut t = Table::new(
        format!(
            "Heap efficiency: live requested bytes / region at the first failure (mean of {} rounds)",
            p.rounds
        ),
        &[
            "subject",
            "mean",
            "min",
            "max",
            "ratio to talc",
            "steps per round",
        ],
    );
    let mut csv = Table::new(
        "heap efficiency",
        &["subject", "round", "efficiency", "steps", "error"],
    );
    for (name, o) in subjects.iter().zip(&outcomes) {
        if let Some(e) = &o.error {
            t.row(vec![
                (*name).to_owned(),
                "error".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
            t.note(format!("{name}: {e}"));
            csv.row(vec![
                (*name).to_owned(),
                String::new(),
                String::new(),
                String::new(),
                e.clone(),
            ]);
            continue;
        }
        let m = mean(&o.efficiency);
        let lo = o.efficiency.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = o.efficiency.iter().copied().fold(0.0, f64::max);
        let steps = o.steps.iter().sum::<usize>() / o.steps.len().max(1);
        t.row(vec![
            (*name).to_owned(),
            format!("{:.2}%", m * 100.0),
            format!("{:.2}%", lo * 100.0),
            format!("{:.2}%", hi * 100.0),
            ratio(m, base),
            steps.to_string(),
        ]);
        for (r, (e, s)) in o.efficiency.iter().zip(&o.steps).enumerate() {
            csv.row(vec![
                (*name).to_owned(),
                r.to_string(),
                format!("{e:.6}"),
                s.to_string(),
                String::new(),
            ]);
        }
        if let Some(n) = roster::note(name) {
            t.note(n);
        }
    }
    t.note(format!(
        "allocate uniform[4, uniform[16, {MAX_ALLOC})) bytes (5 in 10), free (1 in 10), \
         realloc to uniform[1, {MAX_REALLOC}) (4 in 10); a fresh {} MiB subject per round; \
         seeds {:#x}..",
        CAPACITY >> 20,
        p.seed
    ));
    [t, csv]
}
