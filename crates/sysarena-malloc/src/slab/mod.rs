//! The slab layer: small blocks without a descriptor each.
//!
//! A request of at most [`MAX_SIZE`] bytes at alignment at most 16 is
//! served from a *slab*: an arena the shard's [`Heap`] hands out whole (one
//! descriptor), cut into equal slots of one *size class* (16, 32, …, 1024
//! bytes, then eight per doubling up to 4 KiB: `class.rs`). A slab of a
//! class up to 256 bytes is one *page* ([`PAGE`], 16 KiB, aligned to
//! 16 KiB: 64 slots or more); above, a *span* of [`SPAN`] pages (64 KiB,
//! aligned to 64 KiB), so that a class of 4 KiB slots still has 16. Everything the layer knows lives out of
//! band, in an array of [`PageMeta`] indexed by page number (`(addr -
//! shard base) >> 14`) in a `MAP_NORESERVE` mapping: the class, the free
//! count, and a free bitmap with a one-word summary (in a span's first
//! page; its other pages only say where that is). Nothing is ever written
//! into user memory, so a buffer overflow corrupts a neighbouring block's
//! bytes, never the allocator.
//!
//! Per class, a shard keeps a doubly linked list (links in the page
//! metadata) of its slabs that have a free slot, and one of its empty
//! slabs. All operations are O(1):
//!
//! - **alloc**: the list's first slab; its lowest free slot (two
//!   `trailing_zeros`: the summary word, then the bitmap word). A slab
//!   that becomes full leaves the list. An empty list takes one of the
//!   class's spares if it has one (resident already), else carves a new
//!   slab out of the heap (one `Heap::alloc`).
//! - **free**: page → first page of its slab → class → slot index (a
//!   multiply by the class's reciprocal, checked); the slot's bit must be
//!   clear (else the free is a double free and nothing changes); set it. A
//!   full slab re-enters the list at its head. A slab that becomes empty
//!   leaves the list: it stays as one of its class's *spares*, or, if the
//!   shard keeps as many pages of spares as it may (a cap that adapts to
//!   how much its slabs churn: `spares.rs`), goes back to the heap
//!   (`Heap::free`, after `MADV_DONTNEED` on its memory).
//!
//! Slabs were 64 KiB pages for every class, and one spare a class: a
//! 4-thread stress gave back and faulted in 2,000 slabs a run (1.2× glibc's
//! time) and `git log --stat` 2,079 (32.7k page faults, glibc 18.8k).
//!
//! The layer is guarded by the shard's lock, like the heap it carves from.

use core::alloc::Layout;
use core::ptr::NonNull;
use core::sync::atomic::Ordering::Relaxed;

use sysarena::{Heap, Slot};

mod class;
mod page;
mod recent;
mod spares;
pub(crate) mod state;
#[cfg(test)]
mod tests;
mod verify;

pub(crate) use class::{
    ALIGN, CLASSES, GRANULE, MAX_SIZE, PAGE, PAGE_SHIFT, SPAN, class_of, class_size,
};
use class::{RECIP, slab_bytes, slots, span_pages};
pub(crate) use page::{META_BYTES, PageMeta};
use page::{NONE, WORDS};
use recent::Recent;
pub(crate) use spares::MOST_SPARES;
use spares::SpareCap;
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
    /// First of the class's spares (pages with every slot free, not on
    /// the list above), or [`NONE`].
    spares: u32,
}

/// The layer's counts, for the stats report.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    /// Slabs held (each an in-use arena of the shard's heap: a page, or a
    /// span of pages).
    pub(crate) pages: usize,
    /// Their bytes.
    pub(crate) bytes: usize,
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
    /// Empty slabs kept, on their classes' spare lists (in `pages`).
    pub(crate) spares: usize,
    /// Their pages (at most `spare_cap.cap()`).
    pub(crate) spare_pages: usize,
    /// Slabs taken off their class's spare list for a new slot, ever.
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

/// One shard's slab layer.
#[derive(Debug)]
pub(crate) struct Slab {
    meta: *mut PageMeta,
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
    /// How many spares the layer may keep (it adapts: `spares.rs`).
    spare_cap: SpareCap,
    pub(crate) counts: Counts,
}

/// The fewest pages of empty slabs a shard keeps as spares, where its
/// slabs do not churn (`spares.rs` raises it, up to [`MOST_SPARES`], where
/// they do): 64 KiB, a span. A spare spares a malloc/free loop at a slab
/// boundary a `Heap::alloc` and `free` each time, but it is resident
/// memory — one 64 KiB page per class of the 72 and shard made a 4-thread
/// stress hold 18 MiB of empty pages. Since the thread caches serve such a
/// loop without reaching the layer, little is enough there.
pub(crate) const MAX_SPARES: usize = 4;

