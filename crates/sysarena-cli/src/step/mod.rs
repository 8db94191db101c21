//! `sysarena step`: drive the arena manager one operation at a time and
//! watch the heap map, the arena table (spare descriptors included), the
//! free list and the stats change.
//!
//! Commands (one a line; `#` starts a comment):
//!
//! ```text
//! alloc SIZE [ALIGN]   allocate; the allocation gets the next number (#0, #1, …)
//! free N | free @OFF   free allocation #N (else the trace's id N), or the arena at offset OFF
//! defrag               merge free neighbours and compact the table
//! flush                free the quick lists' cached arenas for real (fast model)
//! policy NAME          first-fit, next-fit, best-fit, worst-fit, segregated-fit
//! coalescing NAME      deferred or immediate
//! next [N] | prev [N]  apply the trace's next N events / undo the last N operations
//! redo [N]             redo what `prev` undid (until a new operation)
//! goto STEP            the trace after STEP events
//! reset | help | quit
//! ```
//!
//! With a terminal it is an interactive ratatui view (← undoes, → redoes
//! what was undone or applies the trace's next event, when the input line
//! is empty). With `--script FILE`, or when
//! standard input is not a terminal, it prints the same frames as plain
//! text, so sessions can be tested and pasted into docs. `--quiz` asks
//! where each allocation will land (or whether it fails) before showing it,
//! like OSTEP's `malloc.py`; in plain mode it prints the question and then
//! the answer, as `malloc.py -c` does.
//!
//! Under the fast model (`--policy segregated-fit --coalescing immediate`)
//! the log says when a freed arena is *cached* — it waits, whole, in the
//! quick list of its size (`○∘` in the map, `cached` in the table) — when
//! an allocation takes one back, and when the lists are flushed (by
//! `flush`, `defrag`, a policy change, or an allocation that found no
//! other fit).
mod commands;
mod frame;
mod quiz;
mod session;
#[cfg(test)]
mod tests;
mod tui;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use sysarena::{
    AllocError, ArenaInfo, ArenaManager, Coalescing, Config, OomReason, Policy, SliceManager, Slot,
    TableEntry,
};
use sysarena_sim::trace::{Event, Trace};

use crate::heapmap::{
    Cell, CellKind, HeapMap, LABEL_NOTE, TableStrip, fmt_bytes, label, labels_repeat,
};
use crate::viz::parse_size;

