//! One playground session: a manager, the history of operations that made
//! it, and the words that drive it.
//!
//! The history is the truth: the manager is what replaying
//! `history[..pos]` into a fresh region gives. Going forward applies the
//! next operations; going back (undo, the slider) rebuilds the manager from
//! the start and replays — the arena manager has no snapshot, and a replay
//! of 100,000 operations takes milliseconds.

use std::collections::{BTreeMap, HashMap};

use sysarena::{ArenaInfo, Coalescing, Config};
use sysarena_sim::trace::{Event, Trace, TraceFormat};

use crate::explain;

mod command;
mod engine;

pub use command::{HELP, InputError, parse_size};
pub use engine::{Engine, Handles, Manager};

/// The most descriptors a session may ask for (a table of this many slots
/// is a few MiB of the page's memory).
pub const MAX_DESCRIPTORS: usize = 1 << 18;

/// The region and table a session starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Bytes in the region.
    pub capacity: usize,
    /// Descriptors in the arena table.
    pub descriptors: usize,
    /// The configuration at operation 0.
    pub config: Config,
    /// Whether allocations are named by handles (a [`sysarena::Movable`]
    /// manager: bounded relocation passes; the configuration is fixed).
    pub handles: bool,
}

impl Default for Settings {
    /// `sysarena step`'s defaults without a trace: 1 KiB, 16 descriptors,
    /// the classic model.
    fn default() -> Self {
        Settings {
            capacity: 1024,
            descriptors: 16,
            config: Config::classic(),
            handles: false,
        }
    }
}

impl Settings {
    /// Checks the settings: a region of at least one byte, between 1 and
    /// [`MAX_DESCRIPTORS`] descriptors.
    ///
    /// # Errors
    /// The reason, in words.
    pub fn check(&self) -> Result<(), String> {
        if self.capacity == 0 {
            return Err("the region must hold at least 1 byte".to_owned());
        }
        if self.descriptors == 0 || self.descriptors > MAX_DESCRIPTORS {
            return Err(format!(
                "the arena table needs between 1 and {MAX_DESCRIPTORS} descriptors"
            ));
        }
        Ok(())
    }

    fn engine(&self) -> Engine {
        Engine::new(self.capacity, self.descriptors, self.config, self.handles)
            .expect("the table size was checked")
    }
}

/// One recorded operation (what undo takes back and the slider scrubs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `alloc SIZE [ALIGN]`: the allocation gets the next number.
    Alloc {
        /// Bytes asked for.
        size: usize,
        /// Alignment asked for.
        align: usize,
    },
    /// `free N`: the typed allocation number N.
    Free {
        /// The allocation's number.
        number: usize,
    },
    /// `free @OFFSET`: whatever in-use arena starts there.
    FreeAt {
        /// The offset.
        offset: usize,
    },
    /// `defrag`: the classic defragment.
    Defrag,
    /// `relocate`: slide every live block down.
    Relocate,
    /// `pass [MOVES]`: one bounded relocation pass (handles only).
    Pass {
        /// The most moves the pass may plan.
        moves: usize,
    },
    /// `policy NAME` / `coalescing NAME`.
    Config(Config),
    /// The trace's event at this index.
    Event(usize),
}

/// Who owns a live arena: a typed allocation's number or a trace id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// `#N`, made by `alloc`.
    Typed(usize),
    /// A trace's block id.
    Traced(u64),
}

/// What the last allocation did, for the quiz.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Landed {
    /// It landed at this offset.
    At(usize),
    /// It failed.
    Failed,
}

/// A session: settings, trace, history and the manager they give.
#[derive(Debug)]
pub struct Session {
    settings: Settings,
    /// A side-by-side panel keeps its configuration: `policy` and
    /// `coalescing` are recorded but change nothing.
    pinned: bool,
    trace: Option<Trace>,
    history: Vec<Op>,
    pos: usize,
    e: Engine,
    config: Config,
    /// Live arenas: offset → owner.
    owners: BTreeMap<usize, Owner>,
    /// Typed allocation number → offset.
    typed: HashMap<usize, usize>,
    /// Trace id → offset.
    traced: HashMap<u64, usize>,
    next_number: usize,
    quiet: bool,
    log: Vec<String>,
    landed: Option<Landed>,
}

impl Session {
    /// A fresh session.
    ///
    /// # Errors
    /// Settings that [`Settings::check`] refuses.
    pub fn new(settings: Settings) -> Result<Self, String> {
        settings.check()?;
        Ok(Session {
            settings,
            pinned: false,
            trace: None,
            history: Vec::new(),
            pos: 0,
            e: settings.engine(),
            config: settings.config,
            owners: BTreeMap::new(),
            typed: HashMap::new(),
            traced: HashMap::new(),
            next_number: 0,
            quiet: false,
            log: Vec::new(),
            landed: None,
        })
    }

