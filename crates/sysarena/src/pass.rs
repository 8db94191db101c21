//! The vocabulary of relocation in passes: what a caller asks of one pass
//! ([`PassLimits`]), what the planner answers ([`PassPlan`], [`PassStop`]),
//! the moves it plans ([`PlannedMove`]) and what the caller did with each
//! ([`MoveStatus`]), what the pass did ([`PassReport`]) and the totals over
//! a manager's life ([`MoveStats`]).
//!
//! A *pass* is one bounded round of relocation: the planner writes moves
//! into the caller's buffer and reserves their destinations, the caller
//! carries them out in any order (a `memmove`, a GPU copy, a file-range
//! copy), marks each one, and ending the pass commits the new layout. See
//! [`Movable::begin_pass`](crate::Movable::begin_pass).
//!
//! A leaf module: it names only [`Handle`] and [`Move`], so the arena
//! manager's planner and the [`Movable`](crate::Movable) front both build
//! on it without importing each other.

use crate::handle::Handle;
use crate::stats::Move;

/// How much one defragmentation pass may plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassLimits {
    /// At most this many moves (the move buffer's length bounds it too).
    pub max_moves: usize,
    /// At most this many bytes moved in total.
    pub max_bytes: usize,
}

impl PassLimits {
    /// No limit but the move buffer.
    pub const UNLIMITED: PassLimits = PassLimits {
        max_moves: usize::MAX,
        max_bytes: usize::MAX,
    };

    /// At most `max_moves` moves and `max_bytes` bytes.
    ///
    /// # Time complexity
    /// O(1).
    pub const fn new(max_moves: usize, max_bytes: usize) -> Self {
        PassLimits {
            max_moves,
            max_bytes,
        }
    }
}

impl Default for PassLimits {
    fn default() -> Self {
        PassLimits::UNLIMITED
    }
}

/// What the caller did with one planned move. Set it in the move buffer
/// before [`Movable::end_pass`](crate::Movable::end_pass).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MoveStatus {
    /// Not marked yet; ending the pass treats it as [`Skipped`](Self::Skipped).
    #[default]
    Pending,
    /// The caller copied `len` bytes from `from` to `to` (as `memmove`):
    /// the allocation now lives at `to`.
    Done,
    /// Not copied this time: the allocation stays, and a later pass may
    /// plan it again.
    Skipped,
    /// Not copied, and it must not move (the device still uses it, say):
    /// the allocation stays and is *pinned* as by [`Movable::pin`](crate::Movable::pin), so later
    /// passes plan around it until [`Movable::unpin`](crate::Movable::unpin).
    Cancelled,
}

/// One move of a defragmentation pass: copy `len` bytes of `handle`'s
/// allocation from offset `from` down to offset `to`, then mark it.
///
/// The ranges of one move may overlap (`to + len > from`: the allocation
/// slides into the space in front of it): copy as `memmove` does, or
/// through a staging buffer on a device. A destination never overlaps
/// another live allocation or another move's destination, so the moves of a
/// pass may be carried out in any order, concurrently, or not at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedMove {
    /// The allocation that moves; its offset changes when the pass ends.
    pub handle: Handle,
    /// Where the allocation is.
    pub from: usize,
    /// Where it goes (below `from`).
    pub to: usize,
    /// Bytes to copy: the arena's whole size.
    pub len: usize,
    /// What the caller did; [`MoveStatus::Pending`] when planned.
    pub status: MoveStatus,
}

impl PlannedMove {
    /// A placeholder, to fill a move buffer with: `[PlannedMove::EMPTY; 64]`.
    pub const EMPTY: PlannedMove = PlannedMove {
        handle: Handle::NONE,
        from: 0,
        to: 0,
        len: 0,
        status: MoveStatus::Pending,
    };

    pub(crate) const fn new(handle: Handle, from: usize, to: usize, len: usize) -> Self {
        PlannedMove {
            handle,
            from,
            to,
            len,
            status: MoveStatus::Pending,
        }
    }

    /// Whether source and destination overlap (copy as `memmove`).
    ///
    /// # Time complexity
    /// O(1).
    pub const fn overlaps(&self) -> bool {
        // The fields are public: a made-up move gets an answer, not an
        // overflow (an end past `usize::MAX` is past any source).
        match self.to.checked_add(self.len) {
            Some(end) => end > self.from,
            None => true,
        }
    }

    /// The move as [`Move`], for code shared with
    /// [`ArenaManager::relocate`](crate::ArenaManager::relocate).
    ///
    /// # Time complexity
    /// O(1).
    pub const fn as_move(&self) -> Move {
        Move {
            from: self.from,
            to: self.to,
            len: self.len,
        }
    }
}

impl Default for PlannedMove {
    fn default() -> Self {
        PlannedMove::EMPTY
    }
}

