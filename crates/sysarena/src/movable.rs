//! [`Movable`]: allocations named by stable handles, so that they can move —
//! defragmentation that closes the holes between live allocations.
//!
//! The classic [`defragment`](crate::ArenaManager::defragment) only merges
//! free neighbours: a hole between two live arenas stays a hole. Closing it
//! means moving live data, and that needs two things the offset API lacks:
//! a name for an allocation that survives the move (a [`Handle`]), and a
//! way to move bytes the manager cannot touch (a plan of moves the caller
//! carries out: a `memmove`, a GPU copy command, a file-range copy).

use core::cell::Cell;
use core::fmt;

use crate::config::Config;
use crate::error::{HandleError, InvariantError, ReallocError};
use crate::handle::{Handle, HandleSlot, HandleStorage};
use crate::manager::ArenaManager;
use crate::manager::defrag::Finish;
use crate::pass::{MoveStats, MoveStatus, PassLimits, PassPlan, PassReport, PlannedMove};
use crate::stats::{ArenaInfo, DefragReport, Move, Reallocation, RelocationReport, Stats};
use crate::table::{NIL, Slot, TAG_INDEX, TableStorage};

#[derive(Clone, Copy, Debug)]
struct ActivePass {
    reserved: usize,
    free_arenas_before: usize,
    largest_free_before: usize,
}

/// An [`ArenaManager`] whose allocations are named by [`Handle`]s, so that
/// defragmentation can move them: for memory the CPU may not touch (GPU
/// buffers, file space, shared memory) — the caller moves the bytes — and,
/// under [`HandleHeap`](crate::HandleHeap), for RAM.
///
/// Two ways to defragment by moving:
/// - [`compact`](Self::compact): everything at once, in one O(arenas) walk;
///   the moves come in an order that is safe to carry out one after the
///   other, and must all be carried out.
/// - passes, bounded in moves and bytes: [`begin_pass`](Self::begin_pass)
///   writes independent moves into a caller's buffer and reserves their
///   destinations; the caller copies, marks each move done, skipped or
///   cancelled, and [`end_pass`](Self::end_pass) commits the new layout. The
///   manager stays usable during a pass — allocate, free, resize, pin — but
///   the allocations being moved cannot be freed, resized or pinned until
///   the pass ends ([`HandleError::Moving`]), so a move carried out and
///   handed back as done is always committed. Repeated passes converge.
///
/// Pinned allocations ([`pin`](Self::pin)) never move; both ways work
/// around them.
///
/// # Example: a pass of moves over a region the CPU does not touch
///
/// ```
/// use sysarena::{Movable, MoveStatus, PassLimits, PlannedMove};
///
/// let mut m = Movable::<32, 32>::new(1000);
/// let hs: Vec<_> = (0..10).map(|_| m.alloc(100, 1).unwrap()).collect();
/// for h in hs.iter().step_by(2) {
///     m.free(*h)?;
/// }
/// // 500 bytes free in five holes of 100: 200 does not fit, and the
/// // classic defragment cannot help (no two holes touch).
/// assert!(m.alloc(200, 1).is_err());
/// let mut moves = [PlannedMove::EMPTY; 8];
/// loop {
///     let plan = m.begin_pass(PassLimits::new(2, usize::MAX), &mut moves)?;
///     for mv in &mut moves[..plan.moves] {
///         // Copy mv.len bytes from mv.from to mv.to on the device here.
///         mv.status = MoveStatus::Done;
///     }
///     m.end_pass(&moves[..plan.moves])?;
///     if plan.converged() {
///         break;
///     }
/// }
/// assert_eq!(m.stats().largest_free, 500);
/// let big = m.alloc(200, 1)?;
/// assert_eq!(m.offset(big)?, 500);
/// # Ok::<(), sysarena::HandleError>(())
/// ```
pub struct Movable<
    const N: usize,
    const H: usize,
    S: TableStorage = [Slot; N],
    T: HandleStorage = [HandleSlot; H],
> {
    manager: ArenaManager<N, S>,
    handles: T,
    /// Top of the list of freed handle entries.
    free_head: u32,
    /// Entries `[fresh, len)` were never used.
    fresh: u32,
    live: usize,
    pass: Option<ActivePass>,
    totals: MoveStats,
}

