//! Handles: the stable names of allocations that may move, and the table
//! that holds them.
//!
//! A [`Movable`](crate::Movable) manager names each allocation by a
//! [`Handle`] — an index into its handle table plus a generation — instead
//! of by its offset, so that defragmentation can move the allocation and
//! update one table entry (a [`HandleSlot`]) instead of every reference to
//! it. The table is a fixed array or a caller's slice ([`HandleStorage`]),
//! like the arena table: no heap.
//!
//! This is a leaf module: it names nothing above it, so the errors, the
//! pass vocabulary and the managers can all speak of handles.

use core::fmt;

use crate::sealed::Sealed;
use crate::table::NIL;

/// A stable name for an allocation in a [`Movable`](crate::Movable)
/// manager: it stays valid while the allocation moves, and stops naming
/// anything once it is freed (a later allocation that reuses the table
/// entry gets a new generation; generations are 32-bit, so a handle kept
/// across 2³² reuses of one entry could name its newest occupant).
///
/// `Copy`, 8 bytes; [`to_bits`](Self::to_bits) / [`from_bits`](Self::from_bits)
/// store it where only an integer fits (a GPU resource's user data, a C
/// struct). A handle from another manager, or forged bits, is answered with
/// [`HandleError::Stale`](crate::HandleError::Stale) — it cannot name
/// someone else's allocation unless it matches an entry's index and
/// generation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle {
    index: u32,
    generation: u32,
}

impl Handle {
    /// A handle that names no entry (`[PlannedMove::EMPTY; n]`'s handle).
    pub(crate) const NONE: Handle = Handle::new(NIL, 0);

    /// The handle of entry `index` at `generation`.
    pub(crate) const fn new(index: u32, generation: u32) -> Self {
        Handle { index, generation }
    }

    /// The handle as one integer (generation in the high half).
    ///
    /// # Time complexity
    /// O(1).
    pub const fn to_bits(self) -> u64 {
        (self.generation as u64) << 32 | self.index as u64
    }

    /// A handle from [`to_bits`](Self::to_bits).
    ///
    /// # Time complexity
    /// O(1).
    pub const fn from_bits(bits: u64) -> Self {
        Handle {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }

    /// Its position in the handle table.
    ///
    /// # Time complexity
    /// O(1).
    pub const fn index(self) -> u32 {
        self.index
    }

    /// Its generation: how often its table entry had been reused when it
    /// was made.
    pub(crate) const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({}v{})", self.index, self.generation)
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}v{}", self.index, self.generation)
    }
}

/// One entry of a [`Movable`](crate::Movable) manager's handle table: where
/// the allocation is now, its generation and its pin count. Fields are
/// private; start a caller-provided table as `[HandleSlot::EMPTY; H]` or
/// `vec![HandleSlot::EMPTY; h]`.
#[derive(Clone, Copy, Debug)]
pub struct HandleSlot {
    pub(crate) offset: usize,
    pub(crate) generation: u32,
    pub(crate) pins: u32,
    /// While the entry is free, the next entry on the free list (`NIL`:
    /// none); while it is live, its allocation's descriptor hint
    /// ([`Allocation::hint`](crate::stats::Allocation::hint)), which frees
    /// and reallocs pass to the manager (renewed when a moving realloc, a
    /// committed pass move or a defragment that compacted the table gives
    /// the allocation another descriptor; a stale one would only cost the
    /// lookup by offset). One word for both keeps an entry at 24 bytes.
    pub(crate) link: u32,
    pub(crate) live: bool,
}

impl HandleSlot {
    /// An unused entry.
    pub const EMPTY: HandleSlot = HandleSlot {
        offset: 0,
        generation: 0,
        pins: 0,
        link: NIL,
        live: false,
    };
}

impl Default for HandleSlot {
    fn default() -> Self {
        HandleSlot::EMPTY
    }
}

/// Storage for a handle table: `[HandleSlot; H]`, `&mut [HandleSlot]`, and
/// with the `alloc` feature (on by default) `Box<[HandleSlot]>` and
/// `Vec<HandleSlot>`.
///
/// The trait is *sealed*: sysarena implements it for those types only,
/// whose [`as_ref`](AsRef::as_ref) and [`as_mut`](AsMut::as_mut) return the
/// same slice, of the same length, at every call. The managers rely on that
/// — a table that answered with another slice could make safe code hand
/// out overlapping blocks — so no other type can implement it:
///
/// ```compile_fail,E0277
/// use sysarena::{ArenaManager, HandleSlot, Movable};
///
/// // Answers reads from one table and writes to another.
/// struct Liar([HandleSlot; 4], [HandleSlot; 4]);
/// impl AsRef<[HandleSlot]> for Liar {
///     fn as_ref(&self) -> &[HandleSlot] { &self.0 }
/// }
/// impl AsMut<[HandleSlot]> for Liar {
///     fn as_mut(&mut self) -> &mut [HandleSlot] { &mut self.1 }
/// }
/// let handles = Liar([HandleSlot::EMPTY; 4], [HandleSlot::EMPTY; 4]);
/// let m = Movable::from_parts(ArenaManager::<8>::new(100), handles);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a handle table storage",
    note = "use `[HandleSlot; H]`, `&mut [HandleSlot]`, `Box<[HandleSlot]>` or `Vec<HandleSlot>`"
)]
pub trait HandleStorage: Sealed<HandleSlot> + AsRef<[HandleSlot]> + AsMut<[HandleSlot]> {}

impl<T: Sealed<HandleSlot> + AsRef<[HandleSlot]> + AsMut<[HandleSlot]> + ?Sized> HandleStorage
    for T
{
}
