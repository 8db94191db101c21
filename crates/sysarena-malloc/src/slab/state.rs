//! Slot states: what a thread may learn about a small block without a
//! lock. Beside the page records (which only the shard's lock guards), an
//! out-of-band array with one word per page — its class (0: not a slab
//! page) and where its slot states are — and the states themselves, one
//! byte per slot: [`FREE`] (free in the page's bitmap), [`LIVE`] (handed
//! to the program) or [`CACHED`] (taken from the page by a thread cache,
//! not handed out). The layer writes them under the lock as its pages and
//! slots change hands; a thread cache reads them, and moves a slot between
//! `LIVE` and `CACHED`, with plain atomic loads and stores (no
//! read-modify-write): each slot's state is its own byte, so writers of
//! different slots never touch the same word.
//!
//! A page's states take as many bytes as it has slots, rounded up to a
//! power of two of at least [`UNIT`] (a *chunk*): 4 KiB for the 16-byte
//! class, 64 bytes for the classes of 1 KiB and more. Chunks come from
//! 4 KiB *state blocks*, each cut into chunks of one size (a slab layer in
//! miniature, under the shard's lock): a page of a large class costs 64
//! bytes of states, not a whole 4 KiB memory page (which made the states
//! 6 % of slab memory whatever the class). Each shard has as many blocks
//! as pages, which always suffices: a block in use holds a live page's
//! chunk.
//!
//! Blocks are taken lowest first (a block given back is taken again
//! before a new one), so under an address-space limit, where every byte
//! mapped counts, a shard's blocks need not all be mapped at once: they
//! end a mapping of their own (`area.rs`) that starts with a few of them
//! and grows in place as blocks are taken. All
//! of them — 4 KiB per 64 KiB page, the worst case of the 16-byte class —
//! took 6 % of the limit; `enomem fill 2000` needs 64 bytes a page.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::area;
use super::class::{CLASSES, PAGE, PAGE_SHIFT, RECIP, class_size, slots};
use crate::sys::SyncCell;
use chunks::{BlockMeta, order_of};

mod chunks;
pub(crate) use chunks::Chunks;

/// The slot is free in its page's bitmap (or no slot: the page is not a
/// slab page of a class with that many slots).
pub(crate) const FREE: u8 = 0;
/// The slot is the program's.
pub(crate) const LIVE: u8 = 1;
/// The slot sits in a thread cache.
pub(crate) const CACHED: u8 = 2;

/// The bit of a page's word (in its class byte, whose classes stay below
/// it) that marks the page draining ([`States::set_draining`]).
const DRAINING: u8 = 0x80;
const _: () = assert!(CLASSES < DRAINING as usize);

/// Bytes of a state block.
pub(crate) const BLOCK: usize = 4096;
/// The smallest chunk.
pub(crate) const UNIT: usize = 64;
/// Bytes of states per page, for sizing the mapping: its word, its
/// block's record and a block (plus one block of alignment per mapping:
/// [`bytes_for_backed`]).
pub(crate) const BYTES_PER_PAGE: usize = 8 + core::mem::size_of::<BlockMeta>() + BLOCK;

/// Bytes of the mapping for `pages` pages' states ([`States::new`]).
#[cfg(test)]
pub(crate) fn bytes_for(pages: usize) -> Option<usize> {
    pages.checked_mul(BYTES_PER_PAGE)?.checked_add(BLOCK)
}

/// Bytes of the mapping for the words of `words` pages and the block
/// records and blocks of the first `backed` of them
/// ([`States::with_backing`]).
pub(crate) fn bytes_for_backed(words: usize, backed: usize) -> Option<usize> {
    let records = words.checked_mul(8)?;
    records
        .checked_add(backed.checked_mul(BYTES_PER_PAGE - 8)?)?
        .checked_add(BLOCK)
}

/// Bytes of the mapping for the block records and blocks of `pages` pages
/// whose words lie elsewhere ([`States::part_in`]).
pub(crate) fn bytes_for_part(pages: usize) -> Option<usize> {
    pages.checked_mul(BYTES_PER_PAGE - 8)?.checked_add(BLOCK)
}

