//! `sysarena step`: drive the arena manager one operation at a time and
//! watch the heap map, the arena table (spare descriptors included), the
//! free list and the stats change.
//!
//! Commands (one a line; `#` starts a comment):
//!
//! ```text
//! alloc SIZE [ALIGN]   allocate; the allocation gets the next number (#0, #1, …)
//! free N | free @OFF   free allocation #N, or the arena at offset OFF
//! defrag               merge free neighbours and compact the table
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

use std::collections::{BTreeMap, HashMap};
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
    /// Read only the first N events of the trace.
    #[arg(long)]
    pub max_events: Option<usize>,
    /// Fit policy.
    #[arg(long, default_value = "first-fit")]
    pub policy: Policy,
    /// Coalescing mode.
    #[arg(long, default_value = "deferred")]
    pub coalescing: Coalescing,
    /// Region size in bytes (suffixes K, M, G); default 1 KiB, or 16 MiB
    /// with a trace.
    #[arg(long, value_parser = crate::viz::parse_capacity)]
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
    /// Width of the heap map, in cells (plain mode, 1 to 4096; the
    /// terminal view fits its window).
    #[arg(long, default_value_t = 64, value_parser = crate::heapmap::parse_width)]
    pub width: usize,
    /// Run `--script` (or standard input), then print the interactive
    /// view's last screen as text in a COLSxROWS grid (for docs).
    #[arg(long, value_name = "COLSxROWS")]
    pub snapshot: Option<String>,
}

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

/// One operation in the history (what `prev` undoes).
#[derive(Clone, Copy, Debug)]
enum Op {
    Alloc { size: usize, align: usize },
    Free { offset: usize },
    Defrag,
    Config(Config),
    Event(usize),
}

/// A live allocation's name.
#[derive(Clone, Copy, Debug)]
struct Tag {
    /// Colour key and number (#N for typed allocations, the id for a trace's).
    key: usize,
    /// Whether it came from the trace.
    traced: bool,
}

/// What the driver does after a command.
enum Flow {
    Continue,
    Rebuild,
    Quit,
}

/// The session: everything but the manager (which borrows the table).
struct State {
    config: Config,
    initial: Config,
    capacity: usize,
    trace: Option<Trace>,
    /// Trace events applied.
    cursor: usize,
    history: Vec<Op>,
    /// What `prev` undid, the next to redo last; a new operation clears it.
    undone: Vec<Op>,
    names: BTreeMap<usize, Tag>,
    /// Trace id → offset of its live block.
    ids: HashMap<u64, usize>,
    next_name: usize,
    /// The command that made the current frame, and what it did.
    title: String,
    log: Vec<String>,
    quiz: bool,
    /// Interactive quiz: the alloc waiting for an answer.
    pending: Option<(Op, String)>,
    score: (usize, usize),
    quiet: bool,
}

