//! How one operation of the history changes the session: the manager's
//! call, the explanation line, and the names of the blocks it moved.

use super::*;
use crate::bytes::fmt_bytes;

impl Session {
    pub(super) fn say(&mut self, line: String) {
        if !self.quiet {
            self.log.push(line);
        }
    }

    /// Applies `history[i]` to the manager.
    pub(super) fn apply(&mut self, i: usize) {
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
                let cached = self.e.manager().stats();
                let r = self.e.defragment();
                let mut line = explain::defrag(&r, before);
                if cached.cached_arenas > 0 {
                    line.push_str("; ");
                    line.push_str(&explain::flushed(cached.cached_arenas, cached.cached_bytes));
                }
                self.say(line);
            }
            Op::Flush => {
                let before = self.e.manager().stats();
                if !self.e.flush() {
                    self.say(
                        "flush: a handle-based (Movable) manager flushes its quick lists itself, before out of memory, `defrag` and passes".to_owned(),
                    );
                } else if before.cached_arenas == 0 {
                    self.say(if explain::is_fast(self.config) {
                        "flush: the quick lists are empty".to_owned()
                    } else {
                        "flush: nothing to do: only the fast model (segregated-fit with immediate coalescing) keeps quick lists".to_owned()
                    });
                } else {
                    let after = self.e.manager().stats();
                    // Cached arenas count as free arenas already: each merge
                    // of two free arenas is one fewer.
                    let merges = before.free_arenas.saturating_sub(after.free_arenas);
                    let merged = match merges {
                        0 => "none merged with a free neighbour".to_owned(),
                        1 => "1 merge with a free neighbour".to_owned(),
                        n => format!("{n} merges with free neighbours"),
                    };
                    self.say(format!(
                        "flush: {} cached arena{} ({}) freed for real, {merged}; free arenas {} → {}, largest free {} → {}",
                        before.cached_arenas,
                        if before.cached_arenas == 1 { "" } else { "s" },
                        fmt_bytes(before.cached_bytes),
                        before.free_arenas,
                        after.free_arenas,
                        fmt_bytes(before.largest_free),
                        fmt_bytes(after.largest_free)
                    ));
                }
            }
            Op::Relocate => self.relocate(),
            Op::Pass { moves } => self.pass(moves),
            Op::Config(c) => {
                let cached = self.e.manager().stats();
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
                    let mut line = format!(
                        "now {} with {} coalescing: {}",
                        c.policy.name(),
                        c.coalescing.name(),
                        explain::policy_rule(c.policy)
                    );
                    if explain::is_fast(c) {
                        line.push_str("; ");
                        line.push_str(&explain::quick_lists());
                    }
                    if cached.cached_arenas > 0 {
                        line.push_str("; ");
                        line.push_str(&explain::flushed(cached.cached_arenas, cached.cached_bytes));
                    }
                    self.say(line);
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
                    let mut line = match e {
                        Ok(e) => explain::alloc_failed(self.e.manager(), size, align, &name, &e),
                        Err(words) => format!("✗ alloc({size}) for {name} failed: {words}"),
                    };
                    let (n, bytes) = before
                        .iter()
                        .filter(|a| a.cached)
                        .fold((0, 0), |(n, b), a| (n + 1, b + a.size));
                    if n > 0 && self.e.manager().stats().cached_arenas == 0 {
                        line.push_str(" (");
                        line.push_str(&explain::flushed(n, bytes));
                        line.push(')');
                    }
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
        // What the quick lists held before, to say why a cacheable arena
        // was not cached.
        let lists_before = if self.quiet || !explain::is_fast(self.e.manager().config()) {
            None
        } else {
            let m = self.e.manager();
            let same = m
                .arenas()
                .filter(|a| a.cached && a.size == size_before)
                .count();
            Some((m.stats().cached_bytes, same))
        };
        match self.e.free(offset) {
            Ok(()) => {
                let owner = self.owners.remove(&offset);
                if let Some(Owner::Typed(n)) = owner {
                    self.typed.remove(&n);
                }
                if !self.quiet {
                    let name = owner.map_or_else(|| format!("@{offset}"), owner_name);
                    let cached = self
                        .e
                        .manager()
                        .arenas()
                        .find(|a| a.offset == offset && a.cached);
                    let not_cached = match lists_before {
                        Some((bytes, same)) if cached.is_none() => explain::not_cached(
                            self.e.manager().capacity(),
                            size_before,
                            bytes,
                            same,
                        ),
                        _ => String::new(),
                    };
                    let merged = match self.e.manager().config().coalescing {
                        _ if cached.is_some() => explain::cached_free(cached.map_or(0, |a| a.size)),
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
                    self.log.push(format!(
                        "✓ free {name} at offset {offset}{not_cached}{merged}"
                    ));
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
