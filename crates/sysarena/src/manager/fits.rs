//! Policy search: which free arena each [`Policy`] chooses (the classic
//! fits; segregated fit has its own file).

use super::state::ArenaManager;
use crate::config::Policy;
use crate::table::{CLASSES, NIL, Slot, TableStorage, class_of};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// The free arena the policy chooses for `need` bytes at `align`, and
    /// the padding in front of the aligned offset.
    pub(super) fn find(&mut self, need: usize, align: usize) -> Option<(u32, usize)> {
        match self.config.policy {
            Policy::SegregatedFit => self.find_segregated(need, align),
            Policy::FirstFit => self.scan_up(need, align, |s| s.offset as u128, false),
            Policy::NextFit => {
                let rover = self.rover;
                self.scan_up(
                    need,
                    align,
                    move |s| {
                        // Arenas at or after the rover first, then wrap.
                        ((s.offset < rover) as u128) << 64 | s.offset as u128
                    },
                    false,
                )
            }
            Policy::BestFit => self.scan_up(
                need,
                align,
                |s| (s.size as u128) << 64 | s.offset as u128,
                true,
            ),
            Policy::WorstFit => self.scan_down(need, align),
        }
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
    fn scan_up(
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
    fn scan_down(&self, need: usize, align: usize) -> Option<(u32, usize)> {
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
