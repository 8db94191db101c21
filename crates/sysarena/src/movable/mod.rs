//! [`Movable`]: allocations named by stable handles, so that they can move —
//! defragmentation that closes the holes between live allocations.
//!
//! The classic [`defragment`](crate::ArenaManager::defragment) only merges
//! free neighbours: a hole between two live arenas stays a hole. Closing it
//! means moving live data, and that needs two things the offset API lacks:
//! a name for an allocation that survives the move (a [`Handle`]), and a
//! way to move bytes the manager cannot touch (a plan of moves the caller
//! carries out: a `memmove`, a GPU copy command, a file-range copy).
//!
//! One concept per file:
//! - here: the [`Movable`] type, its construction and what it shows
//!   (stats, live handles, the invariant walk);
//! - `allocations`: allocating, freeing, resizing and pinning by handle;
//! - `relocation`: moving live allocations — all at once
//!   ([`Movable::relocate`]) or in bounded passes
//!   ([`Movable::begin_pass`] / [`Movable::end_pass`]);
//! - `entries`: the handle table's upkeep (the free list of entries,
//!   generations).
//!
//! The words handles and passes are spoken in — [`Handle`],
//! [`PassLimits`](crate::pass::PassLimits), [`PlannedMove`](crate::pass::PlannedMove), … —
//! live in the leaf modules [`handle`](crate::handle) and
//! [`pass`](crate::pass).

use core::fmt;

use crate::config::Config;
use crate::error::{HandleError, InvariantError};
use crate::handle::{Handle, HandleSlot, HandleStorage};
use crate::manager::ArenaManager;
use crate::pass::MoveStats;
use crate::stats::Stats;
use crate::table::{NIL, Slot, TAG_INDEX, TableStorage};

mod allocations;
mod entries;
mod relocation;

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
/// - [`relocate`](Self::relocate): everything at once, in one O(arenas) walk;
///   the moves come in an order that is safe to carry out one after the
///   other, and must all be carried out.
/// - passes, bounded in moves and bytes: [`begin_pass`](Self::begin_pass)
///   writes independent moves into a caller's buffer and reserves their
///   destinations; the caller copies, marks each move done, skipped or
///   cancelled, and [`end_pass`](Self::end_pass) commits the new layout. The
///   manager stays usable during a pass — allocate, free, resize, pin — but
///   the allocations being moved cannot be freed, resized or pinned until
///   the pass ends ([`HandleError::Moving`]), so a move carried out and
///   handed back as done is always committed. Repeated passes end:
///   [`PassPlan::progress`](crate::PassPlan::progress) says after each plan
///   whether there is more to do, the layout is done, or the limits allow
///   no move at all.
///
/// Pinned allocations ([`pin`](Self::pin)) never move; both ways work
/// around them.
///
/// # Example: a pass of moves over a region the CPU does not touch
///
/// ```
/// use sysarena::{Movable, MoveStatus, PassLimits, PassProgress, PlannedMove};
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
///     match plan.progress() {
///         PassProgress::Moving => continue,   // more to do
///         PassProgress::Converged => break,   // done
///         PassProgress::Blocked => break,     // the limits allow no move
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
    /// handles, both tables inline.
    ///
    /// `N` and `H` are checked when the program is compiled: `N` in
    /// `1..u32::MAX - 1`, `H` in `1..2³⁰`. A table of no handles does not
    /// build (it would have to panic at run time):
    ///
    /// ```compile_fail,E0080
    /// let m = sysarena::Movable::<8, 0>::new(100);
    /// ```
    ///
    /// # Time complexity
    /// O(N + H): both tables are built on the stack.
    pub fn new(capacity: usize) -> Self {
        Self::with_config(capacity, Config::default())
    }

    /// A manager with `config`; see [`new`](Self::new).
    ///
    /// # Time complexity
    /// O(N + H).
    pub fn with_config(capacity: usize, config: Config) -> Self {
        const {
            assert!(
                H > 0 && H <= TAG_INDEX as usize,
                "H, the handle table's size, must be in 1..2^30"
            )
        };
        Self::from_parts(
            ArenaManager::with_config(capacity, config),
            [HandleSlot::EMPTY; H],
        )
        .expect("H is checked when the program is compiled")
    }
}

impl<const N: usize, const H: usize, S: TableStorage, T: HandleStorage> Movable<N, H, S, T> {
    /// A manager from its parts: an arena manager (any table storage) and a
    /// handle table (its entries are reset). Allocations the manager already
    /// holds have no handle: they never move.
    ///
    /// A `Movable` finds every allocation by its handle's hint (the number
    /// of its descriptor, kept right through every move and table
    /// compaction), never by offset, so its manager keeps no offset map
    /// ([`ArenaManager::set_offset_map`]`(false)`): no split, merge or move
    /// pays for one. [`manager`](Self::manager)`().arena_at` therefore walks
    /// the arenas.
    ///
    /// # Time complexity
    /// O(handles), plus O(arenas) to release a pass's reservations the
    /// manager may hold, plus O(map size) to drop its offset map.
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
        manager.set_offset_map(false);
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

    /// Sets the manager's origin (see
    /// [`ArenaManager::set_origin`](crate::ArenaManager::set_origin)).
    pub(crate) fn set_origin(&mut self, origin: usize) -> Result<(), crate::TableError> {
        self.manager.set_origin(origin)
    }

    /// The arena manager underneath (read only: its arenas, table, stats).
    ///
    /// # Time complexity
    /// O(1).
    pub fn manager(&self) -> &ArenaManager<N, S> {
        &self.manager
    }

    /// The manager's [`Stats`].
    ///
    /// # Time complexity
    /// As [`ArenaManager::stats`](crate::ArenaManager::stats): O(1) but for a
    /// rare walk of the highest non-empty size class.
    pub fn stats(&self) -> Stats {
        self.manager.stats()
    }

    /// Totals of moves over the manager's life.
    ///
    /// # Time complexity
    /// O(1).
    pub fn move_stats(&self) -> MoveStats {
        self.totals
    }

    /// Live handles.
    ///
    /// # Time complexity
    /// O(1): a count kept up to date, not a walk of the table.
    pub fn live(&self) -> usize {
        self.live
    }

    /// The handle table's size.
    ///
    /// # Time complexity
    /// O(1).
    pub fn handle_capacity(&self) -> usize {
        self.handles.as_ref().len()
    }

    /// The region's capacity in bytes.
    ///
    /// # Time complexity
    /// O(1).
    pub fn capacity(&self) -> usize {
        self.manager.capacity()
    }

    /// The live handles, in table order.
    ///
    /// # Time complexity
    /// O(1) to create; iterating to the end walks every handle entry ever
    /// used: O(handles).
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
    ///
    /// # Time complexity
    /// O(arenas + descriptors), as
    /// [`ArenaManager::check_invariants`](crate::ArenaManager::check_invariants),
    /// plus O(1) per handle entry ever used: O(handles).
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
            if self.manager.in_use_descriptor(e.offset, e.link) != Some(e.link) {
                return Err(InvariantError {
                    what: "a live handle's hint does not name its in-use arena",
                    slot: Some(i),
                });
            }
            if self.manager.tag_at(e.offset, e.link) != Some(i as u32) {
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
