//! What a session drives: the plain arena manager (offsets: the classic
//! model, plus `relocate`), or a [`Movable`] manager (allocations named by
//! handles, so they can move in bounded passes). Both are read through the
//! same [`ArenaManager`] view; the engine speaks offsets to the session in
//! both cases and keeps the offset → handle map for a `Movable`.

use std::collections::HashMap;

use sysarena::{
    AllocError, ArenaManager, Config, DefragReport, FreeError, Handle, HandleError, HandleSlot,
    Movable, Move, MoveStatus, PassLimits, PassPlan, PassReport, PlannedMove, Reallocation,
    RelocationReport, Slot, TableError,
};

pub use crate::managers::{Handles, Manager};

/// The manager behind a session.
#[derive(Debug)]
pub enum Engine {
    /// Offsets; the configuration may change at any time.
    Plain(Box<Manager>),
    /// Handles; the configuration is fixed when it is made.
    Movable {
        /// The manager.
        m: Box<Handles>,
        /// Live allocation's offset → its handle.
        at: HashMap<usize, Handle>,
    },
}

/// A refusal or failure, in the core's words.
fn handle_words(e: HandleError) -> String {
    match e {
        HandleError::Alloc(a) => a.to_string(),
        other => other.to_string(),
    }
}

impl Engine {
    /// A fresh engine over `capacity` bytes and `descriptors` descriptors.
    ///
    /// # Errors
    /// The table size, when the core refuses it.
    pub fn new(
        capacity: usize,
        descriptors: usize,
        config: Config,
        handles: bool,
    ) -> Result<Engine, TableError> {
        let m = ArenaManager::from_table(vec![Slot::EMPTY; descriptors], capacity, config)?;
        if !handles {
            return Ok(Engine::Plain(Box::new(m)));
        }
        let mv = Movable::from_parts(m, vec![HandleSlot::EMPTY; descriptors])
            .map_err(|_| TableError::BadTableSize { len: descriptors })?;
        Ok(Engine::Movable {
            m: Box::new(mv),
            at: HashMap::new(),
        })
    }

    /// The arena manager, read only.
    pub fn manager(&self) -> &Manager {
        match self {
            Engine::Plain(m) => m,
            Engine::Movable { m, .. } => m.manager(),
        }
    }

    /// Whether allocations are named by handles.
    pub fn has_handles(&self) -> bool {
        matches!(self, Engine::Movable { .. })
    }

    /// Allocates; returns the offset and the arena's size.
    ///
    /// # Errors
    /// The core's [`AllocError`]; for a `Movable`, a handle-table refusal
    /// in words.
    pub fn alloc(
        &mut self,
        size: usize,
        align: usize,
    ) -> Result<(usize, usize), Result<AllocError, String>> {
        match self {
            Engine::Plain(m) => m
                .alloc(size, align)
                .map(|a| (a.offset(), a.size()))
                .map_err(Ok),
            Engine::Movable { m, at } => match m.alloc(size, align) {
                Ok(h) => {
                    let info = m.info(h).map_err(|e| Err(handle_words(e)))?;
                    at.insert(info.offset, h);
                    Ok((info.offset, info.size))
                }
                Err(HandleError::Alloc(e)) => Err(Ok(e)),
                Err(e) => Err(Err(handle_words(e))),
            },
        }
    }

    /// Frees the allocation at `offset`.
    ///
    /// # Errors
    /// Why not, in the core's words.
    pub fn free(&mut self, offset: usize) -> Result<(), String> {
        match self {
            Engine::Plain(m) => m.free(offset).map_err(|e| e.to_string()),
            Engine::Movable { m, at } => {
                let Some(&h) = at.get(&offset) else {
                    let e = if offset >= m.capacity() {
                        FreeError::OutOfRegion { offset }
                    } else if m.manager().arena_at(offset).is_some_and(|a| !a.in_use) {
                        FreeError::DoubleFree { offset }
                    } else {
                        FreeError::NotAllocated { offset }
                    };
                    return Err(e.to_string());
                };
                m.free(h).map_err(handle_words)?;
                at.remove(&offset);
                Ok(())
            }
        }
    }

