//! Split and merge: carving an allocation out of a free arena, and joining
//! free neighbours.

use super::state::ArenaManager;
use crate::error::{AllocError, OomReason};
use crate::table::{NIL, Slot, State, TableStorage};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Splits free arena `i`: `pad` bytes in front stay free, the next
    /// `need` bytes become the allocation (tagged `tag`), the rest stays
    /// free. Returns the allocation's offset and descriptor: `i` itself
    /// unless padding that becomes a free arena of its own keeps `i`.
    #[inline(always)]
    pub(super) fn carve(
        &mut self,
        i: u32,
        pad: usize,
        need: usize,
        used: usize,
        align: usize,
        tag: u32,
    ) -> Result<(usize, u32), AllocError> {
        if pad > 0 {
            return self.carve_padded(i, pad, need, used, align, tag);
        }
        // No padding (the usual case): the allocation keeps descriptor `i`
        // and a remainder takes a spare.
        let Slot { offset, size, .. } = *self.slot(i);
        let rest = size - need;
        if rest > 0 && self.spare == 0 {
            return Err(self.no_spare_descriptor());
        }
        if rest > 0 {
            let k = self.new_free_arena(i, offset + need, rest);
            self.index_hand_over(i, k, size, rest);
            self.slot_mut(i).size = need;
            self.link_after(i, k);
            self.hash_insert(k);
        } else {
            self.index_remove(i);
        }
        self.mark_in_use(i, offset, need, used, align, tag);
        Ok((offset, i))
    }

    /// The out-of-memory error of a split that lacks a spare descriptor.
    #[cold]
    fn no_spare_descriptor(&self) -> AllocError {
        AllocError::OutOfMemory(OomReason::NoSpareDescriptor {
            descriptors: self.slots.as_ref().len(),
        })
    }

    /// Free arena `i`, already out of the index and `need` bytes at
    /// `offset`, becomes the allocation.
    #[inline(always)]
    fn mark_in_use(
        &mut self,
        i: u32,
        offset: usize,
        need: usize,
        used: usize,
        align: usize,
        tag: u32,
    ) {
        let s = self.slot_mut(i);
        s.state = State::InUse;
        s.used = used;
        s.align_log2 = align.trailing_zeros() as u8;
        s.tag = tag;
        let next = s.next;
        self.requested_bytes += used;
        self.rover = offset + need;
        self.rover_slot = next;
    }

    /// `carve` with alignment padding in front (`pad > 0`): the padding
    /// joins a free left neighbour (the allocation keeps `i`, moved up by
    /// `pad`), or stays in `i` as a free arena of its own and the
    /// allocation takes a spare: either way the offset map moves or gains
    /// one entry, not three.
    #[cold]
    #[inline(never)]
    fn carve_padded(
        &mut self,
        i: u32,
        pad: usize,
        need: usize,
        used: usize,
        align: usize,
        tag: u32,
    ) -> Result<(usize, u32), AllocError> {
        let Slot {
            offset, size, prev, ..
        } = *self.slot(i);
        debug_assert!(pad > 0, "`carve` takes the unpadded split");
        let rest = size - pad - need;
        let pad_joins_prev = prev != NIL && self.slot(prev).state == State::Free;
        let spares_needed = usize::from(!pad_joins_prev) + usize::from(rest > 0);
        if spares_needed > self.spare {
            return Err(self.no_spare_descriptor());
        }
        self.index_remove(i);
        let a = if pad_joins_prev {
            self.hash_remove(i);
            self.index_remove(prev);
            self.slot_mut(prev).size += pad;
            self.index_insert(prev);
            let s = self.slot_mut(i);
            s.offset += pad;
            s.size -= pad;
            self.hash_insert(i);
            i
        } else {
            // Free until `mark_in_use` below, as `i` is in the other branch.
            let a = self.new_free_arena(i, offset + pad, size - pad);
            self.slot_mut(i).size = pad;
            self.link_after(i, a);
            self.hash_insert(a);
            self.index_insert(i);
            a
        };
        if rest > 0 {
            self.split_rest(a, offset + pad, need, rest);
        }
        self.mark_in_use(a, offset + pad, need, used, align, tag);
        Ok((offset + pad, a))
    }

    /// Arena `a`, out of the index and at `at`, keeps its first `need`
    /// bytes; the `rest` after them (more than 0) become a free arena in a
    /// spare descriptor (the caller checked one is left), linked after `a`,
    /// mapped and indexed.
    #[inline(always)]
    fn split_rest(&mut self, a: u32, at: usize, need: usize, rest: usize) {
        let k = self.new_free_arena(a, at + need, rest);
        self.slot_mut(a).size = need;
        self.link_after(a, k);
        self.hash_insert(k);
        self.index_insert(k);
    }

    /// Takes a spare descriptor for a new free arena that will lie beside
    /// arena `near` in address order (`NIL`: nowhere known yet), preferring
    /// `near`'s neighbours in the table (see `spare_near`); the caller
    /// links, hashes and indexes it. The caller has checked a spare exists.
    ///
    /// Only what no caller writes is written: the extent, `used` and the
    /// state. The links come from `link_after`/`link_before`, `hash_insert`
    /// and `index_insert`; `tag` and `align_log2` keep stale values, never
    /// read while the arena is not in use (every way into use writes them),
    /// and the bucket head stays where it is.
    #[inline(always)]
    pub(super) fn new_free_arena(&mut self, near: u32, offset: usize, size: usize) -> u32 {
        let j = self.spare_near(near).expect("caller checked for a spare");
        let s = self.slot_mut(j);
        s.offset = offset;
        s.size = size;
        s.used = 0;
        s.state = State::Free;
        j
    }

    /// Immediate coalescing of a just-freed arena (not yet indexed) with its
    /// free neighbours; returns the slot that now describes the merged arena.
    #[inline(always)]
    pub(super) fn merge_neighbours(&mut self, i: u32) -> u32 {
        let next = self.slot(i).next;
        if next != NIL && self.slot(next).state == State::Free {
            self.index_remove(next);
            self.absorb_next(i);
        }
        let prev = self.slot(i).prev;
        if prev != NIL && self.slot(prev).state == State::Free {
            self.index_remove(prev);
            self.absorb_next(prev);
            return prev;
        }
        i
    }

    /// Arena `i` absorbs its right neighbour, whose descriptor becomes spare.
    /// Neither is in the free index while this runs.
    #[inline(always)]
    pub(super) fn absorb_next(&mut self, i: u32) {
        let n = self.slot(i).next;
        let n_size = self.slot(n).size;
        self.hash_remove(n);
        self.unlink(n);
        self.spare_push(n);
        if self.rover_slot == n {
            self.rover_slot = i;
        }
        self.slot_mut(i).size += n_size;
    }

    /// Merges every run of free neighbours; returns how many arenas were
    /// absorbed.
    pub(super) fn merge_all(&mut self) -> usize {
        let mut merged = 0;
        let mut cur = self.head;
        while cur != NIL {
            let next = self.slot(cur).next;
            if self.slot(cur).state == State::Free
                && next != NIL
                && self.slot(next).state == State::Free
            {
                self.index_remove(cur);
                while self.slot(cur).next != NIL
                    && self.slot(self.slot(cur).next).state == State::Free
                {
                    let n = self.slot(cur).next;
                    self.index_remove(n);
                    self.absorb_next(cur);
                    merged += 1;
                }
                self.index_insert(cur);
            }
            cur = self.slot(cur).next;
        }
        merged
    }
}
