//! Relocation: moving live allocations to close the holes between them —
//! everything at once ([`Movable::relocate`]) or in bounded passes the
//! caller carries out ([`Movable::begin_pass`], [`Movable::end_pass`]).
//! The planning itself is the arena manager's (it owns the table); this
//! file keeps the handles in step with it.

use core::cell::Cell;

use super::{ActivePass, Movable};
use crate::error::HandleError;
use crate::handle::{Handle, HandleStorage};
use crate::manager::passes::Finish;
use crate::pass::{MoveStatus, PassLimits, PassPlan, PassReport, PlannedMove};
use crate::stats::{DefragReport, Move, RelocationReport};
use crate::table::{NIL, TableStorage};

impl<const N: usize, const H: usize, S: TableStorage, T: HandleStorage> Movable<N, H, S, T> {
    /// The classic defragment (merge free neighbours, compact the table);
    /// nothing moves. Allowed during a pass. A handle whose allocation's
    /// descriptor the compaction moved gets its hint renewed, so that frees
    /// and reallocs by handle keep skipping the offset map.
    ///
    /// # Time complexity
    /// O(arenas + descriptors), as [`ArenaManager::defragment`](crate::ArenaManager::defragment).
    pub fn defragment(&mut self) -> DefragReport {
        let Movable {
            manager, handles, ..
        } = self;
        let entries = handles.as_mut();
        manager.defragment_renaming(|tag, to| {
            if let Some(e) = entries.get_mut(tag as usize)
                && e.live
            {
                e.link = to;
            }
        })
    }

    /// Defragments by moving everything that is not pinned, at once: see
    /// [`ArenaManager::relocate`](crate::ArenaManager::relocate). `on_move`
    /// gets each move in an order that is safe to carry out one after the
    /// other (as `memmove`), and must carry out every one before the memory
    /// is used again; the handles already name the new places. With nothing
    /// pinned, all free space ends as one arena at the end of the region
    /// (but alignment padding that cannot be closed).
    ///
    /// # Errors
    /// [`HandleError::PassActive`] during a pass;
    /// [`HandleError::NoSpareDescriptor`] when the new layout needs a
    /// descriptor the table lacks. On error nothing moves.
    ///
    /// # Time complexity
    /// O(arenas), plus one `on_move` call per move.
    pub fn relocate(
        &mut self,
        mut on_move: impl FnMut(Handle, Move),
    ) -> Result<RelocationReport, HandleError> {
        if self.pass.is_some() {
            return Err(HandleError::PassActive);
        }
        let Movable {
            manager, handles, ..
        } = self;
        // Both callbacks read the table and the second writes it: cells.
        let entries = Cell::from_mut(handles.as_mut()).as_slice_of_cells();
        let report = manager
            .relocate_where(
                |tag| {
                    tag != NIL
                        && entries
                            .get(tag as usize)
                            .is_some_and(|e| e.get().live && e.get().pins == 0)
                },
                |tag, mv| {
                    let cell = &entries[tag as usize];
                    let mut e = cell.get();
                    e.offset = mv.to;
                    cell.set(e);
                    on_move(Handle::new(tag, e.generation), mv);
                },
            )
            .map_err(|_| HandleError::NoSpareDescriptor)?;
        self.totals.relocations += 1;
        self.totals.moves += report.moved as u64;
        self.totals.bytes_moved += report.bytes_moved as u64;
        Ok(report)
    }

