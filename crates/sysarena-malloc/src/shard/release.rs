//! Which freed heap blocks give their pages back to the kernel: the
//! address ranges a shard released recently, so that a program that frees
//! and allocates buffers in the same memory again and again does not pay a
//! system call and a page fault per page each time (see
//! [`crate::settings::DEFAULT_RELEASE`]).
//!
//! A freed block that *overlaps* a range released recently keeps its
//! pages: the program has put a block there again since, so those pages
//! are in use again, and would be again. Only an exact start address used
//! to count; `git log --stat`, whose inflate buffers of 470–510 KB land
//! where earlier ones lay but rarely at the same byte, took 29,900 page
//! faults against glibc's 20,100, and 23,000 with ranges.
//!
//! Kept pages must not raise the program's peak, though: while the heap
//! holds freed blocks resident, a block placed in fresh memory (past the
//! shard's high-water mark) adds to the footprint what the kept pages
//! could have saved. So once the high-water mark has grown by
//! [`SWEEP_EVERY`] (or one [`VISIT_BYTES`] per arena, whichever is more)
//! since freed blocks were last kept, a *sweep* gives back the pages of
//! every free arena of the release size below the mark ([`sweep`]).
//! `git log --stat`'s peak RSS: 50.1 → 49.2 MB (glibc 47.3); its page
//! faults 25,100 → 29,200 (glibc 22,000). Every 1 MiB or 512 KiB of growth
//! instead of 256 KiB: 50.2 MB (the sweeps came too late); sweeping all
//! but the last four released places: 50.2 MB (those are the kept pages).

use crate::settings::MAX_KEEP;
use crate::slab::ShardHeap;

/// Growth of the high-water mark, in bytes, after which kept pages are
/// swept: twice the default release threshold.
const SWEEP_EVERY: usize = 256 << 10;
/// Bytes of growth per arena of the heap that a sweep needs beyond
/// [`SWEEP_EVERY`], so that its walk of the arenas costs at most one visit
/// per 64 bytes of fresh memory (64 visits per 4 KiB page, which the
/// program's first touch pays a page fault for anyway).
const VISIT_BYTES: usize = 64;

/// Bytes of freed blocks a shard may keep resident (distinct places, since
/// its last sweep) beyond twice the largest of them before it sweeps
/// without waiting for growth ([`Released::sweep_now`]): glibc, likewise,
/// trims the free top of its heap past twice its adapted threshold. Four
/// 8 MiB buffers filled and freed twice in their places stayed resident
/// for good (25 MiB after all was freed; glibc 1 MiB).
const KEEP_BUDGET: usize = 4 << 20;

/// How many ranges of released heap blocks a shard remembers (16
/// measured the same as 4: 22,900 faults in `git log --stat`).
const REMEMBERED: usize = 4;
/// Heap frees without a release after which they are forgotten.
const FORGET_AFTER: u32 = 1024;

/// The address ranges of a shard's last released heap blocks, and what it
/// kept since its last sweep.
#[derive(Debug)]
pub(crate) struct Released {
    /// `(start, end)` of each, newest first; `(0, 0)` is no range.
    at: [(usize, usize); REMEMBERED],
    /// Heap frees since the last release.
    since: u32,
    /// The shard's high-water mark at the last sweep.
    swept_at: usize,
    /// The places of the blocks kept since the last sweep (each the union
    /// of the kept blocks that overlap it); the bytes of kept blocks that
    /// found no room among them (counted, not joined); and the largest
    /// block kept (0: none kept since the last sweep).
    kept_at: [(usize, usize); REMEMBERED],
    kept_extra: usize,
    kept_largest: usize,
}

impl Released {
    pub(crate) const NONE: Released = Released {
        at: [(0, 0); REMEMBERED],
        since: 0,
        swept_at: 0,
        kept_at: [(0, 0); REMEMBERED],
        kept_extra: 0,
        kept_largest: 0,
    };

