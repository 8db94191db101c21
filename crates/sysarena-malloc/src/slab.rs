//! The slab layer: small blocks without a descriptor each.
//!
//! A request of at most [`MAX_SIZE`] bytes at alignment at most 16 is
//! served from a *slab page*: [`PAGE`] bytes (64 KiB, aligned to 64 KiB)
//! that the shard's [`Heap`] hands out as one arena (one
//! descriptor), cut into equal slots of one *size class* (16, 32, …, 512
//! bytes). Everything the layer knows lives out of band, in an array of
//! [`PageMeta`] indexed by page number (`(addr - shard base) >> 16`) in a
//! `MAP_NORESERVE` mapping: the class, the free count, and a free bitmap with
//! a one-word summary. Nothing is ever written into user memory, so a buffer
//! overflow corrupts a neighbouring block's bytes, never the allocator.
//!
//! Per class, a shard keeps a doubly linked list (links in the page
//! metadata) of its pages that have a free slot. All operations are O(1):
//!
//! - **alloc**: the list's first page; its lowest free slot (two
//!   `trailing_zeros`: the summary word, then the bitmap word). A page that
//!   becomes full leaves the list. An empty list carves a new page out of
//!   the heap (one `Heap::alloc`).
//! - **free**: page → class → slot index (a multiply by the class's
//!   reciprocal, checked); the slot's bit must be clear (else the free is a
//!   double free and nothing changes); set it. A full page re-enters the
//!   list at its head. A page that becomes empty stays as the class's one
//!   spare, or, if the class has a spare already, goes back to the heap
//!   (`Heap::free`, after `MADV_DONTNEED` on its memory).
//!
//! The layer is guarded by the shard's lock, like the heap it carves from.

use core::alloc::Layout;
use core::ptr::NonNull;

use sysarena::{Heap, Slot};

/// The heap a slab layer carves its pages from (a shard's): a sysarena
/// [`Heap`] whose arena table is a slice of mapped memory.
pub(crate) type ShardHeap = Heap<0, &'static mut [Slot]>;

/// An allocation: the pointer and how many of its first bytes may be dirty
/// (the rest is fresh memory, already zero). `dirty` is at most the block's
/// usable size (a slab slot's class size, a heap block's request).
pub(crate) struct Fresh {
    pub(crate) ptr: *mut u8,
    pub(crate) dirty: usize,
}

/// log2 of [`PAGE`].
pub(crate) const PAGE_SHIFT: u32 = 16;
/// Bytes in a slab page (and its alignment).
pub(crate) const PAGE: usize = 1 << PAGE_SHIFT;
/// The step between size classes, and every slot's alignment.
pub(crate) const GRANULE: usize = 16;
/// The largest request the layer serves.
pub(crate) const MAX_SIZE: usize = 512;
/// Size classes: 16, 32, …, [`MAX_SIZE`].
pub(crate) const CLASSES: usize = MAX_SIZE / GRANULE;
/// Bitmap words per page: enough for the smallest class's slots.
const WORDS: usize = PAGE / GRANULE / 64;
/// "No page" in the list links.
const NONE: u32 = u32::MAX;
/// Recently freed slots remembered per class.
pub(crate) const RECENT: usize = 16;

/// The class of a request of `size <= MAX_SIZE` bytes (0 bytes: class 0).
#[inline]
pub(crate) const fn class_of(size: usize) -> usize {
    size.saturating_sub(1) / GRANULE
}

/// The slot size of class `c`.
#[inline]
pub(crate) const fn class_size(c: usize) -> usize {
    (c + 1) * GRANULE
}

/// Slots in a page of class `c` (the tail, `PAGE % size` bytes, is unused).
#[inline]
fn slots(c: usize) -> usize {
    SLOTS[c & (CLASSES - 1)] as usize
}

/// [`slots`] per class, looked up rather than divided.
static SLOTS: [u16; CLASSES] = {
    let mut r = [0u16; CLASSES];
    let mut c = 0;
    while c < CLASSES {
        r[c] = (PAGE / class_size(c)) as u16;
        c += 1;
    }
    r
};

