//! Steps one subject through a trace event by event and looks inside it:
//! the [`Tracker`] that `capture` drives to draw a subject at a step.
//!
//! [`replay`](sysarena_sim::replay::replay) measures but does not show; to
//! see a subject at step `N` the tracker drives the subject itself, keeping
//! the same id → block map the replay keeps (a refused alloc makes later
//! frees of that id no-ops, a refused realloc keeps the block). A sysarena
//! subject shows its real arenas and arena table (`manager()`); a peer
//! shows its live blocks and the gaps between them (its own free list is
//! private), which the pictures say.

use std::collections::{BTreeMap, HashMap};

use sysarena::{ArenaInfo, TableEntry};
use sysarena_sim::registry;
use sysarena_sim::subject::SubjectError;
use sysarena_sim::subject::{Block, Subject};
use sysarena_sim::sysarena_subject::{self, SysarenaSubject};
use sysarena_sim::trace::{Event, Id};

use crate::heapmap::{HeapMap, TableStrip};
/// A subject the capture can look inside.
#[derive(Debug)]
pub enum Subj {
    /// A sysarena subject: real arenas and arena table.
    Sys(Box<SysarenaSubject>),
    /// A peer: live blocks and the gaps between them.
    Peer(Box<dyn Subject>),
}

impl Subj {
    /// Builds the subject called `name` over `capacity` bytes.
    pub fn new(name: &str, capacity: usize) -> Result<Subj, SubjectError> {
        match sysarena_subject::parse_name(name) {
            Some((config, variant)) => Ok(Subj::Sys(Box::new(
                SysarenaSubject::with_config(config, capacity)?.variant(variant),
            ))),
            None => registry::by_name(name, capacity).map(Subj::Peer),
        }
    }

    /// The subject behind the trait.
    pub fn get(&self) -> &dyn Subject {
        match self {
            Subj::Sys(s) => s.as_ref(),
            Subj::Peer(p) => p.as_ref(),
        }
    }

    /// The subject behind the trait, mutably.
    pub fn get_mut(&mut self) -> &mut dyn Subject {
        match self {
            Subj::Sys(s) => s.as_mut(),
            Subj::Peer(p) => p.as_mut(),
        }
    }
}

/// What happened to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The block lives at this offset now.
    Placed(usize),
    /// The subject refused the request.
    Failed,
    /// The block was freed.
    Freed,
    /// The event names a block whose alloc failed: nothing to do.
    Skipped,
}

/// A subject being stepped through a trace.
#[derive(Debug)]
pub struct Tracker {
    /// The subject.
    pub subj: Subj,
    blocks: HashMap<Id, Option<Block>>,
    /// Live blocks by offset: (requested size, id).
    live: BTreeMap<usize, (usize, Id)>,
    /// Events applied.
    pub applied: usize,
}

impl Tracker {
    /// A fresh subject called `name` over `capacity` bytes.
    pub fn new(name: &str, capacity: usize) -> Result<Tracker, SubjectError> {
        Ok(Tracker {
            subj: Subj::new(name, capacity)?,
            blocks: HashMap::new(),
            live: BTreeMap::new(),
            applied: 0,
        })
    }

    /// Applies one event. Events that the trace format forbids (unknown
    /// ids) are skipped: the readers reject such traces already.
    pub fn apply(&mut self, event: &Event) -> Outcome {
        self.applied += 1;
        match *event {
            Event::Alloc { id, size, align } => match self.subj.get_mut().alloc(size, align) {
                Some(offset) => {
                    let b = Block {
                        offset,
                        size,
                        align,
                    };
                    self.blocks.insert(id, Some(b));
                    self.live.insert(offset, (size, id));
                    Outcome::Placed(offset)
                }
                None => {
                    self.blocks.insert(id, None);
                    Outcome::Failed
                }
            },
            Event::Free { id } => match self.blocks.remove(&id) {
                Some(Some(b)) => {
                    self.live.remove(&b.offset);
                    // SAFETY: `b` was returned by this subject and is live:
                    // it was in `blocks` until just now.
                    unsafe { self.subj.get_mut().free(b) };
                    Outcome::Freed
                }
                _ => Outcome::Skipped,
            },
            Event::Realloc { id, size } => match self.blocks.get(&id).copied() {
                Some(Some(b)) => {
                    // SAFETY: `b` was returned by this subject and is live.
                    match unsafe { self.subj.get_mut().realloc(b, size) } {
                        Some(offset) => {
                            self.live.remove(&b.offset);
                            self.live.insert(offset, (size, id));
                            self.blocks.insert(
                                id,
                                Some(Block {
                                    offset,
                                    size,
                                    align: b.align,
                                }),
                            );
                            Outcome::Placed(offset)
                        }
                        None => Outcome::Failed,
                    }
                }
                _ => Outcome::Skipped,
            },
        }
    }

