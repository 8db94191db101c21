//! The random-actions operation stream and the driver that applies it to a
//! subject.
//!
//! The stream is generated ahead of the timed loop, in chunks, so that the
//! timings hold the allocator's work (and the driver's bookkeeping of live
//! blocks, the same for every subject), not the random number generator's.
//! The generator follows the live-block count itself: as long as no
//! request fails (a 128 MiB region never fills on this workload) every
//! subject sees exactly the same operations on exactly the same blocks.

use sysarena_sim::subject::{Block, Subject};

use crate::rng::Rng;

/// Below this many live blocks the workload only allocates.
pub const MIN_LIVE: usize = 300;

/// One operation of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Allocate `size` bytes at `align`.
    Alloc {
        /// Requested bytes.
        size: usize,
        /// Requested alignment.
        align: usize,
    },
    /// Free the live block at index `pick` of the driver's list.
    Free {
        /// Index into the live list.
        pick: usize,
    },
    /// Resize the live block at index `pick` to `size` bytes.
    Realloc {
        /// Index into the live list.
        pick: usize,
        /// The new size.
        size: usize,
    },
}

/// Which kind of call an operation made (for latency tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `alloc`.
    Alloc = 0,
    /// `free`.
    Free = 1,
    /// `realloc`.
    Realloc = 2,
}

impl Kind {
    /// Every kind, in table order.
    pub const ALL: [Kind; 3] = [Kind::Alloc, Kind::Free, Kind::Realloc];

    /// The kind's name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Alloc => "alloc",
            Kind::Free => "free",
            Kind::Realloc => "realloc",
        }
    }
}

/// What a successful `realloc` did, told apart by where the block ended
/// up (for the latency benchmark's table by path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReallocPath {
    /// It stayed where it was, at its old size or smaller.
    InPlaceSmaller = 0,
    /// It stayed where it was and grew.
    InPlaceLarger = 1,
    /// It moved (and its bytes were copied).
    Moved = 2,
}

impl ReallocPath {
    /// Every path, in table order.
    pub const ALL: [ReallocPath; 3] = [
        ReallocPath::InPlaceSmaller,
        ReallocPath::InPlaceLarger,
        ReallocPath::Moved,
    ];

    /// The path of a block at `old` (its requested size `old_size`) that a
    /// `realloc` to `new_size` left at `new`.
    #[inline(always)]
    pub fn of(old: usize, old_size: usize, new: usize, new_size: usize) -> ReallocPath {
        if new != old {
            ReallocPath::Moved
        } else if new_size > old_size {
            ReallocPath::InPlaceLarger
        } else {
            ReallocPath::InPlaceSmaller
        }
    }

    /// The path's name in tables.
    pub fn name(self) -> &'static str {
        match self {
            ReallocPath::InPlaceSmaller => "in place, smaller",
            ReallocPath::InPlaceLarger => "in place, larger",
            ReallocPath::Moved => "moved",
        }
    }
}

/// The issue's random actions: each step draws 0..=6; 6 reallocates a
/// random live block to `uniform[1, 3 × max)`; below 3, or with fewer than
/// [`MIN_LIVE`] blocks live, it allocates `uniform[4, cap)` bytes with
/// `cap = uniform[16, max)` at [`Rng::align`]; otherwise it frees a random
/// live block.
#[derive(Clone, Debug)]
pub struct RandomActions {
    rng: Rng,
    max: usize,
    live: usize,
}