/// Where the blocks start in a mapping of [`bytes_for_backed`]`(words,
/// backed)` bytes ([`States::with_backing`]).
pub(crate) fn blocks_at_backed(words: usize, backed: usize) -> usize {
    (words * 8 + backed * core::mem::size_of::<BlockMeta>()).next_multiple_of(BLOCK)
}

/// Where the blocks start in a mapping of [`bytes_for_part`]`(pages)`
/// bytes ([`States::part_in`]).
pub(crate) fn blocks_at_part(pages: usize) -> usize {
    (pages * core::mem::size_of::<BlockMeta>()).next_multiple_of(BLOCK)
}

/// The per-page words, block records and blocks of a run of pages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct States {
    /// Per page: 0 (not a slab page), or the address of its chunk shifted
    /// left by 8, plus its class + 1.
    words: *const AtomicU64,
    metas: *mut BlockMeta,
    blocks: *mut u8,
    /// Pages with a word.
    pages: usize,
    /// Pages (the first ones) with a block record and a block: `pages`,
    /// except in the installed lookup table of a reservation that may grow,
    /// whose later shards have theirs in mappings of their own
    /// ([`part_in`](States::part_in)).
    backed: usize,
    /// The shard whose area (`area.rs`) these blocks end, plus one; 0 when every
    /// block is mapped ([`growing`](States::growing)).
    area: usize,
}

// SAFETY: the words and chunks are atomics, shared by design; the block
// records are only used under the owning shard's lock; the pointers are
// fixed after initialisation.
unsafe impl Sync for States {}
// SAFETY: as above.
unsafe impl Send for States {}

impl States {
    /// No pages: every lookup says "not a slab page".
    pub(crate) const NONE: States = States {
        words: core::ptr::null(),
        metas: core::ptr::null_mut(),
        blocks: core::ptr::null_mut(),
        pages: 0,
        backed: 0,
        area: 0,
    };

    /// The states of `pages` pages: `mem` holds [`bytes_for`]`(pages)`
    /// zeroed bytes, page-aligned.
    ///
    /// # Safety
    /// `mem` (null: no pages) is that many zeroed bytes, aligned to 8 and
    /// live for ever, used only through `States` values made from it.
    #[cfg(test)]
    pub(crate) unsafe fn new(mem: *mut u8, pages: usize) -> States {
        // SAFETY: forwarded; `bytes_for(pages)` is `bytes_for_backed(pages,
        // pages)`.
        unsafe { States::with_backing(mem, pages, pages) }
    }

    /// The words of `pages` pages, and the block records and blocks of the
    /// first `backed` of them: `mem` holds
    /// [`bytes_for_backed`]`(pages, backed)` zeroed bytes, page-aligned.
    /// The others get theirs with [`part_in`](Self::part_in).
    ///
    /// # Safety
    /// `mem` (null: no pages) is that many zeroed bytes, page-aligned and
    /// live for ever, used only through `States` values made from it;
    /// `backed <= pages`.
    pub(crate) unsafe fn with_backing(mem: *mut u8, pages: usize, backed: usize) -> States {
        if mem.is_null() {
            return States::NONE;
        }
        debug_assert!(backed <= pages);
        let metas_at = pages * 8;
        let blocks_at = blocks_at_backed(pages, backed);
        States {
            words: mem.cast(),
            // SAFETY: inside the caller's bytes (`bytes_for_backed` counts
            // them).
            metas: unsafe { mem.add(metas_at) }.cast(),
            // SAFETY: as above; the blocks end at most `BLOCK` past
            // `pages * 8 + backed * (BYTES_PER_PAGE - 8)`.
            blocks: unsafe { mem.add(blocks_at) },
            pages,
            backed,
            area: 0,
        }
    }

