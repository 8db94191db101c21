//! The page record: what the layer knows of one slab page, out of band in
//! an array indexed by page number — its class, free count, the links of
//! its class's list, a one-word summary of its free bitmap, and where that
//! bitmap is.
//!
//! The bitmaps are not in the records. A record is 32 bytes, and the array
//! spans every page number the heap ever carved a slab page at, so a
//! program whose slab pages lie among large blocks touches a record every
//! few hundred KiB of heap. With a 512-byte bitmap inside, records were 576
//! bytes, and `git log --stat` (41 MB of heap, 81 slab pages at exit) had
//! 328 KB of them resident. The bitmaps come from three dense pools by
//! size — 64 bytes for the classes of 512 slots or fewer (128 bytes and
//! up), 256 for up to 2,048 (32–112 bytes), 512 for the 16-byte class —
//! each a stack of free entries, so that the entries in use stay
//! together and a page of 1 KiB slots holds 64 bytes of bitmap, not 512.

use super::Slab;
use super::class::{GRANULE, KIND, PAGE};

/// Bitmap words of the largest bitmap: enough for the smallest class's slots.
pub(super) const WORDS: usize = PAGE / GRANULE / 64;
/// "No page" in the list links; "no entry" in a pool's stack of free ones.
pub(super) const NONE: u32 = u32::MAX;

/// One slab page's metadata, out of band. All zero (a fresh `MAP_NORESERVE`
/// page) means "not a slab page".
#[repr(C, align(32))]
#[derive(Debug)]
pub(crate) struct PageMeta {
    /// 0: not a slab page; else the class + 1.
    pub(super) class: u8,
    /// Free slots.
    pub(super) free: u16,
    /// Slots from this index on have not been handed out since the page was
    /// carved and were zero then (for `calloc`).
    pub(super) clean_from: u16,
    /// While the page waits in the empty-page pool: how many of its first
    /// bytes, in 16-byte units, may hold old data (its last class's
    /// `clean_from`; the rest reads as zero). `carve` takes it over.
    pub(super) pooled_dirty: u16,
    /// Links in the class's list of pages with a free slot.
    pub(super) next: u32,
    pub(super) prev: u32,
    /// The page's bitmap (bit `i`: slot `i` is free): its entry in the
    /// pool of its class's [`kind`], named by its distance from pool 0's
    /// first entry in units of [`UNIT_WORDS`] words.
    pub(super) map: u32,
    /// Bit `w`: word `w` of the bitmap has a free slot.
    pub(super) summary: u64,
}

const _: () = assert!(core::mem::size_of::<PageMeta>() == 32);

/// Bitmap sizes, in words, of the three pools.
pub(super) const KIND_WORDS: [usize; KINDS] = [8, 32, WORDS];
/// Bitmap pools.
pub(super) const KINDS: usize = 3;
/// Words of the unit that names an entry ([`PageMeta::map`]): the
/// smallest entry.
pub(super) const UNIT_WORDS: usize = KIND_WORDS[0];

/// The pool class `c`'s bitmaps come from: the smallest whose bitmaps have
/// a bit per slot (a table: `class::KIND`).
#[inline]
pub(super) fn kind(c: usize) -> usize {
    KIND[c & (KIND.len() - 1)] as usize
}

/// Bytes of metadata per slab page (per 64 KiB of the reservation): its
/// record, and an entry in each pool (address space; what is resident is
/// the records of page numbers used and the pools' entries in use).
pub(crate) const META_BYTES: usize =
    core::mem::size_of::<PageMeta>() + (KIND_WORDS[0] + KIND_WORDS[1] + KIND_WORDS[2]) * 8;

/// Where a run of pages' records and bitmap pools are: `pages` records,
/// then each pool's `pages` entries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub(super) records: *mut PageMeta,
    pub(super) pools: [*mut u64; KINDS],
    pub(super) pages: usize,
}

impl Meta {
    /// No pages: no slab layer.
    pub(crate) const NONE: Meta = Meta {
        records: core::ptr::null_mut(),
        pools: [core::ptr::null_mut(); KINDS],
        pages: 0,
    };

