//! What the manager reports: [`Stats`], [`ArenaInfo`], [`DefragReport`] and
//! the results of `alloc` and `realloc`. The tools read only these.

/// One allocation: where it lives and how much the arena reserves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub(crate) offset: usize,
    pub(crate) size: usize,
    /// See [`Allocation::hint`].
    pub(crate) hint: u32,
}

impl Allocation {
    /// Offset of the first byte, aligned as requested.
    ///
    /// # Time complexity
    /// O(1).
    pub const fn offset(&self) -> usize {
        self.offset
    }

    /// Bytes the arena reserves: the request rounded up to its alignment
    /// (at least the bytes requested), or up to a
    /// [`QUICK_NEAR_SHARE`](crate::QUICK_NEAR_SHARE)-th (64th) more when
    /// the fast model served it from a cached arena of a nearby size (see
    /// [`ArenaManager::alloc`](crate::ArenaManager::alloc)).
    ///
    /// # Time complexity
    /// O(1).
    pub const fn size(&self) -> usize {
        self.size
    }

    /// The number of the descriptor that holds this allocation, for
    /// [`free_with_hint`](crate::ArenaManager::free_with_hint) and
    /// [`realloc_with_hint`](crate::ArenaManager::realloc_with_hint): they
    /// skip the offset map's lookup while it is right (until a
    /// `defragment` compacts the table; a relocation moves the allocation
    /// with its descriptor, so the hint stays right for the new offset).
    /// Any number is safe to pass back: a wrong one costs the lookup and
    /// nothing else.
    ///
    /// # Time complexity
    /// O(1).
    pub const fn hint(&self) -> u32 {
        self.hint
    }
}

/// The result of [`ArenaManager::realloc`](crate::ArenaManager::realloc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reallocation {
    /// Where the allocation lives now.
    pub offset: usize,
    /// Bytes the arena now reserves.
    pub size: usize,
    /// `Some(old_offset)` when the allocation moved: the caller copies
    /// `copy_len` bytes from the old offset to the new one, as `memmove`
    /// does (the ranges overlap when the allocation grew into its free left
    /// neighbour). The old arena is already free in the table, but nothing
    /// else has been placed there, so its bytes are intact until the next
    /// call into the manager.
    pub moved_from: Option<usize>,
    /// Bytes to copy when the allocation moved: the smaller of the old
    /// arena's size and the new request. The whole old arena, not only the
    /// bytes first requested, because callers may use all of it (it is what
    /// `malloc_usable_size` reports).
    pub copy_len: usize,
    /// See [`Reallocation::hint`].
    pub(crate) hint: u32,
}

impl Reallocation {
    /// The number of the descriptor that holds the allocation now (moved or
    /// not): what [`Allocation::hint`] is for a new allocation.
    ///
    /// # Time complexity
    /// O(1).
    pub const fn hint(&self) -> u32 {
        self.hint
    }
}

/// One arena, as the visualizer and tests see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArenaInfo {
    /// First byte of the arena.
    pub offset: usize,
    /// Bytes the arena covers.
    pub size: usize,
    /// Bytes the caller requested (0 when free); `size - used` is internal
    /// fragmentation.
    pub used: usize,
    /// Whether the arena is handed out.
    pub in_use: bool,
    /// Whether the arena is free but waiting, whole, in a quick list (the
    /// fast model's cache of small freed arenas; `in_use` is false). It
    /// merges with its free neighbours only when the lists are flushed.
    pub cached: bool,
    /// The descriptor's position in the arena table.
    pub slot: usize,
}

/// One position of the arena table, in table order: an arena or a spare
/// descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableEntry {
    /// The position in the table.
    pub slot: usize,
    /// The arena this descriptor describes, or `None` for a spare.
    pub arena: Option<ArenaInfo>,
}

