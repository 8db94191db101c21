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
//! A page names its entry by its word offset in its pool. Each pool has an
//! entry per page, except under an address-space limit, where every byte
//! mapped counts: there a pool starts with [`FIRST_ENTRIES`] and doubles
//! into a fresh mapping when a carve finds none left
//! ([`Slab::map_alloc`]).

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
    /// The page's bitmap (bit `i`: slot `i` is free): its entry's offset,
    /// in words, in the pool of its class's [`kind`] (its index times the
    /// pool's [`KIND_WORDS`]: no multiply on the way to the bitmap).
    pub(super) map: u32,
    /// Bit `w`: word `w` of the bitmap has a free slot.
    pub(super) summary: u64,
}

const _: () = assert!(core::mem::size_of::<PageMeta>() == 32);

/// Bitmap sizes, in words, of the three pools.
pub(super) const KIND_WORDS: [usize; KINDS] = [8, 32, WORDS];
/// Bitmap pools.
pub(super) const KINDS: usize = 3;
/// Entries each bitmap pool starts with under an address-space limit (a
/// pool doubles, up to an entry per page, as pages of its kind are
/// carved: [`Slab::map_alloc`]). At 64 MiB a shard, pools of an entry per
/// page took 832 KiB of every shard's tables mapping; these take 52 KiB.
pub(crate) const FIRST_ENTRIES: usize = 64;

/// The pool class `c`'s bitmaps come from: the smallest whose bitmaps have
/// a bit per slot (a table: `class::KIND`).
#[inline]
pub(super) fn kind(c: usize) -> usize {
    KIND[c & (KIND.len() - 1)] as usize
}

/// Bytes of metadata per slab page (per 64 KiB of the reservation) with
/// an entry per page in each pool: its record and three entries (address
/// space; what is resident is the records of page numbers used and the
/// pools' entries in use).
pub(crate) const META_BYTES: usize =
    core::mem::size_of::<PageMeta>() + (KIND_WORDS[0] + KIND_WORDS[1] + KIND_WORDS[2]) * 8;

/// Where a run of pages' records and bitmap pools are: `pages` records,
/// then each pool's `entries[k]` entries. A pool that grew
/// ([`Slab::map_alloc`]) is a mapping of its own (`own[k]`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub(super) records: *mut PageMeta,
    pub(super) pools: [*mut u64; KINDS],
    pub(super) entries: [usize; KINDS],
    pub(super) own: [bool; KINDS],
    pub(super) pages: usize,
}

impl Meta {
    /// No pages: no slab layer.
    pub(crate) const NONE: Meta = Meta {
        records: core::ptr::null_mut(),
        pools: [core::ptr::null_mut(); KINDS],
        entries: [0; KINDS],
        own: [false; KINDS],
        pages: 0,
    };

    /// Bytes of the records of `pages` pages and pools of `entries`
    /// entries each (at most `pages`).
    pub(crate) const fn bytes(pages: usize, entries: usize) -> usize {
        let entries = if entries < pages { entries } else { pages };
        pages * core::mem::size_of::<PageMeta>()
            + entries * (KIND_WORDS[0] + KIND_WORDS[1] + KIND_WORDS[2]) * 8
    }

    /// The metadata of `pages` pages in `mem`, pools of an entry per page:
    /// [`META_BYTES`] per page (null: none).
    ///
    /// # Safety
    /// As [`with_entries`](Self::with_entries).
    #[cfg(test)]
    pub(crate) unsafe fn new(mem: *mut u8, pages: usize) -> Meta {
        // SAFETY: the caller's contract.
        unsafe { Meta::with_entries(mem, pages, pages) }
    }

    /// The metadata of `pages` pages in `mem`, [`bytes`](Self::bytes)`(pages,
    /// entries)` of it: pools of `entries` entries each (at most `pages`),
    /// which grow as needed (null: none).
    ///
    /// # Safety
    /// `mem` is null, or that many zeroed bytes, aligned to 32, used only
    /// through `Meta` values made from it, and live for ever.
    /// Too many pages for a `u32` to name every word of a pool (a
    /// reservation of 4 PiB) is none too: no slab layer.
    pub(crate) unsafe fn with_entries(mem: *mut u8, pages: usize, entries: usize) -> Meta {
        if mem.is_null() || pages >= u32::MAX as usize / WORDS {
            return Meta::NONE;
        }
        let entries = entries.min(pages);
        let mut at = pages * core::mem::size_of::<PageMeta>();
        let mut pools = [core::ptr::null_mut(); KINDS];
        for (k, pool) in pools.iter_mut().enumerate() {
            *pool = mem.wrapping_add(at).cast();
            at += entries * KIND_WORDS[k] * 8;
        }
        Meta {
            records: mem.cast(),
            pools,
            entries: [entries; KINDS],
            own: [false; KINDS],
            pages,
        }
    }