    /// The metadata of `pages` pages in `mem`, [`META_BYTES`] per page
    /// (null: none).
    ///
    /// # Safety
    /// `mem` is null, or that many zeroed bytes, aligned to 32, used only
    /// through `Meta` values made from it, and live for ever.
    /// Too many pages for a `u32` to name every entry (a reservation of
    /// 20 PiB) is none too: no slab layer.
    pub(crate) unsafe fn new(mem: *mut u8, pages: usize) -> Meta {
        let units = (KIND_WORDS[0] + KIND_WORDS[1] + KIND_WORDS[2]) / UNIT_WORDS;
        if mem.is_null() || pages >= (u32::MAX as usize) / units {
            return Meta::NONE;
        }
        let mut at = pages * core::mem::size_of::<PageMeta>();
        let mut pools = [core::ptr::null_mut(); KINDS];
        for (k, pool) in pools.iter_mut().enumerate() {
            *pool = mem.wrapping_add(at).cast();
            at += pages * KIND_WORDS[k] * 8;
        }
        Meta {
            records: mem.cast(),
            pools,
            pages,
        }
    }

    /// The metadata of pages `first .. first + pages` of these (and as
    /// many entries of each pool).
    pub(crate) fn part(&self, first: usize, pages: usize) -> Meta {
        if self.records.is_null() {
            return Meta::NONE;
        }
        assert!(first + pages <= self.pages);
        let mut pools = self.pools;
        for (k, pool) in pools.iter_mut().enumerate() {
            *pool = pool.wrapping_add(first * KIND_WORDS[k]);
        }
        Meta {
            records: self.records.wrapping_add(first),
            pools,
            pages,
        }
    }

    /// The unit ([`PageMeta::map`]) of entry `i` of pool `k`.
    pub(super) fn unit_of(&self, k: usize, i: u32) -> u32 {
        self.start(k) + i * (KIND_WORDS[k] / UNIT_WORDS) as u32
    }

    /// The unit of pool `k`'s first entry: below `u32::MAX` (`new`).
    pub(super) fn start(&self, k: usize) -> u32 {
        ((self.pools[k] as usize - self.pools[0] as usize) / (UNIT_WORDS * 8)) as u32
    }

    /// Zeroes the records and every pool's entries of these pages (for a
    /// layer built again over them: `shard/retire.rs`), giving their whole
    /// pages back to the kernel. O(pages) at most (the partial pages
    /// written).
    ///
    /// # Safety
    /// No layer uses these records and entries (the caller is about to
    /// build one over them), and nothing reads them without the shard's
    /// lock, which the caller holds.
    pub(crate) unsafe fn clear(&self) {
        if self.records.is_null() {
            return;
        }
        // SAFETY: this part's records and entries (`new`'s contract: ours,
        // for ever, private anonymous memory); the caller's exclusive use.
        unsafe {
            crate::sys::zero(
                self.records.cast(),
                self.pages * core::mem::size_of::<PageMeta>(),
            );
            for (k, &pool) in self.pools.iter().enumerate() {
                crate::sys::zero(pool.cast(), self.pages * KIND_WORDS[k] * 8);
            }
        }
    }

    /// Whether there are no pages.
    pub(crate) fn is_none(&self) -> bool {
        self.records.is_null()
    }
}

/// A pool's stack of free entries and its never-used rest.
#[derive(Clone, Copy, Debug)]
pub(super) struct MapPool {
    /// Entries ever handed out (the rest were never touched).
    pub(super) top: u32,
    /// The last entry given back, or [`NONE`]; each free entry's first
    /// word holds the one given back before it.
    pub(super) free: u32,
}

impl MapPool {
    pub(super) const EMPTY: MapPool = MapPool { top: 0, free: NONE };
}

/// The bitmaps: where a page's is, and the pools' stacks of free entries.
impl Slab {
    /// Whether slot `idx` of `page` (a slab page of class `c`, `idx` below
    /// its slots) is free in the page's bitmap.
    #[inline]
    pub(super) fn slot_free(&self, page: usize, c: usize, idx: usize) -> bool {
        let bits = self.bits(page, c);
        bits[(idx >> 6) & (bits.len() - 1)] & (1u64 << (idx & 63)) != 0
    }

    /// The bitmap entry `unit` 64-byte units past pool 0's first entry.
    #[inline]
    pub(super) fn map_at(&self, unit: u32) -> *mut u64 {
        // In bounds: `unit` names an entry below its pool's `top` (given
        // out by `map_alloc`), inside the pools `new`'s contract makes ours.
        self.meta.pools[0].wrapping_add(unit as usize * UNIT_WORDS)
    }

