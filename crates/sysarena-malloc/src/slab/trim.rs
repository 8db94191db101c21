//! What the slab layer gives back when asked: for `malloc_trim`, the
//! memory it holds for slots nobody uses goes back — each class's empty spare and the
//! empty-page pool to the heap (whose sweep then gives their pages to the
//! kernel), and, inside pages that still hold live slots, every whole
//! 4 KiB page all of whose slots are free straight to the kernel.
//!
//! And for a shard that would retire but for its last slots
//! (`shard/retire.rs`), its pages are marked *draining*
//! ([`Slab::set_draining`]), so that those slots' frees pass the thread
//! caches by.
//!
//! Nothing here runs on its own: the layer keeps those pages on purpose
//! (the spare and the pool spare a malloc/free loop a page fault each
//! time; a freed slot is likely reused soon). A program that calls
//! `malloc_trim` says it would rather have the memory back.

use super::class::slots;
use super::page::NONE;
use super::{CLASSES, PAGE, PAGE_SHIFT, ShardHeap, Slab, class_size};

impl Slab {
    /// Marks every slab page of `heap` (each an arena in use) draining, or
    /// not ([`States::set_draining`](super::state::States::set_draining)): `shard/retire.rs` asks for the last
    /// slots of a shard it would retire.
    ///
    /// # Time complexity
    /// O(arenas of `heap`).
    pub(crate) fn set_draining(&mut self, heap: &ShardHeap, on: bool) {
        for a in heap.manager().arenas() {
            let page = a.offset >> PAGE_SHIFT;
            if a.in_use && page < self.pages && self.meta(page).class != 0 {
                self.states.set_draining(page, on);
            }
        }
    }

    /// Gives back what the layer holds for unused slots: the classes'
    /// empty spares and the pooled pages go to `heap` as free arenas (its
    /// sweep gives their pages to the kernel), and in the pages that hold
    /// live slots every whole `page_size` page of free slots goes to the
    /// kernel (`MADV_DONTNEED`; it reads as zero when a slot there is
    /// handed out again, and `calloc` clears it anyway). Returns the
    /// resident bytes given to the kernel here (not those the heap's sweep
    /// gives back).
    ///
    /// # Time complexity
    /// O(slab pages × slots per page / 64): each listed page's bitmap is
    /// read once, a word at a time; a `mincore` and at most one `madvise`
    /// per run of free pages.
    pub(crate) fn trim(&mut self, heap: &mut ShardHeap, page_size: usize) -> u64 {
        if page_size == 0 || !page_size.is_power_of_two() || page_size > PAGE {
            return 0;
        }
        // The empty spares: each class keeps at most one, listed.
        for c in 0..CLASSES {
            if self.lists[c].empty == 0 {
                continue;
            }
            let n = slots(c) as u16;
            let mut page = self.lists[c].head;
            while page != NONE {
                let m = self.meta(page as usize);
                let next = m.next;
                if m.free == n {
                    self.lists[c].empty -= 1;
                    self.spares -= 1;
                    self.unlink(c, page as usize);
                    self.release(heap, page as usize, c);
                }
                page = next;
            }
        }
        self.purge(heap);
        let mut released = 0;
        if !self.madvise {
            return 0;
        }
        for c in 0..CLASSES {
            let mut page = self.lists[c].head;
            while page != NONE {
                released += self.trim_page(heap, page as usize, c, page_size);
                page = self.meta(page as usize).next;
            }
        }
        released
    }

    /// Gives the kernel every whole `page_size` page of `page` (class `c`,
    /// listed: some slot free, some live) whose slots are all free, up to
    /// the slots ever handed out (the rest was never touched). Returns the
    /// bytes given back.
    fn trim_page(&self, heap: &ShardHeap, page: usize, c: usize, page_size: usize) -> u64 {
        let size = class_size(c);
        let n = slots(c);
        let m = self.meta(page);
        let end = (m.clean_from as usize * size).min(PAGE);
        let bits = self.bits(page, c);
        let base = heap.base().as_ptr() as usize + (page << PAGE_SHIFT);
        let mut released = 0;
        let mut run = None;
        let mut at = 0;
        while at < end {
            // Slots overlapping `at .. at + page_size`; past the last slot
            // lies the page's tail, which no slot uses.
            let first = at / size;
            let last = ((at + page_size - 1) / size).min(n - 1);
            let free = first > last || all_set(bits, first, last);
            match (free, run) {
                (true, None) => run = Some(at),
                (false, Some(from)) => {
                    released += give_back(base + from, at - from, page_size);
                    run = None;
                }
                _ => {}
            }
            at += page_size;
        }
        if let Some(from) = run {
            released += give_back(base + from, at - from, page_size);
        }
        released
    }
}

/// `MADV_DONTNEED` on `len` bytes at `p` (whole pages of `page_size`) if
/// any of them is resident; the resident bytes if the kernel took them.
fn give_back(p: usize, len: usize, page_size: usize) -> u64 {
    let resident = crate::sys::resident(p, len, page_size);
    // SAFETY: whole pages of a slab page (trim_page's runs start on a
    // `page_size` boundary of the 64 KiB-aligned page and end on one, or at
    // the page's end) holding only free slots or the unused tail: nobody
    // uses their bytes, and reading as zero later is all the layer assumes.
    if resident != 0 && unsafe { crate::syscall::dont_need(p as *mut u8, len) } {
        resident as u64
    } else {
        0
    }
}

