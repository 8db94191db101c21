//! The free index's upkeep: filing a free arena in its size class, taking
//! it out, and keeping the largest free arena known.
//!
//! # The largest free arena, without a walk
//!
//! Exact maximum tracking under deletions needs a heap (O(log n)); the
//! index keeps something cheaper that is exact almost always:
//! `largest_free` and `largest_count`, the number of free arenas of exactly
//! that size. Filing an arena at least as large, or taking out one of the
//! `largest_count`, updates them in O(1). When the last arena of the largest
//! size leaves, the value becomes *stale*: every free arena is then smaller
//! than `largest_free` (an upper bound). [`settle`](ArenaManager::settle)
//! looks at no more than [`SETTLE_LOOK`] arenas of the top class to make it
//! exact again; if the class is more populous it stays stale, and a reader
//! ([`largest_free`](ArenaManager::largest_free): `stats`, reports, the
//! `NoFit` error) walks that one class. No successful allocation or free
//! walks it.

use super::state::ArenaManager;
use crate::table::{CLASSES, NIL, Slot, TableStorage, class_of};

/// How many arenas of the top class [`settle`](ArenaManager::settle) looks
/// at to find the new largest free arena: a constant, so that no operation
/// walks a class whose population grows with the heap.
pub(super) const SETTLE_LOOK: usize = 8;

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Puts free arena `i` into its size class.
    #[inline(always)]
    pub(super) fn index_insert(&mut self, i: u32) {
        let size = self.slot(i).size;
        self.index_insert_in(i, size, class_of(size));
    }

    /// [`index_insert`](Self::index_insert) of arena `i` of `size` bytes,
    /// its class already computed.
    #[inline(always)]
    fn index_insert_in(&mut self, i: u32, size: usize, class: usize) {
        debug_assert_eq!((size, class), (self.slot(i).size, class_of(size)));
        let head = self.index.heads[class];
        {
            let s = self.slot_mut(i);
            s.link_prev = NIL;
            s.link_next = head;
            s.class = class as u16;
        }
        if head != NIL {
            self.slot_mut(head).link_prev = i;
        } else {
            self.index.mark(class);
        }
        self.index.heads[class] = i;
        self.free_arenas += 1;
        self.free_bytes += size;
        // Stale: every free arena is smaller than `largest_free`, so one at
        // least that large is the largest, alone.
        if size >= self.largest_free {
            if size > self.largest_free || self.largest_stale {
                self.largest_free = size;
                self.largest_count = 1;
                self.largest_stale = false;
            } else {
                self.largest_count += 1;
            }
        }
    }

    /// Takes free arena `i` out of its size class.
    #[inline(always)]
    pub(super) fn index_remove(&mut self, i: u32) {
        let Slot {
            size,
            link_prev,
            link_next,
            class,
            ..
        } = *self.slot(i);
        let class = class as usize;
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
        if size == self.largest_free && !self.largest_stale {
            self.largest_count -= 1;
            if self.largest_count == 0 {
                self.largest_stale = true;
            }
        }
    }

    /// A split's bookkeeping in the index: free arena `i` (`size` bytes,
    /// filed, its size not yet changed) becomes an allocation and `k` (its
    /// `rest`, not yet filed) stays free.
    ///
    /// When `i` is alone in its class and `rest` falls in the same class —
    /// a carve from the top arena, the usual case while a heap grows — `k`
    /// takes `i`'s place: the class's list head changes, the bitmaps do
    /// not, and the largest free size stays exact (no `settle` look).
    /// Otherwise `i` is taken out and `k` filed. Either way each class holds
    /// the arenas, in the order, that `index_remove(i); index_insert(k)`
    /// would leave, so placement does not change.
    #[inline(always)]
    pub(super) fn index_hand_over(&mut self, i: u32, k: u32, size: usize, rest: usize) {
        let Slot {
            link_prev,
            link_next,
            class,
            ..
        } = *self.slot(i);
        let rest_class = class_of(rest);
        if rest_class != class as usize || link_prev != NIL || link_next != NIL {
            self.index_remove(i);
            self.index_insert_in(k, rest, rest_class);
            return;
        }
        let s = self.slot_mut(k);
        s.link_prev = NIL;
        s.link_next = NIL;
        s.class = class;
        self.index.heads[class as usize] = k;
        self.free_bytes -= size - rest;
        // `i` was alone in its class: if it was the largest free arena, it
        // was the only one of its size and its class the highest non-empty
        // one, which `k` now holds alone. A stale bound stays stale
        // (`rest` is below it).
        if size == self.largest_free && !self.largest_stale {
            debug_assert_eq!(self.largest_count, 1);
            self.largest_free = rest;
        }
    }

    /// Ends an operation: if the largest free arena left the index, looks
    /// at up to [`SETTLE_LOOK`] arenas of the highest non-empty class (the
    /// new largest is there) and, if that is the whole class, makes
    /// `largest_free` exact again. O(1).
    #[inline]
    pub(super) fn settle(&mut self) {
        if self.largest_stale {
            // The usual case (a split of the top arena): its remainder is
            // alone in the highest non-empty class.
            if let Some(c) = self.index.last_upto(CLASSES - 1) {
                let h = self.index.heads[c];
                self.count_visit();
                let s = self.slot(h);
                if s.link_next == NIL {
                    self.largest_free = s.size;
                    self.largest_count = 1;
                    self.largest_stale = false;
                    return;
                }
            }
            self.settle_cold();
        }
    }

    #[cold]
    fn settle_cold(&mut self) {
        let Some(c) = self.index.last_upto(CLASSES - 1) else {
            self.largest_free = 0;
            self.largest_count = 0;
            self.largest_stale = false;
            return;
        };
        let (mut best, mut count) = (0, 0);
        let mut cur = self.index.heads[c];
        for _ in 0..SETTLE_LOOK {
            if cur == NIL {
                break;
            }
            self.count_visit();
            let s = self.slot(cur);
            if s.size > best {
                (best, count) = (s.size, 1);
            } else if s.size == best {
                count += 1;
            }
            cur = s.link_next;
        }
        // The whole class was seen (a class of exactly `SETTLE_LOOK`
        // arenas too: the last one's link is NIL).
        if cur == NIL {
            self.largest_free = best;
            self.largest_count = count;
            self.largest_stale = false;
        }
    }

    /// The size of the largest free arena (0 if none).
    ///
    /// # Time complexity
    /// O(1), except while the value is stale (see the module docs): then
    /// O(k), k = free arenas in the highest non-empty size class.
    pub(super) fn largest_free(&self) -> usize {
        if !self.largest_stale {
            return self.largest_free;
        }
        let Some(c) = self.index.last_upto(CLASSES - 1) else {
            return 0;
        };
        let mut best = 0;
        let mut cur = self.index.heads[c];
        while cur != NIL {
            self.count_visit();
            let s = self.slot(cur);
            best = best.max(s.size);
            cur = s.link_next;
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::ArenaManager;
    use super::SETTLE_LOOK;
    use crate::config::{Coalescing, Config, Policy};

    /// When the largest free arena is taken and the top class holds
    /// exactly `SETTLE_LOOK` arenas, `settle` sees the whole class and the
    /// largest free size is exact again (it stayed stale while the look
    /// ended without checking the last link).
    #[test]
    fn a_top_class_of_exactly_settle_look_arenas_is_settled() {
        let config = Config::new(Policy::BestFit, Coalescing::Immediate);
        // Eight free arenas of 996 bytes and one of 1,000, all in the same
        // size class, each followed by a 16-byte arena in use; no free top.
        let sizes: [usize; SETTLE_LOOK + 1] =
            core::array::from_fn(|k| if k == SETTLE_LOOK { 1000 } else { 996 });
        let capacity = sizes.iter().map(|s| s + 16).sum();
        let mut m = ArenaManager::<32>::with_config(capacity, config);
        let big: [usize; SETTLE_LOOK + 1] = core::array::from_fn(|k| {
            let a = m.alloc(sizes[k], 1).unwrap().offset();
            m.alloc(16, 1).unwrap();
            a
        });
        assert_eq!(m.stats().free_bytes, 0);
        for a in big {
            m.free(a).unwrap();
        }
        assert_eq!((m.largest_free, m.largest_count), (1000, 1));
        // Best fit takes the 1,000-byte arena: the largest size is gone.
        assert_eq!(m.alloc(1000, 1).unwrap().offset(), big[SETTLE_LOOK]);
        assert!(!m.largest_stale, "eight arenas were looked at: all of them");
        assert_eq!((m.largest_free, m.largest_count), (996, SETTLE_LOOK));
        m.check_invariants().unwrap();
    }
}
