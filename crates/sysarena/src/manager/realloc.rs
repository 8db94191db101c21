//! `realloc`: in place when it can (shrinking, or growing into a free
//! right neighbour), else by moving (an `alloc` and a `free`), and, before
//! out of memory, the last resort of taking both neighbours.

use super::quick_lists::MOVED_CACHE_LIMIT;
use super::state::ArenaManager;
use crate::error::{AllocError, OomReason, ReallocError};
use crate::stats::Reallocation;
use crate::table::{NIL, Slot, State, TableStorage};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Resizes the allocation at `offset` to `new_size` bytes at `align`.
    ///
    /// Shrinks in place (the tail returns to a free right neighbour, or
    /// becomes a free arena if a spare descriptor is left); grows in place
    /// into a free right neighbour; otherwise allocates anew and frees the
    /// old arena, and tells the caller to copy ([`Reallocation::moved_from`]).
    /// Under the fast model the old arena waits in a quick list only if it
    /// is smaller than a quarter of [`QUICK_LIMIT`](crate::QUICK_LIMIT).
    /// When nothing else fits, it takes the free left neighbour too (with
    /// itself and a free right neighbour): the allocation then moves down,
    /// overlapping its old place, so copy as `memmove` does.
    ///
    /// # Errors
    /// [`ReallocError::Free`] if `offset` names no live allocation,
    /// [`ReallocError::Alloc`] if the new size cannot be served. On error the
    /// old allocation is unchanged and still live.
    ///
    /// # Time complexity
    /// In place: O(1) (with `alloc`'s offset-map upkeep). Moving: one
    /// `alloc` and one `free`.
    pub fn realloc(
        &mut self,
        offset: usize,
        new_size: usize,
        align: usize,
    ) -> Result<Reallocation, ReallocError> {
        let i = self.lookup_in_use(offset)?;
        self.realloc_at(i, offset, new_size, align)
    }

    /// [`realloc`](Self::realloc), told where the allocation's descriptor
    /// is, as [`free_with_hint`](Self::free_with_hint) is: for every
    /// `hint` it does exactly what `realloc(offset, new_size, align)` does,
    /// and a right one skips the offset map's lookup. The result's
    /// [`Reallocation::hint`] is the hint for the allocation's next call.
    ///
    /// # Errors
    /// As [`realloc`](Self::realloc); without an offset map a wrong hint is
    /// refused as [`free_with_hint`](Self::free_with_hint) refuses it.
    ///
    /// # Time complexity
    /// As [`realloc`](Self::realloc); with a right hint, one descriptor
    /// read instead of the offset map's lookup.
    pub fn realloc_with_hint(
        &mut self,
        offset: usize,
        hint: u32,
        new_size: usize,
        align: usize,
    ) -> Result<Reallocation, ReallocError> {
        let i = self.lookup_hinted(offset, hint)?;
        self.realloc_at(i, offset, new_size, align)
    }

    /// `realloc` of in-use arena `i` (at `offset`), already looked up.
    #[inline(always)]
    fn realloc_at(
        &mut self,
        i: u32,
        offset: usize,
        new_size: usize,
        align: usize,
    ) -> Result<Reallocation, ReallocError> {
        let need = self.check_request(new_size, align)?;
        self.reserve_hash();
        let Slot {
            size: old_size,
            next,
            ..
        } = *self.slot(i);
        if self.origin.wrapping_add(offset).is_multiple_of(align) {
            if need <= old_size {
                self.shrink_in_place(i, need);
                return Ok(self.resized_in_place(i, new_size, align, old_size));
            }
            let extra = need - old_size;
            if next != NIL && self.slot(next).state == State::Free && self.slot(next).size >= extra
            {
                self.take_from_right(i, extra);
                return Ok(self.resized_in_place(i, new_size, align, old_size));
            }
        }
        // A moved allocation is the same allocation: it keeps its tag.
        let tag = self.slot(i).tag;
        let new = match self.alloc_checked(new_size, need, align, tag) {
            Ok(new) => new,
            Err(e) => {
                if let AllocError::OutOfMemory(OomReason::NoFit { .. }) = e
                    && let Some(r) = self.grow_into_neighbours(i, need, new_size, align)
                {
                    return Ok(r);
                }
                return Err(e.into());
            }
        };
        // `i` still describes the old arena: `alloc` neither moves nor
        // touches an in-use descriptor (a flush frees only cached arenas).
        // Only a small one waits in a quick list (see `quick_lists`).
        if old_size < MOVED_CACHE_LIMIT {
            self.free_or_cache(i);
        } else {
            self.free_slot(i);
        }
        Ok(Reallocation {
            offset: new.offset,
            size: new.size,
            moved_from: Some(offset),
            copy_len: new_size.min(old_size),
            hint: new.hint,
        })
    }

    /// Shrinks in-use arena `i` to `need` bytes: the tail joins a free right
    /// neighbour, or becomes a free arena if a spare descriptor is left, or
    /// (no spare) stays in the arena.
    fn shrink_in_place(&mut self, i: u32, need: usize) {
        let Slot {
            offset, size, next, ..
        } = *self.slot(i);
        let rest = size - need;
        if rest == 0 {
            return;
        }
        if next != NIL && self.slot(next).state == State::Free {
            // The tail joins the free right neighbour.
            self.index_remove(next);
            self.hash_remove(next);
            let n = self.slot_mut(next);
            n.offset -= rest;
            n.size += rest;
            self.hash_insert(next);
            self.index_insert(next);
        } else if self.spare > 0 {
            let k = self.new_free_arena(i, offset + need, rest);
            self.link_after(i, k);
            self.hash_insert(k);
            self.index_insert(k);
        } else {
            // No descriptor for the tail: the arena keeps its size.
            return;
        }
        self.slot_mut(i).size = need;
    }

    /// The last resort of `realloc` before out of memory: the allocation's
    /// free left neighbour, itself and its free right neighbour together,
    /// when they hold `need` bytes at `align`. The allocation moves down
    /// (`moved_from`), overlapping its old place: the caller copies as
    /// `memmove` does. `None`, with nothing changed, when they do not fit or
    /// the split would need descriptors the table lacks.
    fn grow_into_neighbours(
        &mut self,
        i: u32,
        need: usize,
        new_size: usize,
        align: usize,
    ) -> Option<Reallocation> {
        let Slot {
            offset,
            size,
            used,
            prev,
            next,
            tag,
            ..
        } = *self.slot(i);
        if prev == NIL || self.slot(prev).state != State::Free {
            return None;
        }
        let start = self.slot(prev).offset;
        let right = if next != NIL && self.slot(next).state == State::Free {
            self.slot(next).size
        } else {
            0
        };
        let end = offset + size + right;
        let pad = self.origin.wrapping_add(start).wrapping_neg() & (align - 1);
        if end - start < pad + need {
            return None;
        }
        // Descriptors: the old one (and the right neighbour's) come back;
        // padding (unless it joins a free arena before `prev`) and a
        // remainder take one each.
        let before_prev = self.slot(prev).prev;
        let pad_joins =
            pad > 0 && before_prev != NIL && self.slot(before_prev).state == State::Free;
        let needed = usize::from(pad > 0 && !pad_joins) + usize::from(end - start > pad + need);
        let returned = 1 + usize::from(right > 0);
        if needed > self.spare + returned {
            return None;
        }
        // Release the allocation, then carve the new one out of the union.
        self.requested_bytes -= used;
        if right > 0 {
            self.index_remove(next);
            self.absorb_next(i);
        }
        self.index_remove(prev);
        self.absorb_next(prev); // `prev` now spans [start, end), not indexed
        self.slot_mut(prev).used = 0;
        self.index_insert(prev);
        // The descriptors were counted above, so `carve` cannot fail. No
        // `expect`: formatting its error would link `AllocError`'s `Debug`
        // and the formatter's struct builders into every program that
        // reallocates (1,964 B of code on a Cortex-M; README, "On a
        // microcontroller").
        let Ok((to, hint)) = self.carve(prev, pad, need, new_size, align, tag) else {
            unreachable!("descriptors were counted above")
        };
        self.settle();
        // `carve` leaves the allocation exactly `need` bytes.
        Some(Reallocation {
            offset: to,
            size: need,
            moved_from: Some(offset),
            copy_len: new_size.min(size),
            hint,
        })
    }

    /// Grows arena `i` by `extra` bytes taken from its free right neighbour.
    fn take_from_right(&mut self, i: u32, extra: usize) {
        let n = self.slot(i).next;
        self.index_remove(n);
        if self.slot(n).size == extra {
            self.absorb_next(i);
        } else {
            self.hash_remove(n);
            let s = self.slot_mut(n);
            s.offset += extra;
            s.size -= extra;
            self.hash_insert(n);
            self.index_insert(n);
            self.slot_mut(i).size += extra;
        }
    }

    /// Sets in-use arena `i`'s requested bytes to `used`, keeping the
    /// accounting's total.
    pub(super) fn set_used(&mut self, i: u32, used: usize) {
        let s = self.slot_mut(i);
        let old = core::mem::replace(&mut s.used, used);
        self.requested_bytes = self.requested_bytes - old + used;
    }

    /// The end of both in-place paths: arena `i`, resized where it is from
    /// `old_size` bytes, now holds `new_size` requested bytes at `align`.
    #[inline(always)]
    fn resized_in_place(
        &mut self,
        i: u32,
        new_size: usize,
        align: usize,
        old_size: usize,
    ) -> Reallocation {
        self.set_used(i, new_size);
        self.slot_mut(i).align_log2 = align.trailing_zeros() as u8;
        self.settle();
        let s = self.slot(i);
        Reallocation {
            offset: s.offset,
            size: s.size,
            moved_from: None,
            copy_len: new_size.min(old_size),
            hint: i,
        }
    }
}