/// Why planning a pass stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PassStop {
    /// Every arena was looked at. With no move planned, the layout has
    /// converged: no movable allocation has free space in front of it.
    Walked,
    /// [`PassLimits::max_moves`] was reached.
    MoveLimit,
    /// Every arena was looked at, and at least one allocation that could
    /// have moved stayed because its move would pass
    /// [`PassLimits::max_bytes`] (smaller ones were planned in its place).
    /// With no move planned, every allocation that could move is larger
    /// than the limit: the plan is [`PassProgress::Blocked`].
    ByteLimit,
    /// The move buffer is full.
    BufferFull,
    /// The arena table has too few spare descriptors to reserve another
    /// destination (run the classic defragment, or grow the table).
    NoSpareDescriptor,
}

/// Where a run of passes stands after one plan — the answer to "do I run
/// another pass?". From [`PassPlan::progress`].
///
/// | progress | moves | another pass with the same limits |
/// | --- | --- | --- |
/// | [`Moving`](Self::Moving) | > 0 | may plan more: run it |
/// | [`Converged`](Self::Converged) | 0 | plans nothing: done |
/// | [`Blocked`](Self::Blocked) | 0 | plans nothing until the heap or the limits change |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PassProgress {
    /// More to do: moves were planned. Carry them out, end the pass, and
    /// plan the next one.
    Moving,
    /// Done: nothing is left to move. The layout is as compact as pins and
    /// alignment allow.
    Converged,
    /// No progress possible under these limits: an allocation could move,
    /// but no move fits them — [`PassLimits::max_moves`] is 0, the move
    /// buffer is empty, every allocation that could move is larger than
    /// [`PassLimits::max_bytes`], or the arena table has no spare
    /// descriptor for a destination ([`PassPlan::stopped`] says which).
    /// Repeating the pass plans nothing again until the heap changes (a
    /// free, a larger table) or the limits grow: stop, or raise them.
    Blocked,
}

/// What [`Movable::begin_pass`](crate::Movable::begin_pass) planned: the
/// first `moves` entries of the buffer.
///
/// [`progress`](Self::progress) tells the three outcomes apart: more to do,
/// done, or no progress possible under these limits. A loop of passes that
/// stops on anything but [`PassProgress::Moving`] always ends, whatever the
/// limits: every committed move lowers an allocation's offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassPlan {
    /// Moves planned.
    pub moves: usize,
    /// Bytes they move.
    pub bytes: usize,
    /// Why planning stopped.
    pub stopped: PassStop,
}

impl PassPlan {
    /// More to do, done, or blocked by the limits: see [`PassProgress`].
    ///
    /// # Time complexity
    /// O(1).
    pub const fn progress(&self) -> PassProgress {
        if self.moves > 0 {
            PassProgress::Moving
        } else if matches!(self.stopped, PassStop::Walked) {
            PassProgress::Converged
        } else {
            PassProgress::Blocked
        }
    }

    /// Nothing is left to move: the layout is as compact as pins and
    /// alignment allow ([`PassProgress::Converged`]).
    ///
    /// # Time complexity
    /// O(1).
    pub const fn converged(&self) -> bool {
        matches!(self.progress(), PassProgress::Converged)
    }

    /// Nothing was planned although something could move: the limits, the
    /// buffer or the arena table allow no move ([`PassProgress::Blocked`]).
    /// Another pass with the same limits plans nothing either.
    ///
    /// # Time complexity
    /// O(1).
    pub const fn blocked(&self) -> bool {
        matches!(self.progress(), PassProgress::Blocked)
    }
}

/// What one pass did, from [`Movable::end_pass`](crate::Movable::end_pass).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Moves committed: the allocations live at their new places.
    pub done: usize,
    /// Moves skipped (or left pending).
    pub skipped: usize,
    /// Moves cancelled: those allocations are now pinned.
    pub cancelled: usize,
    /// Moves marked done that could not be committed — the allocation was
    /// freed, resized, moved or pinned during the pass, or the entry was not
    /// one this pass planned. Nothing changed for them.
    pub rejected: usize,
    /// Reservations the caller did not hand back, freed at the end.
    pub unreturned: usize,
    /// Bytes of the committed moves.
    pub bytes_moved: usize,
    /// Free arenas when the pass began.
    pub free_arenas_before: usize,
    /// Free arenas after it ended.
    pub free_arenas_after: usize,
    /// The largest free arena when the pass began.
    pub largest_free_before: usize,
    /// The largest free arena after it ended.
    pub largest_free_after: usize,
}

/// Totals over a [`Movable`](crate::Movable) manager's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MoveStats {
    /// Defragmentation passes ended.
    pub passes: u64,
    /// [`Movable::relocate`](crate::Movable::relocate) calls that succeeded
    /// (this field was `compactions`).
    pub relocations: u64,
    /// Allocations moved, by passes and relocations.
    pub moves: u64,
    /// Bytes moved.
    pub bytes_moved: u64,
}