/// `ceil(2^32 / size)` per class: `(offset * RECIP[c]) >> 32` is
/// `offset / size` for every offset in a page (the error, below
/// `offset / 2^32 < 2^-16`, never reaches the next multiple, which is at
/// least `1 / size >= 2^-9` away; the unit tests check every offset).
static RECIP: [u64; CLASSES] = {
    let mut r = [0u64; CLASSES];
    let mut c = 0;
    while c < CLASSES {
        r[c] = (1u64 << 32).div_ceil(class_size(c) as u64);
        c += 1;
    }
    r
};

/// One slab page's metadata, out of band. All zero (a fresh `MAP_NORESERVE`
/// page) means "not a slab page".
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct PageMeta {
    /// 0: not a slab page; else the class + 1.
    class: u8,
    /// Free slots.
    free: u16,
    /// Slots from this index on have not been handed out since the page was
    /// carved and were zero then (for `calloc`).
    clean_from: u16,
    /// Links in the class's list of pages with a free slot.
    next: u32,
    prev: u32,
    /// Bit `w`: `bits[w]` has a free slot.
    summary: u64,
    /// Bit `i`: slot `i` is free.
    bits: [u64; WORDS],
}

/// Bytes of metadata per slab page (per 64 KiB of the reservation).
pub(crate) const META_BYTES: usize = core::mem::size_of::<PageMeta>();

#[derive(Clone, Copy, Debug)]
struct List {
    /// First page with a free slot, or [`NONE`].
    head: u32,
    /// Pages in the list with every slot free (at most one stays).
    empty: u32,
}

/// A class's most recently freed slots, `page << 16 | index`, newest
/// last; the oldest is forgotten when it is full. Hints only: `alloc`
/// checks each against the bitmap.
#[derive(Clone, Copy, Debug)]
struct Recent {
    entries: [usize; RECENT],
    /// Where the next entry goes.
    next: u32,
    /// Entries held (at most [`RECENT`]).
    len: u32,
}

impl Recent {
    const EMPTY: Recent = Recent {
        entries: [0; RECENT],
        next: 0,
        len: 0,
    };

    #[inline]
    fn push(&mut self, e: usize) {
        self.entries[self.next as usize & (RECENT - 1)] = e;
        self.next = (self.next + 1) & (RECENT as u32 - 1);
        self.len = (self.len + 1).min(RECENT as u32);
    }

    #[inline]
    fn pop(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        self.next = self.next.wrapping_sub(1) & (RECENT as u32 - 1);
        Some(self.entries[self.next as usize])
    }
}

/// The layer's counts, for the stats report.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    /// Slab pages held (each an in-use arena of the shard's heap).
    pub(crate) pages: usize,
    /// Slots handed out and not freed.
    pub(crate) used_slots: usize,
    /// Their bytes (at their class sizes).
    pub(crate) used_bytes: usize,
    /// Slots in the held pages, used or free (free = this − `used_slots`).
    pub(crate) slots: usize,
    /// Their bytes.
    pub(crate) slot_bytes: usize,
    /// Pages carved out of the heap, and given back to it, ever.
    pub(crate) carved: u64,
    pub(crate) returned: u64,
}

/// What the metadata says about a pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Not in a slab page: the heap's business.
    NotSlab,
    /// A live slot of class `class`.
    Live {
        page: usize,
        class: usize,
        idx: usize,
    },
    /// A slot that is free: a double free.
    Free,
    /// Inside a slab page but not at a slot's start.
    Invalid,
}

/// One shard's slab layer.
#[derive(Debug)]
pub(crate) struct Slab {
    meta: *mut PageMeta,
    /// Pages the metadata covers (the shard's size / [`PAGE`]).
    pages: usize,
    /// Whether new pages are carved (`SYSARENA_SLAB`).
    enabled: bool,
    /// Whether pages given back are `MADV_DONTNEED`ed first.
    madvise: bool,
    lists: [List; CLASSES],
    recent: [Recent; CLASSES],
    pub(crate) counts: Counts,
}