    /// The free bitmap of `page`, a slab page of class `c`.
    #[inline]
    pub(super) fn bits(&self, page: usize, c: usize) -> &[u64] {
        let p = self.map_at(self.meta(page).map);
        // SAFETY: the page's entry, handed to it by `carve` (`map_alloc`)
        // and its own until `release`: `KIND_WORDS[kind(c)]` words of the
        // pools, which `new`'s contract makes ours; `&self` excludes
        // writers.
        unsafe { core::slice::from_raw_parts(p, KIND_WORDS[kind(c)]) }
    }

    /// `page`'s record and free bitmap (class `c`), to change.
    #[inline]
    pub(super) fn page_mut(&mut self, page: usize, c: usize) -> (&mut PageMeta, &mut [u64]) {
        let p = self.map_at(self.meta(page).map);
        // SAFETY: as in `bits`, and `&mut self` makes these the only
        // references; the record and the entry are different memory.
        unsafe {
            (
                &mut *self.meta.records.add(page),
                core::slice::from_raw_parts_mut(p, KIND_WORDS[kind(c)]),
            )
        }
    }

    /// An entry of pool `k` (its unit, as `map_at` takes it): the last one
    /// given back, or a never-used one; `None` if all `pages` are in use
    /// (cannot happen: each is a slab page's, and there are no more slab
    /// pages than pages). O(1).
    pub(super) fn map_alloc(&mut self, k: usize) -> Option<u32> {
        let pool = self.maps[k];
        if pool.free != NONE {
            // SAFETY: a free entry of the pool; its first word holds the
            // entry given back before it (`map_free`).
            let next = unsafe { *self.map_at(pool.free) } as u32;
            self.maps[k].free = next;
            Some(pool.free)
        } else if (pool.top as usize) < self.pages {
            self.maps[k].top += 1;
            Some(self.meta.unit_of(k, pool.top))
        } else {
            None
        }
    }

    /// Gives entry `unit` of pool `k` back. O(1).
    pub(super) fn map_free(&mut self, k: usize, unit: u32) {
        // SAFETY: the entry is the caller's, no page's any more; its first
        // word links it.
        unsafe { *self.map_at(unit) = self.maps[k].free as u64 };
        self.maps[k].free = unit;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{alloc_slots, free, setup};
    use super::super::{Found, class_of};
    use super::{NONE, kind};
    use crate::slab::class::slots;

    #[test]
    fn bitmaps_come_from_their_kind_of_pool_and_are_reused() {
        let (mut heap, mut slab) = setup(64);
        let mut hwm = 0;
        // 16-byte slots need the 512-byte bitmaps, 32-byte ones the 256-byte,
        // 1 KiB ones the 64-byte.
        let (tiny, small, big) = (class_of(16), class_of(32), class_of(1024));
        assert_eq!((kind(tiny), kind(small), kind(big)), (2, 1, 0));
        let n = slots(big);
        let ps = alloc_slots(&mut heap, &mut slab, &mut hwm, big, 3 * n);
        let a = alloc_slots(&mut heap, &mut slab, &mut hwm, tiny, 1);
        let b = alloc_slots(&mut heap, &mut slab, &mut hwm, small, 1);
        slab.check();
        assert_eq!(slab.maps.map(|p| p.top), [3, 1, 1]);
        // Three pages emptied: one stays as the spare (its entry too), the
        // others leave the layer and give their entries back.
        for &p in &ps {
            assert!(matches!(free(&mut heap, &mut slab, p), Found::Live { .. }));
        }
        slab.check();
        assert_eq!(slab.counts.pages, 3, "the spare, and the two small pages");
        assert_ne!(slab.maps[0].free, NONE, "an entry is free");
        // A class of the same kind takes a free entry, not a new one.
        let c = class_of(2048);
        assert_eq!(kind(c), 0);
        let q = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 2 * slots(c));
        slab.check();
        assert_eq!(slab.maps[0].top, 3, "entries given back were reused");
        for p in q.into_iter().chain(a).chain(b) {
            assert!(matches!(free(&mut heap, &mut slab, p), Found::Live { .. }));
        }
        slab.check();
    }
}