impl RandomActions {
    /// The stream for `max` (at least 17) from `seed`.
    pub fn new(seed: u64, max: usize) -> RandomActions {
        assert!(max > 16, "max must exceed 16 (cap = uniform[16, max))");
        RandomActions {
            rng: Rng::new(seed ^ (max as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            max,
            live: 0,
        }
    }

    /// The next operation.
    #[inline]
    pub fn next_op(&mut self) -> Op {
        let draw = self.rng.below(7);
        if draw == 6 && self.live > 0 {
            Op::Realloc {
                pick: self.rng.below(self.live),
                size: self.rng.range(1, 3 * self.max),
            }
        } else if draw < 3 || self.live < MIN_LIVE {
            let cap = self.rng.range(16, self.max);
            let size = self.rng.range(4, cap);
            let align = self.rng.align();
            self.live += 1;
            Op::Alloc { size, align }
        } else {
            let pick = self.rng.below(self.live);
            self.live -= 1;
            Op::Free { pick }
        }
    }

    /// Replaces `buf`'s contents with the next `n` operations.
    pub fn fill(&mut self, buf: &mut Vec<Op>, n: usize) {
        buf.clear();
        buf.extend((0..n).map(|_| self.next_op()));
    }
}

/// Observes each subject call (the latency benchmark times them; the
/// throughput benchmark does nothing).
pub trait Probe {
    /// Called right before the subject call; returns a start mark.
    fn begin(&mut self) -> u64;
    /// Called right after the subject call.
    fn end(&mut self, kind: Kind, start: u64);
    /// Called after [`end`](Self::end) of a successful `realloc`, with what
    /// it did (outside the timed bracket). Does nothing unless a probe
    /// wants it.
    #[inline(always)]
    fn realloc_path(&mut self, _path: ReallocPath) {}
}

/// A probe that does nothing (inlined away).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProbe;

impl Probe for NoProbe {
    #[inline(always)]
    fn begin(&mut self) -> u64 {
        0
    }

    #[inline(always)]
    fn end(&mut self, _kind: Kind, _start: u64) {}
}

/// The live blocks of one subject and what failed.
#[derive(Debug, Default)]
pub struct Driver {
    /// Live blocks, each with the key its subject returned
    /// ([`Subject::alloc_keyed`]); a free swaps the last one into the freed
    /// place.
    pub live: Vec<(Block, u32)>,
    /// Requests the subject refused.
    pub failures: u64,
}

impl Driver {
    /// A driver with nothing live.
    pub fn new() -> Driver {
        Driver {
            live: Vec::with_capacity(4096),
            failures: 0,
        }
    }

    /// Applies `ops` to `subject`, calling `probe` around every call.
    #[inline(never)]
    pub fn run<P: Probe>(&mut self, subject: &mut dyn Subject, ops: &[Op], probe: &mut P) {
        for &op in ops {
            match op {
                Op::Alloc { size, align } => {
                    let t = probe.begin();
                    let r = subject.alloc_keyed(size, align);
                    probe.end(Kind::Alloc, t);
                    match r {
                        Some((offset, key)) => {
                            let block = Block {
                                offset,
                                size,
                                align,
                            };
                            self.live.push((block, key));
                        }
                        None => self.failures += 1,
                    }
                }
                Op::Free { pick } => {
                    let Some(i) = self.index(pick) else { continue };
                    let (block, key) = self.live.swap_remove(i);
                    let t = probe.begin();
                    // SAFETY: `block` was returned by this subject and was
                    // live until it left `live` just now.
                    unsafe { subject.free_keyed(block, key) };
                    probe.end(Kind::Free, t);
                }
                Op::Realloc { pick, size } => {
                    let Some(i) = self.index(pick) else { continue };
                    let (block, key) = self.live[i];
                    let t = probe.begin();
                    // SAFETY: `block` is live (it is in `live`); on success
                    // it is replaced by the new block, on failure it stays.
                    let r = unsafe { subject.realloc_keyed(block, key, size) };
                    probe.end(Kind::Realloc, t);
                    match r {
                        Some((offset, key)) => {
                            probe.realloc_path(ReallocPath::of(
                                block.offset,
                                block.size,
                                offset,
                                size,
                            ));
                            let block = Block {
                                offset,
                                size,
                                align: block.align,
                            };
                            self.live[i] = (block, key);
                        }
                        None => self.failures += 1,
                    }
                }
            }
        }
    }

    /// The live index for `pick` (the generator's index, which is in range
    /// unless a request failed earlier).
    #[inline]
    fn index(&self, pick: usize) -> Option<usize> {
        let n = self.live.len();
        if pick < n {
            Some(pick)
        } else if n > 0 {
            Some(pick % n)
        } else {
            None
        }
    }

    /// Frees every live block (untimed clean-up).
    pub fn release(&mut self, subject: &mut dyn Subject) {
        for (block, key) in self.live.drain(..) {
            // SAFETY: every block in `live` is live in this subject and is
            // freed once (drained).
            unsafe { subject.free_keyed(block, key) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_realloc_path_is_where_the_block_ended_up() {
        assert_eq!(
            ReallocPath::of(64, 100, 64, 40),
            ReallocPath::InPlaceSmaller
        );
        assert_eq!(
            ReallocPath::of(64, 100, 64, 100),
            ReallocPath::InPlaceSmaller
        );
        assert_eq!(
            ReallocPath::of(64, 100, 64, 101),
            ReallocPath::InPlaceLarger
        );
        assert_eq!(ReallocPath::of(64, 100, 512, 40), ReallocPath::Moved);
        assert_eq!(ReallocPath::of(64, 100, 0, 400), ReallocPath::Moved);
    }

    #[test]
    fn stream_follows_the_issue() {
        let mut g = RandomActions::new(1, 200);
        let mut live = 0usize;
        let (mut allocs, mut frees, mut reallocs) = (0, 0, 0);
        for _ in 0..100_000 {
            match g.next_op() {
                Op::Alloc { size, align } => {
                    assert!((4..199).contains(&size));
                    assert!(align.is_power_of_two() && align >= 8);
                    live += 1;
                    allocs += 1;
                }
                Op::Free { pick } => {
                    assert!(live >= MIN_LIVE && pick < live);
                    live -= 1;
                    frees += 1;
                }
                Op::Realloc { pick, size } => {
                    assert!(pick < live && (1..600).contains(&size));
                    reallocs += 1;
                }
            }
        }
        assert!(allocs > 0 && frees > 0 && reallocs > 0);
        // Same seed, same stream.
        let (mut a, mut b) = (RandomActions::new(9, 1000), RandomActions::new(9, 1000));
        for _ in 0..1000 {
            assert_eq!(a.next_op(), b.next_op());
        }
    }
}