impl Slab {
    /// A layer with no metadata: serves nothing, finds nothing.
    pub(crate) const fn none() -> Slab {
        Slab {
            meta: core::ptr::null_mut(),
            pages: 0,
            enabled: false,
            madvise: false,
            lists: [List {
                head: NONE,
                empty: 0,
            }; CLASSES],
            recent: [Recent::EMPTY; CLASSES],
            counts: Counts {
                pages: 0,
                used_slots: 0,
                used_bytes: 0,
                slots: 0,
                slot_bytes: 0,
                carved: 0,
                returned: 0,
            },
        }
    }

    /// A layer over a heap whose region starts at a multiple of [`PAGE`],
    /// with `meta` describing its first `pages` pages.
    ///
    /// # Safety
    /// `meta` points to `pages` zeroed `PageMeta`s that nothing else uses
    /// and that live for ever; the layer is only used with that heap.
    pub(crate) unsafe fn new(meta: *mut PageMeta, pages: usize, enabled: bool) -> Slab {
        Slab {
            meta,
            pages: if meta.is_null() { 0 } else { pages },
            enabled: enabled && !meta.is_null(),
            madvise: true,
            ..Slab::none()
        }
    }

    /// Whether the layer serves new small blocks.
    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    #[inline]
    fn meta(&self, page: usize) -> &PageMeta {
        debug_assert!(page < self.pages);
        // SAFETY: callers pass `page < self.pages`; `new`'s contract makes
        // that many entries ours, and `&self` excludes writers.
        unsafe { &*self.meta.add(page) }
    }

    #[inline]
    #[allow(clippy::mut_from_ref)]
    fn meta_mut(&mut self, page: usize) -> &mut PageMeta {
        debug_assert!(page < self.pages);
        // SAFETY: as in `meta`; `&mut self` makes this the only reference.
        unsafe { &mut *self.meta.add(page) }
    }

    fn push_front(&mut self, c: usize, page: usize) {
        let head = self.lists[c].head;
        if head != NONE {
            self.meta_mut(head as usize).prev = page as u32;
        }
        let m = self.meta_mut(page);
        m.prev = NONE;
        m.next = head;
        self.lists[c].head = page as u32;
    }

    fn unlink(&mut self, c: usize, page: usize) {
        let (prev, next) = {
            let m = self.meta(page);
            (m.prev, m.next)
        };
        if prev == NONE {
            self.lists[c].head = next;
        } else {
            self.meta_mut(prev as usize).next = next;
        }
        if next != NONE {
            self.meta_mut(next as usize).prev = prev;
        }
    }

    /// A slot of class `c` (at most [`MAX_SIZE`] bytes, 16-aligned): the
    /// most recently freed one that is still free (its bytes are likely in
    /// the cache), else the lowest free slot of the class's first listed
    /// page, carving a page from `heap` if no page of the class has a free
    /// slot. `hwm` is the shard's high-water mark (bytes from its start ever
    /// handed out), kept up to date. `None` when the layer is off or the
    /// heap has no 64 KiB left.
    ///
    /// # Time complexity
    /// O(1) (at most [`RECENT`] stale entries are skipped, each once).
    #[inline]
    pub(crate) fn alloc(
        &mut self,
        heap: &mut ShardHeap,
        hwm: &mut usize,
        c: usize,
    ) -> Option<Fresh> {
        let c = c & (CLASSES - 1);
        while let Some(e) = self.recent[c].pop() {
            let (page, idx) = (e >> 16, e & 0xffff);
            // The entry is a hint: the slot must still be free, in a page
            // of this class (its page may have gone back to the heap, been
            // carved again, or the slot handed out since).
            if page < self.pages {
                let m = self.meta(page);
                if m.class as usize == c + 1
                    && idx < slots(c)
                    && m.bits[(idx >> 6) & (WORDS - 1)] & (1u64 << (idx & 63)) != 0
                {
                    return Some(self.take(heap, c, page, idx));
                }
            }
        }
        let mut page = self.lists[c].head as usize;
        if page == NONE as usize {
            page = self.carve(heap, hwm, c)?;
        }
        let m = self.meta(page);
        // A listed page has a free slot: the summary is not zero.
        let w = m.summary.trailing_zeros() as usize & (WORDS - 1);
        let idx = w * 64 + m.bits[w].trailing_zeros() as usize;
        Some(self.take(heap, c, page, idx))
    }

