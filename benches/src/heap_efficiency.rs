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

use sysarena_sim::subject::{Block, FreeStats, Subject};

use crate::report::{Progress, Table, ratio};
use crate::rng::Rng;
use crate::roster::{self, BASELINE, CAPACITY};

/// Largest allocation + 1 (`cap`'s upper bound).
pub const MAX_ALLOC: usize = 10_000;
/// Largest realloc + 1.
pub const MAX_REALLOC: usize = 100_000;
/// A round that has not failed after this many steps stops (never reached
/// with a 128 MiB region; a guard against a subject that never refuses).
pub const STEP_LIMIT: usize = 10_000_000;

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
    rounds: Vec<Round>,
    error: Option<String>,
}

/// How one round ended.
#[derive(Clone, Debug, Default)]
struct Round {
    /// Live requested bytes / region size at the failure.
    efficiency: f64,
    /// Steps taken, the failing one included.
    steps: usize,
    /// `alloc` or `realloc`.
    failed_op: &'static str,
    /// The refused size.
    failed_size: usize,
    /// The subject's own free figures then, where it reports them.
    free: Option<FreeStats>,
}

/// One step of the workload's stream.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// Allocate `size` bytes at `align`.
    Alloc {
        /// Bytes requested.
        size: usize,
        /// A power of two.
        align: usize,
    },
    /// Free live block `index` (of the caller's list, removed by
    /// `swap_remove`).
    Free {
        /// Into the caller's list of live blocks.
        index: usize,
    },
    /// Reallocate live block `index` to `size` bytes.
    Realloc {
        /// Into the caller's list of live blocks.
        index: usize,
        /// The new size.
        size: usize,
    },
    /// Nothing live to free or reallocate.
    Nothing,
}

/// The stream's next step when `live` blocks are live. Every variant of
/// the workload draws its steps here, so all of them see the same stream
/// as long as their live lists agree.
pub fn next_step(rng: &mut Rng, live: usize) -> Step {
    let draw = rng.below(10);
    if draw <= 4 {
        let cap = rng.range(16, MAX_ALLOC);
        let size = rng.range(4, cap);
        let align = rng.align();
        Step::Alloc { size, align }
    } else if live == 0 {
        Step::Nothing
    } else if draw == 5 {
        Step::Free {
            index: rng.below(live),
        }
    } else {
        let index = rng.below(live);
        let size = rng.range(1, MAX_REALLOC);
        Step::Realloc { index, size }
    }
}

/// One round, to the first failure.
fn round(subject: &mut dyn Subject, seed: u64) -> Round {
    let mut rng = Rng::new(seed);
    let mut live: Vec<Block> = Vec::with_capacity(8192);
    let mut live_bytes = 0usize;
    let mut steps = 0;
    let mut failed = ("none", 0);
    while steps < STEP_LIMIT {
        steps += 1;
        match next_step(&mut rng, live.len()) {
            Step::Alloc { size, align } => match subject.alloc(size, align) {
                Some(offset) => {
                    live.push(Block {
                        offset,
                        size,
                        align,
                    });
                    live_bytes += size;
                }
                None => {
                    failed = ("alloc", size);
                    break;
                }
            },
            Step::Nothing => {}
            Step::Free { index } => {
                let block = live.swap_remove(index);
                live_bytes -= block.size;
                // SAFETY: `block` was returned by this subject and was live
                // until it left `live` just now.
                unsafe { subject.free(block) };
            }
            Step::Realloc { index, size } => {
                let block = live[index];
                // SAFETY: `block` is live; replaced on success, kept on failure.
                match unsafe { subject.realloc(block, size) } {
                    Some(offset) => {
                        live[index] = Block {
                            offset,
                            size,
                            align: block.align,
                        };
                        live_bytes = live_bytes - block.size + size;
                    }
                    None => {
                        failed = ("realloc", size);
                        break;
                    }
                }
            }
        }
    }
    Round {
        efficiency: live_bytes as f64 / subject.capacity() as f64,
        steps,
        failed_op: failed.0,
        failed_size: failed.1,
        free: subject.free_stats(),
    }
}

fn efficiencies(o: &Outcome) -> Vec<f64> {
    o.rounds.iter().map(|r| r.efficiency).collect()
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
                Ok(mut s) => o
                    .rounds
                    .push(round(s.as_mut(), p.seed.wrapping_add(r as u64))),
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
        .map(|b| mean(&efficiencies(&outcomes[b])));
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
        &[
            "subject",
            "round",
            "efficiency",
            "steps",
            "failed_op",
            "failed_size",
            "free_bytes",
            "largest_free",
            "free_blocks",
            "error",
        ],
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
            let mut row = vec![(*name).to_owned()];
            row.extend(std::iter::repeat_n(String::new(), 8));
            row.push(e.clone());
            csv.row(row);
            continue;
        }
        let eff = efficiencies(o);
        let m = mean(&eff);
        let lo = eff.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = eff.iter().copied().fold(0.0, f64::max);
        let steps = o.rounds.iter().map(|r| r.steps).sum::<usize>() / o.rounds.len().max(1);
        t.row(vec![
            (*name).to_owned(),
            format!("{:.2}%", m * 100.0),
            format!("{:.2}%", lo * 100.0),
            format!("{:.2}%", hi * 100.0),
            ratio(m, base),
            steps.to_string(),
        ]);
        for (i, r) in o.rounds.iter().enumerate() {
            let free = |f: fn(&FreeStats) -> usize| {
                r.free.as_ref().map_or(String::new(), |s| f(s).to_string())
            };
            csv.row(vec![
                (*name).to_owned(),
                i.to_string(),
                format!("{:.6}", r.efficiency),
                r.steps.to_string(),
                r.failed_op.to_owned(),
                r.failed_size.to_string(),
                free(|s| s.free_bytes),
                free(|s| s.largest_free),
                free(|s| s.free_blocks),
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