impl State {
    fn fresh<'t>(&self, table: &'t mut [Slot]) -> SliceManager<'t> {
        ArenaManager::from_slice(table, self.capacity, self.initial)
            .expect("the table size was checked at start")
    }

    /// Replays the history into a fresh manager, silently.
    fn replay(&mut self, m: &mut SliceManager<'_>) {
        let history = std::mem::take(&mut self.history);
        self.names.clear();
        self.ids.clear();
        self.next_name = 0;
        self.cursor = 0;
        self.config = self.initial;
        self.quiet = true;
        for op in history {
            self.apply(m, op);
        }
        self.quiet = false;
    }

    fn say(&mut self, s: String) {
        if !self.quiet {
            self.log.push(s);
        }
    }

    /// Applies one operation and records it.
    fn apply(&mut self, m: &mut SliceManager<'_>, op: Op) {
        self.history.push(op);
        match op {
            Op::Alloc { size, align } => {
                let key = self.next_name;
                self.next_name += 1;
                self.alloc(m, size, align, Tag { key, traced: false });
            }
            Op::Free { offset } => self.free(m, offset),
            Op::Defrag => {
                let r = m.defragment();
                self.say(format!(
                    "defragment: merged {}, moved {}; free arenas {} → {}, largest free {} → {}",
                    crate::heapmap::count(r.merged, "free arena"),
                    crate::heapmap::count(r.compacted, "descriptor"),
                    r.free_arenas_before,
                    r.free_arenas_after,
                    fmt_bytes(r.largest_free_before),
                    fmt_bytes(r.largest_free_after)
                ));
            }
            Op::Config(c) => {
                m.set_config(c);
                self.config = c;
                self.say(format!(
                    "now {} with {} coalescing",
                    c.policy.name(),
                    c.coalescing.name()
                ));
            }
            Op::Event(i) => {
                let ev = self
                    .trace
                    .as_ref()
                    .expect("events come from a trace")
                    .events[i];
                self.cursor = i + 1;
                match ev {
                    Event::Alloc { id, size, align } => {
                        let ok = self.alloc(
                            m,
                            size,
                            align,
                            Tag {
                                key: id as usize,
                                traced: true,
                            },
                        );
                        if let Some(off) = ok {
                            self.ids.insert(id, off);
                        }
                    }
                    Event::Free { id } => match self.ids.remove(&id) {
                        Some(off) => self.free(m, off),
                        None => self.say(format!("free id {id}: its alloc failed, skipped")),
                    },
                    Event::Realloc { id, size } => match self.ids.get(&id).copied() {
                        Some(off) => match m.realloc(off, size.max(1), 1) {
                            Ok(r) => {
                                let tag = self.names.remove(&off).unwrap_or(Tag {
                                    key: id as usize,
                                    traced: true,
                                });
                                self.names.insert(r.offset, tag);
                                self.ids.insert(id, r.offset);
                                self.say(format!(
                                    "realloc id {id} to {size} B: {}",
                                    match r.moved_from {
                                        Some(from) => format!("moved {from} → {}", r.offset),
                                        None => format!("in place at {}", r.offset),
                                    }
                                ));
                            }
                            Err(e) => self.say(format!("✗ realloc id {id} to {size} B: {e:?}")),
                        },
                        None => self.say(format!("realloc id {id}: its alloc failed, skipped")),
                    },
                }
            }
        }
    }

    fn alloc(
        &mut self,
        m: &mut SliceManager<'_>,
        size: usize,
        align: usize,
        tag: Tag,
    ) -> Option<usize> {
        let name = self.tag_name(tag);
        // A typed `alloc 0` goes to the manager as asked (it answers
        // `ZeroSize`); a trace's `malloc(0)` is a legal C call that returns
        // a unique block, so it becomes one byte, as in every replay.
        let asked = if tag.traced { size.max(1) } else { size };
        match m.alloc(asked, align) {
            Ok(a) => {
                self.names.insert(a.offset(), tag);
                let slot = m.arena_at(a.offset()).map_or(0, |i| i.slot);
                self.say(format!(
                    "✓ alloc({size}) = {name} at offset {} (arena of {} in slot {slot})",
                    a.offset(),
                    fmt_bytes(a.size())
                ));
                Some(a.offset())
            }
            Err(e) => {
                self.say(format!("✗ alloc({size}) for {name}: {e}"));
                if let AllocError::OutOfMemory(OomReason::NoFit {
                    free_bytes,
                    largest_free,
                    ..
                }) = e
                    && free_bytes >= size
                {
                    self.say(format!(
                        "  {} are free, but the largest free arena is {}: external fragmentation",
                        fmt_bytes(free_bytes),
                        fmt_bytes(largest_free)
                    ));
                }
                None
            }
        }
    }

    fn free(&mut self, m: &mut SliceManager<'_>, offset: usize) {
        match m.free(offset) {
            Ok(()) => {
                let tag = self.names.remove(&offset);
                let name = tag.map_or_else(|| format!("@{offset}"), |t| self.tag_name(t));
                self.say(format!("✓ free {name} at offset {offset}"));
            }
            Err(e) => self.say(format!("✗ free @{offset}: {e}")),
        }
    }

    fn tag_name(&self, t: Tag) -> String {
        if t.traced {
            format!("id {} ({})", t.key, label(t.key))
        } else {
            format!("#{} ({})", t.key, label(t.key))
        }
    }

    /// Where `size` at `align` would land now: asks a throwaway copy of the
    /// question — the policies are deterministic, so the answer is read
    /// from the manager after the fact and compared.
    fn quiz_question(op: Op, trace: Option<&Trace>) -> Option<String> {
        match op {
            Op::Alloc { size, .. } => Some(format!("alloc({size})")),
            Op::Event(i) => match trace?.events[i] {
                Event::Alloc { size, id, .. } => Some(format!("alloc({size}) for id {id}")),
                _ => None,
            },
            _ => None,
        }
    }

    /// Runs one command line.
    fn exec(&mut self, m: &mut SliceManager<'_>, line: &str) -> Flow {
        let line = line.split('#').next().unwrap_or("").trim();
        self.log.clear();
        // An interactive quiz answer.
        if let Some((op, q)) = self.pending.take() {
            if matches!(line, "quit" | "q" | "exit") {
                return Flow::Quit;
            }
            // Only an offset or `fail` is an answer: a typo asks again.
            let answer = match line {
                "fail" | "f" | "x" => Some(None),
                a => a.trim_start_matches('@').parse::<usize>().ok().map(Some),
            };
            let Some(answer) = answer else {
                self.pending = Some((op, q));
                return self.err(&format!(
                    "`{line}` is not an answer: type an offset (e.g. 64) or `fail`"
                ));
            };
            self.title = format!("{q}: you said `{line}`");
            let why = self.explain(m, op);
            self.apply(m, op);
            self.undone.clear();
            let landed = self.landed();
            let right = answer == landed;
            self.score.1 += 1;
            if right {
                self.score.0 += 1;
            }
            self.log.push(format!(
                "{} it {} (score {}/{})",
                if right { "✓ right:" } else { "✗ no:" },
                landed.map_or_else(|| "failed".to_owned(), |o| format!("landed at offset {o}")),
                self.score.0,
                self.score.1
            ));
            if !right && let Some(why) = why {
                self.log.push(why);
            }
            return Flow::Continue;
        }
        if line.is_empty() {
            self.title.clear();
            return Flow::Continue;
        }
        self.title = line.to_owned();
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        let num = |i: usize| args.get(i).and_then(|a| parse_size(a).ok());
        let op = match cmd {
            "alloc" | "a" | "malloc" => match num(0) {
                Some(size) => Op::Alloc {
                    size,
                    align: num(1).unwrap_or(1),
                },
                None => return self.err("usage: alloc SIZE [ALIGN]"),
            },
            "free" | "f" => {
                let Some(a) = args.first() else {
                    return self.err("usage: free N  (allocation #N)  or  free @OFFSET");
                };
                let offset = if let Some(off) = a.strip_prefix('@') {
                    off.parse().ok()
                } else {
                    let n: Option<usize> = a.trim_start_matches('#').parse().ok();
                    n.and_then(|n| {
                        self.names
                            .iter()
                            .find(|(_, t)| !t.traced && t.key == n)
                            .map(|(&o, _)| o)
                    })
                };
                match offset {
                    Some(offset) => Op::Free { offset },
                    None => return self.err(&format!("no live allocation {a}")),
                }
            }
            "defrag" | "defragment" | "d" => Op::Defrag,
            "policy" | "p" => match args.first().and_then(|a| a.parse::<Policy>().ok()) {
                Some(p) => Op::Config(Config::new(p, self.config.coalescing)),
                None => {
                    return self
                        .err("policy: first-fit, next-fit, best-fit, worst-fit or segregated-fit");
                }
            },
            "coalescing" | "c" => match args.first().and_then(|a| a.parse::<Coalescing>().ok()) {
                Some(c) => Op::Config(Config::new(self.config.policy, c)),
                None => return self.err("coalescing: deferred or immediate"),
            },
            "next" | "n" => {
                let count = num(0).unwrap_or(1);
                let total = self.trace.as_ref().map_or(0, |t| t.events.len());
                if self.trace.is_none() {
                    return self.err("no trace: start with `sysarena step TRACE`");
                }
                if self.cursor >= total {
                    return self.err("the trace has no more events");
                }
                if count == 1 {
                    Op::Event(self.cursor)
                } else {
                    self.undone.clear();
                    for i in self.cursor..self.cursor.saturating_add(count).min(total) {
                        let quiet = std::mem::replace(&mut self.quiet, true);
                        self.apply(m, Op::Event(i));
                        self.quiet = quiet;
                    }
                    self.log
                        .push(format!("applied events up to step {}", self.cursor));
                    return Flow::Continue;
                }
            }
            "prev" | "undo" | "back" => {
                let count = num(0).unwrap_or(1).min(self.history.len());
                if count == 0 {
                    return self.err("nothing to undo");
                }
                let undone = self.history.split_off(self.history.len() - count);
                self.undone.extend(undone.into_iter().rev());
                self.log.push(format!(
                    "undid {} (`redo` or → brings {} back)",
                    crate::heapmap::count(count, "operation"),
                    if count == 1 { "it" } else { "them" }
                ));
                return Flow::Rebuild;
            }
            "redo" | "r" => {
                let count = num(0).unwrap_or(1).min(self.undone.len());
                if count == 0 {
                    return self.err("nothing to redo");
                }
                for _ in 0..count {
                    if let Some(op) = self.undone.pop() {
                        self.apply(m, op);
                    }
                }
                self.log.push(format!(
                    "redid {}",
                    crate::heapmap::count(count, "operation")
                ));
                return Flow::Continue;
            }
            "goto" | "g" => {
                let Some(t) = &self.trace else {
                    return self.err("no trace");
                };
                let n = num(0).unwrap_or(0).min(t.events.len());
                self.history = (0..n).map(Op::Event).collect();
                self.undone.clear();
                self.log.push(format!("jumped to step {n}"));
                return Flow::Rebuild;
            }
            "reset" => {
                self.history.clear();
                self.undone.clear();
                self.log.push("reset".to_owned());
                return Flow::Rebuild;
            }
            "help" | "h" | "?" => {
                self.log.extend(HELP.lines().map(str::to_owned));
                return Flow::Continue;
            }
            "quit" | "q" | "exit" => return Flow::Quit,
            _ => return self.err(&format!("unknown command `{cmd}` (try `help`)")),
        };
        self.undone.clear();
        self.run_op(m, op)
    }

    fn run_op(&mut self, m: &mut SliceManager<'_>, op: Op) -> Flow {
        if self.quiz
            && let Some(q) = State::quiz_question(op, self.trace.as_ref())
        {
            if !self.quiet && self.pending_allowed() {
                self.log.push(format!(
                    "quiz: {q} — where will it land? type an offset, or `fail`"
                ));
                self.pending = Some((op, q));
                return Flow::Continue;
            }
            self.log
                .push(format!("quiz: {q} — where will it land, or will it fail?"));
            let why = self.explain(m, op);
            self.apply(m, op);
            let a = self.landed().map_or_else(
                || "answer: it fails".to_owned(),
                |o| format!("answer: offset {o}"),
            );
            self.log.insert(1, a);
            if let Some(why) = why {
                self.log.insert(2, why);
            }
            return Flow::Continue;
        }
        self.apply(m, op);
        Flow::Continue
    }

    /// The size and alignment `op` asks for, if it allocates.
    fn request(&self, op: Op) -> Option<(usize, usize)> {
        match op {
            Op::Alloc { size, align } => Some((size, align)),
            Op::Event(i) => match self.trace.as_ref()?.events[i] {
                Event::Alloc { size, align, .. } => Some((size.max(1), align)),
                _ => None,
            },
            _ => None,
        }
    }

    /// Why the policy will place `op` where it does, said before it runs:
    /// the rule and the free arenas that could hold the request.
    fn explain(&self, m: &SliceManager<'_>, op: Op) -> Option<String> {
        let (size, align) = self.request(op)?;
        let fits: Vec<ArenaInfo> = m
            .arenas()
            .filter(|a| {
                let start = a.offset.checked_next_multiple_of(align.max(1));
                !a.in_use
                    && start.is_some_and(|s| {
                        s.checked_add(size)
                            .is_some_and(|end| end <= a.offset + a.size)
                    })
            })
            .collect();
        let rule = match self.config.policy {
            Policy::FirstFit => "first fit takes the lowest-addressed free arena that fits",
            Policy::NextFit => {
                "next fit searches on from where its last search ended, wrapping around, and takes the first that fits"
            }
            Policy::BestFit => "best fit takes the smallest free arena that fits",
            Policy::WorstFit => "worst fit takes the largest free arena",
            Policy::SegregatedFit => {
                "segregated fit looks in the free lists of the request's size class and up, taking a fitting arena from the smallest class that has one"
            }
        };
        if size == 0 {
            return Some("why: a request of 0 bytes is refused (ZeroSize)".to_owned());
        }
        if fits.is_empty() {
            return Some(format!(
                "why: no free arena holds {size} bytes at alignment {align}, so it fails"
            ));
        }
        let list: Vec<String> = fits
            .iter()
            .take(8)
            .map(|a| format!("[{}+{}]", a.offset, a.size))
            .collect();
        let more = if fits.len() > 8 {
            format!(" and {} more", fits.len() - 8)
        } else {
            String::new()
        };
        let spare = m.stats().spare_descriptors;
        let split = if spare == 0 {
            "; no spare descriptor is left, so a split (and the request) fails unless an arena fits exactly"
        } else {
            ""
        };
        Some(format!(
            "why: {rule}; free arenas that fit: {}{more}{split}",
            list.join(" ")
        ))
    }

    /// Set by the interactive front end: questions wait for an answer.
    fn pending_allowed(&self) -> bool {
        INTERACTIVE_QUIZ.with(|c| c.get())
    }

    /// The offset the last alloc landed at, read from the log.
    fn landed(&self) -> Option<usize> {
        self.log.iter().find_map(|l| {
            let rest = l.strip_prefix("✓ alloc(")?;
            let at = rest.find("at offset ")? + "at offset ".len();
            rest[at..].split_whitespace().next()?.parse().ok()
        })
    }

    fn err(&mut self, msg: &str) -> Flow {
        self.log.push(format!("? {msg}"));
        Flow::Continue
    }

    fn step_label(&self) -> String {
        match &self.trace {
            Some(t) => format!("{}: step {} of {}", t.name, self.cursor, t.events.len()),
            None => format!("operation {}", self.history.len()),
        }
    }
}

