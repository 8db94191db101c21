//! Segregated fit's search: bitmaps find a class whose every arena fits,
//! then a bounded fallback.

use super::state::ArenaManager;
use crate::table::{CLASSES, NIL, TableStorage, class_at_least, class_of};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Segregated fit: the head of the request's own class if it fits; else
    /// the head of the first class that guarantees a fit;
    /// for an over-aligned request whose head is misaligned, the first class
    /// that guarantees a fit with any padding; and only then a bounded
    /// search of the classes in between, so that a fitting arena is never
    /// missed.
    pub(super) fn find_segregated(&mut self, need: usize, align: usize) -> Option<(u32, usize)> {
        let (slots, origin) = (self.slots.as_ref(), self.origin);
        // The head of the request's own class often fits (sizes rounded to
        // a common alignment make many arenas exactly as large as a request):
        // an exact fit needs no split. O(1): one list head.
        let own = self.index.heads[class_of(need)];
        if own != NIL {
            let s = &slots[own as usize];
            if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                return Some((own, pad));
            }
        }
        let mut upper = CLASSES;
        if let Some(c) = class_at_least(need) {
            upper = c;
            if let Some(c) = self.index.first_from(c) {
                let i = self.index.heads[c];
                let s = &slots[i as usize];
                if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                    return Some((i, pad));
                }
                // Misaligned head: ask for room for any padding.
                if let Some(c) = need.checked_add(align - 1).and_then(class_at_least) {
                    upper = c;
                    if let Some(c) = self.index.first_from(c) {
                        let i = self.index.heads[c];
                        let s = &slots[i as usize];
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
        // Fallback: the classes below `upper` that may still hold a fit
        // (classes from `upper` on were empty or are covered above).
        self.fallback_searches += 1;
        let mut class = self.index.first_from(class_of(need));
        while let Some(c) = class {
            if c >= upper {
                break;
            }
            let mut cur = self.index.heads[c];
            while cur != NIL {
                let s = &slots[cur as usize];
                if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                    self.fallback_hits += 1;
                    return Some((cur, pad));
                }
                cur = s.link_next;
            }
            class = self.index.first_from(c + 1);
        }
        None
    }
}