    /// The states of pages `first .. first + pages` of these (and as many
    /// blocks), which are backed.
    pub(crate) fn part(&self, first: usize, pages: usize) -> States {
        if self.pages == 0 {
            return States::NONE;
        }
        assert!(first + pages <= self.backed);
        States {
            // SAFETY: in bounds (checked above).
            words: unsafe { self.words.add(first) },
            // SAFETY: as above.
            metas: unsafe { self.metas.add(first) },
            // SAFETY: as above.
            blocks: unsafe { self.blocks.add(first * BLOCK) },
            pages,
            backed: pages,
            area: 0,
        }
    }

    /// The states of pages `first .. first + pages` of these, with their
    /// block records and blocks in `mem`, which holds
    /// [`bytes_for_part`]`(pages)` zeroed bytes, page-aligned.
    ///
    /// # Safety
    /// `mem` is that many bytes, live for ever, used only through the
    /// `States` returned; pages `first .. first + pages` are past the
    /// backed ones, and no other part of them is ever made.
    pub(crate) unsafe fn part_in(&self, first: usize, pages: usize, mem: *mut u8) -> States {
        if self.pages == 0 {
            return States::NONE;
        }
        assert!(first >= self.backed && first + pages <= self.pages);
        let blocks_at = blocks_at_part(pages);
        States {
            // SAFETY: in bounds (checked above).
            words: unsafe { self.words.add(first) },
            metas: mem.cast(),
            // SAFETY: inside the caller's bytes (`bytes_for_part`).
            blocks: unsafe { mem.add(blocks_at) },
            pages,
            backed: pages,
            area: 0,
        }
    }

    /// These states of shard `i`, whose blocks grow in place as they are
    /// taken if [`area::set`] recorded a mapping for them (else all are
    /// mapped). O(1).
    pub(crate) fn growing(mut self, i: usize) -> States {
        if area::recorded(i) {
            self.area = i + 1;
        }
        self
    }

    /// Pages covered.
    pub(crate) fn pages(&self) -> usize {
        self.pages
    }

    #[inline]
    fn word(&self, page: usize) -> u64 {
        if page >= self.pages {
            return 0;
        }
        // SAFETY: `page < pages`.
        unsafe { &*self.words.add(page) }.load(Ordering::Relaxed)
    }

    /// Page `page`'s class + 1 (0: not a slab page).
    #[inline]
    pub(crate) fn class(&self, page: usize) -> u8 {
        self.word(page) as u8 & !DRAINING
    }

    /// Marks page `page` (a slab page) draining, or not: while it is, a
    /// free of one of its slots passes the thread caches by ([`locate`]
    /// answers "not a slab page"), and reaches the shard under its lock
    /// (`shard/retire.rs`). Under the shard's lock. O(1).
    pub(crate) fn set_draining(&mut self, page: usize, on: bool) {
        let w = self.word(page);
        if w == 0 {
            return;
        }
        let w = if on {
            w | DRAINING as u64
        } else {
            w & !(DRAINING as u64)
        };
        // SAFETY: `page < pages` (the word is not 0).
        unsafe { &*self.words.add(page) }.store(w, Ordering::Relaxed);
    }

    /// Slot `idx`'s state byte in page `page`, a slab page with more than
    /// `idx` slots.
    #[inline]
    pub(crate) fn slot(&self, page: usize, idx: usize) -> &AtomicU8 {
        slot_at(self.word(page), idx)
    }

    /// Makes page `page` a page of class `c` (the layer, under the shard's
    /// lock, as it carves the page): a chunk of zeroed (free) states. `false`
    /// if there is no block: a shard has one per page, but under a limit
    /// its area may not grow to hold the next (`area.rs`; the layer asks
    /// [`can_assign`](Self::can_assign) first).
    pub(crate) fn assign(&mut self, chunks: &mut Chunks, page: usize, c: usize) -> bool {
        if page >= self.pages {
            return false;
        }
        let Some(addr) = self.alloc_chunk(chunks, order_of(c)) else {
            return false;
        };
        // SAFETY: `page < pages`.
        unsafe { &*self.words.add(page) }
            .store(((addr as u64) << 8) | (c as u64 + 1), Ordering::Relaxed);
        true
    }

