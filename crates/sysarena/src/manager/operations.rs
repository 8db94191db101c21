//! The public operations alloc, free and defragment, and the request checks
//! and lookups they share with `realloc` (its own file).

use super::quick_lists::{LARGE_FLUSH_RATIO, LARGE_REQUEST, NEAR_MIN};
use super::state::ArenaManager;
use crate::config::{Coalescing, Policy};
use crate::error::{AllocError, FreeError, OomReason};
use crate::stats::{Allocation, DefragReport};
use crate::table::{CLASSES, NIL, State, TableStorage};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Allocates `size` bytes aligned to `align`.
    ///
    /// The policy picks a free arena that holds `size` bytes (rounded up to
    /// `align`) at an `align`-aligned offset; the arena is split: the
    /// allocation takes the front (after any alignment padding, which becomes
    /// a free arena of its own, or joins a free left neighbour), and the rest
    /// stays free in a spare descriptor. An exact fit needs no descriptor.
    /// Under the fast model ([`Config::fast`](crate::Config::fast)) a
    /// request first looks at the quick list of its exact size: a small
    /// arena freed earlier, waiting whole, is handed out again at once. If
    /// that list is empty, a request of 512 bytes or more takes a waiting
    /// arena at most a [`QUICK_NEAR_SHARE`](crate::QUICK_NEAR_SHARE)-th
    /// (64th) larger than it, from the first non-empty list
    /// of the sizes just above (at most 15 lists looked at);
    /// [`Allocation::size`] then says how many bytes the arena holds.
    ///
    /// # Errors
    /// [`AllocError::ZeroSize`], [`AllocError::BadAlign`],
    /// [`AllocError::SizeOverflow`], [`AllocError::TooLarge`], or
    /// [`AllocError::OutOfMemory`] with the reason: no free arena fits
    /// ([`OomReason::NoFit`], which carries the free bytes — more than the
    /// request is external fragmentation), or the split needs more spare
    /// descriptors than the table has left — one for the remainder, one
    /// for alignment padding ([`OomReason::NoSpareDescriptor`]).
    /// Before either out-of-memory error the quick lists are flushed and
    /// the request tried once more. On error no allocation changes; only
    /// that flush may have happened (cached arenas, free already, merged
    /// with their free neighbours).
    ///
    /// # Time complexity
    /// [`Policy::SegregatedFit`](crate::Policy::SegregatedFit): O(1) (see its docs for the bounded
    /// fallback; a flush of the quick lists before an out-of-memory error is
    /// at most 32,768 frees, a constant). The others: see each [`Policy`](crate::Policy). A
    /// [`OomReason::NoFit`] error reports the largest free arena, which costs
    /// what [`stats`](Self::stats) says. Plus the offset map's upkeep:
    /// expected O(1) per entry (on average at most one entry per bucket
    /// while the map grows, two once it spans the table), and
    /// amortised O(1) growth — each time the descriptors in use double,
    /// the map doubles and is rebuilt in O(descriptors in use), and its
    /// heads may move once into the slots (O(map size)) when the table
    /// fills up.
    #[inline]
    pub fn alloc(&mut self, size: usize, align: usize) -> Result<Allocation, AllocError> {
        // The quick-list hit inline (in the caller); everything else a call
        // away.
        let need = self.check_request(size, align)?;
        if let Some(a) = self.take_cached(need, size, align, NIL) {
            return Ok(a);
        }
        self.alloc_uncached(size, need, align, NIL)
    }

    /// `alloc` when no cached arena serves the request (the new arena
    /// tagged `tag`).
    #[inline(never)]
    pub(super) fn alloc_uncached(
        &mut self,
        size: usize,
        need: usize,
        align: usize,
        tag: u32,
    ) -> Result<Allocation, AllocError> {
        // A large request while the lists hold many times its size: the
        // cached arenas merge first (see `quick_lists`). New allocations
        // only (`alloc` and a handle's): a moving `realloc` keeps the lists,
        // as growing blocks (a vector doubling) would otherwise flush them
        // again and again.
        if need >= LARGE_REQUEST && self.quick.bytes / LARGE_FLUSH_RATIO >= need {
            self.large_flush();
        }
        self.reserve_hash();
        self.alloc_split(size, need, align, tag)
    }

    /// `alloc` after the request was validated and the offset map reserved
    /// (`reserve_hash`): `need` is `size` rounded up to `align`; the new
    /// arena carries `tag` (the slot's owner tag).
    #[inline(always)]
    pub(super) fn alloc_checked(
        &mut self,
        size: usize,
        need: usize,
        align: usize,
        tag: u32,
    ) -> Result<Allocation, AllocError> {
        if let Some(a) = self.take_cached(need, size, align, tag) {
            return Ok(a);
        }
        self.alloc_split(size, need, align, tag)
    }

    /// [`alloc_checked`](Self::alloc_checked) past the quick lists: the
    /// policy's search and the split.
    #[inline(always)]
    fn alloc_split(
        &mut self,
        size: usize,
        need: usize,
        align: usize,
        tag: u32,
    ) -> Result<Allocation, AllocError> {
        if need >= NEAR_MIN
            && self.quick.bytes != 0
            && let Some(near) = self.near_size(need)
            && let Some(a) = self.take_cached(near, size, align, tag)
        {
            return Ok(a);
        }
        let Some((slot, pad)) = self.find(need, align) else {
            return self.alloc_after_flush(size, need, align, tag, None);
        };
        let (offset, slot) = match self.carve(slot, pad, need, size, align, tag) {
            Ok(carved) => carved,
            Err(e) => return self.alloc_after_flush(size, need, align, tag, Some(e)),
        };
        self.settle();
        Ok(Allocation {
            offset,
            size: need,
            hint: slot,
        })
    }

    /// The allocation that found no fit (or no spare descriptor, `err`):
    /// if arenas wait in the quick lists, frees them for real and tries once
    /// more; otherwise (or if that fails too) the error.
    #[cold]
    #[inline(never)]
    fn alloc_after_flush(
        &mut self,
        size: usize,
        need: usize,
        align: usize,
        tag: u32,
        err: Option<AllocError>,
    ) -> Result<Allocation, AllocError> {
        if self.quick.bytes == 0 {
            return Err(err.unwrap_or_else(|| self.no_fit(need)));
        }
        self.flush_quick_lists();
        // Once more, with the lists empty: a failure now returns above.
        self.alloc_uncached(size, need, align, tag)
    }

    /// The out-of-memory error of a request for `need` bytes that no free
    /// arena holds.
    #[cold]
    fn no_fit(&self, need: usize) -> AllocError {
        AllocError::OutOfMemory(OomReason::NoFit {
            needed: need,
            free_bytes: self.free_bytes,
            largest_free: self.largest_free(),
        })
    }

    /// Frees the allocation that starts at `offset`.
    ///
    /// Under [`Coalescing::Deferred`] (the classic model) the arena is only
    /// marked free and its `used` reset to 0. Under
    /// [`Coalescing::Immediate`] it merges with its free neighbours at once —
    /// except under the fast model ([`Config::fast`](crate::Config::fast)),
    /// where an arena under [`QUICK_LIMIT`](crate::QUICK_LIMIT) bytes whose
    /// size is a multiple of [`QUICK_GRANULE`](crate::QUICK_GRANULE) first
    /// waits, whole, in the quick list of its size (bounded; see
    /// [`Stats::cached_bytes`](crate::Stats::cached_bytes)) for the next
    /// request of that size.
    ///
    /// # Errors
    /// [`FreeError::DoubleFree`] if the arena is already free (or cached),
    /// [`FreeError::NotAllocated`] if no arena starts at `offset`,
    /// [`FreeError::OutOfRegion`] if `offset >= capacity`,
    /// [`FreeError::NoOffsetMap`] for any other offset if the manager keeps
    /// no offset map ([`set_offset_map`](Self::set_offset_map)). On error
    /// nothing changes.
    ///
    /// # Time complexity
    /// O(1) for every policy: the offset is looked up in the table's hash
    /// map (expected O(1): on average at most two entries per bucket),
    /// neighbours through the address links.
    #[inline]
    pub fn free(&mut self, offset: usize) -> Result<(), FreeError> {
        let i = self.lookup_in_use(offset)?;
        self.free_or_cache(i);
        Ok(())
    }

    /// [`free`](Self::free), told where the allocation's descriptor is:
    /// `hint` is the [`Allocation::hint`] (or
    /// [`Reallocation::hint`](crate::Reallocation::hint)) that
    /// came with it.
    ///
    /// `free` finds the descriptor through the offset map: two dependent
    /// loads (a bucket head, then the descriptor) before anything else can
    /// start, where an allocator with a header beside the block has one.
    /// A caller that keeps the hint (four bytes per allocation, as a GPU
    /// sub-allocator keeps its allocation object) skips the map: the hinted
    /// descriptor is read, and used only if it describes the in-use arena
    /// at `offset`. Any other hint — stale after a `defragment` compacted
    /// the table (a relocation moves each arena with its descriptor: its
    /// hint stays right for its new offset), or made up — costs the
    /// lookup `free` does, and the result is the same: for every `hint`,
    /// `free_with_hint(offset, hint)` does exactly what `free(offset)`
    /// does, errors included. A manager without an offset map
    /// ([`set_offset_map`](Self::set_offset_map)) has only the hint: a
    /// wrong one is refused.
    ///
    /// ```
    /// use sysarena::{ArenaManager, Config, FreeError};
    ///
    /// let mut m = ArenaManager::<64>::with_config(4096, Config::fast());
    /// let a = m.alloc(100, 8).unwrap();
    /// m.free_with_hint(a.offset(), a.hint()).unwrap();
    /// // A stale or made-up hint is only slower.
    /// assert_eq!(
    ///     m.free_with_hint(a.offset(), 7),
    ///     Err(FreeError::DoubleFree { offset: a.offset() })
    /// );
    /// ```
    ///
    /// # Errors
    /// As [`free`](Self::free). Without an offset map, a hint whose
    /// descriptor does not describe the in-use arena at `offset` is
    /// [`FreeError::DoubleFree`] if it describes a free or cached arena
    /// there, else [`FreeError::NoOffsetMap`] (or
    /// [`FreeError::OutOfRegion`]).
    ///
    /// # Time complexity
    /// O(1), as `free`; with a right hint, one descriptor read instead of
    /// the offset map's lookup.
    #[inline]
    pub fn free_with_hint(&mut self, offset: usize, hint: u32) -> Result<(), FreeError> {
        let i = self.lookup_hinted(offset, hint)?;
        self.free_or_cache(i);
        Ok(())
    }

    /// Frees in-use arena `i` (already looked up) into a quick list if it
    /// takes it, else for real.
    #[inline(always)]
    pub(super) fn free_or_cache(&mut self, i: u32) {
        if !self.try_cache(i) {
            self.free_slot(i);
        }
    }

    /// Frees in-use arena `i` (already looked up).
    #[inline(never)]
    pub(super) fn free_slot(&mut self, i: u32) {
        if self.quick.pause != 0 {
            self.quick.pause -= 1;
            if self.quick.pause == 0 {
                self.quick.shrink = 0;
            }
        }
        let used = {
            let s = self.slot_mut(i);
            let used = s.used;
            s.used = 0;
            s.state = State::Free;
            used
        };
        self.requested_bytes -= used;
        let i = match self.config.coalescing {
            Coalescing::Deferred => i,
            Coalescing::Immediate => self.merge_neighbours(i),
        };
        self.index_insert(i);
        self.settle();
    }

    /// The classic defragment: (1) merge every run of address-adjacent free
    /// arenas into one; (2) compact the table so that the spare descriptors
    /// sit at the end. No allocation moves. Under the fast model the quick
    /// lists are flushed first, and the merges that flush makes count in
    /// [`DefragReport::merged`].
    ///
    /// # Time complexity
    /// O(arenas + descriptors).
    pub fn defragment(&mut self) -> DefragReport {
        self.defragment_renaming(|_, _| {})
    }

    /// [`defragment`](Self::defragment), calling `renamed(tag, to)` for each
    /// in-use arena carrying a handle's tag whose descriptor the compaction
    /// moved to number `to` (a [`Movable`](crate::Movable) renews its
    /// hints with it).
    pub(crate) fn defragment_renaming(&mut self, renamed: impl FnMut(u32, u32)) -> DefragReport {
        let mut report = DefragReport {
            free_arenas_before: self.free_arenas + self.cached_arenas(),
            largest_free_before: self.largest_free().max(self.largest_cached()),
            ..DefragReport::default()
        };
        // The fast model's cached arenas first: each merges with its free
        // neighbours as it is freed for real (counted as merges).
        self.flush_quick_lists();
        report.merged = report.free_arenas_before - self.free_arenas;
        report.merged += self.merge_all();
        report.compacted = self.compact_table(renamed);
        self.settle();
        report.free_arenas_after = self.free_arenas;
        report.largest_free_after = self.largest_free();
        report
    }

    /// The free arena the policy chooses for `need` bytes at `align`, and
    /// the padding in front of the aligned offset.
    #[inline(always)]
    fn find(&mut self, need: usize, align: usize) -> Option<(u32, usize)> {
        // Segregated fit's O(1) look at two list heads stays inline; the
        // scanning policies are a call away.
        if self.config.policy == Policy::SegregatedFit {
            self.find_segregated(need, align)
        } else {
            self.find_scanning(need, align)
        }
    }

    /// [`find`](Self::find) for the policies that scan.
    #[inline(never)]
    fn find_scanning(&mut self, need: usize, align: usize) -> Option<(u32, usize)> {
        match self.config.policy {
            // `find` serves segregated fit inline and never calls this. Its
            // bounded fallback over every class is still a right answer,
            // and it does not link a second copy of the inline search
            // (564 B on a Cortex-M; README, "On a microcontroller").
            Policy::SegregatedFit => self.fallback(need, align, CLASSES),
            Policy::FirstFit => self.scan_up(need, align, |s| s.offset as u128, false),
            Policy::NextFit => self.next_fit(need, align),
            Policy::BestFit => self.scan_up(
                need,
                align,
                |s| (s.size as u128) << 64 | s.offset as u128,
                true,
            ),
            Policy::WorstFit => self.scan_down(need, align),
        }
    }

    /// Validates a request; returns the arena size it needs.
    pub(super) fn check_request(&self, size: usize, align: usize) -> Result<usize, AllocError> {
        if size == 0 {
            return Err(AllocError::ZeroSize);
        }
        if !align.is_power_of_two() {
            return Err(AllocError::BadAlign { align });
        }
        // `align` is a power of two: round with a mask, not a division.
        let need = size
            .checked_add(align - 1)
            .ok_or(AllocError::SizeOverflow { size, align })?
            & !(align - 1);
        if need > self.capacity {
            return Err(AllocError::TooLarge {
                size,
                capacity: self.capacity,
            });
        }
        Ok(need)
    }

    /// The in-use arena at `offset`: `hint` if it is a descriptor (below
    /// `fresh`: every slot there is one, none is a dense bucket head, and
    /// `fresh` is at most the table's length, so `slot`'s unchecked read
    /// stays inside the table whatever the caller passed) that
    /// describes the in-use arena at `offset` — arenas do not overlap, so
    /// that arena is the one [`lookup_in_use`](Self::lookup_in_use) would
    /// find — else what `lookup_in_use` finds.
    #[inline(always)]
    pub(super) fn lookup_hinted(&self, offset: usize, hint: u32) -> Result<u32, FreeError> {
        if hint < self.fresh {
            let s = self.slot(hint);
            if s.offset == offset && s.state == State::InUse {
                return Ok(hint);
            }
        }
        self.lookup_mapped(offset, hint)
    }

    /// The in-use arena at `offset`. The map first (no arena starts at or
    /// past the capacity, so an offset out of the region is a miss), the
    /// region check only on a miss: one compare less on every `free`.
    pub(super) fn lookup_in_use(&self, offset: usize) -> Result<u32, FreeError> {
        self.lookup_mapped(offset, NIL)
    }

    /// [`lookup_in_use`](Self::lookup_in_use) after `hint` (maybe `NIL`)
    /// named no in-use arena at `offset`.
    #[inline(always)]
    fn lookup_mapped(&self, offset: usize, hint: u32) -> Result<u32, FreeError> {
        match self.hash_find(offset) {
            Some(i) if self.slot(i).state == State::InUse => Ok(i),
            Some(_) => Err(FreeError::DoubleFree { offset }),
            None => Err(self.lookup_miss(offset, hint)),
        }
    }

    /// Why no arena was found at `offset`: out of the region; not allocated
    /// (with the map, which holds every arena); without the map, a double
    /// free if `hint` describes a free or cached arena at `offset` (what the
    /// map would have found), else the map's absence. Inline, no call: a
    /// call anywhere on `free`'s path makes every `free` save and restore
    /// registers (random actions at max 200: +9 instructions per free).
    #[inline(always)]
    fn lookup_miss(&self, offset: usize, hint: u32) -> FreeError {
        if offset >= self.capacity {
            return FreeError::OutOfRegion { offset };
        }
        if self.mapped {
            return FreeError::NotAllocated { offset };
        }
        // `hint < fresh`: a descriptor, read as in `lookup_hinted`.
        if hint < self.fresh {
            let s = self.slot(hint);
            if s.offset == offset && matches!(s.state, State::Free | State::Cached) {
                return FreeError::DoubleFree { offset };
            }
        }
        FreeError::NoOffsetMap { offset }
    }
}