/// Options of `sysarena step`.
#[derive(Clone, Debug, clap::Args)]
pub struct StepArgs {
    /// A trace to step through with `next`/`prev` (native, malloc-lab or
    /// OSTEP; gzip is detected).
    pub trace: Option<PathBuf>,
    /// Read only the first N events of the trace (`20000`, `20k`).
    #[arg(long, short = 'n', value_name = "N", value_parser = crate::sim::parse_max_events)]
    pub max_events: Option<usize>,
    /// Fit policy.
    #[arg(long, default_value = "first-fit", value_parser = crate::names::PolicyParser)]
    pub policy: Policy,
    /// Coalescing mode.
    #[arg(long, default_value = "deferred", value_parser = crate::names::CoalescingParser)]
    pub coalescing: Coalescing,
    /// Region size in bytes (suffixes K, M, G); default 1 KiB, or 16 MiB
    /// with a trace.
    #[arg(long, value_parser = crate::sim::format::parse_capacity)]
    pub capacity: Option<usize>,
    /// Descriptors in the arena table, 1 to 1,048,576; default 16, or
    /// 65536 with a trace.
    #[arg(long, value_parser = parse_descriptors)]
    pub descriptors: Option<usize>,
    /// Ask where each allocation lands before showing it.
    #[arg(long)]
    pub quiz: bool,
    /// Run the commands in FILE and print every frame as text.
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Width of the heap map, in cells (plain mode, 1 to 4096; narrower
    /// than 8 is drawn as 8; the terminal view fits its window).
    #[arg(long, default_value_t = 64, value_parser = crate::heapmap::parse_width)]
    pub width: usize,
    /// Run `--script` (or standard input), then print the interactive
    /// view's last screen as text in a COLSxROWS grid (for docs).
    #[arg(long, value_name = "COLSxROWS")]
    pub snapshot: Option<String>,
}

/// The largest `--snapshot` grid side, in characters.
pub const MAX_SNAPSHOT: u16 = 1000;

/// The largest arena table `step` builds (it is allocated up front).
pub const MAX_DESCRIPTORS: usize = 1 << 20;

/// Parses `--descriptors`: 1 to [`MAX_DESCRIPTORS`].
pub fn parse_descriptors(s: &str) -> Result<usize, String> {
    match crate::sim::parse_events(s) {
        Ok(0) => Err("an arena table needs at least 1 descriptor".to_owned()),
        Ok(n) if n <= MAX_DESCRIPTORS => Ok(n),
        _ => Err(format!(
            "`{s}` is not a table size: 1 to {MAX_DESCRIPTORS} descriptors (the table is allocated up front)"
        )),
    }
}

use frame::{Frontend, Plain, drive, stats_line, table_entries};
#[cfg(test)]
use quiz::INTERACTIVE_QUIZ;
use session::{Flow, Op, State};
pub use tui::render_tui_text;

/// Runs `sysarena step`, printing plain frames to `out` when not
/// interactive.
pub fn run(args: &StepArgs, out: impl Write) -> io::Result<()> {
    let interactive = args.script.is_none()
        && args.snapshot.is_none()
        && io::stdin().is_terminal()
        && io::stdout().is_terminal();
    let lines: Box<dyn Iterator<Item = io::Result<String>>> = match &args.script {
        Some(p) => {
            // Read whole, so an unreadable script (a directory, not UTF-8)
            // fails, naming it, before any frame is printed.
            let text = std::fs::read_to_string(p).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot read --script {}: {e}", p.display()),
                )
            })?;
            let lines: Vec<io::Result<String>> = text.lines().map(|l| Ok(l.to_owned())).collect();
            Box::new(lines.into_iter())
        }
        None => Box::new(io::stdin().lock().lines()),
    };
    if let Some(size) = &args.snapshot {
        let (w, h) = size
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse::<u16>().ok()?, h.parse::<u16>().ok()?)))
            .filter(|&(w, h)| (1..=MAX_SNAPSHOT).contains(&w) && (1..=MAX_SNAPSHOT).contains(&h))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("--snapshot wants COLSxROWS, each 1 to {MAX_SNAPSHOT}, e.g. 100x32"),
                )
            })?;
        let script: Vec<String> = lines.collect::<io::Result<_>>()?;
        let mut out = out;
        return out.write_all(render_tui_text(args, &script.join("\n"), w, h)?.as_bytes());
    }
    let (mut st, descriptors) = new_state(args)?;
    let mut table = vec![Slot::EMPTY; descriptors];
    if interactive {
        quiz::INTERACTIVE_QUIZ.with(|c| c.set(true));
        let r = tui::run(&mut table, &mut st);
        quiz::INTERACTIVE_QUIZ.with(|c| c.set(false));
        r
    } else {
        let mut fe = Plain {
            out,
            lines,
            width: args.width.max(8),
        };
        drive(&mut table, &mut st, &mut fe)
    }
}

fn new_state(args: &StepArgs) -> io::Result<(State, usize)> {
    let trace = match &args.trace {
        Some(p) => Some(crate::sim::load_trace(p, None, args.max_events, true)?),
        None => None,
    };
    let (cap, desc) = if trace.is_some() {
        (16 << 20, 1 << 16)
    } else {
        (1024, 16)
    };
    // The parsers refuse these; arguments built by hand are checked too.
    let capacity = args.capacity.unwrap_or(cap);
    if capacity == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--capacity 0: a region of 0 bytes holds nothing",
        ));
    }
    let descriptors = args.descriptors.unwrap_or(desc);
    if descriptors == 0 || descriptors > MAX_DESCRIPTORS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--descriptors {descriptors}: give 1 to {MAX_DESCRIPTORS}"),
        ));
    }
    let config = Config::new(args.policy, args.coalescing);
    let title = match &trace {
        Some(t) => format!(
            "{} events loaded; `next` applies one (`help` lists the commands)",
            t.events.len()
        ),
        None => "a fresh region: type `alloc 100`, `free 0`, `defrag`, … (`help`)".to_owned(),
    };
    Ok((
        State {
            config,
            initial: config,
            capacity,
            trace,
            cursor: 0,
            history: Vec::new(),
            undone: Vec::new(),
            names: BTreeMap::new(),
            ids: HashMap::new(),
            freed_by_hand: HashSet::new(),
            next_name: 0,
            title,
            log: Vec::new(),
            quiz: args.quiz,
            pending: None,
            score: (0, 0),
            quiet: false,
        },
        descriptors,
    ))
}

/// Runs a script given as text and returns the frames.
#[cfg(test)]
pub fn run_script(args: &StepArgs, script: &str) -> io::Result<String> {
    let (mut st, descriptors) = new_state(args)?;
    let mut table = vec![Slot::EMPTY; descriptors];
    let lines: Vec<io::Result<String>> = script.lines().map(|l| Ok(l.to_owned())).collect();
    let mut out = Vec::new();
    {
        let mut fe = Plain {
            out: &mut out,
            lines: Box::new(lines.into_iter()),
            width: args.width.max(8),
        };
        drive(&mut table, &mut st, &mut fe)?;
    }
    Ok(String::from_utf8(out).expect("frames are UTF-8"))
}
