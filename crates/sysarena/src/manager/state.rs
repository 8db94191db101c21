//! What a manager holds: the [`ArenaManager`] struct, its table and its
//! counters, and checked access to one descriptor.

use core::fmt;

use super::quick_lists::QuickLists;
use crate::config::Config;
use crate::table::{FreeIndex, NIL, Slot, TableStorage};

/// An arena manager over one region `[0, capacity)`, with a fixed table of
/// arena descriptors and no heap.
///
/// `N` is the size of the built-in table (`[Slot; N]`, the default storage).
/// For a table too large for the stack, or sized at run time, give the
/// manager a slice instead: [`ArenaManager::from_slice`] (then `N` is unused
/// and written `0`; see [`SliceManager`]), or any owned storage of slots
/// ([`ArenaManager::from_table`], e.g. a `Box<[Slot]>`). All run the same
/// code.
///
/// The manager works in offsets and never touches the region's bytes; all
/// metadata lives in the table. [`Heap`](crate::Heap) puts it over real
/// memory.
///
/// # Example: the classic model fails, then defragment rescues it
///
/// ```
/// use sysarena::{AllocError, ArenaManager, OomReason};
///
/// let mut m = ArenaManager::<16>::new(400);
/// let blocks: Vec<_> = (0..4).map(|_| m.alloc(100, 1).unwrap()).collect();
/// m.free(blocks[1].offset()).unwrap();
/// m.free(blocks[2].offset()).unwrap();
/// // 200 bytes are free, but as two arenas of 100: no hole is large enough.
/// assert_eq!(m.stats().free_bytes, 200);
/// assert!(matches!(
///     m.alloc(200, 1),
///     Err(AllocError::OutOfMemory(OomReason::NoFit { .. }))
/// ));
/// // The two free arenas are neighbours: defragment merges them.
/// let report = m.defragment();
/// assert_eq!(report.merged, 1);
/// assert_eq!(m.alloc(200, 1).unwrap().offset(), 100);
/// ```
pub struct ArenaManager<const N: usize, S: TableStorage = [Slot; N]> {
    pub(super) slots: S,
    pub(super) config: Config,
    pub(super) capacity: usize,
    /// The arena at offset 0 (NIL only while capacity is 0).
    pub(super) head: u32,
    /// The arena that ends at `capacity`.
    pub(super) tail: u32,
    /// Top of the spare list (descriptors freed by merges).
    pub(super) spare_head: u32,
    /// Descriptors `[fresh, len)` have never been used: they are spare
    /// without being on the spare list, and their fields (but the bucket
    /// head) are set when first taken. This keeps construction O(1) and
    /// leaves a large table's memory untouched until it is needed.
    pub(super) fresh: u32,
    /// The offset map's buckets: a power of two, at most the table's
    /// length. It doubles as the used part of the table grows, so the table
    /// beyond it stays untouched. Their heads are the first `hash_len`
    /// positions' `bucket` fields, or dense (see `dense`).
    pub(super) hash_len: u32,
    /// Whether the offset map is kept (see `set_offset_map`): without it
    /// every head stays empty and nothing is filed.
    pub(super) mapped: bool,
    /// `hash_len - 1`: what an offset's hash is masked with.
    pub(super) hash_mask: u32,
    /// `offset_map::grow_at(hash_len)` while the map can still grow,
    /// `u32::MAX` once it spans the table: the map grows when `fresh`
    /// reaches it (one compare).
    pub(super) hash_grow_at: u32,
    /// Where never-used descriptors end: the table's length, or the first
    /// slot of the dense buckets. Taking descriptor `fresh_end` first moves
    /// the buckets back into the slots.
    pub(super) fresh_end: u32,
    /// Bucket `b`'s head lies `head_base + b * head_stride` bytes into the
    /// table: `bucket`'s offset in a slot and a slot's size, or while the
    /// heads are *dense* (an array of `u32` over never-used descriptors
    /// from `fresh_end` up; see `offset_map`), where the dense heads start
    /// and four bytes. The stride says which form is on.
    pub(super) head_base: usize,
    /// See `head_base`.
    pub(super) head_stride: usize,
    pub(super) index: FreeIndex,
    /// Small freed arenas waiting for an allocation of their size (the fast
    /// model only; see `quick_lists`).
    pub(super) quick: QuickLists,
    pub(super) free_bytes: usize,
    pub(super) requested_bytes: usize,
    pub(super) free_arenas: usize,
    pub(super) spare: usize,
    /// The largest free arena's size: exact unless `largest_stale`, then
    /// larger than every free arena (see `free_index`).
    pub(super) largest_free: usize,
    /// How many free arenas are exactly `largest_free` bytes (while exact).
    pub(super) largest_count: usize,
    /// Set when the last free arena of `largest_free` bytes left the index;
    /// [`settle`](Self::settle) makes the value exact again at the end of an
    /// operation when a bounded look at the top class suffices.
    pub(super) largest_stale: bool,
    /// Next fit's roving pointer: the offset after the last allocation.
    pub(super) rover: usize,
    /// The arena that starts at (or holds) `rover`, as a hint: next fit
    /// walks the address list from it, and checks it first (any slot that
    /// is not spare and holds `rover` is the right one).
    pub(super) rover_slot: u32,
    pub(super) fallback_searches: u64,
    pub(super) fallback_hits: u64,
    /// Added to offsets before alignment is checked (a `Heap` sets it to its
    /// base address).
    pub(super) origin: usize,
    /// Offsets that are not memory (a heap's fences between regions): left
    /// out of the region size the quick lists' budget is a share of.
    pub(super) not_memory: usize,
    /// Work done by searches and walks, in arenas visited (unit tests count
    /// work with it, never time).
    #[cfg(test)]
    pub(super) visits: core::cell::Cell<u64>,
}

