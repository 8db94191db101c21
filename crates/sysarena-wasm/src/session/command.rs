//! The words: one command line in, an operation recorded (or a typed
//! refusal, in words, with nothing changed). The same words as `sysarena
//! step`, plus `relocate`, `redo` and `seek`.

use sysarena::{AllocError, Coalescing, Config, Policy};

use super::{Op, Session};
use crate::explain;

/// A command the session refused: nothing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// What was wrong, in words.
    pub message: String,
}

impl InputError {
    fn new(message: impl Into<String>) -> Self {
        InputError {
            message: message.into(),
        }
    }
}

/// The commands, one line each (the words of `sysarena step`, plus
/// `relocate`, `redo` and `seek`).
pub const HELP: &str = "\
alloc SIZE [ALIGN]   allocate (sizes may end in K, M, G); the allocation gets the next number #0, #1, …
free N | free @OFF   free allocation #N, or the in-use arena at offset OFF
defrag               merge free neighbours and compact the table (nothing moves)
flush                free the quick lists' cached arenas for real (the fast model)
relocate             slide every live block down: one free arena at the end
pass [MOVES]         one bounded relocation pass of at most MOVES moves (with handles=1)
policy NAME          first-fit, next-fit, best-fit, worst-fit, segregated-fit
coalescing NAME      deferred or immediate
prev [N] | undo [N]  take back the last N operations;  redo [N] | next [N]: replay them
goto STEP            the state after STEP operations (with a trace: STEP events)
reset | help";

/// Parses a size: digits with an optional `K`, `M` or `G` (binary) suffix,
/// as `sysarena step` reads them.
pub fn parse_size(s: &str) -> Option<usize> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mul) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1usize << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
}

/// The comment rule `sysarena step` shares (see
/// [`sysarena_sim::script::strip_comment`]).
pub use sysarena_sim::script::strip_comment;

/// What a command line asks for, once read and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parsed {
    /// An empty line or a comment.
    Nothing,
    /// An operation to record.
    Record(Op),
    /// `next N`: up to this position.
    Next(usize),
    /// `prev N`: back this many operations.
    Prev(usize),
    /// `goto STEP`.
    Goto(usize),
    Reset,
    Help,
}

impl Session {
    /// Checks one command line as [`exec`](Self::exec) would, without
    /// running it: the page asks this before a quiz question, so that a
    /// command the session would refuse is refused at once.
    ///
    /// # Errors
    /// What `exec` would refuse, with the same words; nothing changes
    /// either way.
    pub fn check(&self, line: &str) -> Result<(), InputError> {
        if line.contains(['\n', ';']) {
            return Err(InputError::new("one command at a time"));
        }
        self.parse(line).map(|_| ())
    }

    /// Runs one command line.
    ///
    /// # Errors
    /// A malformed command, or one the core refuses outright (a zero size,
    /// a bad alignment, a size beyond the region, a free of something not
    /// allocated): the message says why and nothing changes. An allocation
    /// that fails for lack of memory is not an input error: it is recorded
    /// (it is the story) and the log explains it.
    pub fn exec(&mut self, line: &str) -> Result<(), InputError> {
        self.log.clear();
        self.landed = None;
        match self.parse(line)? {
            Parsed::Nothing => {}
            Parsed::Record(op) => self.record(op),
            Parsed::Next(to) => {
                let from = self.pos;
                self.seek(to);
                if to - from > 1 {
                    self.log = vec![format!("applied operations {from}..{to}")];
                }
            }
            Parsed::Prev(n) => {
                self.seek(self.pos - n);
                self.log = vec![format!("undid {n} operation(s)")];
            }
            Parsed::Goto(n) => {
                // A trace's events and the operations typed between them
                // are one history: going to a step keeps all of them.
                self.seek(n);
                self.log = vec![format!("at step {n} of {}", self.history.len())];
            }
            Parsed::Reset => {
                let typed = self
                    .history
                    .iter()
                    .filter(|op| !matches!(op, Op::Event(_)))
                    .count();
                self.history = match &self.trace {
                    Some(t) => (0..t.events.len()).map(Op::Event).collect(),
                    None => Vec::new(),
                };
                self.rebuild(0);
                self.log = vec![if typed > 0 && self.trace.is_some() {
                    format!(
                        "reset: the trace from its first event; the {typed} typed operation(s) are dropped"
                    )
                } else {
                    "reset".to_owned()
                }];
            }
            Parsed::Help => self.log = HELP.lines().map(str::to_owned).collect(),
        }
        Ok(())
    }