thread_local! {
    static INTERACTIVE_QUIZ: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

const HELP: &str =
    "commands: alloc SIZE [ALIGN] · free N | free @OFFSET · defrag · policy NAME · coalescing NAME
          next [N] · prev [N] · redo [N] · goto STEP (trace) · reset · help · quit";

/// The plain-text frame: heading, log, heap map, arena table strip, arena
/// table, free list, stats.
fn frame_text(st: &State, m: &SliceManager<'_>, width: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "── {} · {} · {} coalescing ──",
        st.step_label(),
        st.config.policy.name(),
        st.config.coalescing.name()
    );
    if !st.title.is_empty() {
        let _ = writeln!(s, "> {}", st.title);
    }
    for l in &st.log {
        let _ = writeln!(s, "  {l}");
    }
    let arenas: Vec<ArenaInfo> = m.arenas().collect();
    let key = |a: &ArenaInfo| st.names.get(&a.offset).map(|t| t.key);
    let map = if arenas.len() <= width {
        HeapMap::new(&arenas, m.capacity(), width, key)
    } else {
        HeapMap::bucketed(&arenas, m.capacity(), width, key)
    };
    let _ = writeln!(s, "heap  |{}|", map.render_plain(label));
    let _ = writeln!(s, "      {}", map.scale_note());
    if labels_repeat(st.names.values().map(|t| t.key)) {
        let _ = writeln!(s, "      {LABEL_NOTE}");
    }
    if map.bucketed.is_some() {
        let _ = writeln!(s, "      {}", HeapMap::legend_bucketed());
    }
    let entries = table_entries(m);
    let strip = TableStrip::new(&entries, m.stats().descriptors, width, key);
    let _ = writeln!(s, "table |{}|", strip.render_plain(label));
    let _ = writeln!(
        s,
        "      {} (letter: in-use arena, ·: free arena, _: spare)",
        strip.note()
    );
    let _ = writeln!(s, "  slot   offset     size     used  state");
    let total = m.stats().descriptors;
    let mut i = 0;
    let mut rows = 0;
    while i < entries.len() && rows < 12 {
        let e = entries[i];
        match e.arena {
            Some(a) => {
                let state = if a.in_use {
                    match st.names.get(&a.offset) {
                        Some(&t) => format!("in use  {}", st.tag_name(t)),
                        None => "in use".to_owned(),
                    }
                } else {
                    "free".to_owned()
                };
                let _ = writeln!(
                    s,
                    "  {:>4} {:>8} {:>8} {:>8}  {state}",
                    e.slot, a.offset, a.size, a.used
                );
                i += 1;
            }
            None => {
                // A run of spares is one line; the table's tail is all spare.
                let mut j = i;
                while j < entries.len() && entries[j].arena.is_none() {
                    j += 1;
                }
                let end = if j == entries.len() { total } else { j };
                if end - i == 1 {
                    let _ = writeln!(s, "  {:>4} {:>8} {:>8} {:>8}  spare", e.slot, "-", "-", "-");
                } else {
                    let _ = writeln!(
                        s,
                        "  {:>4} {:>8} {:>8} {:>8}  spare ×{} (slots {}–{})",
                        e.slot,
                        "-",
                        "-",
                        "-",
                        end - i,
                        i,
                        end - 1
                    );
                }
                i = j;
            }
        }
        rows += 1;
    }
    if i < entries.len() {
        let _ = writeln!(s, "  … {} more descriptors", total - i);
    }
    let free: Vec<ArenaInfo> = arenas.iter().filter(|a| !a.in_use).copied().collect();
    let largest = free.iter().map(|a| a.size).max().unwrap_or(0);
    let mut fl = String::new();
    for a in free.iter().take(10) {
        let mark = if a.size == largest { "*" } else { "" };
        let _ = write!(fl, " [{}+{}]{mark}", a.offset, a.size);
    }
    if free.len() > 10 {
        let _ = write!(fl, " … {} more", free.len() - 10);
    }
    let _ = writeln!(s, "free list (address order, * largest):{fl}");
    let _ = writeln!(s, "{}", stats_line(m));
    s
}

