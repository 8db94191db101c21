//! The empty-page pool: slab pages that emptied, kept resident for the
//! next page any class carves, instead of going back to the kernel at once.
//!
//! A page that empties while its class already keeps its spare used to go
//! back at once: `MADV_DONTNEED` and a `Heap::free`, and the next carve
//! took a new arena whose pages fault in again. `gcc -O2`'s `cc1` did that
//! 74,000 times in one compile (148k page faults against glibc's 34k). The
//! pool keeps such a page as it is — an in-use arena of the shard's heap,
//! of no class, its bytes dirty — and the next carve, of any class, takes
//! the page emptied last. It is bounded twice: at most [`POOL_PAGES`] pages,
//! and at most one for every [`POOL_SHARE`] pages the layer holds, so a
//! program with few slab pages keeps few. And it is purged (every pooled
//! page given back) before the shard's heap serves a block of
//! [`POOL_PURGE_AT`] bytes or more, or fails to serve one: memory that a
//! program now wants for large blocks is not held for small ones (without
//! that, `git log --stat`, whose small objects die while its buffers grow,
//! peaked 1 MB higher).
//!
//! A purge hands the pages to the heap as they are, resident: the block
//! that caused it (or the next) is where the program wants that memory,
//! and it usually lands on them. Their bytes used to go back to the kernel
//! first (`MADV_DONTNEED`), and that block then faulted them in again at
//! once: under the LD_PRELOAD library `git log --stat` took 30,050 page
//! faults with that and 26,970 without, `gcc -O2` on an 8,800-line file
//! 80,300 and 59,600, the python workload 76,700 and 65,200, with peak RSS
//! within 0.3 % (glibc: 22,600, 34,400 and 56,800 faults). Pages the heap
//! does not reuse are free arenas like any other, for its own release
//! rules (`shard/release.rs`).
//!
//! Here too is the path of every page that empties once its class keeps
//! its spare (`Slab::release`): into the pool, or, when the pool is full,
//! back to the heap (`give_back`: `MADV_DONTNEED`, then `Heap::free`), and
//! the purges.

use core::ptr::NonNull;

use super::class::slots;
use super::{PAGE, PAGE_SHIFT, ShardHeap, Slab, class_size};

/// The most pages a shard's pool holds (4 MiB).
pub(crate) const POOL_PAGES: usize = 64;
/// At most one pooled page per this many slab pages held.
pub(crate) const POOL_SHARE: usize = 4;
/// A heap block of at least this many bytes purges the pool first.
pub(crate) const POOL_PURGE_AT: usize = 16 * 1024;

/// Empty pages kept (page numbers), newest last. All zero bytes is empty,
/// so a shard's zeroed static holds an empty pool.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EmptyPool {
    pages: [u32; POOL_PAGES],
    len: u32,
}

impl EmptyPool {
    /// No page.
    pub(crate) const EMPTY: EmptyPool = EmptyPool {
        pages: [0; POOL_PAGES],
        len: 0,
    };

    /// Pages held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// Keeps `page` if fewer than `cap` (and [`POOL_PAGES`]) are kept;
    /// returns whether it did. O(1).
    #[inline]
    pub(crate) fn push(&mut self, page: usize, cap: usize) -> bool {
        let len = self.len as usize;
        if len >= cap.min(POOL_PAGES) {
            return false;
        }
        self.pages[len] = page as u32;
        self.len += 1;
        true
    }

    /// The page kept last, taken out. O(1).
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<usize> {
        let len = self.len.checked_sub(1)?;
        self.len = len;
        Some(self.pages[len as usize] as usize)
    }

    /// The pages held, oldest first.
    pub(crate) fn pages(&self) -> &[u32] {
        &self.pages[..self.len as usize]
    }
}

/// What becomes of a page's bytes when it goes back to the heap.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Keep {
    /// `MADV_DONTNEED` first: a page the pool has no room for.
    Released,
    /// As they are: a purge's pages, for the block that asked for room.
    Resident,
}

/// Where the pages that empty go: the pool, or back to the heap.
impl Slab {
    /// Takes an empty, unlisted page out of its class, into the pool if
    /// it has room, else back to the heap.
    #[cold]
    pub(super) fn release(&mut self, heap: &mut ShardHeap, page: usize, c: usize) {
        let map = self.meta(page).map;
        self.map_free(super::page::kind(c), map);
        self.meta_mut(page).class = 0;
        self.states.unassign(&mut self.chunks, page);
        let n = slots(c);
        // What of the page may hold old data, for its next carve.
        let dirty = (self.meta(page).clean_from as usize * class_size(c)).min(PAGE);
        self.meta_mut(page).pooled_dirty = dirty.div_ceil(16) as u16;
        self.lists[c].held -= 1;
        self.counts.pages -= 1;
        self.counts.slots -= n;
        self.counts.slot_bytes -= n * class_size(c);
        let cap = self.counts.pages / POOL_SHARE;
        if !self.pool.push(page, cap) {
            self.give_back(heap, page, Keep::Released);
        }
        // The layer shrank: so does the pool's share.
        while self.pool.len() > cap {
            let Some(page) = self.pool.pop() else { break };
            self.give_back(heap, page, Keep::Released);
        }
    }

