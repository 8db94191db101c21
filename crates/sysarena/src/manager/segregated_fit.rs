//! Segregated fit's search: bitmaps find a class whose every arena fits,
//! then a bounded fallback.

use super::state::ArenaManager;
use crate::table::{CLASSES, NIL, TableStorage, class_at_least, class_of, classes_for};

/// How many arenas of each class the fallback search looks at. A table of
/// at most this many descriptors is therefore always searched completely.
pub(super) const FALLBACK_LOOK: usize = 64;

/// How many arenas of the request's own class, past its head, are looked at
/// before an arena of a larger class is split. A class spans 1/32 of a power
/// of two, so a fit there wastes less than one from a class above. Measured
/// (`benches/RESULTS.md`, "Engine work, part 6"): heap efficiency over 200
/// rounds 97.49 % without the look, 97.55 % with 8 (and with 32); random
/// actions at max 200 took 118.94 M instructions without, 117.85 M with 8
/// (fewer splits), at max 30000 1,242.61 M and 1,246.97 M.
pub(super) const OWN_LOOK: usize = 8;

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Segregated fit: the head of the request's own class if it fits, or
    /// else one of the [`OWN_LOOK`] arenas behind it; else the head of the
    /// first class that guarantees a fit;
    /// for an over-aligned request whose head is misaligned, the first class
    /// that guarantees a fit with any padding; and only then a bounded
    /// search of the classes in between: at most [`FALLBACK_LOOK`] arenas of
    /// each, so that no search walks a class whose population grows with the
    /// heap. A fitting arena deeper in a class more populous than that is
    /// missed (plain TLSF never looks in those classes at all).
    #[inline(always)]
    pub(super) fn find_segregated(&mut self, need: usize, align: usize) -> Option<(u32, usize)> {
        let origin = self.origin;
        // The head of the request's own class often fits (sizes rounded to
        // a common alignment make many arenas exactly as large as a request):
        // an exact fit needs no split. O(1): one list head.
        let (own_class, at_least) = classes_for(need);
        let own = self.index.heads[own_class];
        if own != NIL {
            let s = self.slot(own);
            if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                return Some((own, pad));
            }
            if let Some(found) = self.own_class_look(s.link_next, need, align, at_least) {
                return Some(found);
            }
        }
        let mut upper = CLASSES;
        if at_least < CLASSES {
            let c = at_least;
            upper = c;
            if let Some(c) = self.index.first_from(c) {
                let i = self.index.heads[c];
                let s = self.slot(i);
                if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                    return Some((i, pad));
                }
                // Misaligned head: ask for room for any padding.
                if let Some(c) = need.checked_add(align - 1).and_then(class_at_least) {
                    upper = c;
                    if let Some(c) = self.index.first_from(c) {
                        let i = self.index.heads[c];
                        let s = self.slot(i);
                        let pad = Self::fit(origin.wrapping_add(s.offset), s.size, need, align);
                        debug_assert!(pad.is_some());
                        if let Some(pad) = pad {
                            return Some((i, pad));
                        }
                    }
                } else {
                    upper = CLASSES;
                }
            }
        }
        self.fallback(need, align, upper)
    }

    /// The request's own class past its head (`cur`): the first of at most
    /// [`OWN_LOOK`] arenas that fits. A fit found while no class from
    /// `at_least` on holds an arena counts as a fallback search and hit
    /// (plain TLSF would have failed).
    #[cold]
    #[inline(never)]
    fn own_class_look(
        &mut self,
        cur: u32,
        need: usize,
        align: usize,
        at_least: usize,
    ) -> Option<(u32, usize)> {
        let found = self.first_fit_in_list(cur, OWN_LOOK, need, align)?;
        if at_least >= CLASSES || self.index.first_from(at_least).is_none() {
            self.fallback_searches += 1;
            self.fallback_hits += 1;
        }
        Some(found)
    }

    /// The first of at most `look` free arenas of a class list, from `cur`
    /// on, that holds `need` bytes at `align` (with its padding).
    #[inline(always)]
    fn first_fit_in_list(
        &self,
        mut cur: u32,
        look: usize,
        need: usize,
        align: usize,
    ) -> Option<(u32, usize)> {
        let origin = self.origin;
        for _ in 0..look {
            if cur == NIL {
                return None;
            }
            self.count_visit();
            let s = self.slot(cur);
            if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                return Some((cur, pad));
            }
            cur = s.link_next;
        }
        None
    }

    /// The bounded search of the classes below `upper` that may still hold
    /// a fit (classes from `upper` on were empty or are covered by
    /// [`find_segregated`](Self::find_segregated)'s look at their heads).
    #[cold]
    #[inline(never)]
    pub(super) fn fallback(
        &mut self,
        need: usize,
        align: usize,
        upper: usize,
    ) -> Option<(u32, usize)> {
        self.fallback_searches += 1;
        let mut class = self.index.first_from(class_of(need));
        while let Some(c) = class {
            if c >= upper {
                break;
            }
            let head = self.index.heads[c];
            if let Some(found) = self.first_fit_in_list(head, FALLBACK_LOOK, need, align) {
                self.fallback_hits += 1;
                return Some(found);
            }
            class = self.index.first_from(c + 1);
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
    use crate::config::Config;
    use crate::table::Slot;

    /// The holes' size: above [`QUICK_LIMIT`](crate::QUICK_LIMIT), so that
    /// freeing them makes free arenas in the index (smaller ones would wait
    /// in the quick lists); the size classes there are 512 bytes wide, so
    /// every spread below stays in one class.
    const HOLE: usize = 16 * 1024;
    const _: () = assert!(HOLE >= crate::QUICK_LIMIT);

    /// A fast manager over `2 * holes` blocks of 16 KiB with every other one
    /// freed (the checkerboard), the holes sized `HOLE + 16 * (i % spread)`
    /// (all in one size class), plus `tail` bytes free at the top.
    fn checkerboard(holes: usize, spread: usize) -> ArenaManager<0, Box<[Slot]>> {
        let sizes: Vec<usize> = (0..holes).map(|i| HOLE + 16 * (i % spread)).collect();
        let cap = sizes.iter().sum::<usize>() + holes * HOLE;
        let table = vec![Slot::EMPTY; 3 * holes + 4].into_boxed_slice();
        let mut m = ArenaManager::from_table(table, cap, Config::fast()).unwrap();
        let mut offs = Vec::new();
        for &size in &sizes {
            offs.push(m.alloc(size, 1).unwrap().offset());
            m.alloc(HOLE, 1).unwrap();
        }
        for off in offs {
            m.free(off).unwrap();
        }
        m.check_invariants().unwrap();
        m
    }

    /// Arenas visited by `allocs` allocations of `size` bytes, and frees of
    /// them again.
    fn work(m: &mut ArenaManager<0, Box<[Slot]>>, allocs: usize, size: usize) -> u64 {
        let before = m.visits.get();
        let mut got = Vec::new();
        for _ in 0..allocs {
            got.push(
                m.alloc(size, 1)
                    .unwrap_or_else(|e| panic!("{size} after {}: {e}", got.len()))
                    .offset(),
            );
        }
        for off in got {
            m.free(off).unwrap();
        }
        m.visits.get() - before
    }

    #[test]
    fn equal_holes_cost_the_same_per_allocation_at_1000_and_16000() {
        let (mut small, mut large) = (checkerboard(1000, 1), checkerboard(16_000, 1));
        let (a, b) = (work(&mut small, 500, HOLE), work(&mut large, 500, HOLE));
        assert_eq!(a, b, "visits: {a} with 1,000 holes, {b} with 16,000");
        assert_eq!(a, 0, "an exact fit from the own class visits nothing");
        small.check_invariants().unwrap();
        large.check_invariants().unwrap();
    }

    #[test]
    fn unequal_holes_in_one_class_cost_a_bounded_amount_at_any_count() {
        // Eight sizes share the class. Requests for the smallest take the
        // class head, which is often a largest one: the largest free arena
        // goes stale again and again. Requests for the largest size miss the
        // head and need the fallback.
        let (mut small, mut large) = (checkerboard(1000, 8), checkerboard(16_000, 8));
        let mut visits = [0; 2];
        for (m, v) in [&mut small, &mut large].into_iter().zip(&mut visits) {
            *v = work(m, 500, HOLE) + work(m, 8, HOLE + 16 * 7);
            m.check_invariants().unwrap();
        }
        let [a, b] = visits;
        let bound = 508
            * (super::OWN_LOOK + super::FALLBACK_LOOK + super::super::free_index::SETTLE_LOOK)
                as u64;
        assert!(a > 0, "the fallback and the settle look were exercised");
        assert!(a <= bound, "visits: {a}, bound {bound}");
        assert_eq!(a, b, "visits: {a} with 1,000 holes, {b} with 16,000");
    }

    #[test]
    fn a_fit_deeper_than_the_fallback_looks_is_missed_as_documented() {
        // 200 holes: 199 of `HOLE` bytes in front of the class list, one of
        // `HOLE + 16` behind them, nothing larger. A request for that would
        // need a walk of the whole class: the bounded fallback gives up.
        let holes = 200;
        let cap = 2 * holes * HOLE + 16;
        let table = vec![Slot::EMPTY; 2 * holes + 4].into_boxed_slice();
        let mut m = ArenaManager::from_table(table, cap, Config::fast()).unwrap();
        let mut offs = Vec::new();
        for i in 0..holes {
            let size = if i == 0 { HOLE + 16 } else { HOLE };
            offs.push(m.alloc(size, 1).unwrap().offset());
            m.alloc(HOLE, 1).unwrap();
        }
        for off in offs {
            m.free(off).unwrap();
        }
        let before = m.visits.get();
        assert!(m.alloc(HOLE + 16, 1).is_err());
        assert!(m.visits.get() - before <= (super::OWN_LOOK + super::FALLBACK_LOOK) as u64);
        assert_eq!(m.stats().largest_free, HOLE + 16);
        m.check_invariants().unwrap();
    }
}
