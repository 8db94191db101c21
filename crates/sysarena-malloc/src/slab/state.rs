//! Slot states: what a thread may learn about a small block without a
//! lock. Beside the page records (which only the shard's lock guards), two
//! out-of-band arrays of atomic bytes: each page's class (0: not a slab
//! page), and one state per slot — [`FREE`] (free in the page's bitmap),
//! [`LIVE`] (handed to the program) or [`CACHED`] (taken from the page by
//! a thread cache, not handed out). The layer writes them under the lock as
//! its pages and slots change hands; a thread cache reads them, and moves a
//! slot between `LIVE` and `CACHED`, with plain atomic loads and stores (no
//! read-modify-write): each slot's state is its own byte, so writers of
//! different slots never touch the same word.

use core::sync::atomic::{AtomicU8, Ordering};

use super::class::{CLASSES, GRANULE, PAGE, PAGE_SHIFT, RECIP, class_size, slots};
use crate::sys::SyncCell;

/// The slot is free in its page's bitmap (or no slot: the page is not a
/// slab page of a class with that many slots).
pub(crate) const FREE: u8 = 0;
/// The slot is the program's.
pub(crate) const LIVE: u8 = 1;
/// The slot sits in a thread cache.
pub(crate) const CACHED: u8 = 2;

/// Slot states per page: one per [`GRANULE`] (the smallest class's slots).
pub(crate) const PER_PAGE: usize = PAGE / GRANULE;
/// Bytes of state per page: its class and its slots' states.
pub(crate) const BYTES_PER_PAGE: usize = 1 + PER_PAGE;

/// The class and slot-state arrays of a run of pages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct States {
    classes: *const AtomicU8,
    slots: *const AtomicU8,
    pages: usize,
}

// SAFETY: the arrays are atomics, shared by design; the pointers are fixed
// after initialisation.
unsafe impl Sync for States {}
// SAFETY: as above.
unsafe impl Send for States {}

impl States {
    /// No pages: every lookup says "not a slab page".
    pub(crate) const NONE: States = States {
        classes: core::ptr::null(),
        slots: core::ptr::null(),
        pages: 0,
    };

    /// The arrays of `pages` pages: `mem` holds `pages * BYTES_PER_PAGE`
    /// zeroed bytes (the classes first, then the slot states).
    ///
    /// # Safety
    /// `mem` (null: no pages) is that many zeroed bytes, live for ever, used
    /// only through `States` values made from it.
    pub(crate) unsafe fn new(mem: *mut u8, pages: usize) -> States {
        if mem.is_null() {
            return States::NONE;
        }
        States {
            classes: mem.cast(),
            // SAFETY: inside the caller's `pages * BYTES_PER_PAGE` bytes.
            slots: unsafe { mem.add(pages) }.cast(),
            pages,
        }
    }

    /// The states of pages `first .. first + pages` of these.
    pub(crate) fn part(&self, first: usize, pages: usize) -> States {
        if self.pages == 0 {
            return States::NONE;
        }
        assert!(first + pages <= self.pages);
        States {
            // SAFETY: in bounds (checked above).
            classes: unsafe { self.classes.add(first) },
            // SAFETY: in bounds (checked above).
            slots: unsafe { self.slots.add(first * PER_PAGE) },
            pages,
        }
    }

    /// Pages covered.
    pub(crate) fn pages(&self) -> usize {
        self.pages
    }

    /// Page `page`'s class + 1 (0: not a slab page).
    #[inline]
    pub(crate) fn class(&self, page: usize) -> u8 {
        if page >= self.pages {
            return 0;
        }
        // SAFETY: `page < pages`.
        unsafe { &*self.classes.add(page) }.load(Ordering::Relaxed)
    }

    /// Sets page `page`'s class + 1 (the layer, under the shard's lock).
    #[inline]
    pub(crate) fn set_class(&self, page: usize, v: u8) {
        if page < self.pages {
            // SAFETY: `page < pages`.
            unsafe { &*self.classes.add(page) }.store(v, Ordering::Relaxed);
        }
    }

    /// Slot `idx`'s state byte in page `page`.
    #[inline]
    pub(crate) fn slot(&self, page: usize, idx: usize) -> &AtomicU8 {
        debug_assert!(page < self.pages && idx < PER_PAGE);
        // SAFETY: callers pass a page below `pages` and a slot index below
        // the class's slot count (at most `PER_PAGE`); masked for safety.
        unsafe {
            &*self
                .slots
                .add(page.min(self.pages - 1) * PER_PAGE + (idx & (PER_PAGE - 1)))
        }
    }
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
    let page = off >> PAGE_SHIFT;
    let cls = s.class(page);
    if cls == 0 {
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
        state: s.slot(page, idx),
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
    s.slot(off >> PAGE_SHIFT, idx)
}