fn stats_line(m: &SliceManager<'_>) -> String {
    let st = m.stats();
    format!(
        "stats: in use {} (requested {}, slack {}) in {} · free {} in {}, largest {} · external fragmentation {:.0}% · descriptors {} used, {} spare of {}",
        fmt_bytes(st.in_use_bytes),
        fmt_bytes(st.requested_bytes),
        fmt_bytes(st.internal_fragmentation()),
        crate::heapmap::count(st.used_arenas, "arena"),
        fmt_bytes(st.free_bytes),
        crate::heapmap::count(st.free_arenas, "arena"),
        fmt_bytes(st.largest_free),
        st.fragmentation() * 100.0,
        st.descriptors - st.spare_descriptors,
        st.spare_descriptors,
        st.descriptors
    )
}

/// The table, capped for huge tables (the spare tail is uniform).
fn table_entries(m: &SliceManager<'_>) -> Vec<TableEntry> {
    let s = m.stats();
    let used = s.descriptors - s.spare_descriptors;
    let shown = (used * 2).max(16).min(s.descriptors);
    m.table().take(shown).collect()
}

/// Where the command lines come from and where frames go.
trait Frontend {
    fn show(&mut self, st: &State, m: &SliceManager<'_>) -> io::Result<()>;
    fn next_line(&mut self, st: &State, m: &SliceManager<'_>) -> io::Result<Option<String>>;
}

struct Plain<W: Write> {
    out: W,
    lines: Box<dyn Iterator<Item = io::Result<String>>>,
    width: usize,
}

impl<W: Write> Frontend for Plain<W> {
    fn show(&mut self, st: &State, m: &SliceManager<'_>) -> io::Result<()> {
        writeln!(self.out, "{}", frame_text(st, m, self.width))
    }

    fn next_line(&mut self, _: &State, _: &SliceManager<'_>) -> io::Result<Option<String>> {
        loop {
            match self.lines.next() {
                None => return Ok(None),
                Some(l) => {
                    let l = l?;
                    let t = l.trim();
                    if t.is_empty() || t.starts_with('#') {
                        continue;
                    }
                    return Ok(Some(l));
                }
            }
        }
    }
}

fn drive(table: &mut [Slot], st: &mut State, fe: &mut dyn Frontend) -> io::Result<()> {
    let mut m = st.fresh(&mut *table);
    fe.show(st, &m)?;
    while let Some(line) = fe.next_line(st, &m)? {
        match st.exec(&mut m, &line) {
            Flow::Continue => {}
            Flow::Rebuild => {
                let log = std::mem::take(&mut st.log);
                m = st.fresh(&mut *table);
                st.replay(&mut m);
                st.log = log;
            }
            Flow::Quit => break,
        }
        fe.show(st, &m)?;
    }
    Ok(())
}

/// Runs `sysarena step`, printing plain frames to `out` when not
/// interactive.
pub fn run(args: &StepArgs, out: impl Write) -> io::Result<()> {
    let interactive = args.script.is_none()
        && args.snapshot.is_none()
        && io::stdin().is_terminal()
        && io::stdout().is_terminal();
    let lines: Box<dyn Iterator<Item = io::Result<String>>> = match &args.script {
        Some(p) => {
            let f = std::fs::File::open(p)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
            Box::new(io::BufReader::new(f).lines())
        }
        None => Box::new(io::stdin().lock().lines()),
    };
    if let Some(size) = &args.snapshot {
        let (w, h) = size
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
            .ok_or_else(|| io::Error::other("--snapshot wants COLSxROWS, e.g. 100x32"))?;
        let script: Vec<String> = lines.collect::<io::Result<_>>()?;
        let mut out = out;
        return out.write_all(render_tui_text(args, &script.join("\n"), w, h)?.as_bytes());
    }
    let (mut st, descriptors) = new_state(args)?;
    let mut table = vec![Slot::EMPTY; descriptors];
    if interactive {
        INTERACTIVE_QUIZ.with(|c| c.set(true));
        let r = tui::run(&mut table, &mut st);
        INTERACTIVE_QUIZ.with(|c| c.set(false));
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
        Some(p) => Some(Trace::from_path(p, None, args.max_events).map_err(io::Error::other)?),
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

/// A heap-map cell as a ratatui style and character.
fn cell_style(c: &Cell) -> (ratatui::style::Style, char) {
    use ratatui::style::{Color, Modifier, Style};
    const COLOURS: [Color; 6] = [
        Color::Cyan,
        Color::Yellow,
        Color::Magenta,
        Color::Blue,
        Color::Red,
        Color::LightCyan,
    ];
    let k = COLOURS[c.key.unwrap_or(0) % COLOURS.len()];
    match c.kind {
        CellKind::Used if c.first => (
            Style::default()
                .bg(k)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            label(c.key.unwrap_or(0)),
        ),
        CellKind::Used => (Style::default().fg(k), '█'),
        CellKind::Slack => (Style::default().fg(k), '░'),
        CellKind::Holes => (Style::default().fg(k), '▚'),
        CellKind::Free => (
            Style::default().fg(Color::DarkGray),
            if c.first { '▏' } else { '·' },
        ),
        CellKind::LargestFree => (
            Style::default()
                .fg(Color::Green)
                .add_modifier(Modifier::BOLD),
            if c.first { '▏' } else { '=' },
        ),
    }
}

mod tui {
    //! The interactive view.

    use ratatui::Frame;
    use ratatui::crossterm::event::{
        self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers,
    };
    use ratatui::layout::{Constraint, Layout};
    use ratatui::style::{Color, Modifier, Style};
    use ratatui::text::{Line, Span};
    use ratatui::widgets::{Block, Paragraph, Wrap};

    use super::*;

    struct Tui {
        terminal: ratatui::DefaultTerminal,
        input: String,
        quit: bool,
    }

    /// Draws one frame of the session.
    pub(super) fn draw(f: &mut Frame<'_>, st: &State, m: &SliceManager<'_>, input: &str) {
        let area = f.area();
        let [head, map_area, mid, log_area, input_area] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(6),
            Constraint::Min(6),
            Constraint::Length(6),
            Constraint::Length(3),
        ])
        .areas(area);
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(
                    " sysarena step ",
                    Style::default().add_modifier(Modifier::REVERSED),
                ),
                Span::raw(format!(
                    "  {} · {} · {} coalescing{}",
                    st.step_label(),
                    st.config.policy.name(),
                    st.config.coalescing.name(),
                    if st.quiz {
                        format!(" · quiz {}/{}", st.score.0, st.score.1)
                    } else {
                        String::new()
                    }
                )),
            ])),
            head,
        );
        let width = map_area.width.saturating_sub(2).max(8) as usize;
        let arenas: Vec<ArenaInfo> = m.arenas().collect();
        let key = |a: &ArenaInfo| st.names.get(&a.offset).map(|t| t.key);
        let map = HeapMap::fit(&arenas, m.capacity(), width, key);
        let cells: Vec<Span<'_>> = map
            .cells
            .iter()
            .map(|c| {
                let (style, ch) = cell_style(c);
                Span::styled(ch.to_string(), style)
            })
            .collect();
        let entries = table_entries(m);
        let strip = TableStrip::new(&entries, m.stats().descriptors, width, key);
        let strip_spans: Vec<Span<'_>> = strip
            .cells
            .iter()
            .map(|c| match c {
                crate::heapmap::SlotKind::Used(k) => Span::styled(
                    label(k.unwrap_or(0)).to_string(),
                    Style::default().fg(Color::Black).bg(Color::Gray),
                ),
                crate::heapmap::SlotKind::Free => {
                    Span::styled("·", Style::default().fg(Color::DarkGray))
                }
                crate::heapmap::SlotKind::Spare => Span::raw("_"),
            })
            .collect();
        f.render_widget(
            Paragraph::new(vec![
                Line::from(cells),
                Line::from(Span::styled(
                    map.scale_note(),
                    Style::default().fg(Color::DarkGray),
                )),
                Line::from(strip_spans),
                Line::from(Span::styled(
                    format!(
                        "{} (letter: in-use arena, ·: free arena, _: spare)",
                        strip.note()
                    ),
                    Style::default().fg(Color::DarkGray),
                )),
            ])
            .block(Block::bordered().title(" heap map (addresses →) and arena table (slots →) ")),
            map_area,
        );
        let [table_area, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(mid);
        let mut rows = vec![Line::from(Span::styled(
            "slot   offset     size     used  state",
            Style::default().add_modifier(Modifier::BOLD),
        ))];
        for e in entries
            .iter()
            .take(table_area.height.saturating_sub(3) as usize)
        {
            rows.push(Line::from(match e.arena {
                Some(a) => format!(
                    "{:>4} {:>8} {:>8} {:>8}  {}",
                    e.slot,
                    a.offset,
                    a.size,
                    a.used,
                    if a.in_use {
                        st.names
                            .get(&a.offset)
                            .map_or_else(|| "in use".to_owned(), |&t| st.tag_name(t))
                    } else {
                        "free".to_owned()
                    }
                ),
                None => format!("{:>4} {:>8} {:>8} {:>8}  spare", e.slot, "-", "-", "-"),
            }));
        }
        f.render_widget(
            Paragraph::new(rows).block(Block::bordered().title(" arena table ")),
            table_area,
        );
        let free: Vec<ArenaInfo> = arenas.iter().filter(|a| !a.in_use).copied().collect();
        let largest = free.iter().map(|a| a.size).max().unwrap_or(0);
        let mut lines: Vec<Line<'_>> = free
            .iter()
            .take(right.height.saturating_sub(8) as usize)
            .map(|a| {
                let st = if a.size == largest {
                    Style::default()
                        .fg(Color::Green)
                        .add_modifier(Modifier::BOLD)
                } else {
                    Style::default()
                };
                Line::from(Span::styled(format!("[{} + {}]", a.offset, a.size), st))
            })
            .collect();
        if free.len() > lines.len() {
            lines.push(Line::from(format!("… {} more", free.len() - lines.len())));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(stats_line(m)));
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(" free list (address order) · stats ")),
            right,
        );
        let mut log: Vec<Line<'_>> = Vec::new();
        if !st.title.is_empty() {
            log.push(Line::from(Span::styled(
                format!("> {}", st.title),
                Style::default().add_modifier(Modifier::BOLD),
            )));
        }
        log.extend(st.log.iter().map(|l| Line::from(l.as_str())));
        f.render_widget(
            Paragraph::new(log)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" what happened ")),
            log_area,
        );
        let prompt = if st.pending.is_some() {
            " answer: offset or `fail` "
        } else {
            " command (alloc N · free N · defrag · policy P · next/prev or ←/→ · help · quit; Esc quits) "
        };
        f.render_widget(
            Paragraph::new(format!("> {input}█")).block(Block::bordered().title(prompt)),
            input_area,
        );
    }

    impl Frontend for Tui {
        fn show(&mut self, st: &State, m: &SliceManager<'_>) -> io::Result<()> {
            let input = self.input.clone();
            self.terminal.draw(|f| draw(f, st, m, &input))?;
            Ok(())
        }

        fn next_line(&mut self, st: &State, m: &SliceManager<'_>) -> io::Result<Option<String>> {
            if self.quit {
                return Ok(None);
            }
            loop {
                let TermEvent::Key(k) = event::read()? else {
                    self.show(st, m)?;
                    continue;
                };
                if k.kind != KeyEventKind::Press {
                    continue;
                }
                match k.code {
                    KeyCode::Esc => return Ok(None),
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Ok(None);
                    }
                    KeyCode::Enter => return Ok(Some(std::mem::take(&mut self.input))),
                    KeyCode::Right if self.input.is_empty() => {
                        let redo = !st.undone.is_empty();
                        return Ok(Some(if redo { "redo" } else { "next" }.into()));
                    }
                    KeyCode::Left if self.input.is_empty() => return Ok(Some("prev".into())),
                    KeyCode::Backspace => {
                        self.input.pop();
                    }
                    KeyCode::Char(c) => self.input.push(c),
                    _ => continue,
                }
                self.show(st, m)?;
            }
        }
    }

    pub(super) fn run(table: &mut [Slot], st: &mut State) -> io::Result<()> {
        let terminal = ratatui::init();
        let mut fe = Tui {
            terminal,
            input: String::new(),
            quit: false,
        };
        let r = drive(table, st, &mut fe);
        ratatui::restore();
        r
    }
}

