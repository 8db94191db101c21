//! Which freed heap blocks give their pages back to the kernel: the
//! addresses a shard released recently, so that a program that frees and
//! allocates a buffer at one place again and again does not pay a system
//! call and a page fault per page each time (see
//! [`crate::settings::DEFAULT_RELEASE`]).

use crate::settings::MAX_RELEASE;

/// How many addresses of released heap blocks a shard remembers.
const REMEMBERED: usize = 4;
/// Heap frees without a release after which they are forgotten.
const FORGET_AFTER: u32 = 1024;

/// The addresses of a shard's last released heap blocks.
#[derive(Debug)]
pub(crate) struct Released {
    at: [usize; REMEMBERED],
    /// Heap frees since the last release.
    since: u32,
}

impl Released {
    pub(crate) const NONE: Released = Released {
        at: [0; REMEMBERED],
        since: 0,
    };

    /// Counts a heap free, and decides whether the freed block at `at` of
    /// `size` bytes (at least the release threshold) gives its pages back:
    /// always when `adapts` is off (`SYSARENA_RELEASE` set) and from
    /// [`MAX_RELEASE`] up; otherwise unless a block at the same address was
    /// released in the last [`FORGET_AFTER`] heap frees (the program
    /// allocated there again, and would fault the pages in again). O(1).
    pub(crate) fn decide(&mut self, at: usize, size: usize, big: bool, adapts: bool) -> bool {
        self.since += 1;
        if self.since >= FORGET_AFTER {
            self.at = [0; REMEMBERED];
            self.since = 0;
        }
        if !big {
            return false;
        }
        if !adapts || size >= MAX_RELEASE {
            return true;
        }
        if self.at.contains(&at) {
            return false;
        }
        self.at.rotate_right(1);
        self.at[0] = at;
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
    fn fixed_threshold_and_big_blocks_always_release() {
        let mut r = Released::NONE;
        assert!(r.decide(0x10000, 200 * KB, true, false));
        assert!(r.decide(0x10000, 200 * KB, true, false));
        assert!(r.decide(0x10000, MAX_RELEASE, true, true));
        assert!(r.decide(0x10000, MAX_RELEASE, true, true));
    }
}