    /// Hands out slot `idx` of `page` (class `c`), which is free.
    #[inline]
    fn take(&mut self, heap: &ShardHeap, c: usize, page: usize, idx: usize) -> Fresh {
        let n = slots(c) as u16;
        let size = class_size(c);
        let m = self.meta_mut(page);
        let w = (idx >> 6) & (WORDS - 1);
        let word = m.bits[w] & !(1u64 << (idx & 63));
        m.bits[w] = word;
        if word == 0 {
            m.summary &= !(1u64 << w);
        }
        let was_empty = m.free == n;
        m.free -= 1;
        let full = m.free == 0;
        let dirty = if idx < m.clean_from as usize {
            size
        } else {
            m.clean_from = idx as u16 + 1;
            0
        };
        if was_empty {
            self.lists[c].empty -= 1;
        }
        if full {
            self.unlink(c, page);
        }
        self.counts.used_slots += 1;
        self.counts.used_bytes += size;
        let off = (page << PAGE_SHIFT) + idx * size;
        Fresh {
            ptr: heap.base().as_ptr().wrapping_add(off),
            dirty,
        }
    }

    /// Carves a page of class `c` out of `heap` and lists it.
    #[cold]
    fn carve(&mut self, heap: &mut ShardHeap, hwm: &mut usize, c: usize) -> Option<usize> {
        if !self.enabled {
            return None;
        }
        let layout = Layout::from_size_align(PAGE, PAGE).ok()?;
        let p = heap.alloc(layout).ok()?;
        let off = p.as_ptr() as usize - heap.base().as_ptr() as usize;
        let page = off >> PAGE_SHIFT;
        if page >= self.pages || !off.is_multiple_of(PAGE) {
            // Cannot happen (the heap starts on a page boundary and honours
            // alignment); give the arena back rather than trust it.
            // SAFETY: `p` was just allocated from `heap` and never handed out.
            let _ = unsafe { heap.free(p) };
            return None;
        }
        let size = class_size(c);
        let n = slots(c);
        // Bytes of the page below the high-water mark may hold old data.
        let dirty = hwm.saturating_sub(off).min(PAGE);
        *hwm = (*hwm).max(off + PAGE);
        let m = self.meta_mut(page);
        m.class = c as u8 + 1;
        m.free = n as u16;
        m.clean_from = dirty.div_ceil(size) as u16;
        for (w, word) in m.bits.iter_mut().enumerate() {
            let lo = w * 64;
            *word = if lo + 64 <= n {
                !0
            } else if lo < n {
                (1u64 << (n - lo)) - 1
            } else {
                0
            };
        }
        let words = n.div_ceil(64);
        m.summary = if words == 64 { !0 } else { (1u64 << words) - 1 };
        self.push_front(c, page);
        self.lists[c].empty += 1;
        self.counts.pages += 1;
        self.counts.carved += 1;
        self.counts.slots += n;
        self.counts.slot_bytes += n * size;
        Some(page)
    }

