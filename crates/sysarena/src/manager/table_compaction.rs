//! Table compaction: moving the spare descriptors to the end of the table
//! (the classic defragment's second phase).

use super::state::ArenaManager;
use crate::table::{MOVING, NIL, RESERVED, Slot, State, TAG_INDEX, TableStorage, class_of};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Moves descriptors down so that the spares sit at the end of the
    /// table; returns how many moved. `renamed(tag, to)` hears of each
    /// moved in-use arena that carries a handle's tag (the planned mark
    /// left out; a pass's reservations, whose numbers no handle keeps,
    /// skipped).
    pub(super) fn compact_table(&mut self, mut renamed: impl FnMut(u32, u32)) -> usize {
        let len = self.fresh as usize;
        let mut moved = 0;
        let (mut lo, mut hi) = (0usize, len);
        loop {
            while lo < len && self.slots.as_ref()[lo].state != State::Spare {
                lo += 1;
            }
            while hi > 0 && self.slots.as_ref()[hi - 1].state == State::Spare {
                hi -= 1;
            }
            if hi == 0 || lo >= hi - 1 {
                break;
            }
            let (from, to) = ((hi - 1) as u32, lo as u32);
            self.move_slot(from, to);
            let Slot { state, tag, .. } = *self.slot(to);
            if state == State::InUse && tag != NIL && tag & RESERVED == 0 {
                renamed(tag & TAG_INDEX, to);
            }
            moved += 1;
        }
        if moved > 0 {
            self.rebuild_hash();
        }
        // Every arena now sits below `active`; the spares above it are taken
        // in table order again, as if never used.
        // (The quick lists were flushed: every arena is free or in use.)
        let active = (self.slots.as_ref().len() - self.spare) as u32;
        self.fresh = active;
        self.spare_head = NIL;
        moved
    }

    /// Moves the descriptor at `from` into spare position `to`, redirecting
    /// every link that named it. The hash map is rebuilt by the caller.
    fn move_slot(&mut self, from: u32, to: u32) {
        let mut d = *self.slot(from);
        d.bucket = self.slot(to).bucket;
        if self.rover_slot == from {
            self.rover_slot = to;
        }
        let (prev, next) = (d.prev, d.next);
        if prev != NIL {
            self.slot_mut(prev).next = to;
        } else {
            self.head = to;
        }
        if next != NIL {
            self.slot_mut(next).prev = to;
        } else {
            self.tail = to;
        }
        if d.state == State::Free {
            let (lp, ln) = (d.link_prev, d.link_next);
            if lp != NIL {
                self.slot_mut(lp).link_next = to;
            } else {
                self.index.heads[class_of(d.size)] = to;
            }
            if ln != NIL {
                self.slot_mut(ln).link_prev = to;
            }
        }
        // A planned move's pair (the moving allocation and its
        // reservation) name each other: the partner learns the new number.
        // (Checked both ways: a stale mark must not write into a stranger.)
        if d.state == State::InUse && d.tag != NIL && d.tag & (RESERVED | MOVING) != 0 {
            let p = d.link_next;
            if (p as usize) < self.slots.as_ref().len() {
                let ps = self.slot(p);
                if ps.state == State::InUse
                    && ps.link_next == from
                    && ps.tag ^ d.tag == RESERVED | MOVING
                {
                    self.slot_mut(p).link_next = to;
                }
            }
        }
        *self.slot_mut(to) = d;
        let bucket = self.slot(from).bucket;
        *self.slot_mut(from) = Slot {
            bucket,
            ..Slot::EMPTY
        };
    }
}