/// Whether bits `first ..= last` of `bits` are all set.
fn all_set(bits: &[u64], first: usize, last: usize) -> bool {
    let (fw, lw) = (first / 64, last / 64);
    if lw >= bits.len() {
        return false;
    }
    (fw..=lw).all(|w| {
        let lo = if w == fw { first % 64 } else { 0 };
        let hi = if w == lw { last % 64 } else { 63 };
        let mask = (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
        bits[w] & mask == mask
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{alloc_slots, free, setup};
    use super::*;

    /// A page of 1 KiB slots with slots 4–15 and 20–23 freed (4 KiB pages:
    /// slots 4k–4k+3 share page k): pages 1–3 and 5 go back, and
    /// read as zero; the live slots keep their bytes; a spare and the pool
    /// go to the heap; and every slot can be handed out again.
    #[test]
    fn whole_free_pages_of_a_live_page_go_back_and_spares_go_to_the_heap() {
        let (mut heap, mut slab) = setup(8);
        let mut hwm = 0;
        let c = super::super::class_of(1024);
        let n = slots(c);
        let ps = alloc_slots(&mut heap, &mut slab, &mut hwm, c, n);
        for &p in &ps {
            // SAFETY: live slots of 1 KiB.
            unsafe { p.write_bytes(0xAB, 1024) };
        }
        // A second class with one page, emptied: its class's spare.
        let other = super::super::class_of(64);
        let q = alloc_slots(&mut heap, &mut slab, &mut hwm, other, 1);
        free(&mut heap, &mut slab, q[0]);
        assert_eq!(slab.counts.pages, 2);
        for k in (4..16).chain(20..24) {
            free(&mut heap, &mut slab, ps[k]);
        }
        let released = slab.trim(&mut heap, 4096);
        assert_eq!(released, 3 * 4096 + 4096, "pages 1–3 and 5");
        assert_eq!(slab.counts.pages, 1, "the empty spare went to the heap");
        assert_eq!(slab.pooled_pages(), 0);
        for (k, &p) in ps.iter().enumerate() {
            // SAFETY: the slab's memory, mapped; freed slots are not used.
            let b = unsafe { *p };
            let freed = (4..16).contains(&k) || (20..24).contains(&k);
            assert_eq!(b, if freed { 0 } else { 0xAB }, "slot {k}");
        }
        assert_eq!(slab.verify(8), Ok(()));
        slab.check();
        heap.manager().check_invariants().unwrap();
        let again = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 16);
        assert!(
            again.iter().all(|p| ps.contains(p)),
            "the freed slots come back"
        );
        assert_eq!(slab.counts.used_slots, n);
    }

    #[test]
    fn a_page_size_the_layer_cannot_cut_gives_nothing_back() {
        let (mut heap, mut slab) = setup(2);
        let mut hwm = 0;
        let c = super::super::class_of(1024);
        let ps = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 12);
        for &p in &ps {
            // SAFETY: live slots of 1 KiB: their pages become resident.
            unsafe { p.write_bytes(1, 1024) };
        }
        for &p in &ps[4..8] {
            free(&mut heap, &mut slab, p);
        }
        for size in [0, 3000, 2 * PAGE] {
            assert_eq!(slab.trim(&mut heap, size), 0, "page size {size}");
        }
        assert_eq!(slab.trim(&mut heap, 4096), 4096, "slots 4–7: page 1");
        assert_eq!(
            slab.trim(&mut heap, 4096),
            0,
            "given back already: not resident"
        );
    }

    #[test]
    fn all_set_reads_ranges_across_words() {
        let bits = [u64::MAX, 0b1111, 0];
        assert!(all_set(&bits, 0, 63));
        assert!(all_set(&bits, 10, 67));
        assert!(!all_set(&bits, 10, 68));
        assert!(all_set(&bits, 64, 64));
        assert!(!all_set(&bits, 128, 128));
        assert!(!all_set(&bits, 100, 200), "past the bitmap is not free");
    }

    /// A draining page (`shard/retire.rs`): the lock-free lookup the thread
    /// caches use says "not a slab page", so its frees go to the shard under
    /// its lock, where they work as before (a second one is a double free);
    /// the layer's invariants hold with the bit set (its check reads the class
    /// without it); clearing it makes the slots slots again.
    #[test]
    fn a_draining_page_is_no_slot_to_the_lock_free_lookup_and_frees_under_the_lock() {
        use super::super::state::{Lookup, locate_in};
        use super::super::{Found, class_of};
        let (mut heap, mut slab) = setup(4);
        let mut hwm = 0;
        let c = class_of(100);
        let ps = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 10);
        let base = heap.base().as_ptr() as usize;
        let off = |p: *mut u8| p as usize - base;
        assert!(matches!(
            locate_in(&slab.states, off(ps[3])),
            Lookup::Slot(_)
        ));
        slab.set_draining(&heap, true);
        for &p in &ps {
            assert!(matches!(locate_in(&slab.states, off(p)), Lookup::NotSlab));
        }
        slab.check();
        assert!(matches!(
            free(&mut heap, &mut slab, ps[3]),
            Found::Live { .. }
        ));
        assert_eq!(
            free(&mut heap, &mut slab, ps[3]),
            Found::Free,
            "a double free"
        );
        slab.set_draining(&heap, false);
        assert!(matches!(
            locate_in(&slab.states, off(ps[4])),
            Lookup::Slot(_)
        ));
        slab.check();
    }
}
