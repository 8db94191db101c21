//! The offset map: how `free(offset)` finds its arena without a search (a
//! hash threaded through the table).
//!
//! Each arena's descriptor is chained (`hash_next`) into the bucket of its
//! offset. The bucket *heads* live in one of two places:
//!
//! - **Dense** (while the table has room to spare): an array of `u32`
//!   laid over never-used descriptors at the very top of the table,
//!   `fresh_end` and up, sixteen heads to a cache line (`Slot` is
//!   `repr(C)` with no padding, and every byte of it is part of an
//!   integer, so the slots stay valid whatever the heads hold). A lookup's
//!   first access usually hits a cache line that earlier lookups brought
//!   in, where a head inside a 56-byte slot is almost always a line of its
//!   own (profiled on the perl trace: the load of that head was 55 % of
//!   `free`'s samples).
//! - **In the slots** (a small or nearly full table): bucket `b`'s head is
//!   slot `b`'s `bucket` field.
//!
//! An offset's bucket keeps neighbours together: the 16-byte granules of
//! one 4 KiB page fall in consecutive buckets, and pages are spread by a
//! multiplicative hash. Arenas carved one after another from the same free
//! arena, and freed around the same time, have their heads on the same few
//! cache lines (a hash of the whole offset scattered them: with dense heads
//! the perl trace replayed in 19–26 ms with it, 16 ms with this; 33 ms with
//! neither). Aligned arenas still spread: arenas a page apart land at
//! unrelated places.
//!
//! The map grows (doubling `hash_len`, rebuilt in O(descriptors in use)) as
//! descriptors are taken, and chooses the dense form whenever its slots fit
//! above the descriptors in use. When a descriptor is needed and only the
//! dense slots are left, the heads move into the slots (a copy: the chains
//! stay as they are, so this is safe in the middle of an operation) and the
//! dense slots become spare descriptors again: the table's capacity is
//! never less than its length.

use super::state::ArenaManager;
use crate::table::{NIL, Slot, State, TableStorage};

/// A slot's size in bytes.
const SLOT: usize = core::mem::size_of::<Slot>();
/// The byte offset of a slot's own bucket head.
const BUCKET_AT: usize = core::mem::offset_of!(Slot, bucket);
/// The distance between two dense heads: four bytes, end to end, as in an
/// array of `u32`. Every byte of a [`Slot`] is part of an integer (its
/// `state` is a plain byte, not an enum), so heads may cover any byte of a
/// never-used slot and the slot stays a valid `Slot` whatever they hold.
/// (While `state` was an enum the heads had to step around it: fourteen
/// bytes apart, four to a slot, which spread a map of 1,024 buckets over
/// 14 KiB where 4 KiB hold it now; random actions at max 200, callgrind's
/// cache simulation: `benches/RESULTS.md`, "Engine work, part 7".)
const DENSE_STRIDE: usize = 4;
const _: () = {
    // No padding anywhere in a slot (every byte a head may cover is
    // initialised): the fields end to end, `bucket` last; and a head at a
    // multiple of four bytes is aligned for a `u32`.
    assert!(BUCKET_AT + 4 == SLOT);
    assert!(SLOT.is_multiple_of(DENSE_STRIDE));
    assert!(core::mem::size_of::<State>() == 1);
    let word = core::mem::size_of::<usize>();
    assert!(core::mem::offset_of!(Slot, offset) == 0);
    assert!(core::mem::offset_of!(Slot, size) == word);
    assert!(core::mem::offset_of!(Slot, used) == 2 * word);
    assert!(core::mem::offset_of!(Slot, state) == 3 * word);
    assert!(core::mem::offset_of!(Slot, align_log2) == 3 * word + 1);
    assert!(core::mem::offset_of!(Slot, class) == 3 * word + 2);
    // `hash_next`, `link_next`, `tag`, `prev`, `next`, `link_prev`, `bucket`.
    assert!(SLOT - core::mem::offset_of!(Slot, hash_next) == 7 * 4);
    assert!(core::mem::offset_of!(Slot, hash_next) == 3 * word + 4);
};

