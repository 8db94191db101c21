//! The session of `sysarena step`: the operations it records (what `prev`
//! undoes and `redo` brings back), the names of live allocations, and how
//! one operation is applied to the manager and told in the log.

use super::*;
use sysarena::{QUICK_DEPTH, QUICK_GRANULE, QUICK_LIMIT, QUICK_NEAR_SHARE, QUICK_SHARE};

/// One operation in the history (what `prev` undoes).
#[derive(Clone, Copy, Debug)]
pub(super) enum Op {
    Alloc {
        size: usize,
        align: usize,
    },
    Free {
        offset: usize,
    },
    Defrag,
    /// Free every cached arena for real (`flush`).
    Flush,
    Config(Config),
    Event(usize),
}

/// A live allocation's name.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tag {
    /// Colour key and number (#N for typed allocations, the id for a trace's).
    pub(super) key: usize,
    /// Whether it came from the trace.
    pub(super) traced: bool,
}

/// What the driver does after a command.
pub(super) enum Flow {
    Continue,
    Rebuild,
    Quit,
}

/// The session: everything but the manager (which borrows the table).
pub(super) struct State {
    pub(super) config: Config,
    pub(super) initial: Config,
    pub(super) capacity: usize,
    pub(super) trace: Option<Trace>,
    /// Trace events applied.
    pub(super) cursor: usize,
    pub(super) history: Vec<Op>,
    /// What `prev` undid, the next to redo last; a new operation clears it.
    pub(super) undone: Vec<Op>,
    pub(super) names: BTreeMap<usize, Tag>,
    /// Trace id → offset of its live block.
    pub(super) ids: HashMap<u64, usize>,
    /// Trace ids whose live block a typed `free` freed: the trace's own
    /// free or realloc of one is skipped, and says so.
    pub(super) freed_by_hand: HashSet<u64>,
    pub(super) next_name: usize,
    /// The command that made the current frame, and what it did.
    pub(super) title: String,
    pub(super) log: Vec<String>,
    pub(super) quiz: bool,
    /// Interactive quiz: the alloc waiting for an answer.
    pub(super) pending: Option<(Op, String)>,
    pub(super) score: (usize, usize),
    pub(super) quiet: bool,
}