    /// The metadata of pages `first .. first + pages` of these (and as
    /// many entries of each pool). Pools of an entry per page only.
    pub(crate) fn part(&self, first: usize, pages: usize) -> Meta {
        if self.records.is_null() {
            return Meta::NONE;
        }
        assert!(first + pages <= self.pages);
        assert!(
            self.entries == [self.pages; KINDS] || (first == 0 && pages == self.pages),
            "pools of fewer entries than pages are not split"
        );
        let mut pools = self.pools;
        for (k, pool) in pools.iter_mut().enumerate() {
            *pool = pool.wrapping_add(first * KIND_WORDS[k]);
        }
        Meta {
            records: self.records.wrapping_add(first),
            pools,
            entries: self.entries.map(|e| e.min(pages)),
            own: [false; KINDS],
            pages,
        }
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
                crate::sys::zero(pool.cast(), self.entries[k] * KIND_WORDS[k] * 8);
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
    /// The last entry given back (its word offset), or [`NONE`]; each
    /// free entry's first word holds the one given back before it.
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

    /// The entry of bitmap pool `k` at word offset `at`.
    #[inline]
    pub(super) fn map_at(&self, k: usize, at: u32) -> *mut u64 {
        // In bounds: `at` is the offset of an entry below its pool's `top`
        // (given out by `map_alloc`), inside the pool `new`'s contract (or
        // `grow_pool`'s mapping) makes ours.
        self.meta.pools[k].wrapping_add(at as usize)
    }

    /// The free bitmap of `page`, a slab page of class `c`.
    #[inline]
    pub(super) fn bits(&self, page: usize, c: usize) -> &[u64] {
        let p = self.map_at(kind(c), self.meta(page).map);
        // SAFETY: the page's entry, handed to it by `carve` (`map_alloc`)
        // and its own until `release`: `KIND_WORDS[kind(c)]` words of the
        // pools, which `new`'s contract makes ours; `&self` excludes
        // writers.
        unsafe { core::slice::from_raw_parts(p, KIND_WORDS[kind(c)]) }
    }

    /// `page`'s record and free bitmap (class `c`), to change.
    #[inline]
    pub(super) fn page_mut(&mut self, page: usize, c: usize) -> (&mut PageMeta, &mut [u64]) {
        let p = self.map_at(kind(c), self.meta(page).map);
        // SAFETY: as in `bits`, and `&mut self` makes these the only
        // references; the record and the entry are different memory.
        unsafe {
            (
                &mut *self.meta.records.add(page),
                core::slice::from_raw_parts_mut(p, KIND_WORDS[kind(c)]),
            )
        }
    }

    /// An entry of pool `k`, as its word offset: the last one given back,
    /// or a never-used one
    /// (the pool doubles first when it has none left and fewer entries
    /// than pages: [`grow_pool`](Self::grow_pool)); `None` if all `pages`
    /// are in use (cannot happen: each is a slab page's, and there are no
    /// more slab pages than pages) or a pool that must grow cannot.
    /// O(1), amortised: a growth copies the entries in use.
    pub(super) fn map_alloc(&mut self, k: usize) -> Option<u32> {
        let pool = self.maps[k];
        if pool.free != NONE {
            // SAFETY: a free entry of the pool; its first word holds the
            // entry given back before it (`map_free`).
            let next = unsafe { *self.map_at(k, pool.free) } as u32;
            self.maps[k].free = next;
            return Some(pool.free);
        }
        let top = pool.top as usize;
        if top >= self.pages || (top >= self.meta.entries[k] && !self.grow_pool(k)) {
            return None;
        }
        self.maps[k].top += 1;
        Some(pool.top * KIND_WORDS[k] as u32)
    }

    /// Doubles pool `k` (up to an entry per page): a fresh mapping, the
    /// entries ever handed out copied to it (entries are named by offset,
    /// so pages and the free stack keep theirs), and the old pool unmapped
    /// if it was a mapping of its own. False, and nothing changes, if the
    /// kernel refuses. O(entries handed out) and two system calls.
    #[cold]
    #[inline(never)]
    fn grow_pool(&mut self, k: usize) -> bool {
        let (old, entries) = (self.meta.pools[k], self.meta.entries[k]);
        let more = entries.saturating_mul(2).max(FIRST_ENTRIES).min(self.pages);
        let (word_bytes, top) = (KIND_WORDS[k] * 8, self.maps[k].top as usize);
        // `map_alloc` asks only for a full pool short of a page's entry, so
        // `more > top`; checked all the same, as the copy below relies on it.
        if more <= top {
            return false;
        }
        let Some(new) = crate::sys::map_noreserve(more * word_bytes) else {
            return false;
        };
        // SAFETY: the old pool's first `top` entries are ours (`new`'s
        // contract, or this mapping's), the new mapping holds `more >=
        // top` entries, and the two do not overlap (a fresh mapping).
        unsafe { core::ptr::copy_nonoverlapping(old.cast::<u8>(), new, top * word_bytes) };
        if self.meta.own[k] {
            // SAFETY: a pool this function mapped, no longer referred to
            // (its entries were copied; every entry is named by its word offset).
            unsafe { crate::syscall::munmap(old.cast(), entries * word_bytes) };
        }
        self.meta.pools[k] = new.cast();
        self.meta.entries[k] = more;
        self.meta.own[k] = true;
        true
    }

    /// Unmaps the pools that grew ([`grow_pool`](Self::grow_pool)): before
    /// the layer is built again over its first metadata (`build.rs`).
    ///
    /// # Safety
    /// Nothing refers to this layer's bitmaps any more.
    pub(super) unsafe fn unmap_grown_pools(&mut self) {
        for (k, words) in KIND_WORDS.into_iter().enumerate() {
            if self.meta.own[k] {
                // SAFETY: a mapping of `grow_pool`'s, unused (the contract).
                unsafe {
                    crate::syscall::munmap(
                        self.meta.pools[k].cast(),
                        self.meta.entries[k] * words * 8,
                    )
                };
                self.meta.own[k] = false;
            }
        }
    }

    /// Gives back the entry of pool `k` at word offset `at`. O(1).
    pub(super) fn map_free(&mut self, k: usize, at: u32) {
        // SAFETY: the entry is the caller's, no page's any more; its first
        // word links it.
        unsafe { *self.map_at(k, at) = self.maps[k].free as u64 };
        self.maps[k].free = at;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{alloc_slots, free, setup, test_heap};
    use super::super::{Found, Slab, class_of, state};
    use super::{FIRST_ENTRIES, KINDS, Meta, NONE, kind};
    use crate::slab::class::slots;
    use crate::sys;

    /// Pools that start short (under an address-space limit) double as
    /// pages of their kind are carved, keep every page's bitmap across
    /// the moves, and are unmapped when the layer is built again.
    #[test]
    fn short_pools_grow_as_pages_are_carved() {
        let pages = 4 * FIRST_ENTRIES;
        let mut heap = test_heap(pages);
        let mem = sys::map_noreserve(Meta::bytes(pages, FIRST_ENTRIES)).unwrap();
        // SAFETY: zeroed records for `pages` pages and pools of
        // FIRST_ENTRIES entries, leaked.
        let meta = unsafe { Meta::with_entries(mem, pages, FIRST_ENTRIES) };
        assert_eq!(meta.entries, [FIRST_ENTRIES; KINDS]);
        let st = sys::map_noreserve(state::bytes_for(pages).unwrap()).unwrap();
        // SAFETY: zeroed states for `pages` pages, leaked.
        let states = unsafe { state::States::new(st, pages) };
        // SAFETY: as above.
        let mut slab = unsafe { Slab::new(meta, states, pages, true) };
        let mut hwm = 0;
        // 1 KiB slots (kind 0): a page each 64 slots; three times the
        // first pool's pages, with a slot of each page kept.
        let c = class_of(1024);
        let n = slots(c);
        let all = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 3 * FIRST_ENTRIES * n);
        slab.check();
        assert_eq!(slab.maps[kind(c)].top as usize, 3 * FIRST_ENTRIES);
        assert_eq!(
            slab.meta.entries[kind(c)],
            4 * FIRST_ENTRIES,
            "doubled twice"
        );
        assert!(slab.meta.own[kind(c)]);
        assert_eq!(
            slab.meta.entries[1], FIRST_ENTRIES,
            "the other pools did not grow"
        );
        // Every slot but one per page freed: the bitmaps (moved twice)
        // still say which.
        for (i, &p) in all.iter().enumerate() {
            if i % n != 0 {
                assert!(matches!(free(&mut heap, &mut slab, p), Found::Live { .. }));
            }
        }
        slab.check();
        for &p in all.iter().step_by(n) {
            assert!(matches!(free(&mut heap, &mut slab, p), Found::Live { .. }));
        }
        slab.check();
        // SAFETY: the layer is not used again.
        unsafe { Slab::clear_in_place(&mut slab) };
        assert!(!slab.meta.own[kind(c)], "the grown pool was unmapped");
    }

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