    /// What the metadata says about `p`, given the heap's first byte.
    ///
    /// # Time complexity
    /// O(1).
    #[inline]
    pub(crate) fn find(&self, base: *mut u8, p: *mut u8) -> Found {
        let off = (p as usize).wrapping_sub(base as usize);
        let page = off >> PAGE_SHIFT;
        if page >= self.pages {
            return Found::NotSlab;
        }
        let m = self.meta(page);
        if m.class == 0 {
            return Found::NotSlab;
        }
        let c = (m.class - 1) as usize & (CLASSES - 1);
        let in_page = off & (PAGE - 1);
        let idx = ((in_page as u64 * RECIP[c]) >> 32) as usize;
        if idx * class_size(c) != in_page || idx >= slots(c) {
            return Found::Invalid;
        }
        if m.bits[(idx >> 6) & (WORDS - 1)] & (1u64 << (idx & 63)) != 0 {
            return Found::Free;
        }
        Found::Live {
            page,
            class: c,
            idx,
        }
    }

    /// Frees slot `idx` of `page` (class `c`), as [`find`](Self::find)
    /// reported it live; returns the slot's size. A page left empty stays as
    /// its class's spare or goes back to `heap`.
    ///
    /// # Safety
    /// `(page, c, idx)` is what `find` just returned as `Found::Live` with
    /// no change to the layer since; the caller gives the slot up.
    ///
    /// # Time complexity
    /// O(1) (a page given back costs a `Heap::free` and an `madvise`).
    #[inline]
    pub(crate) unsafe fn free(
        &mut self,
        heap: &mut ShardHeap,
        page: usize,
        c: usize,
        idx: usize,
    ) -> usize {
        let c = c & (CLASSES - 1);
        let n = slots(c) as u16;
        let m = self.meta_mut(page);
        let w = (idx >> 6) & (WORDS - 1);
        if m.bits[w] == 0 {
            m.summary |= 1u64 << w;
        }
        m.bits[w] |= 1u64 << (idx & 63);
        let was_full = m.free == 0;
        m.free += 1;
        let empty = m.free == n;
        let size = class_size(c);
        self.counts.used_slots -= 1;
        self.counts.used_bytes -= size;
        if was_full {
            self.push_front(c, page);
        }
        if empty {
            if self.lists[c].empty == 0 {
                self.lists[c].empty = 1;
            } else {
                self.unlink(c, page);
                self.release(heap, page, c);
                return size;
            }
        }
        self.recent[c].push(page << 16 | idx);
        size
    }