/// An arena manager whose table is a caller-provided slice.
pub type SliceManager<'t> = ArenaManager<0, &'t mut [Slot]>;

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// A manager with no region over `slots`, a table of `len` spare
    /// descriptors (`Slot::EMPTY` or all zero bytes): the one place that
    /// spells every field, for every constructor.
    pub(super) const fn from_storage(slots: S, len: usize, config: Config) -> Self {
        ArenaManager {
            slots,
            config,
            capacity: 0,
            head: NIL,
            tail: NIL,
            spare_head: NIL,
            fresh: 0,
            // A power of two (the map masks), at most the table's length.
            hash_len: super::offset_map::first_buckets(len),
            mapped: true,
            hash_mask: super::offset_map::first_buckets(len).saturating_sub(1),
            hash_grow_at: if len < 32 {
                u32::MAX
            } else {
                super::offset_map::grow_at(16)
            },
            head_base: core::mem::offset_of!(Slot, bucket),
            head_stride: core::mem::size_of::<Slot>(),
            fresh_end: if len < u32::MAX as usize {
                len as u32
            } else {
                u32::MAX
            },
            index: FreeIndex::EMPTY,
            quick: QuickLists::EMPTY,
            free_bytes: 0,
            requested_bytes: 0,
            free_arenas: 0,
            spare: len,
            largest_free: 0,
            largest_count: 0,
            largest_stale: false,
            rover: 0,
            rover_slot: NIL,
            fallback_searches: 0,
            fallback_hits: 0,
            origin: 0,
            not_memory: 0,
            #[cfg(test)]
            visits: core::cell::Cell::new(0),
        }
    }

    /// Descriptor `i`, without a bounds check.
    ///
    /// `i` must be a table index, never [`NIL`]: the manager's *link
    /// invariant* is that every index it stores (`head`, `tail`,
    /// `spare_head`, `rover_slot`, the free index's class heads, and every
    /// slot's `prev`, `next`, `link_prev`, `link_next`, `hash_next` and
    /// `bucket - 1`) is below the table's length or `NIL`, and every caller
    /// in this module tests for `NIL` before it follows a link.
    /// [`check_invariants`](Self::check_invariants) verifies the stored
    /// indices; debug builds check every access.
    #[inline(always)]
    pub(super) fn slot(&self, i: u32) -> &Slot {
        let slots = self.slots.as_ref();
        debug_assert!((i as usize) < slots.len(), "slot {i} of {}", slots.len());
        // SAFETY: `i < slots.len()` by the link invariant above: every index
        // the manager follows was stored by the manager, below the length of
        // this table or of a shorter one it replaced (a table only ever
        // grows: `grow_empty_table` copies the descriptors to the same
        // indices; `TableStorage` is sealed to storages whose
        // `as_ref`/`as_mut` return the same slice at every call), and a
        // table handed in from outside holds only `Slot::EMPTY` or all-zero
        // slots, whose links are `NIL` or 0 (`from_empty_table`'s and
        // `grow_empty_table`'s contract; len >= 1).
        unsafe { slots.get_unchecked(i as usize) }
    }

    /// Descriptor `i` for writing, without a bounds check: as
    /// [`slot`](Self::slot).
    #[inline(always)]
    pub(super) fn slot_mut(&mut self, i: u32) -> &mut Slot {
        let slots = self.slots.as_mut();
        debug_assert!((i as usize) < slots.len(), "slot {i} of {}", slots.len());
        // SAFETY: as in `slot`: `i` is below the table's length by the link
        // invariant.
        unsafe { slots.get_unchecked_mut(i as usize) }
    }

    /// Counts one arena visited by a search or walk (unit tests only).
    #[inline(always)]
    pub(super) fn count_visit(&self) {
        #[cfg(test)]
        self.visits.set(self.visits.get() + 1);
    }
}

impl<const N: usize, S: TableStorage> fmt::Debug for ArenaManager<N, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArenaManager")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
