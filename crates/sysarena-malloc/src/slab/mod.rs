//! The slab layer: small blocks without a descriptor each.
//!
//! A request of at most [`MAX_SIZE`] bytes at alignment at most 16 (or at
//! a larger one, at most [`MAX_SIZE`] once rounded up to it:
//! [`aligned_request`]) is served from a *slab page*: [`PAGE`] bytes (64 KiB, aligned to 64 KiB)
//! that the shard's [`Heap`] hands out as one arena (one
//! descriptor), cut into equal slots of one *size class* (16, 32, …, 1024
//! bytes, then eight per doubling up to 4 KiB: `class.rs`). Everything the
//! layer knows lives out of band, in an array of 32-byte page records
//! indexed by page number (`(addr - shard base) >> 16`) in a
//! `MAP_NORESERVE` mapping — the class, the free count, a one-word summary
//! of the page's free bitmap — and the bitmaps themselves, in three dense
//! pools by size beside it (`page.rs`).
//! Nothing is ever written into user memory, so a buffer overflow corrupts
//! a neighbouring block's bytes, never the allocator.
//!
//! Per class, a shard keeps a doubly linked list (links in the page
//! metadata) of its pages that have a free slot. All operations are O(1):
//!
//! - **alloc**: the list's first page; its lowest free slot (two
//!   `trailing_zeros`: the summary word, then the bitmap word). A page that
//!   becomes full leaves the list. An empty list carves a new page out of
//!   the heap (one `Heap::alloc`). A class's first page, carved where old
//!   data lies, keeps only its first `FIRST_KEEP` bytes resident (the
//!   rest goes back with `MADV_DONTNEED`, if at least `TRIM_MIN` bytes):
//!   most classes hold a few blocks. A page from the empty-page pool
//!   knows how far its last class's data reaches (`pooled_dirty`); past
//!   that it reads as zero, and nothing there needs giving back.
//! - **free**: page → class → slot index (a multiply by the class's
//!   reciprocal, checked); the slot's bit must be clear (else the free is a
//!   double free and nothing changes); set it. A full page re-enters the
//!   list at its head. A page that becomes empty stays as the class's one
//!   spare, or, if the class has a spare already, waits in the shard's
//!   empty-page pool (`pool.rs`) for the next carve of any class, or, if
//!   the pool is full, goes back to the heap (`Heap::free`, after
//!   `MADV_DONTNEED` on its memory).
//!
//! The layer is guarded by the shard's lock, like the heap it carves from.

use core::alloc::Layout;
use core::ptr::NonNull;
use core::sync::atomic::Ordering::Relaxed;

use sysarena::{Heap, Slot};

pub(crate) mod area;
mod build;
mod class;
mod page;
mod pool;
mod recent;
pub(crate) mod state;
#[cfg(test)]
mod tests;
mod trim;
#[cfg(test)]
pub(crate) use tests::test_heap;
mod verify;

pub(crate) use class::{
    CLASSES, MAX_SIZE, PAGE, PAGE_SHIFT, aligned_request, class_of, class_size,
};
use class::{RECIP, slots};
pub(crate) use page::{FIRST_ENTRIES, META_BYTES, Meta};
use page::{KINDS, MapPool, NONE, PageMeta, kind};
use pool::EmptyPool;
use recent::Recent;
use state::{Chunks, States};

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

#[derive(Clone, Copy, Debug)]
struct List {
    /// First page with a free slot, or [`NONE`].
    head: u32,
    /// Pages in the list with every slot free (at most one stays).
    empty: u32,
    /// Pages of this class, listed or full.
    held: u32,
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
    /// Carves the empty-page pool served, ever (of `carved`).
    pub(crate) reused: u64,
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
    /// A slot in a thread cache: freed by the program, not yet back in
    /// its page (a second free is a double free).
    Cached {
        page: usize,
        class: usize,
        idx: usize,
    },
    /// A slot that is free: a double free.
    Free,
    /// Inside a slab page but not at a slot's start.
    Invalid,
}

/// Bytes of a class's first page kept resident when it is carved out of
/// memory that held old data (the rest is given back: `carve`). A multiple
/// of 4 KiB. Measured on `git log --stat` (peak RSS) and `gcc -O2` (page
/// faults): the crate's `RESULTS.md`, "Sparse classes".
const FIRST_KEEP: usize = 16 * 1024;

/// The fewest bytes past [`FIRST_KEEP`] that a class's first page gives
/// back: less is not worth a system call (a pooled page's record of its
/// old data, rounded up to whole slots, often reaches a few bytes past
/// `FIRST_KEEP`, where the last trim left zeros).
const TRIM_MIN: usize = 16 * 1024;

