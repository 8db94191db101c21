//! Policy search for the classic fits: which free arena first, next, best
//! and worst fit choose ([`Policy`](crate::Policy)); segregated fit has its
//! own file, and `operations` dispatches between them.

use super::state::ArenaManager;
use crate::table::{CLASSES, NIL, Slot, State, TableStorage, class_of};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Next fit: the first fitting free arena in address order from the
    /// rover, wrapping around (Knuth's roving pointer): the arena that holds
    /// the rover first (a free neighbour merged into the remainder makes it
    /// start below the rover, as in Knuth's algorithm), then those after it,
    /// then those before it. It walks the address list, so a search costs
    /// the arenas it passes before a fit; the next search starts where this
    /// one ended, so a sweep around the region visits each arena about once.
    /// When the rover's arena is not known (after relocation, or a realloc
    /// moved the arena boundary at the rover), the free index is searched
    /// instead, with the same answer.
    pub(super) fn next_fit(&self, need: usize, align: usize) -> Option<(u32, usize)> {
        let (rover, origin) = (self.rover, self.origin);
        // `largest_free` is exact or above every free arena: when it is
        // short, nothing fits, and the walk is skipped.
        if self.largest_free < need {
            return None;
        }
        let start = if rover >= self.capacity {
            self.head
        } else {
            let h = self.rover_slot;
            let holds_rover = h != NIL && {
                let s = self.slot(h);
                s.state != State::Spare && s.offset <= rover && rover < s.offset + s.size
            };
            if !holds_rover {
                return self.next_fit_by_index(need, align);
            }
            h
        };
        // The arena holding the rover first (it may have grown down by a
        // merge), then those after it, then wrap to those before it.
        let mut cur = start;
        while cur != NIL {
            self.count_visit();
            let s = self.slot(cur);
            if s.state == State::Free
                && let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align)
            {
                return Some((cur, pad));
            }
            cur = s.next;
        }
        cur = self.head;
        while cur != NIL && cur != start {
            self.count_visit();
            let s = self.slot(cur);
            if s.state == State::Free
                && let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align)
            {
                return Some((cur, pad));
            }
            cur = s.next;
        }
        None
    }

    /// Next fit through the free index: every fitting free arena is
    /// compared by (before the rover, offset). O(f).
    #[cold]
    fn next_fit_by_index(&self, need: usize, align: usize) -> Option<(u32, usize)> {
        let rover = self.rover;
        self.scan_up(
            need,
            align,
            move |s| {
                // The arena holding the rover and those after it first, then
                // wrap.
                ((s.offset + s.size <= rover) as u128) << 64 | s.offset as u128
            },
            false,
        )
    }

    /// Padding before the first `align`-aligned offset at or after `offset`,
    /// if an arena at `offset` of `size` bytes holds `need` bytes there.
    #[inline]
    pub(super) fn fit(addr: usize, size: usize, need: usize, align: usize) -> Option<usize> {
        let pad = addr.wrapping_neg() & (align - 1);
        (size >= need && size - need >= pad).then_some(pad)
    }

    /// Scans the free arenas of every class that may hold `need`, lowest
    /// class first, and returns the fitting one with the least `key`. With
    /// `first_class_only`, stops after the first class that has a fit (best
    /// fit: sizes in higher classes are all larger).
    pub(super) fn scan_up(
        &self,
        need: usize,
        align: usize,
        key: impl Fn(&Slot) -> u128,
        first_class_only: bool,
    ) -> Option<(u32, usize)> {
        let (slots, origin) = (self.slots.as_ref(), self.origin);
        let mut best: Option<(u128, u32, usize)> = None;
        let mut class = self.index.first_from(class_of(need));
        while let Some(c) = class {
            let mut cur = self.index.heads[c];
            while cur != NIL {
                self.count_visit();
                let s = &slots[cur as usize];
                if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                    let k = key(s);
                    if best.is_none_or(|(bk, _, _)| k < bk) {
                        best = Some((k, cur, pad));
                    }
                }
                cur = s.link_next;
            }
            if first_class_only && best.is_some() {
                break;
            }
            class = self.index.first_from(c + 1);
        }
        best.map(|(_, i, pad)| (i, pad))
    }

    /// Worst fit: the largest fitting arena, from the top class down.
    pub(super) fn scan_down(&self, need: usize, align: usize) -> Option<(u32, usize)> {
        let (slots, origin) = (self.slots.as_ref(), self.origin);
        let floor = class_of(need);
        let mut class = self.index.last_upto(CLASSES - 1);
        while let Some(c) = class {
            if c < floor {
                break;
            }
            let mut best: Option<(usize, usize, u32, usize)> = None;
            let mut cur = self.index.heads[c];
            while cur != NIL {
                self.count_visit();
                let s = &slots[cur as usize];
                if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                    // Largest size, then lowest offset.
                    if best.is_none_or(|(sz, off, _, _)| {
                        s.size > sz || (s.size == sz && s.offset < off)
                    }) {
                        best = Some((s.size, s.offset, cur, pad));
                    }
                }
                cur = s.link_next;
            }
            if let Some((_, _, i, pad)) = best {
                return Some((i, pad));
            }
            if c == 0 {
                break;
            }
            class = self.index.last_upto(c - 1);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::boxed::Box;
    use std::vec;
    use std::vec::Vec;

    use super::super::state::ArenaManager;
    use crate::config::{Coalescing, Config, Policy};
    use crate::table::Slot;

    const HOLE: usize = 4096;

    /// `holes` free arenas of 4 KiB at the bottom, each behind an in-use
    /// one, and `top` free bytes above them.
    fn holes_then_room(config: Config, holes: usize, top: usize) -> ArenaManager<0, Box<[Slot]>> {
        let table = vec![Slot::EMPTY; 2 * holes + 1024].into_boxed_slice();
        let mut m = ArenaManager::from_table(table, 2 * holes * HOLE + top, config).unwrap();
        let mut offs = Vec::new();
        for _ in 0..holes {
            offs.push(m.alloc(HOLE, 1).unwrap().offset());
            m.alloc(HOLE, 1).unwrap();
        }
        for off in offs {
            m.free(off).unwrap();
        }
        m.check_invariants().unwrap();
        m
    }

    /// Arenas visited by `n` allocations of `size` bytes.
    fn visits(m: &mut ArenaManager<0, Box<[Slot]>>, n: usize, size: usize) -> u64 {
        let before = m.visits.get();
        for _ in 0..n {
            m.alloc(size, 1).unwrap();
        }
        m.check_invariants().unwrap();
        m.visits.get() - before
    }

    #[test]
    fn next_fit_starts_at_the_rover_however_many_holes_lie_behind_it() {
        // The rover sits in the free space above the holes: each allocation
        // fits the arena at the rover. A search of the free index would
        // compare every hole (4 KiB fits) on every allocation.
        for coalescing in Coalescing::ALL {
            let config = Config::new(Policy::NextFit, coalescing);
            let mut small = holes_then_room(config, 1000, 600 * HOLE);
            let mut large = holes_then_room(config, 16_000, 600 * HOLE);
            let (a, b) = (visits(&mut small, 500, HOLE), visits(&mut large, 500, HOLE));
            // One arena for the search; one more for the settle look when
            // the split's remainder leaves the largest arena's size class
            // (within it, the remainder takes the arena's place and the
            // largest free size stays exact without a look).
            assert_eq!(a, b, "{config:?}: the holes behind cost nothing");
            assert!(
                (500..=1000).contains(&a),
                "{config:?}: one or two arenas per allocation, not {a}"
            );
        }
    }

    #[test]
    fn next_fit_reuses_the_merged_arena_at_the_rover_after_a_quick_free() {
        // alloc + free at once, as programs do: under immediate coalescing
        // the freed arena merges with the remainder, so the arena holding the
        // rover now starts below it. It is searched first: one arena per
        // allocation (plus the settle look), however many lie below.
        let config = Config::new(Policy::NextFit, Coalescing::Immediate);
        for holes in [1000, 16_000] {
            let mut m = holes_then_room(config, holes, 8 * HOLE);
            let before = m.visits.get();
            for _ in 0..500 {
                let a = m.alloc(HOLE, 1).unwrap();
                m.free(a.offset()).unwrap();
            }
            m.check_invariants().unwrap();
            assert_eq!(m.visits.get() - before, 1000, "{holes} holes");
        }
    }

    #[test]
    fn next_fit_wraps_to_the_lowest_hole_after_the_rover_reaches_the_end() {
        let config = Config::new(Policy::NextFit, Coalescing::Immediate);
        let mut m = holes_then_room(config, 100, HOLE);
        let top = m.alloc(HOLE, 1).unwrap().offset();
        assert_eq!(top, 200 * HOLE);
        // Nothing after the rover: the walk wraps to the first hole.
        assert_eq!(m.alloc(HOLE, 1).unwrap().offset(), 0);
        assert_eq!(m.alloc(HOLE, 1).unwrap().offset(), 2 * HOLE);
        // Larger than the largest free arena: refused without a walk.
        let before = m.visits.get();
        assert!(m.alloc(2 * HOLE, 1).is_err());
        assert_eq!(m.visits.get(), before);
        m.check_invariants().unwrap();
    }

    #[test]
    fn next_fit_walk_and_index_search_always_agree() {
        // The walk from the rover and the cold search of the free index must
        // choose the same arena, whatever state random operations leave.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut rand = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let steps = if cfg!(miri) { 200 } else { 20_000 };
        for coalescing in Coalescing::ALL {
            let config = Config::new(Policy::NextFit, coalescing);
            let mut m = ArenaManager::<256>::with_config(1 << 16, config);
            let mut live: Vec<usize> = Vec::new();
            for step in 0..steps {
                let (size, align) = (1 + rand(700), 1 << rand(7));
                let need = size.next_multiple_of(align);
                assert_eq!(
                    m.next_fit(need, align),
                    m.next_fit_by_index(need, align),
                    "{config:?}, step {step}: walk and index disagree"
                );
                match rand(10) {
                    0..=4 => {
                        if let Ok(a) = m.alloc(size, align) {
                            live.push(a.offset());
                        }
                    }
                    5..=7 if !live.is_empty() => {
                        let off = live.swap_remove(rand(live.len()));
                        m.free(off).unwrap();
                    }
                    8 if !live.is_empty() => {
                        let k = rand(live.len());
                        if let Ok(r) = m.realloc(live[k], size, align) {
                            live[k] = r.offset;
                        }
                    }
                    9 if step % 997 == 0 => {
                        m.defragment();
                    }
                    9 if step % 1999 == 1 => {
                        let mut moved = Vec::new();
                        if m.relocate(|mv| moved.push(mv)).is_ok() {
                            for mv in moved {
                                let k = live.iter().position(|&o| o == mv.from).unwrap();
                                live[k] = mv.to;
                            }
                        }
                    }
                    _ => {}
                }
                m.check_invariants().unwrap();
            }
        }
    }

    #[test]
    fn worst_fit_visits_the_top_class_once_per_allocation() {
        // Worst fit's documented cost: one walk of the highest non-empty
        // class, k arenas (here every hole: they are equal), and nothing
        // more (no second walk to find the new largest).
        for holes in [1000, 4000] {
            let config = Config::new(Policy::WorstFit, Coalescing::Deferred);
            let mut m = holes_then_room(config, holes, 0);
            let v = visits(&mut m, 10, HOLE);
            let expected: u64 = (0..10).map(|i| (holes - i) as u64).sum();
            assert_eq!(v, expected, "{holes} holes");
        }
    }
}
