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
use sysarena_sim::trace::{Event, Trace};

use crate::explain;

mod apply;
mod command;
mod engine;

pub use command::{HELP, InputError, parse_size, strip_comment};
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
    /// `flush`: free every cached arena of the quick lists for real.
    Flush,
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
        self.link_script().script
    }

    /// The history as a link's commands, written so that the link replays
    /// to this state exactly: every command is run on a fresh session with
    /// these settings as the page runs a link's `ops`, and an operation
    /// that changes nothing here and that a link would refuse (a `pass`
    /// without handles, a `policy` on a handle-based manager, a `free` of
    /// an allocation that failed on this region) is left out — and counted.
    /// A trace's events are left out too (a link cannot carry the file).
    ///
    /// Time: O(history), plus each command's own cost.
    pub fn link_script(&self) -> LinkScript {
        let mut cmds = Vec::new();
        let mut t = Session::new(self.settings).expect("the settings were checked");
        t.quiet = true;
        let (mut pos, mut left_out, mut events) = (0, 0, 0);
        for (i, op) in self.history.iter().enumerate() {
            if i == self.pos {
                pos = cmds.len();
            }
            let cmd = match *op {
                Op::Alloc { size, align: 1 } => format!("alloc {size}"),
                Op::Alloc { size, align } => format!("alloc {size} {align}"),
                Op::Free { number } => format!("free {number}"),
                Op::FreeAt { offset } => format!("free @{offset}"),
                Op::Defrag => "defrag".to_owned(),
                Op::Flush => "flush".to_owned(),
                Op::Relocate => "relocate".to_owned(),
                Op::Pass { moves } => format!("pass {moves}"),
                Op::Config(c) => {
                    if c.policy != t.config.policy {
                        format!("policy {}", c.policy.name())
                    } else {
                        format!("coalescing {}", c.coalescing.name())
                    }
                }
                Op::Event(_) => {
                    events += 1;
                    continue;
                }
            };
            if t.exec(&cmd).is_ok() {
                cmds.push(cmd);
            } else {
                left_out += 1;
            }
        }
        if self.pos >= self.history.len() {
            pos = cmds.len();
        }
        LinkScript {
            len: cmds.len(),
            script: cmds.join(";"),
            pos,
            left_out,
            events,
        }
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
        // A typed request larger than the region is refused as input: a
        // region that small could not replay this history from a link.
        if let Some((i, size, align)) =
            self.history
                .iter()
                .enumerate()
                .find_map(|(i, op)| match *op {
                    Op::Alloc { size, align } if !fits_region(size, align, settings.capacity) => {
                        Some((i, size, align))
                    }
                    _ => None,
                })
        {
            let al = if align > 1 {
                format!(" {align}")
            } else {
                String::new()
            };
            return Err(format!(
                "operation {} of the history, `alloc {size}{al}`, is larger than a region of {}: pick a larger region, or `reset` first",
                i + 1,
                crate::bytes::fmt_bytes(settings.capacity)
            ));
        }
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
        let (trace, format) =
            Trace::from_bytes(name, bytes, None, max_events).map_err(|e| e.to_string())?;
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

    /// Records `op` at the cursor and applies it. The same operation as
    /// the next one recorded is a redo. Otherwise a new operation replaces
    /// the redo tail's typed operations (undone ones), and says how many it
    /// dropped; a trace's events after the cursor always stay, so a policy
    /// change in the middle of a trace applies to the rest of it.
    fn record(&mut self, op: Op) {
        let mut dropped = 0;
        if self.history.get(self.pos) != Some(&op) {
            let tail = self.history.split_off(self.pos);
            self.history.push(op);
            for t in tail {
                if matches!(t, Op::Event(_)) {
                    self.history.push(t);
                } else {
                    dropped += 1;
                }
            }
        }
        self.apply(self.pos);
        self.pos += 1;
        if dropped > 0 {
            self.say(format!(
                "(the {dropped} undone operation{} after this point {} dropped: a new operation replaces the redo history{})",
                if dropped == 1 { "" } else { "s" },
                if dropped == 1 { "was" } else { "were" },
                if self.trace.is_some() {
                    "; the trace's events stay"
                } else {
                    ""
                }
            ));
        }
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
}

/// What [`Session::link_script`] writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkScript {
    /// The commands, separated by `;`.
    pub script: String,
    /// How many of them are applied now (a link's `at`).
    pub pos: usize,
    /// How many commands there are.
    pub len: usize,
    /// Operations left out: they change nothing with these settings, and a
    /// link would refuse them.
    pub left_out: usize,
    /// A trace's events left out.
    pub events: usize,
}

/// Whether a request of `size` bytes at `align` can ever fit a region of
/// `capacity` bytes (the check `exec` makes).
fn fits_region(size: usize, align: usize, capacity: usize) -> bool {
    align <= capacity
        && size
            .checked_next_multiple_of(align.max(1))
            .is_some_and(|n| n <= capacity)
}

/// `#N` or `id N`.
pub fn owner_name(o: Owner) -> String {
    match o {
        Owner::Typed(n) => format!("#{n}"),
        Owner::Traced(id) => format!("id {id}"),
    }
}