    /// Reads one command line and checks it against the session now.
    fn parse(&self, line: &str) -> Result<Parsed, InputError> {
        let line = strip_comment(line);
        if line.is_empty() {
            return Ok(Parsed::Nothing);
        }
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        let count = |default: usize| -> Result<usize, InputError> {
            match args.first() {
                None => Ok(default),
                Some(a) => a
                    .parse::<usize>()
                    .map_err(|_| InputError::new(format!("`{a}` is not a count"))),
            }
        };
        let too_many = |n: usize| -> Result<(), InputError> {
            if args.len() > n {
                Err(InputError::new(format!(
                    "`{cmd}` takes {} (got `{}`)",
                    match n {
                        0 => "no arguments".to_owned(),
                        1 => "one argument".to_owned(),
                        n => format!("at most {n} arguments"),
                    },
                    args.join(" ")
                )))
            } else {
                Ok(())
            }
        };
        let op = match cmd {
            "alloc" | "a" | "malloc" => {
                too_many(2)?;
                let Some(s) = args.first() else {
                    return Err(InputError::new("usage: alloc SIZE [ALIGN]"));
                };
                let size = parse_size(s).ok_or_else(|| {
                    InputError::new(format!("`{s}` is not a size (e.g. 100, 4K, 1M)"))
                })?;
                let align = match args.get(1) {
                    None => 1,
                    Some(a) => parse_size(a).ok_or_else(|| {
                        InputError::new(format!("`{a}` is not an alignment (e.g. 8, 64)"))
                    })?,
                };
                self.check_alloc(size, align)?;
                Op::Alloc { size, align }
            }
            "free" | "f" => {
                too_many(1)?;
                let Some(a) = args.first() else {
                    return Err(InputError::new(
                        "usage: free N (allocation #N) or free @OFFSET",
                    ));
                };
                if let Some(off) = a.strip_prefix('@') {
                    let offset = off
                        .parse::<usize>()
                        .map_err(|_| InputError::new(format!("`{off}` is not an offset")))?;
                    if !self.pinned {
                        self.check_free_at(offset)?;
                    }
                    Op::FreeAt { offset }
                } else {
                    let digits = a.strip_prefix('#').unwrap_or(a);
                    let number = digits.parse::<usize>().map_err(|_| {
                        InputError::new(format!(
                            "`{a}` is not an allocation number (#N) or @OFFSET"
                        ))
                    })?;
                    // A side-by-side panel follows the main panel's
                    // commands: an allocation that failed only here is
                    // recorded and skipped, so the histories stay in step.
                    if !self.typed.contains_key(&number) && !self.pinned {
                        return Err(InputError::new(if number < self.next_number {
                            format!("#{number} is not live: it was freed, or its allocation failed")
                        } else {
                            format!(
                                "no allocation #{number} yet (the next is #{})",
                                self.next_number
                            )
                        }));
                    }
                    Op::Free { number }
                }
            }
            "defrag" | "defragment" | "d" => {
                too_many(0)?;
                Op::Defrag
            }
            "flush" => {
                too_many(0)?;
                Op::Flush
            }
            "relocate" | "compact" => {
                too_many(0)?;
                Op::Relocate
            }
            "pass" => {
                too_many(1)?;
                if !self.e.has_handles() && !self.pinned {
                    return Err(InputError::new(
                        "passes move allocations by handle: turn on handles in the settings (handles=1)",
                    ));
                }
                let moves = count(1)?;
                if moves == 0 {
                    return Err(InputError::new(
                        "a pass of 0 moves moves nothing: pass 1, pass 4, …",
                    ));
                }
                Op::Pass { moves }
            }
            "policy" | "p" => {
                too_many(1)?;
                if self.e.has_handles() && !self.pinned {
                    return Err(InputError::new(
                        "a handle-based (Movable) manager keeps its configuration: change the policy and coalescing in the settings (the history is replayed)",
                    ));
                }
                match args.first().and_then(|a| a.parse::<Policy>().ok()) {
                    Some(p) => Op::Config(Config::new(p, self.config.coalescing)),
                    None => {
                        return Err(InputError::new(
                            "policy: first-fit, next-fit, best-fit, worst-fit or segregated-fit",
                        ));
                    }
                }
            }
            "coalescing" | "c" => {
                too_many(1)?;
                if self.e.has_handles() && !self.pinned {
                    return Err(InputError::new(
                        "a handle-based (Movable) manager keeps its configuration: change the policy and coalescing in the settings (the history is replayed)",
                    ));
                }
                match args.first().and_then(|a| a.parse::<Coalescing>().ok()) {
                    Some(c) => Op::Config(Config::new(self.config.policy, c)),
                    None => return Err(InputError::new("coalescing: deferred or immediate")),
                }
            }
            "next" | "n" | "redo" => {
                too_many(1)?;
                let n = count(1)?;
                if self.pos >= self.history.len() {
                    return Err(InputError::new(if self.trace.is_some() {
                        "the trace has no more events"
                    } else {
                        "nothing to redo"
                    }));
                }
                return Ok(Parsed::Next(
                    self.pos.saturating_add(n).min(self.history.len()),
                ));
            }
            "prev" | "undo" | "back" => {
                too_many(1)?;
                let n = count(1)?.min(self.pos);
                if n == 0 {
                    return Err(InputError::new("nothing to undo"));
                }
                return Ok(Parsed::Prev(n));
            }
            "goto" | "g" | "seek" => {
                too_many(1)?;
                let Some(a) = args.first() else {
                    return Err(InputError::new("usage: goto STEP"));
                };
                let n = a
                    .parse::<usize>()
                    .map_err(|_| InputError::new(format!("`{a}` is not a step")))?;
                return Ok(Parsed::Goto(n.min(self.history.len())));
            }
            "reset" => {
                too_many(0)?;
                return Ok(Parsed::Reset);
            }
            "help" | "h" | "?" => return Ok(Parsed::Help),
            _ => {
                return Err(InputError::new(format!(
                    "unknown command `{cmd}` (try `help`)"
                )));
            }
        };
        Ok(Parsed::Record(op))
    }