    /// The old name of [`relocate`](Self::relocate): in sysarena's words,
    /// *compaction* is the arena table's (spare descriptors to the end);
    /// moving live allocations is *relocation*.
    ///
    /// # Errors
    /// As [`relocate`](Self::relocate).
    ///
    /// # Time complexity
    /// As [`relocate`](Self::relocate).
    #[deprecated(
        since = "0.1.0",
        note = "renamed to `relocate` (compaction is the table's)"
    )]
    pub fn compact(
        &mut self,
        on_move: impl FnMut(Handle, Move),
    ) -> Result<RelocationReport, HandleError> {
        self.relocate(on_move)
    }

    /// Begins a defragmentation pass: plans at most `limits` worth of moves
    /// into `moves` (the first [`PassPlan::moves`] entries) and reserves
    /// their destinations. Carry out the moves (see [`PlannedMove`]: any
    /// order, `memmove` semantics), mark each one's
    /// [`status`](PlannedMove::status), then call
    /// [`end_pass`](Self::end_pass) with them.
    ///
    /// Free neighbours are merged first. Then the planner moves the
    /// allocations at the top of the region, highest first, into the lowest
    /// free arenas they fit in; and, bottom up, slides an allocation straight
    /// to where a full compaction would put it when the bytes in between are
    /// free now (its destination may overlap its own old place). A slid
    /// allocation is where it belongs and does not move again; the price is
    /// that a run of allocations behind a hole that nothing fits settles one
    /// allocation per pass. While the pass is open the reservations count as in use in
    /// [`stats`](Self::stats).
    ///
    /// An allocation whose move alone would pass
    /// [`PassLimits::max_bytes`] stays, and planning goes on with the
    /// others. The plan's [`progress`](PassPlan::progress) tells the caller's
    /// loop what to do next: [`Moving`](crate::PassProgress::Moving) (carry
    /// out, end, plan again), [`Converged`](crate::PassProgress::Converged)
    /// (done) or [`Blocked`](crate::PassProgress::Blocked) (nothing can move
    /// under these limits; another pass plans nothing until the heap or the
    /// limits change). Even an empty plan opens a pass: end it.
    ///
    /// # Time complexity
    /// O(arenas), plus the reservations.
    ///
    /// # Errors
    /// [`HandleError::PassActive`] if a pass is already open.
    pub fn begin_pass(
        &mut self,
        limits: PassLimits,
        moves: &mut [PlannedMove],
    ) -> Result<PassPlan, HandleError> {
        if self.pass.is_some() {
            return Err(HandleError::PassActive);
        }
        let before = self.manager.stats();
        let Movable {
            manager, handles, ..
        } = self;
        let entries = handles.as_ref();
        let plan = manager.plan_pass(&limits, moves, |tag| {
            let e = entries.get(tag as usize)?;
            (e.live && e.pins == 0).then_some(Handle::new(tag, e.generation))
        });
        self.pass = Some(ActivePass {
            reserved: plan.moves,
            free_arenas_before: before.free_arenas,
            largest_free_before: before.largest_free,
        });
        Ok(plan)
    }

    /// Ends the open pass: commits every move marked
    /// [`Done`](MoveStatus::Done) whose allocation is still where the plan
    /// found it and not pinned, frees the other reservations, and pins the
    /// allocations of [`Cancelled`](MoveStatus::Cancelled) moves. Entries
    /// the pass did not plan are counted as rejected and change nothing;
    /// planned moves left out of `moves` are skipped.
    ///
    /// # Errors
    /// [`HandleError::NoPass`] if no pass is open.
    ///
    /// # Time complexity
    /// O(`moves.len()`): each move is finished in O(1) (its descriptor is
    /// its handle's hint); plus, when some planned moves were not handed
    /// back, one walk of the arenas to free their reservations (O(arenas));
    /// plus one [`stats`](Self::stats) for the report.
    pub fn end_pass(&mut self, moves: &[PlannedMove]) -> Result<PassReport, HandleError> {
        let Some(pass) = self.pass.take() else {
            return Err(HandleError::NoPass);
        };
        let mut report = PassReport {
            free_arenas_before: pass.free_arenas_before,
            largest_free_before: pass.largest_free_before,
            ..PassReport::default()
        };
        let mut returned = 0;
        for mv in moves {
            // The allocation's entry: live and of the move's generation. A
            // stale or made-up handle names no entry, so its move is
            // `Missing` (rejected, and nothing changes), even where its
            // index is that of a planned move: the manager checks the
            // move against the descriptor by the index alone (its tag).
            let entry = self.live_entry(mv.handle).ok();
            let handle_ok = entry.is_some_and(|e| e.pins == 0);
            let commit = mv.status == MoveStatus::Done && handle_ok;
            // The allocation's descriptor: the entry's hint.
            let x = entry.map_or(NIL, |e| e.link);
            match self.manager.finish_move(mv, x, commit) {
                Finish::Missing => {
                    report.rejected += 1;
                    continue;
                }
                Finish::Committed(hint) => {
                    let e = self.entry_mut(mv.handle.index());
                    e.offset = mv.to;
                    e.link = hint;
                    report.done += 1;
                    report.bytes_moved += mv.len;
                }
                Finish::Released => match mv.status {
                    MoveStatus::Done => report.rejected += 1,
                    MoveStatus::Cancelled => {
                        if handle_ok {
                            self.entry_mut(mv.handle.index()).pins = 1;
                        }
                        report.cancelled += 1;
                    }
                    MoveStatus::Pending | MoveStatus::Skipped => report.skipped += 1,
                },
            }
            returned += 1;
        }
        if returned < pass.reserved {
            report.unreturned = self.manager.release_reservations();
            report.skipped += report.unreturned;
        }
        let after = self.manager.stats();
        report.free_arenas_after = after.free_arenas;
        report.largest_free_after = after.largest_free;
        self.totals.passes += 1;
        self.totals.moves += report.done as u64;
        self.totals.bytes_moved += report.bytes_moved as u64;
        Ok(report)
    }

    /// Whether a pass is open.
    ///
    /// # Time complexity
    /// O(1).
    pub fn pass_active(&self) -> bool {
        self.pass.is_some()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use crate::handle::Handle;
    use crate::movable::Movable;
    use crate::pass::{MoveStatus, PassLimits, PlannedMove};

    /// How many live handles' entries hold the descriptor that describes
    /// their allocation now (a hint that skips the offset map).
    fn right_hints<const N: usize, const H: usize>(m: &Movable<N, H>, hs: &[Handle]) -> usize {
        hs.iter()
            .filter(|h| {
                let e = m.live_entry(**h).unwrap();
                m.manager.arena_at(e.offset).map(|a| a.slot as u32) == Some(e.link)
            })
            .count()
    }

    /// Ten 100-byte blocks with two pairs of neighbours freed (merged, so
    /// that descriptors in the middle of the table are spare): the live
    /// blocks' handles.
    fn holes<const N: usize, const H: usize>(m: &mut Movable<N, H>) -> Vec<Handle> {
        let hs: Vec<_> = (0..10).map(|_| m.alloc(100, 1).unwrap()).collect();
        let mut live = Vec::new();
        for (k, h) in hs.into_iter().enumerate() {
            if matches!(k, 2 | 3 | 6 | 7) {
                m.free(h).unwrap();
            } else {
                live.push(h);
            }
        }
        live
    }

    #[test]
    fn a_defragment_that_compacts_the_table_renews_every_hint() {
        let mut m = Movable::<32, 32>::new(1000);
        let live = holes(&mut m);
        assert_eq!(right_hints(&m, &live), live.len());
        let report = m.defragment();
        assert!(report.compacted > 0, "{report:?}");
        assert_eq!(right_hints(&m, &live), live.len());
        m.check_invariants().unwrap();
        for h in live {
            m.free(h).unwrap();
        }
        m.check_invariants().unwrap();
    }

    /// A `defragment` during a pass compacts the table under the planned
    /// moves: each moving allocation and its reservation name each other by
    /// descriptor number (the manager keeps no offset map), and the
    /// compaction renews both, so every move still commits.
    #[test]
    fn a_defragment_during_a_pass_keeps_every_planned_move() {
        for config in [crate::Config::default(), crate::Config::fast()] {
            let mut m = Movable::<32, 32>::with_config(1000, config);
            let live = holes(&mut m);
            let mut buf = [PlannedMove::EMPTY; 16];
            let plan = m.begin_pass(PassLimits::UNLIMITED, &mut buf).unwrap();
            assert!(plan.moves > 0);
            let before: Vec<_> = m.manager.table().map(|e| e.arena).collect();
            let report = m.defragment();
            let after: Vec<_> = m.manager.table().map(|e| e.arena).collect();
            assert!(report.compacted > 0 && before != after, "{report:?}");
            m.check_invariants().unwrap();
            for mv in &mut buf[..plan.moves] {
                mv.status = MoveStatus::Done;
            }
            let report = m.end_pass(&buf[..plan.moves]).unwrap();
            assert_eq!(report.done, plan.moves, "{report:?}");
            assert_eq!(report.unreturned, 0);
            assert_eq!(right_hints(&m, &live), live.len());
            m.check_invariants().unwrap();
            for h in live {
                m.free(h).unwrap();
            }
            m.check_invariants().unwrap();
            assert_eq!(m.stats().used_arenas, 0);
        }
    }

    #[test]
    fn a_committed_pass_move_renews_its_hint() {
        let mut m = Movable::<32, 32>::new(1000);
        let live = holes(&mut m);
        let mut buf = [PlannedMove::EMPTY; 16];
        let plan = m.begin_pass(PassLimits::UNLIMITED, &mut buf).unwrap();
        assert!(plan.moves > 0);
        for mv in &mut buf[..plan.moves] {
            mv.status = MoveStatus::Done;
        }
        let report = m.end_pass(&buf[..plan.moves]).unwrap();
        assert_eq!(report.done, plan.moves);
        // Each moved block now lives in its reservation's descriptor.
        assert_eq!(right_hints(&m, &live), live.len());
        m.check_invariants().unwrap();
        for h in live {
            m.realloc(h, 60, 1).unwrap();
            m.free(h).unwrap();
        }
        m.check_invariants().unwrap();
    }
}