    /// Counts a heap free, and decides whether the freed block at `at` of
    /// `size` bytes (at least the release threshold) gives its pages back:
    /// always when `adapts` is off (`SYSARENA_RELEASE` set) and from
    /// [`MAX_KEEP`] up; otherwise unless the block overlaps a block
    /// released in the last [`FORGET_AFTER`] heap frees (the program
    /// allocated there again, and would fault the pages in again: then the
    /// block counts as kept, for [`sweep_due`](Self::sweep_due)). O(1).
    pub(crate) fn decide(&mut self, at: usize, size: usize, big: bool, adapts: bool) -> bool {
        self.since += 1;
        if self.since >= FORGET_AFTER {
            self.at = [(0, 0); REMEMBERED];
            self.since = 0;
        }
        if !big {
            return false;
        }
        if !adapts || size >= MAX_KEEP {
            return true;
        }
        if self.at.iter().any(|&(s, e)| at < e && s < at + size) {
            self.keep(at, at + size);
            return false;
        }
        self.at.rotate_right(1);
        self.at[0] = (at, at + size);
        self.since = 0;
        true
    }

    /// Records a kept block at `start .. end`: joined to a kept place it
    /// overlaps (a buffer freed again and again in one place counts once),
    /// else a new place. O(1).
    fn keep(&mut self, start: usize, end: usize) {
        self.kept_largest = self.kept_largest.max(end - start);
        if let Some(r) = self.kept_at.iter_mut().find(|r| start < r.1 && r.0 < end) {
            *r = (r.0.min(start), r.1.max(end));
        } else if let Some(r) = self.kept_at.iter_mut().find(|r| r.0 == r.1) {
            *r = (start, end);
        } else {
            // No room to remember the place: its bytes still count (a
            // block kept there again counts again, which only sweeps
            // sooner).
            self.kept_extra = self.kept_extra.saturating_add(end - start);
        }
    }

    /// Whether a block kept its pages since the last sweep. O(1).
    fn kept(&self) -> bool {
        self.kept_largest != 0
    }

    /// The bytes of the blocks kept since the last sweep: their places,
    /// and those that found no room among them. O(1) (four places).
    fn kept_bytes(&self) -> usize {
        self.kept_at
            .iter()
            .map(|&(s, e)| e - s)
            .fold(self.kept_extra, usize::saturating_add)
    }

    /// Whether the blocks kept since the last sweep hold more than
    /// [`KEEP_BUDGET`] and twice the largest of them, and enough for a
    /// sweep of a heap of `arenas()` arenas (one [`VISIT_BYTES`] each): then
    /// the shard sweeps now, at a free, rather than at its next growth.
    /// O(1).
    pub(crate) fn sweep_now(&self, arenas: impl FnOnce() -> usize) -> bool {
        let bytes = self.kept_bytes();
        self.kept()
            && bytes > KEEP_BUDGET.max(self.kept_largest.saturating_mul(2))
            && bytes >= arenas().saturating_mul(VISIT_BYTES)
    }

    /// Whether pages were kept since the last sweep and the shard's
    /// high-water mark `hwm` has grown enough since for a sweep of a heap
    /// of `arenas()` arenas (asked only when pages were kept and the mark
    /// grew by [`SWEEP_EVERY`]: the heap's stats are not free). O(1).
    pub(crate) fn sweep_due(&self, hwm: usize, arenas: impl FnOnce() -> usize) -> bool {
        let grown = hwm.saturating_sub(self.swept_at);
        self.kept() && grown >= SWEEP_EVERY && grown >= arenas().saturating_mul(VISIT_BYTES)
    }

    /// Records a sweep at high-water mark `hwm`. O(1).
    pub(crate) fn swept(&mut self, hwm: usize) {
        self.swept_at = hwm;
        self.kept_at = [(0, 0); REMEMBERED];
        self.kept_extra = 0;
        self.kept_largest = 0;
    }
}

/// Gives the whole pages inside `p .. p + len` back to the kernel
/// (`MADV_DONTNEED`); returns their bytes (0 if the kernel refused). O(1)
/// system calls.
///
/// # Safety
/// `p .. p + len` lies inside the shard's heap, and no one uses its bytes
/// (a free arena, or a live one whose contents its owner is giving up).
pub(super) unsafe fn give_back_pages(p: usize, len: usize, page: usize) -> u64 {
    let start = p.next_multiple_of(page);
    let end = (p + len) & !(page - 1);
    if end <= start {
        return 0;
    }
    // SAFETY: whole pages inside the caller's unused range of the heap;
    // reading as zero later is all the allocator assumes. Counted only if
    // the kernel took them (the stats report's "released").
    if unsafe { crate::syscall::dont_need(start as *mut u8, end - start) } {
        (end - start) as u64
    } else {
        0
    }
}

