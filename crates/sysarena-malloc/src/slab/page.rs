//! The page record: what the layer knows of one slab page, out of band in
//! an array indexed by page number — its class, free count, the free
//! bitmap with a one-word summary, and the links of its class's list.

use super::class::{GRANULE, PAGE};

/// Bitmap words per page: enough for the smallest class's slots.
pub(super) const WORDS: usize = PAGE / GRANULE / 64;
/// "No page" in the list links.
pub(super) const NONE: u32 = u32::MAX;

/// One slab page's metadata, out of band. All zero (a fresh `MAP_NORESERVE`
/// page) means "not a slab page".
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct PageMeta {
    /// 0: not a slab page; else the class + 1.
    pub(super) class: u8,
    /// Free slots.
    pub(super) free: u16,
    /// Slots from this index on have not been handed out since the page was
    /// carved and were zero then (for `calloc`).
    pub(super) clean_from: u16,
    /// Links in the class's list of pages with a free slot.
    pub(super) next: u32,
    pub(super) prev: u32,
    /// Bit `w`: `bits[w]` has a free slot.
    pub(super) summary: u64,
    /// Bit `i`: slot `i` is free.
    pub(super) bits: [u64; WORDS],
}

/// Bytes of metadata per slab page (per 64 KiB of the reservation).
pub(crate) const META_BYTES: usize = core::mem::size_of::<PageMeta>();