    /// Page `page` is no slab page any more (the layer, under the shard's
    /// lock, as it gives the page back; every slot is free, so its chunk
    /// is all zero again).
    pub(crate) fn unassign(&mut self, chunks: &mut Chunks, page: usize) {
        let w = self.word(page);
        if w == 0 {
            return;
        }
        // SAFETY: `page < pages` (the word is not 0).
        unsafe { &*self.words.add(page) }.store(0, Ordering::Relaxed);
        self.free_chunk(chunks, (w >> 8) as usize);
    }
}

/// What [`slot_at`] gives for a page that is not a slab page (a caller's
/// mistake; never `LIVE`, so nothing is freed through it).
static NO_SLOT: AtomicU8 = AtomicU8::new(FREE);

/// The state byte of slot `idx` of the page whose word is `w`.
#[inline]
fn slot_at(w: u64, idx: usize) -> &'static AtomicU8 {
    if w == 0 {
        return &NO_SLOT;
    }
    // SAFETY: a non-zero word holds the address of the page's chunk, which
    // has at least as many bytes as the page has slots (callers pass an
    // index below that), in a mapping that lives for ever. (A reader
    // racing with the page's release may read a byte of a chunk that has
    // changed hands: still a live atomic byte.)
    unsafe { &*((w >> 8) as usize as *const AtomicU8).add(idx) }
}

/// A slab block found without a lock.
pub(crate) struct Located {
    /// Its class.
    pub(crate) class: usize,
    /// Its state byte.
    pub(crate) state: &'static AtomicU8,
}

/// What a lock-free lookup says about a pointer.
pub(crate) enum Lookup {
    /// Not in a slab page.
    NotSlab,
    /// In a slab page, not at a slot's start.
    Invalid,
    /// A slot.
    Slot(Located),
}

static GLOBAL: SyncCell<States> = SyncCell::new(States::NONE);

/// Installs the states of every shard's pages, page 0 at the first byte of
/// the reservation.
///
/// # Safety
/// Called once, during initialisation, before any lookup.
pub(crate) unsafe fn install(s: States) {
    // SAFETY: initialisation has exclusive access; readers come after the
    // settings are published (release/acquire).
    unsafe { *GLOBAL.get() = s };
}

/// The slot at offset `off` from the reservation's first byte, without a
/// lock.
///
/// # Time complexity
/// O(1).
#[inline]
pub(crate) fn locate(off: usize) -> Lookup {
    // SAFETY: written only during initialisation, before any caller.
    let s: &'static States = unsafe { &*GLOBAL.get() };
    locate_in(s, off)
}

/// [`locate`] in the states `s`, whose page 0 is at offset 0.
#[inline(always)]
pub(super) fn locate_in(s: &States, off: usize) -> Lookup {
    let w = s.word(off >> PAGE_SHIFT);
    let cls = w as u8;
    // A draining page's slots go to their shard under its lock.
    if cls == 0 || cls & DRAINING != 0 {
        return Lookup::NotSlab;
    }
    let c = (cls as usize - 1).min(CLASSES - 1);
    let in_page = off & (PAGE - 1);
    let idx = ((in_page as u64 * RECIP[c]) >> 32) as usize;
    if idx * class_size(c) != in_page || idx >= slots(c) {
        return Lookup::Invalid;
    }
    Lookup::Slot(Located {
        class: c,
        state: slot_at(w, idx),
    })
}

/// The state byte of the slot of class `c` at offset `off` from the
/// reservation's first byte, which the caller knows to be a slot of that
/// class (it holds it).
///
/// # Time complexity
/// O(1).
#[inline]
pub(crate) fn slot_of(off: usize, c: usize) -> &'static AtomicU8 {
    // SAFETY: written only during initialisation, before any caller.
    let s: &'static States = unsafe { &*GLOBAL.get() };
    let c = c.min(CLASSES - 1);
    let idx = (((off & (PAGE - 1)) as u64 * RECIP[c]) >> 32) as usize;
    slot_at(s.word(off >> PAGE_SHIFT), idx)
}