impl<const N: usize, const H: usize> Movable<N, H> {
    /// The classic model over `capacity` bytes with `N` descriptors and `H`
    /// handles.
    pub fn new(capacity: usize) -> Self {
        Self::with_config(capacity, Config::default())
    }

    /// A manager with `config`.
    pub fn with_config(capacity: usize, config: Config) -> Self {
        Self::from_parts(
            ArenaManager::with_config(capacity, config),
            [HandleSlot::EMPTY; H],
        )
        .expect("H is checked to fit")
    }
}

impl<const N: usize, const H: usize, S: TableStorage, T: HandleStorage> Movable<N, H, S, T> {
    /// A manager from its parts: an arena manager (any table storage) and a
    /// handle table (its entries are reset). Allocations the manager already
    /// holds have no handle: they never move.
    ///
    /// # Errors
    /// [`HandleError::BadTableSize`] if the handle table is empty or has 2³⁰
    /// entries or more.
    pub fn from_parts(
        mut manager: ArenaManager<N, S>,
        mut handles: T,
    ) -> Result<Self, HandleError> {
        let len = handles.as_ref().len();
        if len == 0 || len > TAG_INDEX as usize {
            return Err(HandleError::BadTableSize { len });
        }
        handles.as_mut().fill(HandleSlot::EMPTY);
        manager.release_reservations();
        Ok(Movable {
            manager,
            handles,
            free_head: NIL,
            fresh: 0,
            live: 0,
            pass: None,
            totals: MoveStats::default(),
        })
    }

    // ----- allocations -------------------------------------------------------

    /// Allocates `size` bytes at `align` and names them with a new handle.
    ///
    /// # Errors
    /// [`HandleError::Alloc`] with the manager's reason, or
    /// [`HandleError::NoSpareHandle`] when the handle table is full. On error
    /// nothing changes.
    pub fn alloc(&mut self, size: usize, align: usize) -> Result<Handle, HandleError> {
        let index = self.take_entry()?;
        let a = match self.manager.alloc_tagged(size, align, index) {
            Ok(a) => a,
            Err(e) => {
                self.put_entry(index);
                return Err(HandleError::Alloc(e));
            }
        };
        let e = self.entry_mut(index);
        e.offset = a.offset();
        e.live = true;
        e.pins = 0;
        self.live += 1;
        Ok(Handle::new(index, self.entry(index).generation))
    }

    /// Frees `handle`'s allocation; the handle (and every copy of it) stops
    /// naming anything.
    ///
    /// # Errors
    /// [`HandleError::Stale`] if it names no live allocation,
    /// [`HandleError::Pinned`] if it is pinned, [`HandleError::Moving`] if
    /// the open pass plans to move it. On error nothing changes.
    pub fn free(&mut self, handle: Handle) -> Result<(), HandleError> {
        let e = self.changeable_entry(handle)?;
        self.manager
            .free(e.offset)
            .expect("a live handle names an in-use arena");
        self.put_entry(handle.index());
        self.live -= 1;
        Ok(())
    }

    /// Resizes `handle`'s allocation (see
    /// [`ArenaManager::realloc`](crate::ArenaManager::realloc)); the handle
    /// stays. When the result says it moved, copy `copy_len` bytes from
    /// `moved_from` to its offset, as `memmove`.
    ///
    /// # Errors
    /// [`HandleError::Stale`], [`HandleError::Pinned`] (a pinned allocation
    /// keeps its size: it might move), [`HandleError::Moving`], or
    /// [`HandleError::Alloc`]. On error nothing changes.
    pub fn realloc(
        &mut self,
        handle: Handle,
        new_size: usize,
        align: usize,
    ) -> Result<Reallocation, HandleError> {
        let e = self.changeable_entry(handle)?;
        let r = self
            .manager
            .realloc(e.offset, new_size, align)
            .map_err(|e| match e {
                ReallocError::Alloc(a) => HandleError::Alloc(a),
                ReallocError::Free(_) => HandleError::Stale { handle },
            })?;
        // A moved arena keeps its tag (the manager carries it).
        if r.moved_from.is_some() {
            self.entry_mut(handle.index()).offset = r.offset;
        }
        Ok(r)
    }

