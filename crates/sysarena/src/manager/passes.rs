//! Relocation passes: the manager's half of [`Movable`](crate::Movable)'s
//! bounded passes, which move allocations (not the classic defragment,
//! which only merges free neighbours and compacts the table:
//! `operations.rs`, `table_compaction.rs`).
//!
//! A pass *reserves* every move's destination as an in-use arena tagged
//! [`RESERVED`] with the moving allocation's tag, so that the manager stays
//! fully usable while the caller copies: nothing else can be allocated on a
//! destination. Ending the pass turns each reservation into the allocation
//! (done) or frees it (skipped).

use super::state::ArenaManager;
use crate::config::Coalescing;
use crate::error::AllocError;
use crate::handle::Handle;
use crate::pass::{PassLimits, PassPlan, PassStop, PlannedMove};
use crate::stats::Allocation;
use crate::table::{MOVING, NIL, RESERVED, Slot, State, TableStorage};

/// How many of the lowest free arenas a pass fills from the top.
const HOLES: usize = 16;

/// What became of one planned move when its pass ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Finish {
    /// The allocation now lives at the move's destination, described by
    /// this descriptor (the reservation's): its new hint.
    Committed(u32),
    /// The reservation was freed; the allocation stays where it was.
    Released,
    /// No reservation of this pass matches the move.
    Missing,
}

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// [`alloc`](Self::alloc) of an arena tagged `tag` (a handle index).
    pub(crate) fn alloc_tagged(
        &mut self,
        size: usize,
        align: usize,
        tag: u32,
    ) -> Result<Allocation, AllocError> {
        // As `alloc` does: the quick lists, then the uncached path (with its
        // flush before a large request).
        let need = self.check_request(size, align)?;
        if let Some(a) = self.take_cached(need, size, align, tag) {
            return Ok(a);
        }
        self.alloc_uncached(size, need, align, tag)
    }

    /// The tag of the in-use arena at `offset` (its descriptor `hint`, as
    /// in [`in_use_descriptor`](Self::in_use_descriptor)), without the
    /// planned mark.
    pub(crate) fn tag_at(&self, offset: usize, hint: u32) -> Option<u32> {
        let tag = self.slot(self.in_use_descriptor(offset, hint)?).tag;
        Some(if tag != NIL && tag & RESERVED == 0 {
            tag & !MOVING
        } else {
            tag
        })
    }

    /// Whether the in-use arena at `offset` (descriptor `hint`) has a move
    /// planned.
    pub(crate) fn is_moving(&self, offset: usize, hint: u32) -> bool {
        self.in_use_descriptor(offset, hint).is_some_and(|i| {
            let tag = self.slot(i).tag;
            tag != NIL && tag & (RESERVED | MOVING) == MOVING
        })
    }

    /// Alignment padding in front of `offset` for `align`.
    #[inline]
    fn pad_at(&self, offset: usize, align: usize) -> usize {
        self.origin.wrapping_add(offset).wrapping_neg() & (align - 1)
    }

    /// Plans one pass into `out` and reserves every destination.
    ///
    /// Merges free neighbours first. Then two sweeps, as a copying
    /// compactor's "two fingers": the allocations at the top of the region,
    /// highest first, move into the lowest free arenas they fit in (each
    /// such move empties space at the top and fills a hole at the bottom);
    /// then, bottom up, an allocation with free space right in front of it
    /// slides down into it, overlapping its own old place. Destinations come
    /// only from bytes free when the pass began, so the moves are
    /// independent: the caller may carry them out in any order, or skip any
    /// of them.
    ///
    /// Every planned move lowers an allocation's offset, so repeated passes
    /// end; a pass that plans nothing after walking every arena means that
    /// no movable allocation has free space in front of it. An allocation
    /// larger than the bytes `limits` leave is passed over (the plan then
    /// says `ByteLimit`), not a reason to stop: a pass that plans nothing
    /// under its limits plans nothing again until the heap changes.
    pub(crate) fn plan_pass(
        &mut self,
        limits: &PassLimits,
        out: &mut [PlannedMove],
        mut movable: impl FnMut(u32) -> Option<Handle>,
    ) -> PassPlan {
        self.flush_quick_lists();
        // Under immediate coalescing no two free arenas touch once the
        // lists are flushed: nothing to merge, and no walk to find that out.
        if self.config.coalescing == Coalescing::Deferred {
            self.merge_all();
        }
        self.settle();
        let mut plan = PassPlan {
            moves: 0,
            bytes: 0,
            stopped: PassStop::Walked,
        };
        // The lowest free arenas that can take at least the smallest
        // movable allocation: the holes the top allocations fill.
        let mut smallest = usize::MAX;
        let mut cur = self.head;
        while cur != NIL {
            let s = *self.slot(cur);
            // The size first: only an arena that would lower the minimum
            // asks `movable` (a handle-table read).
            if s.state == State::InUse
                && s.size < smallest
                && self.planable(&s, &mut movable).is_some()
            {
                smallest = s.size;
            }
            cur = s.next;
        }
        let mut holes = [NIL; HOLES];
        let mut found = 0;
        // The lowest free arena: below it every arena is in use and packed
        // from offset 0, where a full compaction would leave it, so the
        // bottom-up sweep starts there. (The top-down sweep only moves
        // arenas above a hole, into holes at or above this one.)
        let mut first_free = NIL;
        let mut cur = self.head;
        while cur != NIL && first_free == NIL {
            let s = self.slot(cur);
            if s.state == State::Free {
                first_free = cur;
            } else {
                cur = s.next;
            }
        }
        while cur != NIL && found < HOLES && smallest != usize::MAX {
            let s = self.slot(cur);
            if s.state == State::Free && s.size >= smallest {
                holes[found] = cur;
                found += 1;
            }
            cur = s.next;
        }
        // Set when an allocation stays because it alone would pass
        // `max_bytes`: planning goes on with the others (so a byte limit
        // below the largest allocation never stalls the passes), and the
        // plan says `ByteLimit`.
        let mut over_budget = false;
        // The largest hole left: an allocation larger than it fits none,
        // and skips the look at each (most of the walk's work otherwise).
        let largest_hole = |m: &Self, holes: &[u32]| {
            holes
                .iter()
                .filter(|&&h| h != NIL)
                .map(|&h| m.slot(h).size)
                .max()
                .unwrap_or(0)
        };
        let mut largest = largest_hole(self, &holes[..found]);
        // Top down into the holes.
        let mut cur = self.tail;
        while cur != NIL && found > 0 {
            let s = *self.slot(cur);
            let lowest = holes[..found].iter().find(|&&h| h != NIL);
            match lowest {
                Some(&h) if self.slot(h).offset < s.offset => {}
                _ => break,
            }
            // (`planable` turns away what is not in use.)
            if s.size > largest {
                cur = s.prev;
                continue;
            }
            let Some(handle) = self.planable(&s, &mut movable) else {
                cur = s.prev;
                continue;
            };
            match self.stop_before(limits, &plan, out.len(), s.size) {
                // Too large for the bytes left: it stays, smaller ones may go.
                Some(PassStop::ByteLimit) => {
                    over_budget = true;
                    cur = s.prev;
                    continue;
                }
                Some(stop) => {
                    plan.stopped = stop;
                    break;
                }
                None => {}
            }
            let align = 1usize << s.align_log2;
            for hole in &mut holes[..found] {
                let h = *hole;
                if h == NIL {
                    continue;
                }
                let hs = *self.slot(h);
                if hs.offset > s.offset {
                    break;
                }
                let pad = self.pad_at(hs.offset, align);
                if pad.checked_add(s.size).is_none_or(|n| n > hs.size) {
                    continue;
                }
                self.reserve_move(cur, h, pad, s.size, handle, out, &mut plan);
                let n = self.slot(h).next;
                *hole = if n != NIL && self.slot(n).state == State::Free {
                    n
                } else {
                    NIL
                };
                largest = largest_hole(self, &holes[..found]);
                break;
            }
            cur = s.prev;
        }
        if plan.stopped != PassStop::Walked {
            self.settle();
            return plan;
        }
        // Bottom up: each allocation slides to where a full compaction
        // would put it — `cursor`, the end of everything below it once
        // settled — when the bytes in between are free now. A run of
        // allocations behind a hole settles one per pass, and none moves
        // twice.
        // From the lowest free arena (see `first_free`): the arenas below
        // it end where it starts, and none of them would move.
        let (mut cursor, mut cur) = match first_free {
            NIL => (0, NIL),
            f => (self.slot(f).offset, f),
        };
        while cur != NIL {
            let i = cur;
            let s = *self.slot(i);
            cur = s.next;
            if s.state == State::Free || (s.tag != NIL && s.tag & (RESERVED | MOVING) == MOVING) {
                // Free, or leaving for a hole below: its place empties.
                continue;
            }
            let settled = cursor + self.pad_at(cursor, 1usize << s.align_log2);
            if settled >= s.offset {
                // Already where a full compaction would leave it (`settled`
                // is never past it): it stays, whatever `movable` says.
                cursor = s.offset + s.size;
                continue;
            }
            let Some(handle) = self.planable(&s, &mut movable) else {
                // Stays (pinned, untagged, a reservation).
                cursor = s.offset + s.size;
                continue;
            };
            if s.prev != NIL
                && self.slot(s.prev).state == State::Free
                && self.slot(s.prev).offset <= settled
            {
                match self.stop_before(limits, &plan, out.len(), s.size) {
                    // Too large for the bytes left: it stays where it is.
                    Some(PassStop::ByteLimit) => {
                        over_budget = true;
                        cursor = s.offset + s.size;
                        continue;
                    }
                    Some(stop) => {
                        plan.stopped = stop;
                        break;
                    }
                    None => {}
                }
                // The free arena in front ends where `s` starts: the
                // reservation is the part of it the slide covers.
                let pad = settled - self.slot(s.prev).offset;
                let size = s.size.min(s.offset - settled);
                self.reserve_move(i, s.prev, pad, size, handle, out, &mut plan);
            }
            cursor = settled.min(s.offset) + s.size;
        }
        if over_budget && plan.stopped == PassStop::Walked {
            plan.stopped = PassStop::ByteLimit;
        }
        self.settle();
        plan
    }

    /// The handle of in-use arena `s` if a pass may move it: tagged with a
    /// live, unpinned handle (`movable` says), and not planned yet.
    fn planable(
        &self,
        s: &Slot,
        movable: &mut impl FnMut(u32) -> Option<Handle>,
    ) -> Option<Handle> {
        if s.state != State::InUse || s.tag == NIL || s.tag & (RESERVED | MOVING) != 0 {
            return None;
        }
        movable(s.tag)
    }

    /// Why planning must stop before one more move of `size` bytes: a
    /// limit, the buffer, or the table. Otherwise makes room in the offset
    /// map for the descriptors the reservation takes.
    fn stop_before(
        &mut self,
        limits: &PassLimits,
        plan: &PassPlan,
        room: usize,
        size: usize,
    ) -> Option<PassStop> {
        if plan.moves == room {
            return Some(PassStop::BufferFull);
        }
        if plan.moves >= limits.max_moves {
            return Some(PassStop::MoveLimit);
        }
        if plan.bytes.saturating_add(size) > limits.max_bytes {
            return Some(PassStop::ByteLimit);
        }
        self.reserve_hash();
        // A reservation splits a free arena: padding and remainder.
        if self.spare < 2 {
            return Some(PassStop::NoSpareDescriptor);
        }
        None
    }

    /// Reserves `size` bytes at `pad` into free arena `f` as the destination
    /// of in-use arena `x`, and writes the move.
    #[allow(clippy::too_many_arguments)]
    fn reserve_move(
        &mut self,
        x: u32,
        f: u32,
        pad: usize,
        size: usize,
        handle: Handle,
        out: &mut [PlannedMove],
        plan: &mut PassPlan,
    ) {
        let Slot {
            offset: from,
            size: len,
            align_log2,
            tag,
            ..
        } = *self.slot(x);
        let (to, f) = self
            .carve(f, pad, size, size, 1usize << align_log2, tag | RESERVED)
            .expect("two spare descriptors were checked");
        // The reservation's descriptor is the one `carve` names (the one it
        // split, unless padding kept that). An in-use arena's free-list link is
        // unused: while the move is planned the allocation's names the
        // reservation and the reservation's the allocation, so that
        // `finish_move` needs no offset map (and a table compaction, which
        // may move either, renews both: `move_slot`).
        let xm = self.slot_mut(x);
        xm.tag = tag | MOVING;
        xm.link_next = f;
        self.slot_mut(f).link_next = x;
        out[plan.moves] = PlannedMove::new(handle, from, to, len);
        plan.moves += 1;
        plan.bytes += len;
    }

    /// Ends one planned move: commits it (when `commit` and the move still
    /// describes the allocation: same place, same size) or frees its
    /// reservation. `x` is the descriptor of the allocation of the move's
    /// handle (the handle's hint); the reservation is found through it, so
    /// no offset is looked up. A move that does not match (a wrong handle,
    /// a destination that is not its reservation's, a move already ended)
    /// is `Missing` and changes nothing.
    pub(crate) fn finish_move(&mut self, mv: &PlannedMove, x: u32, commit: bool) -> Finish {
        let tag = mv.handle.index();
        if x >= self.fresh {
            return Finish::Missing;
        }
        let xs = *self.slot(x);
        if xs.state != State::InUse || xs.tag != tag | MOVING {
            return Finish::Missing;
        }
        // `x` has a move planned: its link names the reservation (see
        // `reserve_move`), a descriptor below `fresh`; checked all the same
        // before `slot` reads it.
        let r = xs.link_next;
        if r >= self.fresh {
            debug_assert!(false, "a moving arena's link is not a descriptor");
            return Finish::Missing;
        }
        let rs = *self.slot(r);
        if rs.state != State::InUse
            || rs.tag != tag | RESERVED
            || rs.link_next != x
            || rs.offset != mv.to
        {
            return Finish::Missing;
        }
        self.slot_mut(x).tag = tag;
        if commit
            && mv.to < mv.from
            && xs.offset == mv.from
            && xs.size == mv.len
            && rs.size == mv.len.min(mv.from - mv.to)
        {
            self.commit_move(r, x);
            return Finish::Committed(r);
        }
        self.release(r);
        self.settle();
        Finish::Released
    }

    /// Reservation `r` becomes allocation `x`; `x`'s old place is freed.
    fn commit_move(&mut self, r: u32, x: u32) {
        let xs = *self.slot(x);
        let reserved = self.slot(r).size;
        self.set_used(r, xs.used);
        {
            let rm = self.slot_mut(r);
            rm.tag = xs.tag;
            rm.align_log2 = xs.align_log2;
        }
        if reserved < xs.size {
            // A slide: `r` = [to, from) and `x` = [from, from + len) touch.
            // `r` grows to the allocation's size; `x` keeps the top
            // `reserved` bytes of the old place, which become free.
            self.hash_remove(x);
            {
                let xm = self.slot_mut(x);
                xm.offset = xs.offset + xs.size - reserved;
                xm.size = reserved;
            }
            self.slot_mut(r).size = xs.size;
            self.hash_insert(x);
        }
        self.release(x);
        self.settle();
    }

    /// Frees in-use arena `i` and merges it with its free neighbours,
    /// whatever the coalescing mode: relocation gathers free space.
    fn release(&mut self, i: u32) {
        let used = self.slot(i).used;
        {
            let s = self.slot_mut(i);
            s.used = 0;
            s.state = State::Free;
            s.tag = NIL;
        }
        self.requested_bytes -= used;
        let i = self.merge_neighbours(i);
        self.index_insert(i);
    }

    /// Frees every reservation still in the table (the moves a caller did
    /// not hand back) and clears every planned mark; returns how many
    /// reservations.
    pub(crate) fn release_reservations(&mut self) -> usize {
        let mut released = 0;
        let mut cur = self.head;
        while cur != NIL {
            let s = *self.slot(cur);
            if s.state == State::InUse && s.tag != NIL && s.tag & RESERVED != 0 {
                // `release` may merge `cur` into its left neighbour, and its
                // right neighbour into it: continue after the merged arena.
                let before = s.prev;
                self.release(cur);
                released += 1;
                let merged = if before != NIL && self.slot(before).state == State::Free {
                    before
                } else {
                    cur
                };
                cur = self.slot(merged).next;
                continue;
            }
            if s.state == State::InUse && s.tag != NIL && s.tag & MOVING != 0 {
                self.slot_mut(cur).tag = s.tag & !MOVING;
            }
            cur = s.next;
        }
        self.settle();
        released
    }
}
