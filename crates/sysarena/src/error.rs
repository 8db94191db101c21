//! Typed errors. Nothing in the core panics on caller input: every bad
//! request is one of these, and no allocation changes: the manager is left
//! as it was, except that under the fast model the quick lists may have
//! been flushed first (their cached arenas freed for real and merged, as
//! before an out-of-memory answer: see `manager::quick_lists`).
//!
//! The error enums are `#[non_exhaustive]`: new reasons may be added, so a
//! `match` outside this crate ends with a `_` arm. ([`ReallocError`] is
//! exactly "the free half failed" or "the alloc half failed", and stays
//! closed.)

use core::fmt;

use crate::handle::Handle;

/// Why an allocation could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllocError {
    /// A zero-byte request. The arena model has no empty arenas.
    ZeroSize,
    /// The alignment is not a power of two.
    BadAlign {
        /// The alignment that was asked for.
        align: usize,
    },
    /// `size` rounded up to `align` overflows `usize`.
    SizeOverflow {
        /// The size that was asked for.
        size: usize,
        /// The alignment that was asked for.
        align: usize,
    },
    /// The request, rounded up to its alignment, is larger than the whole
    /// region (an alignment larger than the region is this too): no policy
    /// could ever serve it.
    TooLarge {
        /// The size that was asked for.
        size: usize,
        /// The region's capacity.
        capacity: usize,
    },
    /// The region cannot serve the request now.
    OutOfMemory(OomReason),
}

/// Why a request that fits the region in principle failed now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OomReason {
    /// No free arena is large enough (at the requested alignment). When
    /// `free_bytes >= needed` this is external fragmentation: the bytes are
    /// there, but not in one piece.
    NoFit {
        /// Bytes the arena must hold (the request rounded up to its alignment).
        needed: usize,
        /// Total free bytes in the region at the time.
        free_bytes: usize,
        /// The largest single free arena at the time.
        largest_free: usize,
    },
    /// A free arena fits, but splitting it needs more spare descriptors than
    /// the arena table has left (an aligned split can need two: the padding
    /// in front and the remainder).
    NoSpareDescriptor {
        /// The table's size, in descriptors.
        descriptors: usize,
    },
}

/// Why a free (or the lookup of an allocation by offset) failed. The manager
/// is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FreeError {
    /// The offset starts an arena that is already free.
    DoubleFree {
        /// The offset given.
        offset: usize,
    },
    /// No arena starts at this offset: it was never handed out (or, under
    /// immediate coalescing, it was freed and has since merged into its
    /// free left neighbour; merged with a right neighbour, it keeps its
    /// offset, and a second free is [`DoubleFree`](Self::DoubleFree)).
    NotAllocated {
        /// The offset given.
        offset: usize,
    },
    /// The pointer or offset lies outside the region.
    OutOfRegion {
        /// The offset given (for pointers: the distance from the region base,
        /// wrapping).
        offset: usize,
    },
    /// The manager keeps no offset map
    /// ([`set_offset_map(false)`](crate::ArenaManager::set_offset_map)), and
    /// the call named no descriptor that describes an arena at this offset:
    /// a `free` or `realloc` without a hint, or with a wrong or stale one.
    /// Without the map nothing else can find the arena, so nothing is freed.
    NoOffsetMap {
        /// The offset given.
        offset: usize,
    },
}

/// Why a reallocation failed. The original allocation is untouched and
/// still live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReallocError {
    /// The offset does not name a live allocation.
    Free(FreeError),
    /// The new size could not be served.
    Alloc(AllocError),
}

/// Why [`ArenaManager::grow`](crate::ArenaManager::grow),
/// [`ArenaManager::set_origin`](crate::ArenaManager::set_origin),
/// [`ArenaManager::grow_table`](crate::ArenaManager::grow_table) or a
/// constructor that takes a caller-provided table failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableError {
    /// The descriptor table is empty, or larger than the manager can index
    /// (at most `u32::MAX - 2` descriptors: two index values are reserved).
    BadTableSize {
        /// The number of descriptors given.
        len: usize,
    },
    /// Growing the region would overflow `usize`.
    CapacityOverflow,
    /// Growing needs a new free arena and the table has no spare descriptor.
    NoSpareDescriptor,
    /// The operation needs a manager with nothing allocated (its
    /// allocations were placed for the old setting).
    InUse {
        /// The arenas in use.
        allocations: usize,
    },
    /// A table given to [`grow_table`](crate::ArenaManager::grow_table) is
    /// not longer than the one it would replace.
    NotLarger {
        /// The descriptors of the table given.
        len: usize,
        /// The descriptors of the manager's table.
        current: usize,
    },
}

/// Why an operation on a [`Movable`](crate::Movable) manager or a
/// [`HandleHeap`](crate::HandleHeap) failed. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandleError {
    /// The handle names no live allocation: it was freed (its entry may
    /// since hold another allocation, of a newer generation), or it never
    /// came from this manager.
    Stale {
        /// The handle given.
        handle: Handle,
    },
    /// The allocation is pinned: it cannot be freed or resized until it is
    /// unpinned.
    Pinned {
        /// The handle given.
        handle: Handle,
    },
    /// The allocation has a move planned in the open defragmentation pass:
    /// it cannot be freed, resized or pinned until the pass ends (the caller
    /// may be copying it, and a slide's destination overlaps its bytes).
    Moving {
        /// The handle given.
        handle: Handle,
    },
    /// `unpin` of an allocation that is not pinned.
    NotPinned {
        /// The handle given.
        handle: Handle,
    },
    /// The allocation has been pinned 2³² − 1 times.
    PinOverflow {
        /// The handle given.
        handle: Handle,
    },
    /// Every entry of the handle table names a live allocation.
    NoSpareHandle {
        /// The handle table's size.
        handles: usize,
    },
    /// A handle table must have between 1 and 2³⁰ − 1 entries.
    BadTableSize {
        /// The number of entries given.
        len: usize,
    },
    /// The arena manager refused the allocation.
    Alloc(AllocError),
    /// Relocation needs a spare descriptor the arena table lacks.
    NoSpareDescriptor,
    /// A defragmentation pass is open: end it first.
    PassActive,
    /// `end_pass` without an open pass.
    NoPass,
}