    /// Resizes `handle`'s allocation keeping the alignment it was allocated
    /// with; see [`realloc`](Self::realloc).
    ///
    /// # Errors
    /// As [`realloc`](Self::realloc).
    pub fn resize(&mut self, handle: Handle, new_size: usize) -> Result<Reallocation, HandleError> {
        let e = self.live_entry(handle)?;
        let align = self
            .manager
            .align_at(e.offset)
            .ok_or(HandleError::Stale { handle })?;
        self.realloc(handle, new_size, align)
    }

    /// Sets the manager's origin (see
    /// [`ArenaManager::set_origin`](crate::ArenaManager::set_origin)).
    pub(crate) fn set_origin(&mut self, origin: usize) {
        self.manager.set_origin(origin);
    }

    /// Where `handle`'s allocation is now.
    ///
    /// # Errors
    /// [`HandleError::Stale`].
    pub fn offset(&self, handle: Handle) -> Result<usize, HandleError> {
        Ok(self.live_entry(handle)?.offset)
    }

    /// `handle`'s arena: offset, size, bytes requested.
    ///
    /// # Errors
    /// [`HandleError::Stale`].
    pub fn info(&self, handle: Handle) -> Result<ArenaInfo, HandleError> {
        let e = self.live_entry(handle)?;
        Ok(self
            .manager
            .arena_at(e.offset)
            .expect("a live handle names an in-use arena"))
    }

    /// Pins `handle`'s allocation: it does not move (and cannot be freed or
    /// resized) until as many [`unpin`](Self::unpin)s. Returns its offset,
    /// valid while pinned.
    ///
    /// # Errors
    /// [`HandleError::Stale`], [`HandleError::Moving`] if the open pass plans
    /// to move it (the caller may be copying it), or
    /// [`HandleError::PinOverflow`] after 2³² − 1 pins.
    pub fn pin(&mut self, handle: Handle) -> Result<usize, HandleError> {
        let e = self.live_entry(handle)?;
        if self.pass.is_some() && self.manager.is_moving(e.offset) {
            return Err(HandleError::Moving { handle });
        }
        let pins = e
            .pins
            .checked_add(1)
            .ok_or(HandleError::PinOverflow { handle })?;
        self.entry_mut(handle.index()).pins = pins;
        Ok(e.offset)
    }

    /// Undoes one [`pin`](Self::pin).
    ///
    /// # Errors
    /// [`HandleError::Stale`], or [`HandleError::NotPinned`].
    pub fn unpin(&mut self, handle: Handle) -> Result<(), HandleError> {
        let e = self.live_entry(handle)?;
        if e.pins == 0 {
            return Err(HandleError::NotPinned { handle });
        }
        self.entry_mut(handle.index()).pins -= 1;
        Ok(())
    }

    /// Whether `handle`'s allocation is pinned.
    ///
    /// # Errors
    /// [`HandleError::Stale`].
    pub fn is_pinned(&self, handle: Handle) -> Result<bool, HandleError> {
        Ok(self.live_entry(handle)?.pins > 0)
    }

    // ----- defragmentation -----------------------------------------------------