impl Slab {
    /// A layer with no metadata: serves nothing, finds nothing.
    #[cfg(test)]
    pub(crate) const fn none() -> Slab {
        Slab {
            meta: core::ptr::null_mut(),
            states: States::NONE,
            chunks: Chunks::EMPTY,
            pages: 0,
            enabled: false,
            madvise: false,
            lists: [List {
                head: NONE,
                spares: NONE,
            }; CLASSES],
            recent: [Recent::EMPTY; CLASSES],
            spare_cap: SpareCap::NEW,
            counts: Counts {
                pages: 0,
                bytes: 0,
                used_slots: 0,
                used_bytes: 0,
                slots: 0,
                slot_bytes: 0,
                carved: 0,
                returned: 0,
                spares: 0,
                spare_pages: 0,
                reused: 0,
            },
        }
    }

    /// A layer over a heap whose region starts at a multiple of [`PAGE`],
    /// with `meta` and `states` describing its first `pages` pages.
    ///
    /// # Safety
    /// `meta` points to `pages` zeroed `PageMeta`s that nothing else uses
    /// and that live for ever; `states` covers `pages` pages (all zero) that
    /// no other layer writes; the layer is only used with that heap.
    /// (The shards build theirs in place: [`Slab::init_in_place`].)
    #[cfg(test)]
    pub(crate) unsafe fn new(
        meta: *mut PageMeta,
        states: States,
        pages: usize,
        enabled: bool,
    ) -> Slab {
        let ok = !meta.is_null() && states.pages() >= pages;
        Slab {
            meta,
            states,
            pages: if ok { pages } else { 0 },
            enabled: enabled && ok,
            madvise: true,
            ..Slab::none()
        }
    }