/// Gives back to the kernel the whole pages of every free arena of `heap`
/// of at least `min` bytes, up to `hwm` bytes from the heap's start (above
/// it nothing was touched): a sweep. Returns the bytes given back.
///
/// # Time complexity
/// O(arenas), one `madvise` per free arena of `min` bytes or more. A shard
/// sweeps only after its high-water mark grew by one
/// [`VISIT_BYTES`] per arena ([`Released::sweep_due`]): amortised, one
/// arena visited per 64 bytes of fresh memory.
pub(super) fn sweep(heap: &ShardHeap, hwm: usize, min: usize, page: usize) -> u64 {
    free_below(heap, hwm, min)
        // SAFETY: a free arena of the heap (not in use, not cached in a
        // quick list), cut at the mark: no one's data is there.
        .map(|(p, len)| unsafe { give_back_pages(p, len, page) })
        .sum()
}

/// Every free arena of `heap` of at least `min` bytes below `hwm` (not
/// cached in a quick list), as its address and its length cut at the
/// mark: what a sweep or a trim may give back. O(arenas) to walk.
fn free_below(
    heap: &ShardHeap,
    hwm: usize,
    min: usize,
) -> impl Iterator<Item = (usize, usize)> + '_ {
    let top = heap.base().as_ptr() as usize + hwm;
    heap.arenas()
        .filter(move |a| {
            !a.info.in_use && !a.info.cached && a.info.size >= min && a.info.offset < hwm
        })
        .map(move |a| {
            let p = a.ptr.as_ptr() as usize;
            (p, (p + a.info.size).min(top) - p)
        })
}