/// Buckets per descriptor taken (at most) while the map is small: the map
/// doubles when the descriptors ever taken reach `hash_len / LOAD_BUCKETS`,
/// up to [`SPARSE_UP_TO`] buckets. Two, not one: random actions at max 200
/// (1 M operations, callgrind with its cache and branch simulation)
/// mispredicted 1.42 M branches with one, 1.18 M with two (talc: 1.18 M),
/// with 4.7 % fewer D1 misses and 0.7 % fewer instructions
/// (`benches/RESULTS.md`, "Engine work, part 6"). The price is dense heads
/// for twice as many buckets, in never-used slots: eight bytes per
/// descriptor taken.
pub(super) const LOAD_BUCKETS: u32 = 2;
/// The largest map kept at [`LOAD_BUCKETS`] buckets per descriptor (dense
/// heads up to 64 KiB); a larger one grows at one bucket per descriptor.
/// Measured while the heads were 14 bytes apart: two buckets per
/// descriptor all the way made the python trace (88 k blocks live, a map
/// of 2^18 buckets: 3.5 MiB of heads against 1.75 MiB) replay 10–15 %
/// slower — more pages under random lookups, while the chains it shortens
/// were already short. With four-byte heads (1 MiB against 0.5 MiB) the
/// two replayed alike within this machine's spread, so the bound stayed.
pub(super) const SPARSE_UP_TO: u32 = 1 << 14;

/// The `fresh` count at which a map of `hash_len` buckets (at least
/// [`LOAD_BUCKETS`]) doubles: when the descriptors taken reach a
/// [`LOAD_BUCKETS`]-th of its buckets while it is small, all of them above
/// [`SPARSE_UP_TO`].
pub(super) const fn grow_at(hash_len: u32) -> u32 {
    if hash_len <= SPARSE_UP_TO {
        (hash_len / LOAD_BUCKETS).saturating_sub(1)
    } else {
        hash_len - 1
    }
}

/// The buckets a table of `len` slots starts with: 16, or for a smaller
/// table the largest power of two up to its length (none for no table).
pub(super) const fn first_buckets(len: usize) -> u32 {
    if len == 0 {
        0
    } else if len < 16 {
        1 << (usize::BITS - 1 - len.leading_zeros())
    } else {
        16
    }
}

