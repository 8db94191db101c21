//! Workload 5, defragmentation by moving (issue 9): what it costs the
//! manager to gather all free space after a real trace.
//!
//! Each trace's prefix is replayed into a [`Movable`] manager
//! ([`Config::fast`], the front ends' default) — untimed — and then, on a
//! fresh replay each time, three ways of defragmenting are timed (thread
//! CPU time, median of the trials):
//!
//! - the classic `defragment` (merge free neighbours, compact the table),
//!   which moves nothing: the baseline;
//! - `relocate`, every movable allocation at once;
//! - bounded passes of at most 64 moves, every move marked done, until the
//!   plan converges (all free space in one arena).
//!
//! Only the manager's work is timed: the region is simulated, no byte is
//! copied (for memory the CPU cannot touch, the copies are the device's).
//! No peer crate moves live allocations, so there is no peer column.

use std::path::PathBuf;

use sysarena::{
    ArenaManager, Config, Handle, HandleSlot, Movable, MoveStatus, PassLimits, PlannedMove, Slot,
};
use sysarena_sim::trace::{Event, Trace};

use crate::clock::Stopwatch;
use crate::report::{Progress, Table, median};

type Manager = Movable<0, 0, Box<[Slot]>, Box<[HandleSlot]>>;

/// What to run.
#[derive(Clone, Debug)]
pub struct Params {
    /// The directory holding `<name>.trace.gz`.
    pub dir: PathBuf,
    /// Which traces.
    pub traces: Vec<String>,
    /// Events replayed before defragmenting.
    pub prefix: usize,
    /// Timed trials; the median is reported.
    pub trials: usize,
}

/// Moves per pass.
const MOVES: usize = 64;

/// Replays `trace` into a fresh manager twice the trace's peak live bytes.
fn fragmented(trace: &Trace) -> Manager {
    let st = trace.stats();
    let capacity = (st.peak_live_bytes * 2).max(1 << 16);
    let table = st.max_live_blocks * 2 + 64;
    let manager = ArenaManager::from_table(
        vec![Slot::EMPTY; table].into_boxed_slice(),
        capacity,
        Config::fast(),
    )
    .expect("a non-empty table");
    let mut m = Movable::from_parts(manager, vec![HandleSlot::EMPTY; table].into_boxed_slice())
        .expect("a handle table of the right size");
    let mut ids: std::collections::HashMap<u64, Handle> = std::collections::HashMap::new();
    for ev in &trace.events {
        match *ev {
            Event::Alloc { id, size, align } => {
                if let Ok(h) = m.alloc(size.max(1), align) {
                    ids.insert(id, h);
                }
            }
            Event::Free { id } => {
                if let Some(h) = ids.remove(&id) {
                    let _ = m.free(h);
                }
            }
            Event::Realloc { id, size } => {
                if let Some(&h) = ids.get(&id) {
                    let _ = m.resize(h, size.max(1));
                }
            }
        }
    }
    m
}

/// Runs the workload; the summary table and the CSV table.
pub fn run(p: &Params, progress: &mut Progress) -> [Table; 2] {
    let mut t = Table::new(
        format!(
            "Defragmentation by moving: the manager's time to gather all free space after the first {} events (thread CPU time, median of {}; no bytes copied)",
            p.prefix, p.trials
        ),
        &[
            "trace",
            "arenas",
            "free arenas",
            "classic defragment µs",
            "relocate µs (× classic)",
            "relocate moves",
            "passes of ≤64",
            "µs per pass",
            "pass moves",
        ],
    );
    let mut csv = Table::new(
        "defrag",
        &[
            "trace",
            "arenas",
            "free_arenas",
            "defragment_us",
            "relocate_us",
            "relocate_moves",
            "relocate_bytes",
            "passes",
            "passes_us",
            "pass_moves",
            "pass_bytes",
        ],
    );
    t.note("No peer crate moves live allocations: the classic defragment on the same heap is the baseline.");
    for name in &p.traces {
        progress.step(&format!("defrag: {name}"));
        let path = crate::traces::path(&p.dir, name);
        let trace = match Trace::from_path(&path, None, Some(p.prefix)) {
            Ok(t) => t,
            Err(e) => {
                t.note(format!("{name}: {e}"));
                continue;
            }
        };
        let m = fragmented(&trace);
        let s = m.stats();
        let (arenas, free_arenas) = (s.used_arenas + s.free_arenas, s.free_arenas);
        drop(m);
        let (mut classic, mut relocated, mut passes_t) = (Vec::new(), Vec::new(), Vec::new());
        let (mut c_moves, mut c_bytes, mut passes, mut p_moves, mut p_bytes) = (0, 0, 0, 0, 0);
        for _ in 0..p.trials.max(1) {
            let mut m = fragmented(&trace);
            let w = Stopwatch::start();
            m.defragment();
            classic.push(w.lap().cpu);

            let mut m = fragmented(&trace);
            let w = Stopwatch::start();
            let r = m.relocate(|_, _| {}).expect("a table with room");
            relocated.push(w.lap().cpu);
            (c_moves, c_bytes) = (r.moved, r.bytes_moved);

            let mut m = fragmented(&trace);
            let mut buf = vec![PlannedMove::EMPTY; MOVES];
            let (mut n, mut moves, mut bytes) = (0, 0, 0);
            let w = Stopwatch::start();
            loop {
                let plan = m
                    .begin_pass(PassLimits::new(MOVES, usize::MAX), &mut buf)
                    .expect("no pass is open");
                for mv in &mut buf[..plan.moves] {
                    mv.status = MoveStatus::Done;
                }
                let r = m.end_pass(&buf[..plan.moves]).expect("the pass is open");
                n += 1;
                moves += r.done;
                bytes += r.bytes_moved;
                if plan.converged() || plan.moves == 0 {
                    break;
                }
            }
            passes_t.push(w.lap().cpu);
            (passes, p_moves, p_bytes) = (n, moves, bytes);
            if m.stats().free_arenas > 1 {
                t.note(format!(
                    "{name}: the passes stopped with {} free arenas (a table too small to plan)",
                    m.stats().free_arenas
                ));
            }
        }
        let (classic, relocated, passes_t) = (
            median(&mut classic) * 1e6,
            median(&mut relocated) * 1e6,
            median(&mut passes_t) * 1e6,
        );
        t.row(vec![
            name.clone(),
            arenas.to_string(),
            free_arenas.to_string(),
            format!("{classic:.0}"),
            format!("{relocated:.0} ({:.1}×)", relocated / classic.max(1e-3)),
            format!("{c_moves} ({} KiB)", c_bytes >> 10),
            passes.to_string(),
            format!("{:.1}", passes_t / passes.max(1) as f64),
            format!("{p_moves} ({} KiB)", p_bytes >> 10),
        ]);
        csv.row(vec![
            name.clone(),
            arenas.to_string(),
            free_arenas.to_string(),
            format!("{classic:.1}"),
            format!("{relocated:.1}"),
            c_moves.to_string(),
            c_bytes.to_string(),
            passes.to_string(),
            format!("{passes_t:.1}"),
            p_moves.to_string(),
            p_bytes.to_string(),
        ]);
    }
    [t, csv]
}