    /// Writes [`Slab::new`]'s value at `dst` field by field, except the
    /// hint rings and the counts, which zero bytes already hold: a shard's
    /// layer lives in a zeroed static, and writing its 11 KB of empty rings
    /// (besides building the value on the stack first) made every program
    /// touch those pages, where one that uses a few classes touches the
    /// rings of those. O(classes).
    ///
    /// # Safety
    /// As [`Slab::new`]; `dst` is valid for writes, and its `recent` and
    /// `counts` are zero bytes.
    pub(crate) unsafe fn init_in_place(
        dst: *mut Slab,
        meta: *mut PageMeta,
        states: States,
        pages: usize,
        enabled: bool,
    ) {
        let ok = !meta.is_null() && states.pages() >= pages;
        // SAFETY: `dst` is valid for writes (the caller's contract); the
        // fields left out are zero bytes, their empty values (`Recent`
        // checks its own; `Counts` is integers).
        unsafe {
            (&raw mut (*dst).meta).write(meta);
            (&raw mut (*dst).states).write(states);
            (&raw mut (*dst).chunks).write(Chunks::EMPTY);
            (&raw mut (*dst).pages).write(if ok { pages } else { 0 });
            (&raw mut (*dst).enabled).write(enabled && ok);
            (&raw mut (*dst).madvise).write(true);
            (&raw mut (*dst).lists).write(
                [List {
                    head: NONE,
                    spares: NONE,
                }; CLASSES],
            );
            (&raw mut (*dst).spare_cap).write(SpareCap::NEW);
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
    /// heap has no page (16 KiB) left.
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
        let was_spare = m.spare;
        m.free -= 1;
        let full = m.free == 0;
        let dirty = if idx < m.clean_from as usize {
            size
        } else {
            m.clean_from = idx as u16 + 1;
            0
        };
        if was_empty {
            // The page was on no list of pages with a free slot: a spare
            // (taken by its class, or through a hint) or just carved.
            if was_spare {
                self.unspare(c, page);
                self.counts.reused += 1;
            }
            self.push_front(c, page);
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

    /// A slab for class `c` with every slot free (which `take` lists): one
    /// of the class's spares if it has one (resident already: no system
    /// call, no page fault), else a slab carved out of `heap`.
    #[cold]
    fn carve(&mut self, heap: &mut ShardHeap, hwm: &mut usize, c: usize) -> Option<usize> {
        if !self.enabled {
            return None;
        }
        if self.lists[c].spares != NONE {
            return Some(self.lists[c].spares as usize);
        }
        let bytes = slab_bytes(c);
        let p = heap
            .alloc(Layout::from_size_align(bytes, bytes).ok()?)
            .ok()?;
        let off = p.as_ptr() as usize - heap.base().as_ptr() as usize;
        let page = off >> PAGE_SHIFT;
        if page + span_pages(c) > self.pages || !off.is_multiple_of(bytes) {
            // Cannot happen (the heap starts on a span boundary and honours
            // alignment); give the arena back rather than trust it.
            // SAFETY: `p` is an arena of `heap` that holds no live slot.
            let _ = unsafe { heap.free(p) };
            return None;
        }
        let size = class_size(c);
        let n = slots(c);
        // Bytes of the page below the high-water mark may hold old data.
        let dirty = hwm.saturating_sub(off).min(bytes);
        *hwm = (*hwm).max(off + bytes);
        if !self.states.assign(&mut self.chunks, page, c) {
            // Cannot happen (a shard has a state block per page); give the
            // arena back.
            // SAFETY: `p` is an arena of `heap` that holds no live slot.
            let _ = unsafe { heap.free(p) };
            return None;
        }
        for part in 1..span_pages(c) {
            let t = self.meta_mut(page + part);
            t.class = c as u8 + 1;
            t.part = part as u8;
        }
        let m = self.meta_mut(page);
        m.class = c as u8 + 1;
        m.spare = false;
        m.part = 0;
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
        self.counts.pages += 1;
        self.counts.bytes += bytes;
        self.spare_cap.carved();
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
        // A span's later pages name their place; the first holds the rest.
        let page = page - m.part as usize;
        let m = if m.part == 0 { m } else { self.meta(page) };
        let c = ((m.class - 1) as usize).min(CLASSES - 1);
        let in_slab = off - (page << PAGE_SHIFT);
        let idx = ((in_slab as u64 * RECIP[c]) >> 32) as usize;
        if idx * class_size(c) != in_slab || idx >= slots(c) {
            return Found::Invalid;
        }
        if m.bits[(idx >> 6) & (WORDS - 1)] & (1u64 << (idx & 63)) != 0 {
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
        self.spare_cap.freed();
        if was_full {
            self.push_front(c, page);
        }
        if empty {
            self.unlink(c, page);
            if self.counts.spare_pages + span_pages(c) <= self.spare_cap.cap() {
                self.spare(c, page);
            } else {
                self.release(heap, page, c);
                return size;
            }
        }
        self.recent[c].push(page << 16 | idx);
        size
    }

    /// Puts `page` (empty, unlisted) on class `c`'s spares.
    fn spare(&mut self, c: usize, page: usize) {
        let head = self.lists[c].spares;
        if head != NONE {
            self.meta_mut(head as usize).prev = page as u32;
        }
        let m = self.meta_mut(page);
        m.spare = true;
        m.prev = NONE;
        m.next = head;
        self.lists[c].spares = page as u32;
        self.counts.spares += 1;
        self.counts.spare_pages += span_pages(c);
    }

    /// Takes `page` off class `c`'s spares (a slot of it is taken, or it
    /// goes to another class).
    fn unspare(&mut self, c: usize, page: usize) {
        let (prev, next) = {
            let m = self.meta_mut(page);
            m.spare = false;
            (m.prev, m.next)
        };
        if prev == NONE {
            self.lists[c].spares = next;
        } else {
            self.meta_mut(prev as usize).next = next;
        }
        if next != NONE {
            self.meta_mut(next as usize).prev = prev;
        }
        self.counts.spares -= 1;
        self.counts.spare_pages -= span_pages(c);
    }

    /// Forgets that the empty, unlisted slab at `page` belongs to class
    /// `c`.
    fn retire(&mut self, page: usize, c: usize) {
        for part in 0..span_pages(c) {
            let m = self.meta_mut(page + part);
            m.class = 0;
            m.part = 0;
        }
        self.states.unassign(&mut self.chunks, page);
        let n = slots(c);
        self.counts.pages -= 1;
        self.counts.bytes -= slab_bytes(c);
        self.counts.slots -= n;
        self.counts.slot_bytes -= n * class_size(c);
    }

    /// Gives an empty, unlisted slab back to the heap.
    #[cold]
    fn release(&mut self, heap: &mut ShardHeap, page: usize, c: usize) {
        self.retire(page, c);
        self.counts.returned += 1;
        self.spare_cap.released();
        let p = heap.base().as_ptr().wrapping_add(page << PAGE_SHIFT);
        if self.madvise {
            // SAFETY: the slab is an in-use arena of the heap that holds no
            // live slot: nobody uses its bytes. MADV_DONTNEED on private
            // anonymous memory makes them read as zero later, which is all
            // the allocator assumes (the shard's high-water mark already
            // counts them as dirty).
            unsafe { libc::madvise(p.cast(), slab_bytes(c), libc::MADV_DONTNEED) };
        }
        if let Some(nn) = NonNull::new(p) {
            // SAFETY: the slab is the arena `carve` allocated from `heap`
            // and no slot of it is live.
            let _ = unsafe { heap.free(nn) };
        }
    }
}