/// One shard's slab layer.
#[derive(Debug)]
pub(crate) struct Slab {
    /// The pages' records and bitmap pools (under the lock).
    meta: Meta,
    /// Each bitmap pool's stack of free entries.
    maps: [MapPool; KINDS],
    /// The pages' classes and slot states, for lock-free readers.
    states: States,
    /// Where the pages' slot states are (under the lock).
    chunks: Chunks,
    /// Pages the metadata covers (the shard's size / [`PAGE`]).
    pages: usize,
    /// Whether new pages are carved (`SYSARENA_SLAB`).
    enabled: bool,
    /// Whether pages given back are `MADV_DONTNEED`ed first.
    madvise: bool,
    lists: [List; CLASSES],
    recent: [Recent; CLASSES],
    /// Empty pages kept (at most one per class, [`MAX_SPARES`] in all).
    spares: usize,
    /// Empty pages of no class, kept for the next carve (`pool.rs`).
    pool: EmptyPool,
    pub(crate) counts: Counts,
}

/// The most empty pages a shard keeps as spares (one per class at most):
/// a spare spares a malloc/free loop at a page boundary a `Heap::alloc`
/// and `free` each time, but it is resident memory — one per class of the
/// 72 and shard made a 4-thread stress hold 18 MiB of empty pages. Since
/// the thread caches serve such a loop without reaching the layer, one is
/// enough: `git log --stat` peaks 0.15 MB lower than with four, at the
/// same instructions in one-thread larson (callgrind).
pub(crate) const MAX_SPARES: usize = 1;

impl Slab {
    /// Whether the layer serves new small blocks.
    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    #[inline]
    fn meta(&self, page: usize) -> &PageMeta {
        debug_assert!(page < self.pages);
        // SAFETY: callers pass `page < self.pages`; `new`'s contract makes
        // that many records ours, and `&self` excludes writers.
        unsafe { &*self.meta.records.add(page) }
    }

    #[inline]
    #[allow(clippy::mut_from_ref)]
    fn meta_mut(&mut self, page: usize) -> &mut PageMeta {
        debug_assert!(page < self.pages);
        // SAFETY: as in `meta`; `&mut self` makes this the only reference.
        unsafe { &mut *self.meta.records.add(page) }
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
    /// O(1) (at most [`RECENT`](recent::RECENT) stale entries are skipped, each once).
    #[inline]
    pub(crate) fn alloc(
        &mut self,
        heap: &mut ShardHeap,
        hwm: &mut usize,
        c: usize,
    ) -> Option<Fresh> {
        let c = c.min(CLASSES - 1);
        while let Some(e) = self.recent[c].pop() {
            let (page, idx) = (e >> 16, e & 0xffff);
            // The entry is a hint: the slot must still be free, in a page
            // of this class (its page may have gone back to the heap, been
            // carved again, or the slot handed out since).
            if page < self.pages
                && self.meta(page).class as usize == c + 1
                && idx < slots(c)
                && self.slot_free(page, c, idx)
            {
                return Some(self.take(heap, c, page, idx));
            }
        }
        let mut page = self.lists[c].head as usize;
        if page == NONE as usize {
            page = self.carve(heap, hwm, c)?;
        }
        let bits = self.bits(page, c);
        // A listed page has a free slot: the summary is not zero.
        let w = self.meta(page).summary.trailing_zeros() as usize & (bits.len() - 1);
        let idx = w * 64 + bits[w].trailing_zeros() as usize;
        Some(self.take(heap, c, page, idx))
    }

    /// Hands out slot `idx` of `page` (class `c`), which is free.
    #[inline(always)]
    fn take(&mut self, heap: &ShardHeap, c: usize, page: usize, idx: usize) -> Fresh {
        let n = slots(c) as u16;
        let size = class_size(c);
        let (m, bits) = self.page_mut(page, c);
        let w = (idx >> 6) & (bits.len() - 1);
        let word = bits[w] & !(1u64 << (idx & 63));
        bits[w] = word;
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
            self.spares -= 1;
        }
        if full {
            self.unlink(c, page);
        }
        self.counts.used_slots += 1;
        self.counts.used_bytes += size;
        self.states.slot(page, idx).store(state::LIVE, Relaxed);
        let off = (page << PAGE_SHIFT) + idx * size;
        Fresh {
            ptr: heap.base().as_ptr().wrapping_add(off),
            dirty,
        }
    }

