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

use crate::settings::MAX_RELEASE;

/// How many ranges of released heap blocks a shard remembers (16
/// measured the same as 4: 22,900 faults in `git log --stat`).
const REMEMBERED: usize = 4;
/// Heap frees without a release after which they are forgotten.
const FORGET_AFTER: u32 = 1024;

/// The address ranges of a shard's last released heap blocks.
#[derive(Debug)]
pub(crate) struct Released {
    /// `(start, end)` of each, newest first; `(0, 0)` is no range.
    at: [(usize, usize); REMEMBERED],
    /// Heap frees since the last release.
    since: u32,
}

impl Released {
    pub(crate) const NONE: Released = Released {
        at: [(0, 0); REMEMBERED],
        since: 0,
    };

    /// Counts a heap free, and decides whether the freed block at `at` of
    /// `size` bytes (at least the release threshold) gives its pages back:
    /// always when `adapts` is off (`SYSARENA_RELEASE` set) and from
    /// [`MAX_RELEASE`] up; otherwise unless the block overlaps a block
    /// released in the last [`FORGET_AFTER`] heap frees (the program
    /// allocated there again, and would fault the pages in again). O(1).
    pub(crate) fn decide(&mut self, at: usize, size: usize, big: bool, adapts: bool) -> bool {
        self.since += 1;
        if self.since >= FORGET_AFTER {
            self.at = [(0, 0); REMEMBERED];
            self.since = 0;
        }
        if !big {
            return false;
        }
        if !adapts || size >= MAX_RELEASE {
            return true;
        }
        if self.at.iter().any(|&(s, e)| at < e && s < at + size) {
            return false;
        }
        self.at.rotate_right(1);
        self.at[0] = (at, at + size);
        self.since = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn fixed_threshold_and_big_blocks_always_release() {
        let mut r = Released::NONE;
        assert!(r.decide(0x10000, 200 * KB, true, false));
        assert!(r.decide(0x10000, 200 * KB, true, false));
        assert!(r.decide(0x10000, MAX_RELEASE, true, true));
        assert!(r.decide(0x10000, MAX_RELEASE, true, true));
    }
}