    /// Gives every page of the pool back to the heap, resident (before a
    /// large block, or when the heap failed to serve a block: the module
    /// docs say why not `MADV_DONTNEED` first). O(pages pooled): at most
    /// [`POOL_PAGES`] `Heap::free`s and no system call.
    #[cold]
    pub(crate) fn purge(&mut self, heap: &mut ShardHeap) {
        while let Some(page) = self.pool.pop() {
            self.give_back(heap, page, Keep::Resident);
        }
    }

    /// Before the heap serves a block of `size` bytes: a large one
    /// ([`POOL_PURGE_AT`] or more) empties the pool first, so that the heap
    /// may use those pages (`pool.rs` says why). O(1) unless it purges.
    #[inline]
    pub(crate) fn make_room_for(&mut self, heap: &mut ShardHeap, size: usize) {
        if size >= POOL_PURGE_AT && self.pooled_pages() != 0 {
            self.purge(heap);
        }
    }

    /// Empty pages in the pool now: in-use arenas of the heap, of no class,
    /// not in [`Counts::pages`](super::Counts::pages).
    #[inline]
    pub(crate) fn pooled_pages(&self) -> usize {
        self.pool.len()
    }

    /// Gives an empty page of no class back to the heap, its bytes
    /// released to the kernel first or kept.
    fn give_back(&mut self, heap: &mut ShardHeap, page: usize, keep: Keep) {
        self.counts.returned += 1;
        let p = heap.base().as_ptr().wrapping_add(page << PAGE_SHIFT);
        if self.madvise && keep == Keep::Released {
            // SAFETY: the page is an in-use arena of the heap that holds no
            // live slot: nobody uses its bytes. MADV_DONTNEED on private
            // anonymous memory makes them read as zero later, which is all
            // the allocator assumes (the shard's high-water mark already
            // counts them as dirty).
            unsafe { crate::syscall::dont_need(p, PAGE) };
        }
        if let Some(nn) = NonNull::new(p) {
            // SAFETY: the page is the arena `carve` allocated from `heap`
            // and no slot of it is live.
            let _ = unsafe { heap.free(nn) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{alloc_slots, free, setup};
    use super::super::{Found, class_size, slots};
    use super::*;

    #[test]
    fn keeps_up_to_its_cap_and_hands_out_the_newest_first() {
        let mut p = EmptyPool::EMPTY;
        assert!(p.push(7, 2));
        assert!(p.push(9, 2));
        assert!(!p.push(11, 2), "the cap binds");
        assert_eq!(p.pages(), &[7, 9]);
        assert_eq!(p.pop(), Some(9));
        assert_eq!(p.pop(), Some(7));
        assert_eq!(p.pop(), None);
        for i in 0..POOL_PAGES + 3 {
            let kept = p.push(i, usize::MAX);
            assert_eq!(kept, i < POOL_PAGES, "at most POOL_PAGES, whatever the cap");
        }
        assert_eq!(p.len(), POOL_PAGES);
    }

    #[test]
    fn a_pooled_page_says_how_far_its_old_data_reaches() {
        let (mut heap, mut slab) = setup(64);
        let mut hwm = 0;
        let (c, c2, c3) = (20, 5, 30);
        let (size, size3) = (class_size(c), class_size(c3));
        // Eight full pages of class `c`, then a page of it with three slots
        // handed out and written, in fresh memory; and a page of `c2`.
        let full = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 8 * slots(c));
        let three = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 3);
        for &p in &three {
            // SAFETY: a live slot of `size` bytes.
            unsafe { p.write_bytes(0xCD, size) };
        }
        let other = alloc_slots(&mut heap, &mut slab, &mut hwm, c2, 1);
        // `c2`'s page empties first and stays as the spare; the page of three
        // slots then goes to the pool (a quarter of the nine pages held).
        assert!(matches!(
            free(&mut heap, &mut slab, other[0]),
            Found::Live { .. }
        ));
        for &p in &three {
            assert!(matches!(free(&mut heap, &mut slab, p), Found::Live { .. }));
        }
        slab.check();
        assert_eq!(slab.pooled_pages(), 1);
        // A first page of class `c3` comes from the pool: only its first three
        // slots of `c` (1,008 bytes) may hold old data, and every slot past
        // them is reported clean and reads as zero.
        let old = 3 * size;
        for k in 0..slots(c3) {
            let f = slab.alloc(&mut heap, &mut hwm, c3).unwrap();
            if k == 0 {
                assert_eq!(slab.counts.reused, 1, "from the pool");
            }
            if k * size3 < old {
                assert_eq!(f.dirty, size3, "slot {k} overlaps the old data");
            } else {
                assert_eq!(f.dirty, 0, "slot {k} lies past the old data");
                // SAFETY: a live slot of `size3` bytes.
                let bytes = unsafe { core::slice::from_raw_parts(f.ptr, size3) };
                assert!(bytes.iter().all(|&b| b == 0), "slot {k} reads as zero");
            }
        }
        slab.check();
        for &p in &full {
            assert!(matches!(free(&mut heap, &mut slab, p), Found::Live { .. }));
        }
        slab.check();
    }
}