    /// Resizes the allocation at `offset` (a trace's realloc).
    ///
    /// # Errors
    /// Why not, in the core's words.
    pub fn realloc(&mut self, offset: usize, size: usize) -> Result<Reallocation, String> {
        match self {
            Engine::Plain(m) => m.realloc(offset, size, 1).map_err(|e| e.to_string()),
            Engine::Movable { m, at } => {
                let h = *at
                    .get(&offset)
                    .ok_or_else(|| FreeError::NotAllocated { offset }.to_string())?;
                let r = m.resize(h, size).map_err(handle_words)?;
                at.remove(&offset);
                at.insert(r.offset, h);
                Ok(r)
            }
        }
    }

    /// Frees every cached arena of the quick lists for real; false for a
    /// `Movable`, which flushes them itself (before out of memory,
    /// defragment and passes) and offers no flush of its own.
    pub fn flush(&mut self) -> bool {
        match self {
            Engine::Plain(m) => {
                m.flush_quick_lists();
                true
            }
            Engine::Movable { .. } => false,
        }
    }

    /// The classic defragment.
    pub fn defragment(&mut self) -> DefragReport {
        match self {
            Engine::Plain(m) => m.defragment(),
            Engine::Movable { m, .. } => m.defragment(),
        }
    }

    /// Slides every movable allocation down; `on_move` hears each move in
    /// address order.
    ///
    /// # Errors
    /// Why not, in the core's words.
    pub fn relocate(&mut self, mut on_move: impl FnMut(Move)) -> Result<RelocationReport, String> {
        match self {
            Engine::Plain(m) => m.relocate(on_move).map_err(|e| match e {
                TableError::NoSpareDescriptor => "the new layout needs a free arena (alignment padding in front of an aligned block) and the table has no spare descriptor; `defrag` cannot help (relocation already takes back every free arena's descriptor): a larger table (the descriptors setting) can".to_owned(),
                other => other.to_string(),
            }),
            Engine::Movable { m, at } => {
                let mut moved = Vec::new();
                let r = m
                    .relocate(|h, mv| {
                        moved.push((h, mv));
                        on_move(mv);
                    })
                    .map_err(handle_words)?;
                // In address order, each destination below every block not
                // yet moved: renaming in order never collides.
                for (h, mv) in moved {
                    at.remove(&mv.from);
                    at.insert(mv.to, h);
                }
                Ok(r)
            }
        }
    }

    /// One bounded defragmentation pass of at most `max_moves` moves, every
    /// move carried out (the page has no bytes to copy); `on_move` hears
    /// each committed move.
    ///
    /// # Errors
    /// The plain manager has no passes; a `Movable` refusal in words.
    pub fn pass(
        &mut self,
        max_moves: usize,
        mut on_move: impl FnMut(Move),
    ) -> Result<(PassPlan, PassReport), String> {
        let Engine::Movable { m, at } = self else {
            return Err(
                "passes move allocations by handle: turn on handles in the settings (`handles=1`)"
                    .to_owned(),
            );
        };
        let mut buf = vec![PlannedMove::EMPTY; max_moves.clamp(1, 4096)];
        let plan = m
            .begin_pass(PassLimits::new(max_moves, usize::MAX), &mut buf)
            .map_err(handle_words)?;
        for mv in &mut buf[..plan.moves] {
            mv.status = MoveStatus::Done;
        }
        let report = m.end_pass(&buf[..plan.moves]).map_err(handle_words)?;
        // The moves of a pass are independent (no destination overlaps
        // another allocation): take every source out, then put every
        // destination in.
        let done: Vec<&PlannedMove> = buf[..plan.moves]
            .iter()
            .filter(|mv| m.offset(mv.handle) == Ok(mv.to))
            .collect();
        for mv in &done {
            at.remove(&mv.from);
        }
        for mv in done {
            at.insert(mv.to, mv.handle);
            on_move(mv.as_move());
        }
        Ok((plan, report))
    }

    /// Changes the configuration; `false` when a `Movable` cannot.
    pub fn set_config(&mut self, c: Config) -> bool {
        match self {
            Engine::Plain(m) => {
                m.set_config(c);
                true
            }
            Engine::Movable { .. } => false,
        }
    }
}