/// A snapshot of the manager's accounting. Almost every field is maintained
/// as the manager runs; [`ArenaManager::stats`](crate::ArenaManager::stats)
/// says what taking it costs (O(1) but for a rare walk of one size class
/// while the largest free arena is not known exactly).
///
/// Invariant, after every public operation: `in_use_bytes + free_bytes ==
/// capacity`, and `free_arenas + used_arenas + spare_descriptors ==
/// descriptors`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes in the region.
    pub capacity: usize,
    /// Bytes in free arenas (cached ones included: `cached_bytes`).
    pub free_bytes: usize,
    /// The largest single free arena, cached ones included (a request that
    /// no cached arena serves exactly gets them after a flush, which comes
    /// before any out-of-memory answer).
    pub largest_free: usize,
    /// Bytes in in-use arenas (their sizes, padding included).
    pub in_use_bytes: usize,
    /// Bytes callers asked for (sum of every in-use arena's `used`).
    pub requested_bytes: usize,
    /// Number of free arenas (cached ones included: `cached_arenas`).
    pub free_arenas: usize,
    /// Number of in-use arenas.
    pub used_arenas: usize,
    /// Descriptors describing no arena.
    pub spare_descriptors: usize,
    /// The table's size.
    pub descriptors: usize,
    /// Times segregated fit's constant-time search found no class that
    /// guarantees a fit and searched the request's own classes instead.
    pub fallback_searches: u64,
    /// Of those, the times the fallback found a fitting arena (an
    /// out-of-memory that plain TLSF would have reported).
    pub fallback_hits: u64,
    /// Of `free_bytes`, the bytes in arenas waiting in the quick lists (the
    /// fast model's cache of small freed arenas: free for any allocation of
    /// their size now, and for any other after a flush).
    pub cached_bytes: usize,
    /// Of `free_arenas`, the arenas waiting in the quick lists.
    pub cached_arenas: usize,
}

impl Stats {
    /// External fragmentation: `1 - largest_free / free_bytes`, in `[0, 1)`.
    /// 0 when all free bytes are in one arena (or none are free); near 1 when
    /// they are scattered in many small arenas.
    ///
    /// # Time complexity
    /// O(1).
    pub fn fragmentation(&self) -> f64 {
        if self.free_bytes == 0 {
            0.0
        } else {
            1.0 - self.largest_free as f64 / self.free_bytes as f64
        }
    }

    /// Internal fragmentation in bytes: reserved but not requested (0 for
    /// made-up figures that request more than is in use: the fields are
    /// public, and this never panics).
    ///
    /// # Time complexity
    /// O(1).
    pub fn internal_fragmentation(&self) -> usize {
        self.in_use_bytes.saturating_sub(self.requested_bytes)
    }
}

/// What [`ArenaManager::defragment`](crate::ArenaManager::defragment) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragReport {
    /// Free arenas absorbed into a free neighbour (each one freed a
    /// descriptor).
    pub merged: usize,
    /// Descriptors moved down the table so that the spares sit at the end.
    pub compacted: usize,
    /// Free arenas before.
    pub free_arenas_before: usize,
    /// Free arenas after.
    pub free_arenas_after: usize,
    /// The largest free arena before.
    pub largest_free_before: usize,
    /// The largest free arena after.
    pub largest_free_after: usize,
}

/// One step of a relocation plan: move `len` bytes from offset `from` down
/// to offset `to` (`to < from`; the ranges may overlap, so copy as
/// `memmove` does). See [`ArenaManager::relocate`](crate::ArenaManager::relocate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// Where the allocation was.
    pub from: usize,
    /// Where it is now.
    pub to: usize,
    /// Bytes to move: the arena's whole size (what `usable_size` promised).
    pub len: usize,
}

/// What [`ArenaManager::relocate`](crate::ArenaManager::relocate) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelocationReport {
    /// Allocations that moved.
    pub moved: usize,
    /// Bytes they hold.
    pub bytes_moved: usize,
    /// Free arenas before.
    pub free_arenas_before: usize,
    /// Free arenas after: the tail, plus any alignment padding that could not
    /// be closed.
    pub free_arenas_after: usize,
    /// The largest free arena before.
    pub largest_free_before: usize,
    /// The largest free arena after.
    pub largest_free_after: usize,
}