/// Never-used slots the dense heads of `hash_len` buckets take at the top
/// of the table: heads at `k * DENSE_STRIDE` bytes from the first, `k <
/// hash_len`.
const fn dense_slots(hash_len: usize) -> usize {
    (hash_len * DENSE_STRIDE).div_ceil(SLOT)
}

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// The bucket of `offset`: its 16-byte granule plus a hash of its 4 KiB
    /// page, modulo `hash_len` (a power of two, at most the table's length:
    /// a valid [`slot`](Self::slot) index; the table is never empty).
    #[inline(always)]
    fn bucket_of(&self, offset: usize) -> u32 {
        let granule = (offset >> 4) as u32;
        let page = granule >> 8;
        granule.wrapping_add(page.wrapping_mul(0x9E37_79B1)) & self.hash_mask
    }

    /// Whether the bucket heads are dense (the module docs): their stride is
    /// four bytes, not a slot.
    #[inline(always)]
    pub(super) fn dense(&self) -> bool {
        self.head_stride == DENSE_STRIDE
    }

    /// Where the head of bucket `b < hash_len` lives, as a byte offset into
    /// the table: `head_base + b * head_stride`, i.e. slot `b`'s `bucket`
    /// field, or while dense, `b * DENSE_STRIDE` bytes into the
    /// first dense slot (`fresh_end`). No branch on the form.
    #[inline(always)]
    fn head_at(&self, b: u32) -> usize {
        debug_assert!(b < self.hash_len);
        self.head_base + b as usize * self.head_stride
    }

    /// The head stored at `at` (from [`head_at`](Self::head_at)), plus one
    /// (0: empty).
    #[inline(always)]
    fn head(&self, at: usize) -> u32 {
        let base = self.slots.as_ref().as_ptr().cast::<u8>();
        // SAFETY: `at` comes from `head_at` for a bucket below `hash_len`:
        // either slot `b`'s `bucket` field (`b < hash_len <= len`), or while
        // dense four bytes at most `hash_len * DENSE_STRIDE`
        // bytes past slot `fresh_end`, which `dense_slots` slots hold and
        // `fresh_end + dense_slots(hash_len) <= len` (set by `grow_hash`,
        // checked by `check_invariants`): inside this table, in bytes that
        // are initialised (a `Slot` has no padding: `repr(C)`, checked
        // above). Both forms put a head at a multiple of four bytes; read
        // unaligned all the same, which costs nothing where loads may be
        // unaligned. The pointer comes from the whole slice.
        unsafe { base.add(at).cast::<u32>().read_unaligned() }
    }

    /// Stores `head` (plus one; 0: empty) at `at` (from
    /// [`head_at`](Self::head_at)).
    #[inline(always)]
    fn set_head(&mut self, at: usize, head: u32) {
        let base = self.slots.as_mut().as_mut_ptr().cast::<u8>();
        // SAFETY: as in `head`. A dense head lies in a slot above every
        // descriptor in use, which nothing reads as a descriptor while
        // `dense` (never-used descriptors are not read past `fresh_end`);
        // its four bytes are parts of integer fields (every field of a
        // `Slot` is one, `state` a plain byte), so the slot stays a valid
        // `Slot`.
        unsafe { base.add(at).cast::<u32>().write_unaligned(head) }
    }

    /// Keeps the offset map's load at most about one entry per two buckets
    /// while it is small, one per bucket above that (see [`LOAD_BUCKETS`]):
    /// runs
    /// before an operation that may take up to two fresh descriptors, never
    /// in the middle of one (a rehash then would see half-made arenas).
    #[inline]
    pub(super) fn reserve_hash(&mut self) {
        if self.fresh >= self.hash_grow_at {
            self.grow_hash();
        }
    }

    /// Doubles the offset map and chooses where its heads live. Amortised
    /// O(1) per descriptor taken.
    #[cold]
    fn grow_hash(&mut self) {
        self.double_map();
        self.place_heads();
    }

    /// The `fresh` count at which a map of `hash_len` buckets grows in this
    /// table: [`grow_at`] while the map is at most half the table (and the
    /// table has room for more than the first sixteen buckets), never once
    /// it spans the table.
    fn grow_at_here(&self) -> u32 {
        let len = self.slots.as_ref().len();
        if len >= 32 && self.hash_len as usize <= len / 2 {
            grow_at(self.hash_len)
        } else {
            u32::MAX
        }
    }

    /// Doubles `hash_len` (no rebuild).
    fn double_map(&mut self) {
        self.hash_len = self.hash_len.saturating_mul(2);
        self.hash_mask = self.hash_len - 1;
        self.hash_grow_at = self.grow_at_here();
    }

    /// Chooses where the heads of `hash_len` buckets live, and files every
    /// arena: O(descriptors taken + `hash_len`).
    fn place_heads(&mut self) {
        let len = self.slots.as_ref().len();
        // Dense if its slots fit above the descriptors in use, with room for
        // the two an operation may take, and leave the buckets' positions
        // (`hash_len`) below them.
        let dense_slots = dense_slots(self.hash_len as usize);
        let dense = len >= dense_slots
            && self.hash_len as usize <= len - dense_slots
            && self.fresh as usize + 2 <= len - dense_slots;
        self.clear_dense_slots();
        if dense {
            self.fresh_end = (len - dense_slots) as u32;
            self.head_base = (len - dense_slots) * SLOT;
            self.head_stride = DENSE_STRIDE;
        }
        self.rebuild_hash();
    }

    /// After the table moved into a longer one (`grow_empty_table`: the
    /// descriptors ever taken copied, every other slot never used): the
    /// heads start over in the slots, the map's growth point is the new
    /// table's, and, with the map kept, it grows as far as the descriptors
    /// taken need and every arena is filed again. O(descriptors taken +
    /// buckets).
    pub(super) fn map_new_table(&mut self) {
        let len = self.slots.as_ref().len();
        self.fresh_end = len as u32;
        self.head_base = BUCKET_AT;
        self.head_stride = SLOT;
        // At least the buckets a table of this length starts with: a table
        // of one slot had one, and the growth point of one bucket is below
        // zero. The buckets added are empty: never written, as slot heads or
        // in the slots copied (a head's bucket is below `hash_len`).
        let first = first_buckets(len);
        if self.hash_len < first {
            self.hash_len = first;
            self.hash_mask = first - 1;
        }
        // Without the map every head stays empty: the copied slots' heads
        // were cleared when it was dropped, and the rest are never-used
        // slots.
        if self.mapped {
            self.fit_map();
        }
    }

    /// Grows the map as far as the descriptors taken need in this table,
    /// chooses where its heads live and files every arena (the map kept,
    /// the heads in the slots): O(descriptors taken + buckets).
    fn fit_map(&mut self) {
        self.hash_grow_at = self.grow_at_here();
        while self.fresh >= self.hash_grow_at {
            self.double_map();
        }
        self.place_heads();
    }

    /// Whether this manager keeps an offset map (the default): see
    /// [`set_offset_map`](Self::set_offset_map).
    ///
    /// # Time complexity
    /// O(1).
    pub fn has_offset_map(&self) -> bool {
        self.mapped
    }

    /// Keeps the offset map (`true`, the default) or drops it (`false`).
    ///
    /// The offset map is how [`free`](Self::free) and
    /// [`realloc`](Self::realloc) find an allocation's descriptor from its
    /// offset alone; every split, merge and move keeps it up to date. A
    /// caller that keeps every allocation's hint ([`Allocation::hint`](crate::Allocation::hint),
    /// [`Reallocation::hint`](crate::Reallocation::hint)) and frees only with
    /// [`free_with_hint`](Self::free_with_hint) and
    /// [`realloc_with_hint`](Self::realloc_with_hint) never needs it, as a
    /// GPU sub-allocator that keeps its allocation objects (offset-allocator,
    /// VMA) needs none. Without it that upkeep is gone (4–8 % of the
    /// instructions of random actions and of the real traces:
    /// `benches/RESULTS.md`, "Engine work, part 16"), and the rules change:
    ///
    /// - A right hint (its descriptor describes the in-use arena at the
    ///   offset) frees or resizes as before.
    /// - A hint whose descriptor describes a free (or cached) arena at the
    ///   offset is [`FreeError::DoubleFree`](crate::FreeError::DoubleFree), as with the map.
    /// - Any other call — no hint, a wrong or a stale one — is refused with
    ///   [`FreeError::NoOffsetMap`](crate::FreeError::NoOffsetMap) (or
    ///   [`FreeError::OutOfRegion`](crate::FreeError::OutOfRegion) for an
    ///   offset past the capacity), and nothing changes: without the map
    ///   nothing else can find the arena, and nothing wrong is freed.
    /// - [`arena_at`](Self::arena_at) walks the arenas.
    ///
    /// Hints stay right as long as the table is not compacted: a
    /// [`defragment`](Self::defragment) that moves descriptors makes the
    /// hints of the allocations it moved wrong. A [`Movable`](crate::Movable)
    /// renews its own, and runs without the map: its manager has none.
    ///
    /// ```
    /// use sysarena::{ArenaManager, Config, FreeError};
    ///
    /// let mut m = ArenaManager::<64>::with_config(4096, Config::fast());
    /// m.set_offset_map(false);
    /// let a = m.alloc(100, 8).unwrap();
    /// // By offset alone: refused, nothing freed.
    /// assert_eq!(
    ///     m.free(a.offset()),
    ///     Err(FreeError::NoOffsetMap { offset: a.offset() })
    /// );
    /// m.free_with_hint(a.offset(), a.hint()).unwrap();
    /// assert_eq!(m.stats().used_arenas, 0);
    /// ```
    ///
    /// # Time complexity
    /// Dropping: O(map size). Keeping it again: O(descriptors taken), the
    /// map rebuilt for every arena. O(1) when nothing changes.
    pub fn set_offset_map(&mut self, keep: bool) {
        if keep == self.mapped {
            return;
        }
        if keep {
            self.mapped = true;
            self.fit_map();
        } else {
            // Every head empty, and kept empty (`hash_insert` does nothing
            // without the map): every `hash_find` misses.
            self.clear_dense_slots();
            for b in 0..self.hash_len {
                self.set_head(self.head_at(b), 0);
            }
            self.mapped = false;
            self.hash_grow_at = u32::MAX;
        }
    }

    /// Ends the dense form (if on): the dense slots become never-used
    /// descriptors again (`Slot::EMPTY`); the caller then puts every head
    /// back.
    fn clear_dense_slots(&mut self) {
        if !self.dense() {
            return;
        }
        let (from, len) = (self.fresh_end as usize, self.slots.as_ref().len());
        self.slots.as_mut()[from..len].fill(Slot::EMPTY);
        self.fresh_end = len as u32;
        self.head_base = BUCKET_AT;
        self.head_stride = SLOT;
    }

    /// Moves the bucket heads from the dense slots into the slots' `bucket`
    /// fields (the chains do not change: safe mid-operation) and frees the
    /// dense slots for use as descriptors. O(`hash_len`), once per growth of
    /// the map at most.
    #[cold]
    #[inline(never)]
    pub(super) fn leave_dense(&mut self) {
        for b in 0..self.hash_len {
            let h = self.head(self.head_at(b));
            // Bucket positions lie below `fresh_end` (`grow_hash`): this
            // writes outside the dense slots.
            self.slot_mut(b).bucket = h;
        }
        self.clear_dense_slots();
    }

    /// The arena (free, cached or in use) that starts at `offset`. Without
    /// the map every head is empty: `None`.
    pub(super) fn hash_find(&self, offset: usize) -> Option<u32> {
        let mut cur = self
            .head(self.head_at(self.bucket_of(offset)))
            .wrapping_sub(1);
        while cur != NIL {
            let s = self.slot(cur);
            if s.offset == offset {
                return Some(cur);
            }
            cur = s.hash_next;
        }
        None
    }

    /// Files arena `i` under its offset (nothing without the map).
    pub(super) fn hash_insert(&mut self, i: u32) {
        if !self.mapped {
            return;
        }
        let at = self.head_at(self.bucket_of(self.slot(i).offset));
        let head = self.head(at).wrapping_sub(1);
        self.slot_mut(i).hash_next = head;
        self.set_head(at, i.wrapping_add(1));
    }

    /// Takes arena `i` out of the map (nothing without one).
    pub(super) fn hash_remove(&mut self, i: u32) {
        if !self.mapped {
            return;
        }
        let at = self.head_at(self.bucket_of(self.slot(i).offset));
        let next = self.slot(i).hash_next;
        let mut cur = self.head(at).wrapping_sub(1);
        if cur == i {
            self.set_head(at, next.wrapping_add(1));
            return;
        }
        while cur != NIL {
            let n = self.slot(cur).hash_next;
            if n == i {
                self.slot_mut(cur).hash_next = next;
                return;
            }
            cur = n;
        }
        debug_assert!(false, "hash_remove: slot {i} not in its bucket");
    }

    /// The bucket heads' form for [`check_invariants`](Self::check_invariants):
    /// the dense slots lie above every descriptor in use and hold every
    /// bucket, whose positions lie below them.
    pub(super) fn check_dense(&self) -> Result<(), &'static str> {
        let len = self.slots.as_ref().len();
        if !self.dense() {
            return if self.fresh_end as usize == len.min(u32::MAX as usize)
                && self.head_base == BUCKET_AT
                && self.head_stride == SLOT
            {
                Ok(())
            } else {
                Err("fresh_end is not the table's end without dense buckets")
            };
        }
        let end = self.fresh_end as usize;
        if self.fresh as usize > end
            || self.hash_len as usize > end
            || end + dense_slots(self.hash_len as usize) > len
            || self.head_base != end * SLOT
        {
            return Err("dense buckets overlap descriptors or leave the table");
        }
        Ok(())
    }

    /// The head of bucket `b` as stored (plus one), for the checks.
    pub(super) fn stored_head(&self, b: u32) -> u32 {
        self.head(self.head_at(b))
    }

    /// Files every arena in the map again (nothing without one).
    pub(super) fn rebuild_hash(&mut self) {
        if !self.mapped {
            return;
        }
        // Buckets at and above `hash_len` were never written: already empty.
        let (fresh, hash_len) = (self.fresh as usize, self.hash_len);
        for b in 0..hash_len {
            self.set_head(self.head_at(b), 0);
        }
        for s in &mut self.slots.as_mut()[..fresh] {
            s.hash_next = NIL;
        }
        for i in 0..fresh {
            if self.slots.as_ref()[i].state != State::Spare {
                self.hash_insert(i as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests;