impl State {
    pub(super) fn fresh<'t>(&self, table: &'t mut [Slot]) -> SliceManager<'t> {
        ArenaManager::from_slice(table, self.capacity, self.initial)
            .expect("the table size was checked at start")
    }

    /// Replays the history into a fresh manager, silently.
    pub(super) fn replay(&mut self, m: &mut SliceManager<'_>) {
        let history = std::mem::take(&mut self.history);
        self.names.clear();
        self.ids.clear();
        self.freed_by_hand.clear();
        self.next_name = 0;
        self.cursor = 0;
        self.config = self.initial;
        self.quiet = true;
        for op in history {
            self.apply(m, op);
        }
        self.quiet = false;
    }

    pub(super) fn say(&mut self, s: String) {
        if !self.quiet {
            self.log.push(s);
        }
    }

    /// Applies one operation and records it.
    pub(super) fn apply(&mut self, m: &mut SliceManager<'_>, op: Op) {
        self.history.push(op);
        match op {
            Op::Alloc { size, align } => {
                let key = self.next_name;
                self.next_name += 1;
                self.alloc(m, size, align, Tag { key, traced: false });
            }
            Op::Free { offset } => {
                // A trace's block freed by hand leaves the trace's view, so
                // the trace's later free of its id cannot free another block.
                let tag = self.names.get(&offset).copied();
                if self.free(m, offset)
                    && let Some(Tag { key, traced: true }) = tag
                    && let Ok(id) = u64::try_from(key)
                    && self.ids.get(&id) == Some(&offset)
                {
                    self.ids.remove(&id);
                    self.freed_by_hand.insert(id);
                }
            }
            Op::Defrag => {
                let before = m.stats();
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
                self.say_flushed(&before, m, "it flushed the quick lists first");
            }
            Op::Config(c) => {
                let before = m.stats();
                m.set_config(c);
                self.config = c;
                self.say(format!(
                    "now {} with {} coalescing",
                    c.policy.name(),
                    c.coalescing.name()
                ));
                self.say_flushed(&before, m, "the quick lists were flushed first");
                if keeps_quick_lists(c) {
                    self.say(format!(
                        "  the fast model: a freed arena under {} whose size is a multiple of {QUICK_GRANULE} is cached — it waits, whole, in the quick list of its size for the next request of that size (or, from {}, of a size at most a {QUICK_NEAR_SHARE}th smaller)",
                        fmt_bytes(QUICK_LIMIT),
                        fmt_bytes(QUICK_NEAR_SHARE * QUICK_GRANULE)
                    ));
                }
            }
            Op::Flush => {
                let before = m.stats();
                m.flush_quick_lists();
                if before.cached_arenas == 0 {
                    self.say(if keeps_quick_lists(self.config) {
                        "flush: the quick lists are empty".to_owned()
                    } else {
                        "flush: nothing to do: only the fast model (segregated-fit with immediate coalescing) keeps quick lists".to_owned()
                    });
                } else {
                    let after = m.stats();
                    self.say(format!(
                        "flush: {} ({}) freed for real; free arenas {} → {}, largest free {} → {}",
                        crate::heapmap::count(before.cached_arenas, "cached arena"),
                        fmt_bytes(before.cached_bytes),
                        before.free_arenas,
                        after.free_arenas,
                        fmt_bytes(before.largest_free),
                        fmt_bytes(after.largest_free)
                    ));
                    self.say(
                        "  each merged with its free neighbours and entered the free index: now any request may use those bytes"
                            .to_owned(),
                    );
                }
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
                            self.freed_by_hand.remove(&id);
                        }
                    }
                    Event::Free { id } => match self.ids.remove(&id) {
                        Some(off) => {
                            self.free(m, off);
                        }
                        None => {
                            let why = self.why_not_live(id);
                            self.freed_by_hand.remove(&id);
                            self.say(format!("free id {id}: {why}, skipped"));
                        }
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
                        None => {
                            let why = self.why_not_live(id);
                            self.say(format!("realloc id {id}: {why}, skipped"));
                        }
                    },
                }
            }
        }
    }

    pub(super) fn alloc(
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
        // The cached arenas before, to tell a quick-list hit from a flush.
        let before = m.stats();
        let cached: Vec<(usize, usize)> = if before.cached_arenas > 0 {
            m.arenas()
                .filter(|a| a.cached)
                .map(|a| (a.offset, a.size))
                .collect()
        } else {
            Vec::new()
        };
        match m.alloc(asked, align) {
            Ok(a) => {
                self.names.insert(a.offset(), tag);
                let slot = m.arena_at(a.offset()).map_or(0, |i| i.slot);
                self.say(format!(
                    "✓ alloc({size}) = {name} at offset {} (arena of {} in slot {slot})",
                    a.offset(),
                    fmt_bytes(a.size())
                ));
                if m.stats().cached_arenas + 1 == before.cached_arenas
                    && cached.contains(&(a.offset(), a.size()))
                {
                    let need = asked.max(1).next_multiple_of(align.max(1));
                    if a.size() > need {
                        self.say(format!(
                            "  taken from the quick list of {} B arenas, a near size: the list of {need} B arenas was empty, and these are at most a {QUICK_NEAR_SHARE}th larger — handed out whole, no search, no split",
                            a.size()
                        ));
                    } else {
                        self.say(format!(
                            "  taken back from the quick list of {} arenas: the one freed last, handed out whole — no search, no split",
                            fmt_bytes(a.size())
                        ));
                    }
                } else {
                    self.say_flushed(
                        &before,
                        m,
                        "no free arena fitted, so the quick lists were flushed and the request tried again",
                    );
                }
                Some(a.offset())
            }
            Err(e) => {
                self.say(format!("✗ alloc({size}) for {name}: {e}"));
                self.say_flushed(
                    &before,
                    m,
                    "before answering out of memory, the quick lists were flushed and the request tried again",
                );
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

    /// Why the trace's id `id` has no live block (for a skipped event).
    fn why_not_live(&self, id: u64) -> &'static str {
        if self.freed_by_hand.contains(&id) {
            "its block was already freed by hand (a typed `free`)"
        } else {
            "its alloc failed"
        }
    }

    /// Frees the arena at `offset` and tells it; returns whether it freed.
    pub(super) fn free(&mut self, m: &mut SliceManager<'_>, offset: usize) -> bool {
        match m.free(offset) {
            Ok(()) => {
                let tag = self.names.remove(&offset);
                let name = tag.map_or_else(|| format!("@{offset}"), |t| self.tag_name(t));
                self.say(format!("✓ free {name} at offset {offset}"));
                if !keeps_quick_lists(self.config) {
                    return true;
                }
                match m.arenas().find(|a| a.offset == offset) {
                    Some(a) if a.cached => self.say(format!(
                        "  cached: it waits, whole, in the quick list of {} arenas (free, but not merged with its neighbours); the next alloc of {} takes it back",
                        fmt_bytes(a.size),
                        takers(a.size)
                    )),
                    _ => self.say(format!(
                        "  freed for real, not cached: quick lists take only arenas under {} whose size is a multiple of {QUICK_GRANULE}, while their room lasts ({QUICK_DEPTH} a size, 1/{QUICK_SHARE} of the region)",
                        fmt_bytes(QUICK_LIMIT)
                    )),
                }
                true
            }
            Err(e) => {
                self.say(format!("✗ free @{offset}: {e}"));
                false
            }
        }
    }

    /// Tells that an operation flushed the quick lists (`why` says when),
    /// if `before` had cached arenas and none are left.
    pub(super) fn say_flushed(
        &mut self,
        before: &sysarena::Stats,
        m: &SliceManager<'_>,
        why: &str,
    ) {
        if before.cached_arenas > 0 && m.stats().cached_arenas == 0 {
            self.say(format!(
                "  {why}: {} ({}) freed for real, merging with {} free neighbours",
                crate::heapmap::count(before.cached_arenas, "cached arena"),
                fmt_bytes(before.cached_bytes),
                if before.cached_arenas == 1 {
                    "its"
                } else {
                    "their"
                }
            ));
        }
    }

    pub(super) fn tag_name(&self, t: Tag) -> String {
        if t.traced {
            format!("id {} ({})", t.key, label(t.key))
        } else {
            format!("#{} ({})", t.key, label(t.key))
        }
    }

    pub(super) fn err(&mut self, msg: &str) -> Flow {
        self.log.push(format!("? {msg}"));
        Flow::Continue
    }

    pub(super) fn step_label(&self) -> String {
        match &self.trace {
            Some(t) => format!("{}: step {} of {}", t.name, self.cursor, t.events.len()),
            None => format!("operation {}", self.history.len()),
        }
    }
}

/// Whether `config` is the fast model, the one that keeps quick lists
/// ([`Config::fast`]: segregated fit with immediate coalescing).
pub(super) fn keeps_quick_lists(config: Config) -> bool {
    config.policy == Policy::SegregatedFit && config.coalescing == Coalescing::Immediate
}

/// Which requests a cached arena of `size` bytes serves: its own size,
/// and smaller ones that have it among their near sizes (from 520 B on).
fn takers(size: usize) -> String {
    if sysarena::quick_serves_smaller(size) {
        format!("that size (or of a size at most a {QUICK_NEAR_SHARE}th smaller)")
    } else {
        "exactly that size".to_owned()
    }
}
