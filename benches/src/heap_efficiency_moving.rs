//! Workload 2b, heap efficiency with relocation (issue 14, "Kept"): the
//! heap-efficiency stream ([`heap_efficiency::next_step`]) against a
//! [`Movable`] (allocations named by handles) under [`Config::fast`], which
//! on a refused request gathers its free space by moving live allocations
//! and asks again. The round ends only when the request is refused after
//! that too, and scores the live requested bytes then / the region size.
//!
//! Two ways to gather (one row each):
//!
//! - **relocate**: [`Movable::relocate`], everything at once;
//! - **passes** (only when asked for: `--gather passes`): bounded passes of
//!   at most [`PASS_MOVES`] moves, each followed by a retry, until the
//!   request fits or the passes converge (all free space in one arena) or
//!   are blocked. Slow to run: most passes move one allocation (a run of
//!   allocations behind a hole that nothing fits settles one per pass), so
//!   a round takes about 60,000 passes of O(arenas) each.
//!
//! The region is simulated: the moves are counted, no byte is copied (a
//! program would `memmove` each move; for device memory the copies are the
//! device's). Round `r` uses the same seed as round `r` of the plain
//! heap-efficiency workload, so up to the first refusal both see the same
//! stream, and the "first refusal" column is what the same manager scores
//! without moving. No peer crate moves live allocations, so there is no
//! peer row.

use sysarena::{
    ArenaManager, Config, Handle, HandleError, HandleSlot, Movable, MoveStatus, PassLimits,
    PassProgress, PlannedMove, Slot,
};

use crate::heap_efficiency::{self, STEP_LIMIT, Step};
use crate::report::{Progress, Table};
use crate::rng::Rng;
use crate::roster::CAPACITY;

type Manager = Movable<0, 0, Box<[Slot]>, Box<[HandleSlot]>>;

/// Descriptors (as the simulator gives a 128 MiB sysarena subject:
/// `sysarena_sim::sysarena_subject::default_descriptors`).
const DESCRIPTORS: usize = 1 << 20;
/// Handles: more than the live blocks of any round (about 5,000 at a
/// round's end with a 128 MiB region).
const HANDLES: usize = 1 << 18;
/// Moves per pass in the `passes` way.
pub const PASS_MOVES: usize = 64;

/// How free space is gathered after a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gather {
    /// [`Movable::relocate`]: everything at once.
    Relocate,
    /// Passes of at most [`PASS_MOVES`] moves, a retry after each.
    Passes,
}

impl Gather {
    /// The way named `name` on the command line (`relocate`, `passes`).
    pub fn parse(name: &str) -> Option<Gather> {
        match name {
            "relocate" => Some(Gather::Relocate),
            "passes" => Some(Gather::Passes),
            _ => None,
        }
    }