    /// The core's verdict on a request's shape, before it is recorded.
    fn check_alloc(&self, size: usize, align: usize) -> Result<(), InputError> {
        let err = if size == 0 {
            Some(AllocError::ZeroSize)
        } else if !align.is_power_of_two() {
            Some(AllocError::BadAlign { align })
        } else {
            match size.checked_next_multiple_of(align) {
                None => Some(AllocError::SizeOverflow { size, align }),
                Some(n) if n > self.settings.capacity || align > self.settings.capacity => {
                    Some(AllocError::TooLarge {
                        size,
                        capacity: self.settings.capacity,
                    })
                }
                Some(_) => None,
            }
        };
        match err {
            Some(e) => Err(InputError::new(explain::alloc_error_words(&e))),
            None => Ok(()),
        }
    }

    fn check_free_at(&self, offset: usize) -> Result<(), InputError> {
        if offset >= self.e.manager().capacity() {
            return Err(InputError::new(format!(
                "invalid free: offset {offset} is outside the region (0..{})",
                self.e.manager().capacity()
            )));
        }
        match self.e.manager().arena_at(offset) {
            Some(a) if a.in_use => Ok(()),
            Some(_) => Err(InputError::new(format!(
                "nothing to free: the arena at offset {offset} is free (a double free, if it was freed before)"
            ))),
            None => Err(InputError::new(format!(
                "invalid free: no arena starts at offset {offset}"
            ))),
        }
    }
}
