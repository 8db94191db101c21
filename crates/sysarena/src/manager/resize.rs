//! `realloc`'s in-place paths: shrinking, growing into a free right
//! neighbour, and the last resort of taking both neighbours.

use super::state::ArenaManager;
use crate::stats::Reallocation;
use crate::table::{NIL, Slot, State, TableStorage};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    pub(super) fn shrink_in_place(&mut self, i: u32, need: usize) {
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
    pub(super) fn grow_into_neighbours(
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
        let (to, hint) = self
            .carve(prev, pad, need, new_size, align, tag)
            .expect("descriptors were counted above");
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
    pub(super) fn take_from_right(&mut self, i: u32, extra: usize) {
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

    pub(super) fn set_used(&mut self, i: u32, used: usize) {
        let s = self.slot_mut(i);
        let old = core::mem::replace(&mut s.used, used);
        self.requested_bytes = self.requested_bytes - old + used;
    }

    pub(super) fn in_place(&self, i: u32, copy_len: usize) -> Reallocation {
        let s = self.slot(i);
        Reallocation {
            offset: s.offset,
            size: s.size,
            moved_from: None,
            copy_len,
            hint: i,
        }
    }
}