    /// The region as arenas in address order, clipped to `[0, view)`, and
    /// the key (trace id) of each in-use one. A peer's "arenas" are its live
    /// blocks (requested bytes) and the gaps between them.
    pub fn arenas(&self, view: usize) -> Vec<ArenaInfo> {
        let mut out = Vec::new();
        match &self.subj {
            Subj::Sys(s) => {
                for a in s.manager().arenas() {
                    if a.offset >= view {
                        break;
                    }
                    let mut a = a;
                    a.size = a.size.min(view - a.offset);
                    a.used = a.used.min(a.size);
                    out.push(a);
                }
            }
            Subj::Peer(_) => {
                let mut at = 0;
                for (&off, &(size, _)) in &self.live {
                    if off >= view {
                        break;
                    }
                    if off > at {
                        out.push(free_arena(at, off - at));
                    }
                    let size = size.max(1).min(view - off);
                    out.push(ArenaInfo {
                        offset: off,
                        size,
                        used: size,
                        in_use: true,
                        cached: false,
                        slot: usize::MAX,
                    });
                    at = off + size;
                }
                if at < view {
                    out.push(free_arena(at, view - at));
                }
            }
        }
        out
    }

    /// Where the highest block ends: an in-use (or cached) arena of a
    /// sysarena subject, a live block of a peer; 0 when none is live.
    pub fn reach(&self) -> usize {
        match &self.subj {
            Subj::Sys(s) => s
                .manager()
                .arenas()
                .filter(|a| a.in_use || a.cached)
                .map(|a| a.offset + a.size)
                .max()
                .unwrap_or(0),
            Subj::Peer(_) => self
                .live
                .iter()
                .next_back()
                .map_or(0, |(&off, &(size, _))| off + size.max(1)),
        }
    }

    /// The requested bytes of the live blocks.
    pub fn live_bytes(&self) -> usize {
        self.live.values().map(|&(size, _)| size).sum()
    }

    /// The trace id of the block at `offset`, for stable colours.
    pub fn key_at(&self, offset: usize) -> Option<usize> {
        self.live.get(&offset).map(|&(_, id)| id as usize)
    }

    /// The free extents: a sysarena subject's free arenas; a peer's gaps
    /// between live blocks (including the untouched tail of the region).
    pub fn free_extents(&self) -> Vec<(usize, usize)> {
        if let Some(e) = self.subj.get().free_extents() {
            return e;
        }
        let mut out = Vec::new();
        let mut at = 0;
        for (&off, &(size, _)) in &self.live {
            if off > at {
                out.push((at, off - at));
            }
            at = at.max(off + size.max(1));
        }
        let cap = self.subj.get().capacity();
        if at < cap {
            out.push((at, cap - at));
        }
        out
    }

    /// Whether the free space shown is the subject's own (sysarena) rather
    /// than derived from gaps.
    pub fn exact(&self) -> bool {
        matches!(self.subj, Subj::Sys(_))
    }

    /// The arena table (sysarena subjects only).
    pub fn table(&self) -> Option<Vec<TableEntry>> {
        match &self.subj {
            Subj::Sys(s) => {
                // Descriptors past the last one ever used are spare; cap the
                // walk so a 1 Mi-descriptor table stays cheap.
                let stats = s.manager().stats();
                let used = stats.descriptors - stats.spare_descriptors;
                let shown = (used * 2).max(64).min(stats.descriptors);
                Some(s.manager().table().take(shown).collect())
            }
            Subj::Peer(_) => None,
        }
    }

    /// The heap map of `[0, view)` in exactly `width` cells.
    pub fn heap_map(&self, view: usize, width: usize) -> HeapMap {
        let arenas = self.arenas(view);
        HeapMap::fit(&arenas, view, width, |a| self.key_at(a.offset))
    }

    /// The arena-table strip (sysarena subjects only).
    pub fn table_strip(&self, width: usize) -> Option<(TableStrip, usize)> {
        let entries = self.table()?;
        let total = match &self.subj {
            Subj::Sys(s) => s.manager().stats().descriptors,
            Subj::Peer(_) => entries.len(),
        };
        Some((
            TableStrip::new(&entries, total, width, |a| self.key_at(a.offset)),
            total,
        ))
    }
}

fn free_arena(offset: usize, size: usize) -> ArenaInfo {
    ArenaInfo {
        offset,
        size,
        used: 0,
        in_use: false,
        cached: false,
        slot: usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysarena_sim::trace::Trace;

    #[test]
    fn peers_show_gaps_between_live_blocks() {
        let trace = Trace::parse_native("t", "a 1 100\na 2 100\nf 1\n").unwrap();
        let mut t = Tracker::new("talc", 1 << 16).unwrap();
        for e in &trace.events {
            t.apply(e);
        }
        let arenas = t.arenas(4096);
        assert!(arenas.iter().any(|a| a.in_use));
        let total: usize = arenas.iter().map(|a| a.size).sum();
        assert_eq!(total, 4096);
    }
}