    /// Carves a page of class `c` — the page the pool kept last, or a new
    /// arena of `heap` — and lists it.
    #[cold]
    fn carve(&mut self, heap: &mut ShardHeap, hwm: &mut usize, c: usize) -> Option<usize> {
        // Under a limit the shard's slot states may have no room for one
        // more page (`state.rs`, `area.rs`): then no page is taken.
        if !self.enabled || !self.states.can_assign(&self.chunks, c) {
            return None;
        }
        // A pooled page's bytes past what its last class dirtied read as
        // zero (they were zero when it was carved, or given back since).
        // Without this record every page from the pool counted as old data
        // throughout: `gcc -O2 -c big.c`, whose classes empty their one
        // page and start again tens of thousands of times, made 73,881
        // first-page give-backs of 48 KiB (`strace`), mostly of pages a
        // give-back had already cleared; 9,123 with it (and 11,242 system
        // calls in all instead of 75,612), 1–2 % less wall time.
        let mut known_dirty = PAGE;
        let (p, off) = match self.pool.pop() {
            Some(page) => {
                self.counts.reused += 1;
                known_dirty = self.meta(page).pooled_dirty as usize * 16;
                let off = page << PAGE_SHIFT;
                (NonNull::new(heap.base().as_ptr().wrapping_add(off))?, off)
            }
            None => {
                let layout = Layout::from_size_align(PAGE, PAGE).ok()?;
                let p = heap.alloc(layout).ok()?;
                (p, p.as_ptr() as usize - heap.base().as_ptr() as usize)
            }
        };
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
        let mut dirty = hwm.saturating_sub(off).min(known_dirty);
        *hwm = (*hwm).max(off + PAGE);
        if self.lists[c].held == 0 && dirty >= FIRST_KEEP + TRIM_MIN && self.madvise {
            // The class holds no page yet: most classes a program uses hold a
            // few blocks (`git log --stat` peaks with 65 classes and 0.7 MB
            // in their slots), so the old data past its first FIRST_KEEP
            // bytes goes back to the kernel now, and faults in again only
            // if the class grows into it.
            // SAFETY: the range lies inside the page (FIRST_KEEP < dirty <=
            // PAGE, and the kernel rounds the length up to a 4 KiB page
            // boundary, at most the page's end), an arena no slot of which
            // is handed out yet: nobody uses its bytes. MADV_DONTNEED on
            // private anonymous memory makes them read as zero, which the
            // smaller `dirty` below says — only if the call succeeded: under
            // a kernel whose pages are larger than FIRST_KEEP (64 KiB pages
            // on some arm64 systems) the address is not page-aligned, the
            // call fails, the old data stays, and `calloc` must clear it.
            if unsafe { crate::syscall::dont_need(p.as_ptr().add(FIRST_KEEP), dirty - FIRST_KEEP) }
            {
                dirty = FIRST_KEEP;
            }
        }
        let Some(map) = self.map_alloc(kind(c)) else {
            // The pool had to grow and the kernel refused (under an
            // address-space limit: pools start short); give the arena
            // back, and the block goes to the heap or another shard.
            // SAFETY: `p` was just allocated from `heap` and never handed out.
            let _ = unsafe { heap.free(p) };
            return None;
        };
        if !self.states.assign(&mut self.chunks, page, c) {
            // Cannot happen (`can_assign` said yes above, under the same
            // lock); give the arena and the entry back.
            self.map_free(kind(c), map);
            // SAFETY: `p` was just allocated from `heap` and never handed out.
            let _ = unsafe { heap.free(p) };
            return None;
        }
        let m = self.meta_mut(page);
        m.class = c as u8 + 1;
        m.free = n as u16;
        m.clean_from = dirty.div_ceil(size) as u16;
        m.map = map;
        let (m, bits) = self.page_mut(page, c);
        for (w, word) in bits.iter_mut().enumerate() {
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
        self.lists[c].held += 1;
        self.spares += 1;
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
        let c = ((m.class - 1) as usize).min(CLASSES - 1);
        let in_page = off & (PAGE - 1);
        let idx = ((in_page as u64 * RECIP[c]) >> 32) as usize;
        if idx * class_size(c) != in_page || idx >= slots(c) {
            return Found::Invalid;
        }
        if self.slot_free(page, c, idx) {
            return Found::Free;
        }
        if self.states.slot(page, idx).load(Relaxed) == state::CACHED {
            return Found::Cached {
                page,
                class: c,
                idx,
            };
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
    /// `(page, c, idx)` is what `find` just returned as `Found::Live` (or
    /// `Found::Cached`, from the thread cache that holds the slot) with no
    /// change to the layer since; the caller gives the slot up.
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
        let c = c.min(CLASSES - 1);
        let n = slots(c) as u16;
        self.states.slot(page, idx).store(state::FREE, Relaxed);
        let (m, bits) = self.page_mut(page, c);
        let w = (idx >> 6) & (bits.len() - 1);
        if bits[w] == 0 {
            m.summary |= 1u64 << w;
        }
        bits[w] |= 1u64 << (idx & 63);
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
            if self.lists[c].empty == 0 && self.spares < MAX_SPARES {
                self.lists[c].empty = 1;
                self.spares += 1;
            } else {
                self.unlink(c, page);
                self.release(heap, page, c);
                return size;
            }
        }
        self.recent[c].push(page << 16 | idx);
        size
    }
}