    /// The manager after `history[..pos]`.
    pub fn manager(&self) -> &Manager {
        self.e.manager()
    }

    /// The settings.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// The configuration now (after the recorded policy changes).
    pub fn config(&self) -> Config {
        self.config
    }

    /// Operations applied.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Operations recorded (applied ones and the redo tail).
    pub fn len(&self) -> usize {
        self.history.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
    }

    /// Whether this panel keeps its configuration.
    pub fn pinned(&self) -> bool {
        self.pinned
    }

    /// The recorded history.
    pub fn history(&self) -> &[Op] {
        &self.history
    }

    /// The loaded trace.
    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_ref()
    }

    /// What the last command said.
    pub fn log(&self) -> &[String] {
        &self.log
    }

    /// Where the last command's allocation landed, if it made one.
    pub fn landed(&self) -> Option<Landed> {
        self.landed
    }

    /// The owner of the in-use arena at `offset`.
    pub fn owner(&self, offset: usize) -> Option<Owner> {
        self.owners.get(&offset).copied()
    }

    /// The allocation number the next `alloc` gets.
    pub fn next_number(&self) -> usize {
        self.next_number
    }

    /// The history as commands (`alloc 100;free 0;…`) for a shareable
    /// link; a trace's events are left out (a link cannot carry the file).
    pub fn script(&self) -> String {
        let mut cmds = Vec::new();
        let mut config = self.settings.config;
        for op in &self.history {
            cmds.push(match *op {
                Op::Alloc { size, align: 1 } => format!("alloc {size}"),
                Op::Alloc { size, align } => format!("alloc {size} {align}"),
                Op::Free { number } => format!("free {number}"),
                Op::FreeAt { offset } => format!("free @{offset}"),
                Op::Defrag => "defrag".to_owned(),
                Op::Relocate => "relocate".to_owned(),
                Op::Pass { moves } => format!("pass {moves}"),
                Op::Config(c) => {
                    let cmd = if c.policy != config.policy {
                        format!("policy {}", c.policy.name())
                    } else {
                        format!("coalescing {}", c.coalescing.name())
                    };
                    config = c;
                    cmd
                }
                Op::Event(_) => continue,
            });
        }
        cmds.join(";")
    }

    /// Takes `other`'s trace, history and position (keeping this session's
    /// settings): a new side-by-side panel starts where the main one is.
    pub fn adopt(&mut self, other: &Session) {
        self.trace = other.trace.clone();
        self.history = other.history.clone();
        self.rebuild(other.pos);
    }

    /// New settings; the history is replayed on them (so the same
    /// operations can be watched on a smaller region or table).
    ///
    /// # Errors
    /// Settings that [`Settings::check`] refuses; nothing changes then.
    pub fn configure(&mut self, settings: Settings, pinned: bool) -> Result<(), String> {
        settings.check()?;
        self.settings = settings;
        self.pinned = pinned;
        let pos = self.pos;
        self.rebuild(pos);
        self.log.clear();
        Ok(())
    }

    /// Loads a trace (native, CS:APP `.rep` or OSTEP; gzip is detected),
    /// reading at most `max_events`. The history becomes the trace's events,
    /// none applied yet; the settings are kept.
    ///
    /// # Errors
    /// The reader's error (which line, what was wrong); nothing changes.
    pub fn load_trace(
        &mut self,
        name: &str,
        bytes: &[u8],
        max_events: Option<usize>,
    ) -> Result<usize, String> {
        let format = sniff(name, bytes);
        let trace = Trace::read(name, bytes, format, max_events).map_err(|e| e.to_string())?;
        if trace.events.is_empty() {
            return Err(format!("{name}: no events in this file"));
        }
        let n = trace.events.len();
        self.trace = Some(trace);
        self.history = (0..n).map(Op::Event).collect();
        self.rebuild(0);
        self.log = vec![format!(
            "loaded {name}: {n} events ({}); `next` applies one, the slider scrubs",
            format.name()
        )];
        Ok(n)
    }

    /// Records `op` at the cursor (dropping the redo tail unless it is the
    /// same operation) and applies it.
    fn record(&mut self, op: Op) {
        if self.history.get(self.pos) != Some(&op) {
            self.history.truncate(self.pos);
            self.history.push(op);
        }
        self.apply(self.pos);
        self.pos += 1;
    }

    /// Moves to the state after `to` operations, replaying from the start
    /// when going back.
    pub fn seek(&mut self, to: usize) {
        let to = to.min(self.history.len());
        if to < self.pos {
            self.rebuild(to);
            return;
        }
        let quiet = to - self.pos > 1;
        self.quiet = quiet;
        while self.pos < to {
            self.apply(self.pos);
            self.pos += 1;
        }
        self.quiet = false;
        if quiet {
            self.log.clear();
        }
    }

    /// A fresh manager with `history[..to]` replayed, silently.
    fn rebuild(&mut self, to: usize) {
        let to = to.min(self.history.len());
        self.e = self.settings.engine();
        self.config = self.settings.config;
        self.owners.clear();
        self.typed.clear();
        self.traced.clear();
        self.next_number = 0;
        self.pos = 0;
        self.quiet = true;
        while self.pos < to {
            self.apply(self.pos);
            self.pos += 1;
        }
        self.quiet = false;
        self.log.clear();
        self.landed = None;
    }

    fn say(&mut self, line: String) {
        if !self.quiet {
            self.log.push(line);
        }
    }

    /// Applies `history[i]` to the manager.
    fn apply(&mut self, i: usize) {
        match self.history[i] {
            Op::Alloc { size, align } => {
                let number = self.next_number;
                self.next_number += 1;
                if let Some(off) = self.alloc(size, align, Owner::Typed(number)) {
                    self.typed.insert(number, off);
                }
            }
            Op::Free { number } => match self.typed.get(&number).copied() {
                Some(off) => self.free(off),
                None => self.say(format!("free #{number}: not live, skipped")),
            },
            Op::FreeAt { offset } => self.free(offset),
            Op::Defrag => {
                let explain = !self.quiet;
                let before = if explain {
                    explain::largest_run(self.e.manager())
                } else {
                    0
                };
                let r = self.e.defragment();
                self.say(explain::defrag(&r, before));
            }
            Op::Relocate => self.relocate(),
            Op::Pass { moves } => self.pass(moves),
            Op::Config(c) => {
                if self.pinned {
                    self.say(format!(
                        "this panel keeps {} with {} coalescing",
                        self.config.policy.name(),
                        self.config.coalescing.name()
                    ));
                } else if !self.e.set_config(c) {
                    self.say(format!(
                        "a handle-based (Movable) manager keeps {} with {} coalescing: change it in the settings",
                        self.config.policy.name(),
                        self.config.coalescing.name()
                    ));
                } else {
                    self.config = c;
                    self.say(format!(
                        "now {} with {} coalescing: {}",
                        c.policy.name(),
                        c.coalescing.name(),
                        explain::policy_rule(c.policy)
                    ));
                }
            }
            Op::Event(e) => self.event(e),
        }
    }

    fn event(&mut self, e: usize) {
        let Some(ev) = self.trace.as_ref().and_then(|t| t.events.get(e)).copied() else {
            return;
        };
        match ev {
            Event::Alloc { id, size, align } => {
                // A zero-byte request takes one byte, as `sysarena step` and
                // the simulator do.
                if let Some(off) = self.alloc(size.max(1), align, Owner::Traced(id)) {
                    self.traced.insert(id, off);
                }
            }
            Event::Free { id } => match self.traced.remove(&id) {
                Some(off) => self.free(off),
                None => self.say(format!("free id {id}: its alloc failed, skipped")),
            },
            Event::Realloc { id, size } => match self.traced.get(&id).copied() {
                Some(off) => match self.e.realloc(off, size.max(1)) {
                    Ok(r) => {
                        let owner = self.owners.remove(&off).unwrap_or(Owner::Traced(id));
                        self.owners.insert(r.offset, owner);
                        self.traced.insert(id, r.offset);
                        self.say(match r.moved_from {
                            Some(from) => {
                                format!("realloc id {id} to {size} B: moved {from} → {}", r.offset)
                            }
                            None => {
                                format!("realloc id {id} to {size} B: in place at {}", r.offset)
                            }
                        });
                    }
                    Err(e) => self.say(format!("✗ realloc id {id} to {size} B: {e}")),
                },
                None => self.say(format!("realloc id {id}: its alloc failed, skipped")),
            },
        }
    }

    fn alloc(&mut self, size: usize, align: usize, owner: Owner) -> Option<usize> {
        let before: Vec<ArenaInfo> = if self.quiet {
            Vec::new()
        } else {
            self.e.manager().arenas().filter(|a| !a.in_use).collect()
        };
        match self.e.alloc(size, align) {
            Ok((offset, got)) => {
                self.owners.insert(offset, owner);
                self.landed = Some(Landed::At(offset));
                if !self.quiet {
                    let name = owner_name(owner);
                    let line = explain::alloc_ok(
                        self.e.manager(),
                        &before,
                        size,
                        align,
                        &name,
                        offset,
                        got,
                    );
                    self.log.push(line);
                }
                Some(offset)
            }
            Err(e) => {
                self.landed = Some(Landed::Failed);
                if !self.quiet {
                    let name = owner_name(owner);
                    let line = match e {
                        Ok(e) => explain::alloc_failed(self.e.manager(), size, align, &name, &e),
                        Err(words) => format!("✗ alloc({size}) for {name} failed: {words}"),
                    };
                    self.log.push(line);
                }
                None
            }
        }
    }

    fn free(&mut self, offset: usize) {
        let size_before = if self.quiet {
            0
        } else {
            self.e.manager().arena_at(offset).map_or(0, |a| a.size)
        };
        match self.e.free(offset) {
            Ok(()) => {
                let owner = self.owners.remove(&offset);
                if let Some(Owner::Typed(n)) = owner {
                    self.typed.remove(&n);
                }
                if !self.quiet {
                    let name = owner.map_or_else(|| format!("@{offset}"), owner_name);
                    let merged = match self.config.coalescing {
                        Coalescing::Immediate => {
                            // The free arena that now holds the offset: larger
                            // than the block was when a neighbour joined it.
                            let a = self.e.manager().arenas().find(|a| {
                                !a.in_use && a.offset <= offset && offset < a.offset + a.size
                            });
                            match a {
                                Some(a) if a.size != size_before => format!(
                                    "; immediate coalescing merged it with its free neighbours into [{}+{}]",
                                    a.offset, a.size
                                ),
                                _ => "; no free neighbour to merge with".to_owned(),
                            }
                        }
                        Coalescing::Deferred => {
                            "; deferred coalescing: it stays a separate free arena until `defrag`"
                                .to_owned()
                        }
                    };
                    self.log
                        .push(format!("✓ free {name} at offset {offset}{merged}"));
                }
            }
            Err(e) => self.say(format!("✗ free @{offset}: {e}")),
        }
    }

    fn relocate(&mut self) {
        let mut moves = Vec::new();
        match self.e.relocate(|mv| moves.push(mv)) {
            Ok(r) => {
                self.rename(&moves);
                self.say(explain::relocated(&r));
            }
            Err(e) => self.say(format!("✗ relocate: {e}")),
        }
    }

    fn pass(&mut self, max_moves: usize) {
        let mut moves = Vec::new();
        match self.e.pass(max_moves, |mv| moves.push(mv)) {
            Ok((plan, report)) => {
                self.rename(&moves);
                self.say(explain::pass(max_moves, &plan, &report));
            }
            Err(e) => self.say(format!("✗ pass: {e}")),
        }
    }

    /// Carries the owners' names along `moves`. Relocation's moves come in
    /// address order, each destination below every block not yet moved;
    /// a pass's moves are independent. Taking every source out before
    /// putting any destination in is right for both.
    fn rename(&mut self, moves: &[sysarena::Move]) {
        let owners: Vec<Option<Owner>> = moves
            .iter()
            .map(|mv| self.owners.remove(&mv.from))
            .collect();
        for (mv, owner) in moves.iter().zip(owners) {
            let Some(owner) = owner else { continue };
            self.owners.insert(mv.to, owner);
            match owner {
                Owner::Typed(n) => {
                    self.typed.insert(n, mv.to);
                }
                Owner::Traced(id) => {
                    self.traced.insert(id, mv.to);
                }
            }
        }
    }
}

/// `#N` or `id N`.
pub fn owner_name(o: Owner) -> String {
    match o {
        Owner::Typed(n) => format!("#{n}"),
        Owner::Traced(id) => format!("id {id}"),
    }
}

/// The trace format: `.rep` is CS:APP malloc-lab; a first operation that
/// starts with `+` or `-` is OSTEP; anything else native. Gzip is looked
/// through (the readers detect it by its magic bytes).
fn sniff(name: &str, bytes: &[u8]) -> TraceFormat {
    let lower = name.to_lowercase();
    if lower.ends_with(".rep") || lower.ends_with(".rep.gz") {
        return TraceFormat::MallocLab;
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // Only the readers see through gzip; a gzipped OSTEP file is rare.
        return TraceFormat::Native;
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    for line in head.lines() {
        let body = line.split('#').next().unwrap_or("").trim();
        if body.is_empty() {
            continue;
        }
        if body.starts_with('+') || body.starts_with('-') {
            return TraceFormat::Ostep;
        }
        break;
    }
    TraceFormat::Native
}
