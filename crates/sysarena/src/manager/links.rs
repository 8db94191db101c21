//! List upkeep: the spare list and the address-order links that every
//! arena carries to its neighbours.

use super::state::ArenaManager;
use crate::table::{NIL, Slot, State, TableStorage};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    pub(super) fn spare_pop(&mut self) -> Option<u32> {
        let j = self.spare_head;
        if j != NIL {
            self.spare_head = self.slot(j).link_next;
        } else if self.fresh < self.fresh_end {
            // A never-used descriptor: `Slot::EMPTY` or all zero (its links
            // NIL or 0, valid either way); the caller writes every field but
            // the bucket head, which stays where it is.
            let j = self.fresh;
            self.fresh += 1;
            self.spare -= 1;
            return Some(j);
        } else if self.dense() {
            // The never-used descriptors left are the dense buckets': the
            // buckets move back into the slots, which frees them.
            self.leave_dense();
            return self.spare_pop();
        } else {
            return None;
        }
        self.spare -= 1;
        Some(j)
    }

    /// Puts descriptor `j` (out of every list and map) on the spare list.
    /// Only its state and spare link are written: the other fields keep
    /// stale but valid values (every link an index or NIL), never read
    /// while it is spare, and [`new_free_arena`](Self::new_free_arena)
    /// writes them all when it is taken again.
    pub(super) fn spare_push(&mut self, j: u32) {
        let head = self.spare_head;
        let s = self.slot_mut(j);
        s.state = State::Spare;
        s.link_next = head;
        self.spare_head = j;
        self.spare += 1;
    }

    /// Links `j` into the address list right after `i` (`NIL`: as the head).
    #[inline(always)]
    pub(super) fn link_after(&mut self, i: u32, j: u32) {
        let next = if i == NIL {
            self.head
        } else {
            self.slot(i).next
        };
        {
            let s = self.slot_mut(j);
            s.prev = i;
            s.next = next;
        }
        if i == NIL {
            self.head = j;
        } else {
            self.slot_mut(i).next = j;
        }
        if next == NIL {
            self.tail = j;
        } else {
            self.slot_mut(next).prev = j;
        }
    }

    /// Links `j` into the address list right before `i`.
    pub(super) fn link_before(&mut self, i: u32, j: u32) {
        let prev = self.slot(i).prev;
        self.link_after(prev, j);
    }

    pub(super) fn unlink(&mut self, j: u32) {
        let Slot { prev, next, .. } = *self.slot(j);
        if prev == NIL {
            self.head = next;
        } else {
            self.slot_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slot_mut(next).prev = prev;
        }
    }
}
