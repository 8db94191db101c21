//! The free index's upkeep: filing a free arena in its size class, taking
//! it out, and keeping the largest free arena known.

use super::state::ArenaManager;
use crate::table::{CLASSES, NIL, Slot, TableStorage, class_of};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Puts free arena `i` into its size class.
    #[inline(always)]
    pub(super) fn index_insert(&mut self, i: u32) {
        let size = self.slot(i).size;
        let class = class_of(size);
        let head = self.index.heads[class];
        {
            let s = self.slot_mut(i);
            s.link_prev = NIL;
            s.link_next = head;
        }
        if head != NIL {
            self.slot_mut(head).link_prev = i;
        } else {
            self.index.mark(class);
        }
        self.index.heads[class] = i;
        self.free_arenas += 1;
        self.free_bytes += size;
        if size > self.largest_free {
            self.largest_free = size;
        }
    }

    /// Takes free arena `i` out of its size class.
    #[inline(always)]
    pub(super) fn index_remove(&mut self, i: u32) {
        let Slot {
            size,
            link_prev,
            link_next,
            ..
        } = *self.slot(i);
        let class = class_of(size);
        if link_prev != NIL {
            self.slot_mut(link_prev).link_next = link_next;
        } else {
            self.index.heads[class] = link_next;
            if link_next == NIL {
                self.index.unmark(class);
            }
        }
        if link_next != NIL {
            self.slot_mut(link_next).link_prev = link_prev;
        }
        self.free_arenas -= 1;
        self.free_bytes -= size;
        if size == self.largest_free {
            self.largest_stale = true;
        }
    }

    /// Ends an operation: recomputes the largest free arena if it left the
    /// index. The new largest is in the highest non-empty class.
    #[inline]
    pub(super) fn settle(&mut self) {
        if self.largest_stale {
            self.largest_stale = false;
            self.largest_free = self.max_free_in_top_class();
        }
    }

    /// The largest free arena: the largest in the highest non-empty class.
    /// O(k) in that class's population (usually one or two arenas).
    fn max_free_in_top_class(&self) -> usize {
        let Some(c) = self.index.last_upto(CLASSES - 1) else {
            return 0;
        };
        let mut best = 0;
        let mut cur = self.index.heads[c];
        while cur != NIL {
            let s = self.slot(cur);
            best = best.max(s.size);
            cur = s.link_next;
        }
        best
    }
}