    /// Gives an empty, unlisted page back to the heap.
    #[cold]
    fn release(&mut self, heap: &mut ShardHeap, page: usize, c: usize) {
        self.meta_mut(page).class = 0;
        let n = slots(c);
        self.counts.pages -= 1;
        self.counts.returned += 1;
        self.counts.slots -= n;
        self.counts.slot_bytes -= n * class_size(c);
        let p = heap.base().as_ptr().wrapping_add(page << PAGE_SHIFT);
        if self.madvise {
            // SAFETY: the page is an in-use arena of the heap that holds no
            // live slot: nobody uses its bytes. MADV_DONTNEED on private
            // anonymous memory makes them read as zero later, which is all
            // the allocator assumes (the shard's high-water mark already
            // counts them as dirty).
            unsafe { libc::madvise(p.cast(), PAGE, libc::MADV_DONTNEED) };
        }
        if let Some(nn) = NonNull::new(p) {
            // SAFETY: the page is the arena `carve` allocated from `heap`
            // and no slot of it is live.
            let _ = unsafe { heap.free(nn) };
        }
    }

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
    /// the summary word matching the bitmap, no bit past the last slot, and
    /// the page and free-slot totals matching the counts — over the first
    /// `pages` page records (every slab page lies below the shard's
    /// high-water mark, so the untouched records need not be read).
    /// O(pages + listed pages); for `SYSARENA_CHECK` and the tests.
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
        let pages = pages.min(self.pages);
        let mut free_slots = 0;
        let mut listed = 0;
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
        }
        let mut found = 0;
        for page in 0..pages {
            let m = self.meta(page);
            if m.class == 0 {
                continue;
            }
            found += 1;
            ensure!(m.class as usize <= CLASSES, "a page has no valid class");
            let c = m.class as usize - 1;
            let ones: u32 = m.bits.iter().map(|w| w.count_ones()).sum();
            ensure!(
                ones == m.free as u32,
                "a page's free count differs from its bitmap"
            );
            for (w, word) in m.bits.iter().enumerate() {
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
            free_slots += m.free as usize;
        }
        ensure!(
            found == self.counts.pages,
            "the page count differs from the page records"
        );
        ensure!(
            free_slots == self.counts.slots - self.counts.used_slots,
            "the free-slot count differs from the bitmaps"
        );
        ensure!(listed <= found, "more pages listed than exist");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys;
    use sysarena::{Config, SliceManager};

    /// A heap over a fresh 64 KiB-aligned mapping of `pages` pages, and a
    /// layer over it.
    fn setup(pages: usize) -> (ShardHeap, Slab) {
        let len = pages * PAGE;
        let raw = sys::map_noreserve(len + PAGE).unwrap();
        let base = (raw as usize).next_multiple_of(PAGE) - raw as usize;
        let base = raw.wrapping_add(base);
        let table = sys::map_noreserve(1024 * core::mem::size_of::<Slot>()).unwrap();
        // SAFETY: a fresh zeroed mapping of 1024 slots, leaked.
        let table = unsafe { core::slice::from_raw_parts_mut(table.cast::<Slot>(), 1024) };
        // SAFETY: zeroed slots are valid empty slots.
        let m = unsafe { SliceManager::from_empty_slice(table, len, Config::fast()) }.unwrap();
        // SAFETY: `len` bytes of a leaked mapping, used by nothing else.
        let heap = unsafe { Heap::from_manager(NonNull::new(base).unwrap(), m) };
        let meta = sys::map_noreserve(pages * META_BYTES).unwrap();
        // SAFETY: zeroed metadata for `pages` pages, leaked.
        let slab = unsafe { Slab::new(meta.cast(), pages, true) };
        (heap, slab)
    }

    fn rng(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    fn free(heap: &mut ShardHeap, slab: &mut Slab, p: *mut u8) -> Found {
        let f = slab.find(heap.base().as_ptr(), p);
        if let Found::Live { page, class, idx } = f {
            // SAFETY: `find` just reported it live.
            unsafe { slab.free(heap, page, class, idx) };
        }
        f
    }

    #[test]
    fn classes_and_reciprocals() {
        assert_eq!(class_of(0), 0);
        assert_eq!(class_of(1), 0);
        assert_eq!(class_of(16), 0);
        assert_eq!(class_of(17), 1);
        assert_eq!(class_of(512), CLASSES - 1);
        assert_eq!(class_size(CLASSES - 1), MAX_SIZE);
        for (c, &r) in RECIP.iter().enumerate() {
            for off in 0..PAGE {
                let idx = ((off as u64 * r) >> 32) as usize;
                assert_eq!(idx, off / class_size(c), "class {c} offset {off}");
            }
        }
        // The README's figure.
        assert_eq!(META_BYTES, 576);
    }

    #[test]
    fn fills_every_slot_then_frees_in_random_order() {
        let (mut heap, mut slab) = setup(64);
        let mut hwm = 0;
        for (k, c) in [0, 1, 2, 6, 15, 20, CLASSES - 1].into_iter().enumerate() {
            // The spares of the classes before.
            let spares = k;
            let n = slots(c);
            let size = class_size(c);
            // Two pages and a bit.
            let mut ps: Vec<*mut u8> = (0..2 * n + 3)
                .map(|_| slab.alloc(&mut heap, &mut hwm, c).unwrap().ptr)
                .collect();
            slab.check();
            assert_eq!(slab.counts.pages, spares + 3);
            assert_eq!(slab.counts.used_slots, 2 * n + 3);
            let mut sorted = ps.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), ps.len(), "a slot handed out twice");
            for (k, &p) in ps.iter().enumerate() {
                assert_eq!(p as usize % GRANULE, 0);
                // Fill the slot: a neighbour's pattern must survive.
                // SAFETY: `size` bytes of a live slot.
                unsafe { core::ptr::write_bytes(p, k as u8, size) };
            }
            for (k, &p) in ps.iter().enumerate() {
                // SAFETY: as above.
                let s = unsafe { core::slice::from_raw_parts(p, size) };
                assert!(s.iter().all(|&b| b == k as u8));
            }
            let mut seed = 0x9e37_79b9_7f4a_7c15 ^ c as u64;
            while !ps.is_empty() {
                let k = rng(&mut seed) as usize % ps.len();
                let p = ps.swap_remove(k);
                assert!(matches!(free(&mut heap, &mut slab, p), Found::Live { .. }));
                if ps.len().is_multiple_of(97) {
                    slab.check();
                }
            }
            slab.check();
            // Every page emptied: one stays as the class's spare.
            assert_eq!(slab.counts.pages, spares + 1);
            assert_eq!(slab.counts.used_slots, 0);
            assert_eq!(heap.stats().used_arenas, slab.counts.pages);
        }
        heap.manager().check_invariants().unwrap();
    }

    #[test]
    fn double_and_interior_frees_are_detected() {
        let (mut heap, mut slab) = setup(8);
        let mut hwm = 0;
        let a = slab.alloc(&mut heap, &mut hwm, 2).unwrap().ptr;
        let b = slab.alloc(&mut heap, &mut hwm, 2).unwrap().ptr;
        assert_eq!(b as usize - a as usize, 48);
        assert_eq!(
            free(&mut heap, &mut slab, a.wrapping_add(16)),
            Found::Invalid
        );
        assert!(matches!(free(&mut heap, &mut slab, a), Found::Live { .. }));
        assert_eq!(free(&mut heap, &mut slab, a), Found::Free);
        // Past the last slot of the page (48 * 1365 = 65520).
        let tail = a.wrapping_add(slots(2) * 48);
        assert_eq!(free(&mut heap, &mut slab, tail), Found::Invalid);
        // Outside any slab page.
        let out = heap.base().as_ptr().wrapping_add(5 * PAGE);
        assert_eq!(free(&mut heap, &mut slab, out), Found::NotSlab);
        slab.check();
        assert_eq!(slab.counts.used_slots, 1);
        // The freed slot comes back first (lowest free slot).
        assert_eq!(slab.alloc(&mut heap, &mut hwm, 2).unwrap().ptr, a);
        slab.check();
    }

    #[test]
    fn verify_names_a_corrupt_page_record() {
        let (mut heap, mut slab) = setup(8);
        let mut hwm = 0;
        let a = slab.alloc(&mut heap, &mut hwm, 2).unwrap().ptr;
        assert_eq!(slab.verify(hwm.div_ceil(PAGE)), Ok(()));
        let page = (a as usize - heap.base().as_ptr() as usize) >> PAGE_SHIFT;
        // A slot marked free behind the layer's back.
        slab.meta_mut(page).bits[0] ^= 1;
        assert_eq!(
            slab.verify(slab.pages),
            Err("a page's free count differs from its bitmap")
        );
        slab.meta_mut(page).bits[0] ^= 1;
        // A free count off by one, bitmap and all.
        slab.meta_mut(page).free -= 1;
        assert!(slab.verify(slab.pages).is_err());
        slab.meta_mut(page).free += 1;
        assert_eq!(slab.verify(slab.pages), Ok(()));
    }

    #[test]
    fn empty_pages_go_back_but_one_spare_stays() {
        let (mut heap, mut slab) = setup(16);
        let mut hwm = 0;
        let c = CLASSES - 1;
        let n = slots(c);
        let ps: Vec<*mut u8> = (0..4 * n)
            .map(|_| slab.alloc(&mut heap, &mut hwm, c).unwrap().ptr)
            .collect();
        assert_eq!(heap.stats().used_arenas, 4);
        for &p in &ps {
            free(&mut heap, &mut slab, p);
        }
        slab.check();
        assert_eq!(slab.counts.pages, 1);
        assert_eq!(slab.counts.returned, 3);
        assert_eq!(heap.stats().used_arenas, 1);
        // Alloc/free around the spare does not thrash.
        for _ in 0..1000 {
            let p = slab.alloc(&mut heap, &mut hwm, c).unwrap().ptr;
            free(&mut heap, &mut slab, p);
        }
        assert_eq!(slab.counts.carved, 4);
        // A page given back was cleared and is usable by the heap again.
        let big = heap
            .alloc(Layout::from_size_align(8 * PAGE, 16).unwrap())
            .unwrap();
        // SAFETY: ours.
        unsafe { heap.free(big).unwrap() };
        heap.manager().check_invariants().unwrap();
    }

    #[test]
    fn recently_freed_slots_come_back_first_and_stale_hints_are_skipped() {
        let (mut heap, mut slab) = setup(16);
        let mut hwm = 0;
        let c = CLASSES - 1;
        let n = slots(c);
        let ps: Vec<*mut u8> = (0..3 * n)
            .map(|_| slab.alloc(&mut heap, &mut hwm, c).unwrap().ptr)
            .collect();
        // LIFO: the slot freed last is handed out next.
        free(&mut heap, &mut slab, ps[5]);
        free(&mut heap, &mut slab, ps[200]);
        assert_eq!(slab.alloc(&mut heap, &mut hwm, c).unwrap().ptr, ps[200]);
        assert_eq!(slab.alloc(&mut heap, &mut hwm, c).unwrap().ptr, ps[5]);
        // Free everything: two pages go back to the heap while the class
        // still remembers slots in them.
        for &p in ps.iter().rev() {
            free(&mut heap, &mut slab, p);
        }
        assert_eq!(slab.counts.pages, 1);
        // Another class takes the pages back from the heap.
        let small: Vec<*mut u8> = (0..3 * slots(0))
            .map(|_| slab.alloc(&mut heap, &mut hwm, 0).unwrap().ptr)
            .collect();
        slab.check();
        // The old hints now point into pages of class 0 (or nowhere):
        // they are skipped, and nothing is handed out twice.
        let big: Vec<*mut u8> = (0..2 * n)
            .map(|_| slab.alloc(&mut heap, &mut hwm, c).unwrap().ptr)
            .collect();
        slab.check();
        let mut all: Vec<usize> = small.iter().chain(&big).map(|&p| p as usize).collect();
        all.sort();
        for w in all.windows(2) {
            assert!(w[1] - w[0] >= 16, "overlapping slots");
        }
        for &p in &big {
            let f = slab.find(heap.base().as_ptr(), p);
            assert!(
                matches!(f, Found::Live { class, .. } if class == c),
                "{f:?}"
            );
        }
    }

    #[test]
    fn dirty_slots_are_reported_for_calloc() {
        let (mut heap, mut slab) = setup(8);
        let mut hwm = 0;
        let f = slab.alloc(&mut heap, &mut hwm, 0).unwrap();
        assert_eq!(f.dirty, 0, "fresh memory");
        assert_eq!(hwm, PAGE);
        free(&mut heap, &mut slab, f.ptr);
        let g = slab.alloc(&mut heap, &mut hwm, 0).unwrap();
        assert_eq!(g.ptr, f.ptr);
        assert_eq!(g.dirty, 16, "a reused slot");
        // A page carved below the high-water mark is dirty throughout.
        let mut hwm2 = 8 * PAGE;
        let h = slab.alloc(&mut heap, &mut hwm2, 3).unwrap();
        assert_eq!(h.dirty, 64);
    }

    #[test]
    fn disabled_layer_serves_nothing() {
        let (mut heap, _) = setup(4);
        let meta = sys::map_noreserve(4 * META_BYTES).unwrap();
        // SAFETY: fresh zeroed metadata, leaked.
        let mut slab = unsafe { Slab::new(meta.cast(), 4, false) };
        let mut hwm = 0;
        assert!(slab.alloc(&mut heap, &mut hwm, 0).is_none());
        assert_eq!(
            slab.find(heap.base().as_ptr(), heap.base().as_ptr()),
            Found::NotSlab
        );
    }
}