/// `malloc_trim`'s sweep: gives back to the kernel the whole pages of
/// every free arena of `heap` below `hwm` that has a resident one, whatever
/// its size. Returns the resident bytes given back (pages given back
/// before, which `mincore` finds not resident, are not counted again).
///
/// # Time complexity
/// O(arenas + pages below `hwm` / 512): a `mincore` per 512 pages of each
/// free arena, and an `madvise` per free arena with a resident page.
pub(super) fn trim(heap: &ShardHeap, hwm: usize, page: usize) -> u64 {
    let mut released = 0;
    for (p, len) in free_below(heap, hwm, page) {
        let start = p.next_multiple_of(page);
        let end = (p + len) & !(page - 1);
        if end <= start {
            continue;
        }
        let resident = crate::sys::resident(start, end - start, page);
        // SAFETY: whole pages of a free arena of the heap (not in use, not
        // cached in a quick list), cut at the mark: no one's data is there.
        if resident != 0 && unsafe { give_back_pages(start, end - start, page) } != 0 {
            released += resident as u64;
        }
    }
    released
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::alloc::Layout;
    use core::ptr::NonNull;

    const KB: usize = 1024;

    #[test]
    fn a_place_released_once_is_kept_until_forgotten() {
        let mut r = Released::NONE;
        assert!(r.decide(0x10000, 200 * KB, true, true));
        // Allocated there again and freed: kept.
        assert!(!r.decide(0x10000, 200 * KB, true, true));
        // Other places are released, up to four remembered.
        for i in 1..=3 {
            assert!(r.decide(0x10000 + i * 0x100000, 300 * KB, true, true));
        }
        assert!(!r.decide(0x10000, 150 * KB, true, true));
        // A fifth place pushes the first out.
        assert!(r.decide(0x900000, 300 * KB, true, true));
        assert!(r.decide(0x10000, 200 * KB, true, true));
        // Small frees count towards forgetting.
        for _ in 0..FORGET_AFTER {
            assert!(!r.decide(0x20000, 8 * KB, false, true));
        }
        assert!(r.decide(0x10000, 200 * KB, true, true));
    }

    #[test]
    fn a_block_overlapping_a_released_range_is_kept_and_one_beside_it_is_not() {
        let mut r = Released::NONE;
        assert!(r.decide(0x100000, 500 * KB, true, true));
        // Starts inside the released range, ends past it.
        assert!(!r.decide(0x100000 + 300 * KB, 480 * KB, true, true));
        // Starts before it and ends inside it.
        assert!(!r.decide(0x100000 - 100 * KB, 200 * KB, true, true));
        // Ends exactly where it starts: no overlap.
        assert!(r.decide(0x100000 - 200 * KB, 200 * KB, true, true));
        // Starts exactly where it ends: no overlap.
        assert!(r.decide(0x100000 + 500 * KB, 150 * KB, true, true));
    }

    #[test]
    fn a_fixed_threshold_and_blocks_of_32_mib_always_release() {
        let mut r = Released::NONE;
        assert!(r.decide(0x10000, 200 * KB, true, false));
        assert!(r.decide(0x10000, 200 * KB, true, false));
        assert!(r.decide(0x10000, 64 << 20, true, false));
        assert!(r.decide(0x10000, MAX_KEEP, true, true));
        assert!(r.decide(0x10000, MAX_KEEP, true, true));
        // Just below, the rule applies: released once, then kept.
        assert!(r.decide(0x10000, MAX_KEEP - 4096, true, true));
        assert!(!r.decide(0x10000, MAX_KEEP - 4096, true, true));
    }

    #[test]
    fn a_large_block_freed_again_where_one_was_released_is_kept() {
        // A 2 MiB buffer allocated, filled and freed in one place again and
        // again pays its page faults once (it was released every time: a
        // million faults and 50 times glibc's time for 2,000 rounds).
        let mut r = Released::NONE;
        assert!(r.decide(0x10000, 2 << 20, true, true));
        for _ in 0..100 {
            assert!(!r.decide(0x10000, 2 << 20, true, true));
        }
        assert!(r.sweep_due(SWEEP_EVERY, || 10));
    }

    #[test]
    fn kept_places_past_the_budget_ask_for_a_sweep_now_and_one_place_never_does() {
        const MB: usize = 1 << 20;
        // One 2 MiB buffer freed again and again in one place counts once.
        let mut r = Released::NONE;
        assert!(r.decide(0x1000_0000, 2 * MB, true, true));
        for _ in 0..100 {
            assert!(!r.decide(0x1000_0000, 2 * MB, true, true));
            assert!(!r.sweep_now(|| 10));
        }
        // Four 8 MiB buffers in four places, released once each and then
        // kept: past twice the largest (16 MiB), a sweep is due now.
        let mut r = Released::NONE;
        let places = [0x1000_0000, 0x2000_0000, 0x3000_0000, 0x4000_0000];
        for at in places {
            assert!(r.decide(at, 8 * MB, true, true));
        }
        assert!(!r.decide(places[0], 8 * MB, true, true));
        assert!(!r.decide(places[1], 8 * MB, true, true));
        assert!(!r.sweep_now(|| 10));
        assert!(!r.decide(places[2], 8 * MB, true, true));
        assert!(r.sweep_now(|| 10));
        // A heap of many arenas waits for one VISIT_BYTES of kept bytes each.
        assert!(!r.sweep_now(|| 1 << 30));
        r.swept(0);
        assert!(!r.sweep_now(|| 10));
        // Small places stay under the 4 MiB budget, five of them too (one
        // more than the places remembered: its bytes still count, and
        // only its bytes).
        let mut r = Released::NONE;
        for i in 0..5 {
            assert!(r.decide(0x1000_0000 + i * MB, 600 * KB, true, true));
        }
        // The first of the five was forgotten by the ranges (four
        // remembered): keep the last four, then the fifth place again.
        for i in 1..5 {
            assert!(!r.decide(0x1000_0000 + i * MB, 600 * KB, true, true));
        }
        assert!(!r.sweep_now(|| 10));
        // A fifth kept place fits no slot: 3,000 KiB in all, under 4 MiB.
        assert!(r.decide(0x1000_0000, 600 * KB, true, true));
        assert!(!r.decide(0x1000_0000, 600 * KB, true, true));
        assert!(!r.sweep_now(|| 10));
        // Kept twice more there, it counts twice more (it has no slot to
        // join): 4,200 KiB, past 4 MiB.
        assert!(!r.decide(0x1000_0000, 600 * KB, true, true));
        assert!(!r.decide(0x1000_0000, 600 * KB, true, true));
        assert!(r.sweep_now(|| 10));
    }

    #[test]
    fn a_sweep_is_due_after_kept_pages_and_enough_growth() {
        let mut r = Released::NONE;
        // Nothing kept: never due.
        assert!(!r.sweep_due(64 << 20, || 10));
        assert!(r.decide(0x100000, 200 * KB, true, true));
        assert!(!r.sweep_due(64 << 20, || 10));
        // Freed again where it was released: kept.
        assert!(!r.decide(0x100000, 200 * KB, true, true));
        assert!(!r.sweep_due(SWEEP_EVERY - 1, || 10));
        assert!(r.sweep_due(SWEEP_EVERY, || 10));
        // A heap of many arenas waits for one VISIT_BYTES of growth each.
        assert!(!r.sweep_due(SWEEP_EVERY, || 10_000));
        assert!(r.sweep_due(10_000 * VISIT_BYTES, || 10_000));
        r.swept(SWEEP_EVERY);
        assert!(!r.sweep_due(2 * SWEEP_EVERY, || 10));
        // Kept again: due once the mark grew by the step again.
        assert!(!r.decide(0x100000, 200 * KB, true, true));
        assert!(!r.sweep_due(2 * SWEEP_EVERY - 1, || 10));
        assert!(r.sweep_due(2 * SWEEP_EVERY, || 10));
    }

    #[test]
    fn a_sweep_gives_back_large_free_arenas_below_the_mark_and_nothing_else() {
        let mut heap = crate::slab::test_heap(64);
        let base = heap.base().as_ptr();
        let sizes = [
            256 * KB,
            8 * KB,
            300 * KB,
            8 * KB,
            64 * KB,
            8 * KB,
            512 * KB,
        ];
        let blocks: Vec<*mut u8> = sizes
            .iter()
            .map(|&n| {
                let p = heap.alloc(Layout::from_size_align(n, 16).unwrap()).unwrap();
                // SAFETY: a live block of `n` bytes.
                unsafe { p.as_ptr().write_bytes(0xab, n) };
                p.as_ptr()
            })
            .collect();
        // The mark: the end of the sixth block (the seventh lies above it,
        // as if never touched).
        let hwm = blocks[5] as usize + sizes[5] - base as usize;
        // Free the first, third, fifth (below the release size) and seventh.
        for i in [0, 2, 4, 6] {
            // SAFETY: live blocks, given up.
            unsafe { heap.free(NonNull::new(blocks[i]).unwrap()).unwrap() };
        }
        let released = sweep(&heap, hwm, 128 * KB, 4096);
        let byte = |p: *mut u8, at: usize| {
            // SAFETY: inside the leaked mapping.
            unsafe { p.add(at).read_volatile() }
        };
        // The whole pages of the first and third blocks read as zero now.
        for (i, n) in [(0, 256 * KB), (2, 300 * KB)] {
            let p = blocks[i] as usize;
            let start = p.next_multiple_of(4096) - p;
            let end = ((p + n) & !4095) - p;
            assert!(end > start);
            assert_eq!(byte(blocks[i], start), 0);
            assert_eq!(byte(blocks[i], end - 1), 0);
        }
        // In-use blocks, the small free block and everything above the mark
        // keep their bytes.
        for i in [1, 3, 4, 5, 6] {
            assert_eq!(byte(blocks[i], 0), 0xab);
            assert_eq!(byte(blocks[i], sizes[i] - 1), 0xab);
        }
        // The whole pages of the first and third blocks, no more.
        assert!(released >= ((256 + 300) * KB - 2 * 4096) as u64);
        assert!(released <= ((256 + 300) * KB) as u64);
        heap.manager().check_invariants().unwrap();
    }
}
