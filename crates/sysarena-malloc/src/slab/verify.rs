//! The layer's invariants, checked: for `SYSARENA_CHECK` and the tests.

use core::sync::atomic::Ordering::Relaxed;

use super::class::{CLASSES, slots};
use super::page::{KIND_WORDS, KINDS, NONE, kind};
use super::{MAX_SPARES, Slab, state};

impl Slab {
    /// Checks the layer's invariants (lists, counts, bitmaps); for tests.
    #[cfg(test)]
    pub(crate) fn check(&self) {
        if let Err(what) = self.verify(self.pages) {
            panic!("slab layer: {what}");
        }
    }

    /// Checks the layer's invariants — every class list well linked and
    /// holding only pages of its class with a free slot, at most one empty
    /// page per class, each page's free count equal to its bitmap's ones,
    /// the summary word matching the bitmap, no bit past the last slot, the
    /// page and free-slot totals matching the counts, and the pool's pages
    /// distinct, in range and of no class, and each bitmap pool's entries
    /// either a slab page's or on its stack of free ones, once — over the
    /// first `pages` page records (every slab page lies below the shard's
    /// high-water mark, so the untouched records need not be read). Two
    /// pages sharing a bitmap entry would disagree with their slots'
    /// states. O(pages + listed pages + pooled pages² + bitmap entries),
    /// pooled pages at most 64; for `SYSARENA_CHECK` and the tests.
    ///
    /// # Errors
    /// What was found wrong (a bug in the layer, or memory corruption).
    pub(crate) fn verify(&self, pages: usize) -> Result<(), &'static str> {
        macro_rules! ensure {
            ($cond:expr, $what:literal) => {
                if !$cond {
                    return Err($what);
                }
            };
        }
        ensure!(
            self.chunks.used == self.counts.pages,
            "slab pages and chunks of slot states differ in number"
        );
        let pages = pages.min(self.pages);
        let mut free_slots = 0;
        let mut listed = 0;
        let mut spares = 0usize;
        for c in 0..CLASSES {
            let (mut page, mut prev, mut empty) = (self.lists[c].head, NONE, 0);
            while page != NONE {
                ensure!(
                    (page as usize) < self.pages,
                    "a list links a page out of range"
                );
                ensure!(
                    listed <= self.counts.pages,
                    "a class list is longer than the pages (a cycle?)"
                );
                let m = self.meta(page as usize);
                ensure!(
                    m.class as usize == c + 1,
                    "a page is listed under another class"
                );
                ensure!(m.prev == prev, "a list's back link is wrong");
                ensure!(m.free > 0, "a full page is listed");
                if m.free as usize == slots(c) {
                    empty += 1;
                }
                listed += 1;
                prev = page;
                page = m.next;
            }
            ensure!(
                empty == self.lists[c].empty,
                "a class's empty-page count is wrong"
            );
            ensure!(empty <= 1, "a class keeps more than one empty page");
            spares += empty as usize;
        }
        ensure!(spares == self.spares, "the count of spare pages is wrong");
        ensure!(spares <= MAX_SPARES, "too many spare pages");
        let mut found = 0;
        let mut held = [0u32; CLASSES];
        let mut maps = [0usize; KINDS];
        for page in 0..pages {
            let m = self.meta(page);
            if m.class == 0 {
                continue;
            }
            found += 1;
            ensure!(m.class as usize <= CLASSES, "a page has no valid class");
            let c = m.class as usize - 1;
            held[c] += 1;
            ensure!(
                self.entry_handed_out(kind(c), m.map),
                "a page's bitmap is not an entry of its pool"
            );
            maps[kind(c)] += 1;
            let bits = self.bits(page, c);
            let ones: u32 = bits.iter().map(|w| w.count_ones()).sum();
            ensure!(
                ones == m.free as u32,
                "a page's free count differs from its bitmap"
            );
            for (w, word) in bits.iter().enumerate() {
                ensure!(
                    (*word != 0) == (m.summary & (1 << w) != 0),
                    "a page's summary differs from its bitmap"
                );
                let first_past = slots(c).saturating_sub(w * 64).min(64);
                ensure!(
                    first_past == 64 || *word >> first_past == 0,
                    "a page marks a slot past its last one free"
                );
            }
            ensure!(
                self.states.class(page) == m.class,
                "a page's class differs from its lock-free copy"
            );
            for idx in 0..slots(c) {
                let free = bits[idx >> 6] & (1u64 << (idx & 63)) != 0;
                let st = self.states.slot(page, idx).load(Relaxed);
                ensure!(
                    free == (st == state::FREE),
                    "a slot's state differs from its page's bitmap"
                );
            }
            free_slots += m.free as usize;
        }
        ensure!(
            found == self.counts.pages,
            "the page count differs from the page records"
        );
        ensure!(
            (0..CLASSES).all(|c| held[c] == self.lists[c].held),
            "a class's page count differs from the page records"
        );
        ensure!(
            free_slots == self.counts.slots - self.counts.used_slots,
            "the free-slot count differs from the bitmaps"
        );
        ensure!(listed <= found, "more pages listed than exist");
        for (k, &used) in maps.iter().enumerate() {
            let pool = self.maps[k];
            ensure!(
                pool.top as usize <= self.meta.entries[k]
                    && self.meta.entries[k] <= self.meta.pages,
                "a bitmap pool is past its end"
            );
            let (mut i, mut free) = (pool.free, 0usize);
            while i != NONE {
                ensure!(
                    self.entry_handed_out(k, i),
                    "a bitmap pool's free stack links out of range"
                );
                free += 1;
                ensure!(
                    free <= pool.top as usize,
                    "a bitmap pool's free stack is longer than the pool (a cycle?)"
                );
                // SAFETY: a free entry below the pool's top: its first word
                // links the next (`map_free`).
                i = unsafe { *self.map_at(k, i) } as u32;
            }
            ensure!(
                used + free == pool.top as usize,
                "a bitmap pool's entries are neither a page's nor free"
            );
        }
        let pool = self.pool.pages();
        for (k, &page) in pool.iter().enumerate() {
            let page = page as usize;
            ensure!(page < self.pages, "the pool holds a page out of range");
            ensure!(
                self.meta(page).class == 0 && self.states.class(page) == 0,
                "the pool holds a page of a class"
            );
            ensure!(
                !pool[..k].contains(&(page as u32)),
                "the pool holds a page twice"
            );
        }
        Ok(())
    }

    /// Whether word offset `at` of pool `k` is an entry's, below the
    /// pool's top.
    fn entry_handed_out(&self, k: usize, at: u32) -> bool {
        let words = KIND_WORDS[k] as u32;
        at.is_multiple_of(words) && at / words < self.maps[k].top
    }
}