/// Renders one frame of the interactive view into a `w` × `h` character
/// grid (ratatui's test backend), for docs and tests.
pub fn render_tui_text(args: &StepArgs, script: &str, w: u16, h: u16) -> io::Result<String> {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let (mut st, descriptors) = new_state(args)?;
    let mut table = vec![Slot::EMPTY; descriptors];
    let mut m = st.fresh(&mut table);
    for line in script.lines().filter(|l| !l.trim().is_empty()) {
        if let Flow::Rebuild = st.exec(&mut m, line) {
            let log = std::mem::take(&mut st.log);
            m = st.fresh(&mut table);
            st.replay(&mut m);
            st.log = log;
        }
    }
    let mut term = Terminal::new(TestBackend::new(w, h))?;
    term.draw(|f| tui::draw(f, &st, &m, ""))?;
    let buf = term.backend().buffer();
    let mut s = String::new();
    for y in 0..h {
        for x in 0..w {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct P {
        #[command(flatten)]
        a: StepArgs,
    }

    pub(crate) fn args(extra: &[&str]) -> StepArgs {
        let mut argv = vec!["step"];
        argv.extend_from_slice(extra);
        P::parse_from(argv).a
    }

    #[test]
    fn alloc_zero_is_the_librarys_zero_size_error() {
        let out = run_script(&args(&[]), "alloc 0\n").unwrap();
        assert!(out.contains("✗ alloc(0) for #0 (A)"), "{out}");
        assert!(out.contains("in use 0 B"), "{out}");
    }

    #[test]
    fn zero_and_huge_tables_and_regions_are_refused() {
        for bad in [
            &["--capacity", "0"][..],
            &["--descriptors", "0"],
            &["--descriptors", "100000000000"],
            &["--width", "0"],
            &["--width", "100000000"],
        ] {
            let mut argv = vec!["step"];
            argv.extend_from_slice(bad);
            assert!(P::try_parse_from(argv).is_err(), "{bad:?}");
        }
        // Built by hand (as the fuzz target does), the run refuses them.
        let mut a = args(&[]);
        a.descriptors = Some(0);
        assert!(run_script(&a, "").is_err());
        a.descriptors = Some(100_000_000_000);
        assert!(run_script(&a, "").is_err());
        let mut a = args(&[]);
        a.capacity = Some(0);
        assert!(run_script(&a, "").is_err());
    }

    #[test]
    fn redo_brings_back_what_prev_undid() {
        let out = run_script(
            &args(&["--capacity", "256"]),
            "alloc 64\nalloc 32\nprev 2\nredo\nredo\nredo\n",
        )
        .unwrap();
        assert!(out.contains("undid 2 operations"), "{out}");
        assert!(out.contains("redid 1 operation"), "{out}");
        let last = out.rsplit("──").next().unwrap();
        assert!(out.contains("? nothing to redo"), "{out}");
        // Both allocations are back: 96 bytes in use.
        let frames: Vec<&str> = out.split("\n── ").collect();
        let after_redos = frames[frames.len() - 2];
        assert!(after_redos.contains("in use 96 B"), "{after_redos}");
        assert!(!last.is_empty());
        // A new operation after an undo forgets what could be redone.
        let out = run_script(
            &args(&["--capacity", "256"]),
            "alloc 64\nprev\nalloc 16\nredo\n",
        )
        .unwrap();
        assert!(out.contains("? nothing to redo"), "{out}");
    }

    #[test]
    fn a_quiz_typo_asks_again_and_a_wrong_answer_is_explained() {
        INTERACTIVE_QUIZ.with(|c| c.set(true));
        let out = run_script(
            &args(&["--quiz", "--capacity", "256"]),
            "alloc 64\n0\nalloc 32\n6o\n10\n",
        );
        INTERACTIVE_QUIZ.with(|c| c.set(false));
        let out = out.unwrap();
        assert!(
            out.contains("✓ right: it landed at offset 0 (score 1/1)"),
            "{out}"
        );
        assert!(
            out.contains("? `6o` is not an answer: type an offset (e.g. 64) or `fail`"),
            "{out}"
        );
        assert!(
            out.contains("✗ no: it landed at offset 64 (score 1/2)"),
            "{out}"
        );
        assert!(
            out.contains(
                "why: first fit takes the lowest-addressed free arena that fits; free arenas that fit: [64+192]"
            ),
            "{out}"
        );
    }

    #[test]
    fn the_classic_failure_and_its_rescue() {
        let out = run_script(
            &args(&["--capacity", "400", "--width", "40"]),
            "alloc 100\nalloc 100\nalloc 100\nalloc 100\nfree 1\nfree 2\nalloc 200\ndefrag\nalloc 200\n",
        )
        .unwrap();
        assert!(out.contains("✗ alloc(200)"), "{out}");
        assert!(out.contains("external fragmentation"), "{out}");
        assert!(out.contains("merged 1 free arena,"), "{out}");
        assert!(out.contains("✓ alloc(200) = #5 (F) at offset 100"), "{out}");
        assert!(out.contains("spare"), "{out}");
    }

    #[test]
    fn prev_undoes_and_quiz_answers() {
        let out = run_script(
            &args(&["--quiz", "--capacity", "256"]),
            "alloc 64\nalloc 64\nprev\nalloc 32\n",
        )
        .unwrap();
        assert!(out.contains("answer: offset 64"), "{out}");
        assert!(out.contains("undid 1 operation"), "{out}");
        // After the undo the next alloc lands where #1 was.
        assert!(out.contains("✓ alloc(32) = #1 (B) at offset 64"), "{out}");
    }

    #[test]
    fn too_few_descriptors_is_its_own_failure() {
        let out = run_script(
            &args(&["--capacity", "1024", "--descriptors", "2"]),
            "alloc 10\nalloc 10\n",
        )
        .unwrap();
        assert!(out.contains("spare"), "{out}");
        assert!(out.contains("✗ alloc(10)"), "{out}");
    }

    #[test]
    fn next_with_a_huge_count_stops_at_the_end() {
        // Found by the `cli_input` fuzz target: `cursor + count` overflowed.
        let dir = std::env::temp_dir().join(format!("sysarena-step-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let trace = dir.join("huge-next.trace");
        std::fs::write(&trace, "a 1 100\na 2 50\nf 1\n").unwrap();
        let out = run_script(
            &args(&[trace.to_str().unwrap()]),
            "next\nnext 18446744073709551615\n",
        )
        .unwrap();
        assert!(out.contains("applied events up to step 3"), "{out}");
    }

    #[test]
    fn the_terminal_view_renders() {
        let s = render_tui_text(
            &args(&["--capacity", "512"]),
            "alloc 100\nalloc 50\nfree 0\n",
            100,
            30,
        )
        .unwrap();
        assert!(s.contains("arena table"), "{s}");
        assert!(s.contains("free list"), "{s}");
    }
}