    /// The row's name.
    pub fn name(self) -> &'static str {
        match self {
            Gather::Relocate => "sysarena Movable, fast + relocate on refusal",
            Gather::Passes => "sysarena Movable, fast + passes of ≤64 on refusal",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Params {
    /// Rounds per way of gathering.
    pub rounds: usize,
    /// The ways of gathering, one row each.
    pub gather: Vec<Gather>,
    /// Seed of round 0 (round `r` uses `seed + r`).
    pub seed: u64,
}

/// How one round ended.
#[derive(Clone, Debug, Default)]
struct Round {
    /// Live requested bytes / region at the final refusal.
    efficiency: f64,
    /// The same at the first refusal (before anything moved).
    first: f64,
    /// Steps taken, the failing one included.
    steps: usize,
    /// Refusals that led to gathering (relocations, or runs of passes).
    gathers: usize,
    /// Passes run (the `passes` way), relocations (the other).
    passes: usize,
    /// Allocations moved, and their bytes.
    moves: usize,
    bytes_moved: usize,
    /// `alloc` or `realloc`, and the refused size.
    failed_op: &'static str,
    failed_size: usize,
    /// Free bytes and the largest free arena at the end.
    free_bytes: usize,
    largest_free: usize,
}

/// A fresh manager over a simulated region of `capacity` bytes.
fn manager(capacity: usize, descriptors: usize, handles: usize) -> Manager {
    let m = ArenaManager::from_table(
        vec![Slot::EMPTY; descriptors].into_boxed_slice(),
        capacity,
        Config::fast(),
    )
    .expect("a non-empty table");
    Movable::from_parts(m, vec![HandleSlot::EMPTY; handles].into_boxed_slice())
        .expect("a handle table of the right size")
}

/// A request that may be asked again after gathering.
#[derive(Clone, Copy, Debug)]
enum Request {
    Alloc {
        size: usize,
        align: usize,
    },
    /// Live block `index` (of the round's list), named by `handle`.
    Resize {
        index: usize,
        handle: Handle,
        size: usize,
    },
}

impl Request {
    fn size(self) -> usize {
        match self {
            Request::Alloc { size, .. } | Request::Resize { size, .. } => size,
        }
    }

    fn op(self) -> &'static str {
        match self {
            Request::Alloc { .. } => "alloc",
            Request::Resize { .. } => "realloc",
        }
    }

    /// Asks `m`: the handle, a refusal for want of space (gather and ask
    /// again), or another refusal (a finding: the round stops).
    fn ask(self, m: &mut Manager) -> Result<Option<Handle>, HandleError> {
        let r = match self {
            Request::Alloc { size, align } => m.alloc(size, align),
            Request::Resize { handle, size, .. } => m.resize(handle, size).map(|_| handle),
        };
        match r {
            Ok(h) => Ok(Some(h)),
            Err(HandleError::Alloc(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One round: on a refusal, gather `how` and retry; stop when the retry is
/// refused too.
fn round(how: Gather, seed: u64, mut m: Manager) -> Result<Round, String> {
    let capacity = m.capacity();
    let mut rng = Rng::new(seed);
    // Live handles and their requested sizes.
    let mut live: Vec<(Handle, usize)> = Vec::with_capacity(8192);
    let mut live_bytes = 0usize;
    let mut r = Round {
        failed_op: "none",
        ..Round::default()
    };
    let mut first: Option<f64> = None;
    let mut buf = vec![PlannedMove::EMPTY; PASS_MOVES];
    while r.steps < STEP_LIMIT {
        r.steps += 1;
        let req = match heap_efficiency::next_step(&mut rng, live.len()) {
            Step::Nothing => continue,
            Step::Free { index } => {
                let (h, size) = live.swap_remove(index);
                live_bytes -= size;
                m.free(h)
                    .map_err(|e| format!("free of a live handle: {e}"))?;
                continue;
            }
            Step::Alloc { size, align } => Request::Alloc { size, align },
            Step::Realloc { index, size } => Request::Resize {
                index,
                handle: live[index].0,
                size,
            },
        };
        let fail = |e: HandleError| format!("{} of {} bytes: {e}", req.op(), req.size());
        let mut got = req.ask(&mut m).map_err(fail)?;
        if got.is_none() {
            first.get_or_insert(live_bytes as f64 / capacity as f64);
            r.gathers += 1;
            got = gather(&mut m, how, &mut buf, &mut r, req)?;
        }
        match (got, req) {
            (Some(h), Request::Alloc { size, .. }) => {
                live.push((h, size));
                live_bytes += size;
            }
            (Some(_), Request::Resize { index, size, .. }) => {
                live_bytes = live_bytes - live[index].1 + size;
                live[index].1 = size;
            }
            (None, _) => {
                (r.failed_op, r.failed_size) = (req.op(), req.size());
                break;
            }
        }
    }
    m.check_invariants()
        .map_err(|e| format!("invariants at the round's end: {e:?}"))?;
    let s = m.stats();
    if s.requested_bytes != live_bytes {
        return Err(format!(
            "the manager counts {} requested bytes, the workload {live_bytes}",
            s.requested_bytes
        ));
    }
    r.efficiency = live_bytes as f64 / capacity as f64;
    r.first = first.unwrap_or(r.efficiency);
    r.free_bytes = s.free_bytes;
    r.largest_free = s.largest_free;
    Ok(r)
}

/// Gathers free space `how` after `req` was refused, asking again after
/// each step; the last answer.
fn gather(
    m: &mut Manager,
    how: Gather,
    buf: &mut [PlannedMove],
    r: &mut Round,
    req: Request,
) -> Result<Option<Handle>, String> {
    let fail = |e: HandleError| format!("{} of {} bytes: {e}", req.op(), req.size());
    match how {
        Gather::Relocate => {
            let rep = m
                .relocate(|_, _| {})
                .map_err(|e| format!("relocate: {e}"))?;
            r.passes += 1;
            r.moves += rep.moved;
            r.bytes_moved += rep.bytes_moved;
            req.ask(m).map_err(fail)
        }
        Gather::Passes => loop {
            let plan = m
                .begin_pass(PassLimits::new(PASS_MOVES, usize::MAX), buf)
                .map_err(|e| format!("begin_pass: {e}"))?;
            for mv in &mut buf[..plan.moves] {
                mv.status = MoveStatus::Done;
            }
            let rep = m
                .end_pass(&buf[..plan.moves])
                .map_err(|e| format!("end_pass: {e}"))?;
            r.passes += 1;
            r.moves += rep.done;
            r.bytes_moved += rep.bytes_moved;
            let got = req.ask(m).map_err(fail)?;
            if got.is_some() || plan.progress() != PassProgress::Moving {
                return Ok(got);
            }
        },
    }
}

/// Runs the ways asked for; the summary table and the per-round CSV table.
pub fn run(p: &Params, progress: &mut Progress) -> [Table; 2] {
    let mut t = Table::new(
        format!(
            "Heap efficiency with relocation: live requested bytes / region when a request is refused even after moving (mean of {} rounds)",
            p.rounds
        ),
        &[
            "subject",
            "mean",
            "min",
            "max",
            "at the first refusal (no move)",
            "refusals gathered per round",
            "relocations or passes per round",
            "moves per round",
            "MiB moved per round",
            "steps per round",
        ],
    );
    let mut csv = Table::new(
        "heap efficiency moving",
        &[
            "subject",
            "round",
            "efficiency",
            "first_refusal",
            "steps",
            "gathers",
            "passes",
            "moves",
            "bytes_moved",
            "failed_op",
            "failed_size",
            "free_bytes",
            "largest_free",
            "error",
        ],
    );
    for &how in &p.gather {
        let mut rounds = Vec::new();
        let mut error = None;
        for i in 0..p.rounds {
            progress.step(&format!(
                "heap efficiency moving: {}: round {}/{}",
                how.name(),
                i + 1,
                p.rounds
            ));
            let m = manager(CAPACITY, DESCRIPTORS, HANDLES);
            match round(how, p.seed.wrapping_add(i as u64), m) {
                Ok(r) => rounds.push(r),
                Err(e) => {
                    error = Some(format!("round {i}: {e}"));
                    break;
                }
            }
        }
        if let Some(e) = error {
            let mut row = vec![how.name().to_owned(), "error".into()];
            row.extend(std::iter::repeat_n("-".to_owned(), t.headers.len() - 2));
            t.row(row);
            t.note(format!("{}: {e}", how.name()));
            let mut row = vec![how.name().to_owned()];
            row.extend(std::iter::repeat_n(String::new(), csv.headers.len() - 2));
            row.push(e);
            csv.row(row);
            continue;
        }
        let n = rounds.len().max(1) as f64;
        let mean = |f: fn(&Round) -> f64| rounds.iter().map(f).sum::<f64>() / n;
        let eff: Vec<f64> = rounds.iter().map(|r| r.efficiency).collect();
        let lo = eff.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = eff.iter().copied().fold(0.0, f64::max);
        t.row(vec![
            how.name().to_owned(),
            format!("{:.2}%", mean(|r| r.efficiency) * 100.0),
            format!("{:.2}%", lo * 100.0),
            format!("{:.2}%", hi * 100.0),
            format!("{:.2}%", mean(|r| r.first) * 100.0),
            format!("{:.1}", mean(|r| r.gathers as f64)),
            format!("{:.1}", mean(|r| r.passes as f64)),
            format!("{:.0}", mean(|r| r.moves as f64)),
            format!("{:.1}", mean(|r| r.bytes_moved as f64) / f64::from(1 << 20)),
            format!("{:.0}", mean(|r| r.steps as f64)),
        ]);
        for (i, r) in rounds.iter().enumerate() {
            csv.row(vec![
                how.name().to_owned(),
                i.to_string(),
                format!("{:.6}", r.efficiency),
                format!("{:.6}", r.first),
                r.steps.to_string(),
                r.gathers.to_string(),
                r.passes.to_string(),
                r.moves.to_string(),
                r.bytes_moved.to_string(),
                r.failed_op.to_owned(),
                r.failed_size.to_string(),
                r.free_bytes.to_string(),
                r.largest_free.to_string(),
                String::new(),
            ]);
        }
    }
    t.note(format!(
        "the heap-efficiency stream (same seeds, {:#x}..) against one Movable per round over a simulated {} MiB region, Config::fast(); \
         a refused request gathers the free space by moving live allocations and is asked again; the round ends when that is refused too; \
         no byte is copied (the moves are counted); no peer moves live allocations",
        p.seed,
        CAPACITY >> 20
    ));
    [t, csv]
}

#[cfg(test)]
mod tests;