/// A broken internal invariant, found by
/// [`ArenaManager::check_invariants`](crate::ArenaManager::check_invariants).
/// Seeing one is a bug in sysarena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvariantError {
    /// What was wrong.
    pub what: &'static str,
    /// The table slot where it was seen, if one.
    pub slot: Option<usize>,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::ZeroSize => f.write_str("cannot allocate zero bytes"),
            AllocError::BadAlign { align } => {
                write!(f, "alignment {align} is not a power of two")
            }
            AllocError::SizeOverflow { size, align } => {
                write!(f, "size {size} rounded up to alignment {align} overflows")
            }
            AllocError::TooLarge { size, capacity } => {
                write!(
                    f,
                    "{size} bytes, rounded up to their alignment, do not fit in the whole region ({capacity} bytes)"
                )
            }
            AllocError::OutOfMemory(reason) => write!(f, "out of memory: {reason}"),
        }
    }
}

impl fmt::Display for OomReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OomReason::NoFit {
                needed,
                free_bytes,
                largest_free,
            } => {
                write!(
                    f,
                    "no free arena holds {needed} bytes ({free_bytes} bytes free, largest free arena {largest_free})"
                )?;
                if free_bytes >= needed {
                    f.write_str(" — external fragmentation")?;
                }
                Ok(())
            }
            OomReason::NoSpareDescriptor { descriptors } => write!(
                f,
                "a free arena fits but splitting it needs more spare descriptors than the table of {descriptors} has left"
            ),
        }
    }
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FreeError::DoubleFree { offset } => {
                write!(
                    f,
                    "double free: the arena at offset {offset} is already free"
                )
            }
            FreeError::NotAllocated { offset } => {
                write!(f, "invalid free: no arena starts at offset {offset}")
            }
            FreeError::OutOfRegion { offset } => {
                write!(f, "invalid free: offset {offset} is outside the region")
            }
            FreeError::NoOffsetMap { offset } => write!(
                f,
                "invalid free: the manager keeps no offset map and the hint \
                 names no arena at offset {offset}"
            ),
        }
    }
}

impl fmt::Display for ReallocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReallocError::Free(e) => write!(f, "realloc: {e}"),
            ReallocError::Alloc(e) => write!(f, "realloc: {e}"),
        }
    }
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::BadTableSize { len } => write!(
                f,
                "an arena table needs between 1 and {} descriptors, not {len}",
                u32::MAX - 2
            ),
            TableError::CapacityOverflow => f.write_str("region capacity would overflow"),
            TableError::NoSpareDescriptor => {
                f.write_str("no spare descriptor for the new free arena")
            }
            TableError::InUse { allocations } => write!(
                f,
                "{allocations} allocations are live: this needs a manager with none"
            ),
            TableError::NotLarger { len, current } => write!(
                f,
                "a table of {len} descriptors cannot replace one of {current}: it must be longer"
            ),
        }
    }
}

impl fmt::Display for InvariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.slot {
            Some(slot) => write!(f, "invariant broken at slot {slot}: {}", self.what),
            None => write!(f, "invariant broken: {}", self.what),
        }
    }
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleError::Stale { handle } => {
                write!(f, "handle {handle} names no live allocation")
            }
            HandleError::Pinned { handle } => {
                write!(f, "the allocation of handle {handle} is pinned")
            }
            HandleError::Moving { handle } => write!(
                f,
                "the allocation of handle {handle} has a move planned in the open pass"
            ),
            HandleError::NotPinned { handle } => {
                write!(f, "the allocation of handle {handle} is not pinned")
            }
            HandleError::PinOverflow { handle } => {
                write!(f, "the allocation of handle {handle} is pinned too often")
            }
            HandleError::NoSpareHandle { handles } => {
                write!(f, "all {handles} handles name live allocations")
            }
            HandleError::BadTableSize { len } => write!(
                f,
                "a handle table needs between 1 and {} entries, not {len}",
                (1u32 << 30) - 1
            ),
            HandleError::Alloc(e) => e.fmt(f),
            HandleError::NoSpareDescriptor => {
                f.write_str("relocation needs a spare descriptor and the arena table has none")
            }
            HandleError::PassActive => f.write_str("a defragmentation pass is open"),
            HandleError::NoPass => f.write_str("no defragmentation pass is open"),
        }
    }
}

impl From<AllocError> for HandleError {
    fn from(e: AllocError) -> Self {
        HandleError::Alloc(e)
    }
}

impl From<FreeError> for ReallocError {
    fn from(e: FreeError) -> Self {
        ReallocError::Free(e)
    }
}

impl From<AllocError> for ReallocError {
    fn from(e: AllocError) -> Self {
        ReallocError::Alloc(e)
    }
}

impl core::error::Error for AllocError {}
impl core::error::Error for OomReason {}
impl core::error::Error for FreeError {}
impl core::error::Error for ReallocError {}
impl core::error::Error for TableError {}
impl core::error::Error for InvariantError {}
impl core::error::Error for HandleError {}
