//! How many pages of empty slabs a shard's slab layer keeps as spares.
//!
//! A slab that becomes empty either stays (a *spare*: resident memory the
//! program is not using, so it counts in peak RSS, but the next slab of
//! its size costs nothing) or goes back to the heap after `MADV_DONTNEED`
//! (a system call now, and a page fault per 4 KiB when a slab is carved
//! there again). Which is better depends on the program: a 4-thread
//! stress empties and refills slabs of random classes all the time and
//! paid the kernel for every one it gave back (1.2–1.3× glibc's time with
//! one spare a shard), while every spare kept is peak RSS for a program
//! like `git log --stat`, which is within 5 % of glibc's.
//!
//! So the cap, in pages, adapts, like glibc's dynamic mmap threshold: it
//! starts at [`MAX_SPARES`](super::MAX_SPARES) and grows by one, up to
//! [`MOST_SPARES`], whenever the layer carves a slab within [`WINDOW`]
//! frees of giving one back (*churn*: the slab it gave back would have
//! served); after [`QUIET`] frees without churn it halves back towards the
//! floor at the next give-back. All of it is a few counters on cold paths
//! and one add per free: O(1).

use super::MAX_SPARES;

/// The most pages of spares a shard keeps however much its slabs churn:
/// 8 × 16 KiB = 128 KiB of resident memory per shard. Measured (best of 6
/// or 3, interleaved): with 16, a 4-thread stress took 0.10 s (glibc 0.11)
/// but `git log --stat` peaked at 16.57–16.63 MB; with 8, 0.12 s and
/// 16.36–16.42 MB (26.6k and 29.1k page faults; glibc 15.30–15.54 MB,
/// 18.6k; one 64 KiB spare a shard, as before: 0.13 s, 16.30–16.42 MB,
/// 32.1k faults); with 4, 0.12 s and 16.34–16.35 MB, 29.5k faults.
pub(crate) const MOST_SPARES: usize = 8;
/// A carve this many slab frees or fewer after a give-back is churn.
const WINDOW: u32 = 4096;
/// Slab frees without churn after which the cap halves back.
const QUIET: u32 = 64 * WINDOW;

/// The adaptive cap on a shard's spare pages. All zero bytes is the
/// starting state (the shards' layers live in zeroed statics).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SpareCap {
    /// Pages of spares allowed beyond [`MAX_SPARES`].
    extra: u32,
    /// Slab frees, ever (wrapping).
    frees: u32,
    /// `frees` at the last give-back, plus one (0: none yet).
    released_at: u32,
    /// `frees` at the last churn (or the last halving).
    churn_at: u32,
}

impl SpareCap {
    /// The starting state.
    pub(crate) const NEW: SpareCap = SpareCap {
        extra: 0,
        frees: 0,
        released_at: 0,
        churn_at: 0,
    };

    /// How many pages of spares the shard may keep now.
    #[inline]
    pub(crate) fn cap(&self) -> usize {
        MAX_SPARES + self.extra as usize
    }

    /// Counts a slab free.
    #[inline]
    pub(crate) fn freed(&mut self) {
        self.frees = self.frees.wrapping_add(1);
    }

    /// A slab went back to the heap.
    pub(crate) fn released(&mut self) {
        if self.frees.wrapping_sub(self.churn_at) > QUIET {
            self.extra /= 2;
            self.churn_at = self.frees;
        }
        self.released_at = self.frees.wrapping_add(1);
    }

    /// A slab was carved out of the heap.
    pub(crate) fn carved(&mut self) {
        if self.released_at != 0
            && self.frees.wrapping_add(1).wrapping_sub(self.released_at) <= WINDOW
        {
            self.extra = (self.extra + 1).min((MOST_SPARES - MAX_SPARES) as u32);
            self.churn_at = self.frees;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_grows_with_churn_and_halves_when_quiet() {
        let mut s = SpareCap::NEW;
        assert_eq!(s.cap(), MAX_SPARES);
        // A carve before any give-back is no churn.
        s.carved();
        assert_eq!(s.cap(), MAX_SPARES);
        // Give-backs each followed by a carve within the window: churn,
        // up to the most.
        for _ in 0..2 * MOST_SPARES {
            s.released();
            for _ in 0..WINDOW - 1 {
                s.freed();
            }
            s.carved();
        }
        assert_eq!(s.cap(), MOST_SPARES);
        // A carve long after the last give-back is no churn.
        s.released();
        for _ in 0..=WINDOW {
            s.freed();
        }
        s.carved();
        assert_eq!(s.cap(), MOST_SPARES);
        // Quiet for longer than QUIET: the next give-back halves the
        // extra, and again after another quiet stretch.
        for _ in 0..QUIET {
            s.freed();
        }
        s.released();
        assert_eq!(s.cap(), MAX_SPARES + (MOST_SPARES - MAX_SPARES) / 2);
        s.released();
        assert_eq!(s.cap(), MAX_SPARES + (MOST_SPARES - MAX_SPARES) / 2);
        for _ in 0..=QUIET {
            s.freed();
        }
        s.released();
        assert_eq!(s.cap(), MAX_SPARES + (MOST_SPARES - MAX_SPARES) / 4);
    }
}
