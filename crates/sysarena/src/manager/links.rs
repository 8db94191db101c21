//! List upkeep: the spare list and the address-order links that every
//! arena carries to its neighbours.
//!
//! # Descriptors that follow the addresses
//!
//! The spare list is doubly linked (`link_prev`, `link_next`), so that a
//! split can take a *particular* spare: the found arena's neighbour in the
//! table, when that one is spare ([`spare_near`](ArenaManager::spare_near)).
//! Its line is the found descriptor's or the next one, already in the
//! cache, where the top of the spare list is a line no recent operation
//! touched; and an arena's address neighbours come to sit beside it in the
//! table, so that a later free's look at its neighbours reads lines that
//! are already there. Replaying the python trace, the load of the spare
//! list's top had been 9.5 % of all samples and the neighbours' states in
//! `free_slot` 8.8 %; with the neighbour taken first they were 0.1 % and
//! 4.4 %, and the replay took 0.68 × the time (`benches/RESULTS.md`,
//! "Engine work, part 12"). The cost is a write to the list's next
//! descriptor on each pop and push, which nothing waits for.

use super::state::ArenaManager;
use crate::table::{NIL, Slot, State, TableStorage};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Takes a spare descriptor: the spare list's top, else a never-used
    /// one. O(1).
    pub(super) fn spare_pop(&mut self) -> Option<u32> {
        let j = self.spare_head;
        if j != NIL {
            let next = self.slot(j).link_next;
            self.spare_head = next;
            if next != NIL {
                self.slot_mut(next).link_prev = NIL;
            }
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
    /// Only its state and spare links are written: the other fields keep
    /// stale but valid values (every link an index or NIL), never read
    /// while it is spare, and [`new_free_arena`](Self::new_free_arena)
    /// writes them all when it is taken again.
    pub(super) fn spare_push(&mut self, j: u32) {
        let head = self.spare_head;
        let s = self.slot_mut(j);
        s.state = State::Spare;
        s.link_prev = NIL;
        s.link_next = head;
        if head != NIL {
            self.slot_mut(head).link_prev = j;
        }
        self.spare_head = j;
        self.spare += 1;
    }

    /// A spare descriptor for an arena beside arena `i` in address order
    /// (`NIL`: beside none yet): `i`'s neighbour in the table when that one
    /// is on the spare list (the one after first: see the module docs),
    /// else any (`spare_pop`). O(1).
    #[inline(always)]
    pub(super) fn spare_near(&mut self, i: u32) -> Option<u32> {
        // Below `fresh`, a spare is on the list; `NIL` is never below it.
        if i < self.fresh {
            let after = i + 1;
            if after < self.fresh && self.slot(after).state == State::Spare {
                self.spare_take(after);
                return Some(after);
            }
            if i > 0 && self.slot(i - 1).state == State::Spare {
                self.spare_take(i - 1);
                return Some(i - 1);
            }
        }
        self.spare_pop()
    }

    /// Takes spare `j`, on the spare list, out of it.
    #[inline(always)]
    fn spare_take(&mut self, j: u32) {
        let Slot {
            link_prev,
            link_next,
            ..
        } = *self.slot(j);
        if link_prev == NIL {
            self.spare_head = link_next;
        } else {
            self.slot_mut(link_prev).link_next = link_next;
        }
        if link_next != NIL {
            self.slot_mut(link_next).link_prev = link_prev;
        }
        self.spare -= 1;
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

#[cfg(test)]
mod tests {
    use super::super::state::ArenaManager;
    use crate::config::{Coalescing, Config, Policy};

    /// A split's remainder takes the found arena's neighbour in the table
    /// when that one is spare, not the spare list's top, and the top when
    /// neither neighbour is spare; the list stays whole (both directions,
    /// which `check_invariants` walks) through both.
    #[test]
    fn a_split_takes_the_spare_beside_the_found_descriptor() {
        let config = Config::new(Policy::FirstFit, Coalescing::Immediate);
        let mut m = ArenaManager::<16>::with_config(1000, config);
        // x0..x5 in slots 0..5, the free top in slot 6.
        let x: [usize; 6] = core::array::from_fn(|_| m.alloc(100, 1).unwrap().offset());
        assert_eq!(m.arena_at(600).unwrap().slot, 6);
        m.free(x[1]).unwrap();
        // x2 joins x1: its slot, 2, is spare.
        m.free(x[2]).unwrap();
        m.free(x[4]).unwrap();
        // x5 joins the top and x4: slots 6 and 5 are spare, 5 on top.
        m.free(x[5]).unwrap();
        assert_eq!(m.spare_head, 5);
        m.check_invariants().unwrap();
        // First fit finds [100, 300) in slot 1; the remainder [200, 300)
        // takes slot 2, beside it, rather than the list's top.
        assert_eq!(m.alloc(100, 1).unwrap().offset(), 100);
        assert_eq!(m.arena_at(100).unwrap().slot, 1);
        assert_eq!(m.arena_at(200).unwrap().slot, 2);
        assert_eq!(m.spare_head, 5);
        m.check_invariants().unwrap();
        // [200, 300) in slot 2 splits, and slots 1 and 3 are in use: the
        // remainder takes the list's top, 5.
        assert_eq!(m.alloc(50, 1).unwrap().offset(), 200);
        assert_eq!(m.arena_at(250).unwrap().slot, 5);
        assert_eq!(m.spare_head, 6);
        m.check_invariants().unwrap();
    }
}