    /// The classic defragment (merge free neighbours, compact the table);
    /// nothing moves. Allowed during a pass.
    pub fn defragment(&mut self) -> DefragReport {
        self.manager.defragment()
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
    pub fn compact(
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
        self.totals.compactions += 1;
        self.totals.moves += report.moved as u64;
        self.totals.bytes_moved += report.bytes_moved as u64;
        Ok(report)
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
            let handle_ok = self.live_entry(mv.handle).is_ok_and(|e| e.pins == 0);
            let commit = mv.status == MoveStatus::Done && handle_ok;
            match self.manager.finish_move(mv, commit) {
                Finish::Missing => {
                    report.rejected += 1;
                    continue;
                }
                Finish::Committed => {
                    self.entry_mut(mv.handle.index()).offset = mv.to;
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
    pub fn pass_active(&self) -> bool {
        self.pass.is_some()
    }

    // ----- looking -------------------------------------------------------------

    /// The arena manager underneath (read only: its arenas, table, stats).
    pub fn manager(&self) -> &ArenaManager<N, S> {
        &self.manager
    }

    /// The manager's [`Stats`].
    pub fn stats(&self) -> Stats {
        self.manager.stats()
    }

    /// Totals of moves over the manager's life.
    pub fn move_stats(&self) -> MoveStats {
        self.totals
    }

    /// Live handles.
    pub fn live(&self) -> usize {
        self.live
    }

    /// The handle table's size.
    pub fn handle_capacity(&self) -> usize {
        self.handles.as_ref().len()
    }

    /// The region's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.manager.capacity()
    }

    /// The live handles, in table order.
    pub fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.handles.as_ref()[..self.fresh as usize]
            .iter()
            .enumerate()
            .filter(|(_, e)| e.live)
            .map(|(i, e)| Handle::new(i as u32, e.generation))
    }

    /// The manager's [`check_invariants`](ArenaManager::check_invariants),
    /// and: every live handle names an in-use arena tagged with it, and no
    /// two handles name one arena.
    ///
    /// # Errors
    /// The first broken invariant found (a bug in sysarena).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        self.manager.check_invariants()?;
        let mut live = 0;
        for (i, e) in self.handles.as_ref()[..self.fresh as usize]
            .iter()
            .enumerate()
        {
            if !e.live {
                continue;
            }
            live += 1;
            if self.manager.tag_at(e.offset) != Some(i as u32) {
                return Err(InvariantError {
                    what: "a live handle does not name an in-use arena tagged with it",
                    slot: Some(i),
                });
            }
        }
        if live != self.live {
            return Err(InvariantError {
                what: "live handle count is off",
                slot: None,
            });
        }
        Ok(())
    }

    // ----- the handle table ------------------------------------------------------

    fn entry(&self, index: u32) -> &HandleSlot {
        &self.handles.as_ref()[index as usize]
    }

    fn entry_mut(&mut self, index: u32) -> &mut HandleSlot {
        &mut self.handles.as_mut()[index as usize]
    }

    /// The entry `handle` names, if it is live and of its generation.
    fn live_entry(&self, handle: Handle) -> Result<HandleSlot, HandleError> {
        match self.handles.as_ref().get(handle.index() as usize) {
            Some(e) if e.live && e.generation == handle.generation() => Ok(*e),
            _ => Err(HandleError::Stale { handle }),
        }
    }

    /// The entry of `handle` if its allocation may be freed or resized: live,
    /// not pinned, no move planned.
    fn changeable_entry(&self, handle: Handle) -> Result<HandleSlot, HandleError> {
        let e = self.live_entry(handle)?;
        if e.pins > 0 {
            return Err(HandleError::Pinned { handle });
        }
        if self.pass.is_some() && self.manager.is_moving(e.offset) {
            return Err(HandleError::Moving { handle });
        }
        Ok(e)
    }

    fn take_entry(&mut self) -> Result<u32, HandleError> {
        if self.free_head != NIL {
            let i = self.free_head;
            self.free_head = self.entry(i).next_free;
            return Ok(i);
        }
        let len = self.handles.as_ref().len();
        if (self.fresh as usize) < len {
            let i = self.fresh;
            self.fresh += 1;
            return Ok(i);
        }
        Err(HandleError::NoSpareHandle { handles: len })
    }

    /// Returns entry `index` to the free list; its generation moves on so
    /// that old handles to it go stale.
    fn put_entry(&mut self, index: u32) {
        let head = self.free_head;
        let e = self.entry_mut(index);
        if e.live {
            e.generation = e.generation.wrapping_add(1);
        }
        e.live = false;
        e.pins = 0;
        e.next_free = head;
        self.free_head = index;
    }
}

impl<const N: usize, const H: usize, S: TableStorage, T: HandleStorage> fmt::Debug
    for Movable<N, H, S, T>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Movable")
            .field("manager", &self.manager)
            .field("live", &self.live)
            .field("pass_active", &self.pass.is_some())
            .field("totals", &self.totals)
            .finish()
    }
}
