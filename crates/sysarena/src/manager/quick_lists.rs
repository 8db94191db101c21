//! Quick lists: small freed arenas wait, whole, in bounded exact-size
//! stacks, and the next allocation of exactly their size takes one back
//! with no search, no split and no merge — glibc's tcache and dlmalloc's fastbins,
//! kept out of band (the stacks are threaded through the descriptors, never
//! through the freed bytes).
//!
//! Only the fast model ([`Config::fast`](crate::Config::fast): segregated
//! fit with immediate coalescing) keeps them; every other model frees at
//! once, as the classic model teaches.
//!
//! # What a cached arena is
//!
//! A *cached* arena was freed by its caller (freeing it again is a
//! [`DoubleFree`](crate::FreeError::DoubleFree)) but is not yet in the free
//! index: it keeps its descriptor and its place in the offset map, and its
//! neighbours do not merge with it. [`Stats`](crate::Stats) counts it as
//! free (`free_bytes`, `free_arenas`) and says how much of that is cached
//! (`cached_bytes`, `cached_arenas`); [`ArenaInfo::cached`](crate::ArenaInfo::cached)
//! marks it in the heap map.
//!
//! # Near sizes
//!
//! A request of [`NEAR_MIN`] (512) bytes or more whose own stack is empty
//! takes a cached arena of a slightly larger size if one waits: at most a
//! 64th larger ([`QUICK_NEAR_SHARE`]), and the allocation reports the arena's
//! size ([`Allocation::size`]). Where sizes rarely repeat exactly (random
//! sizes up to a few KiB), arenas then wait less, so fewer wait and the
//! heap stays denser.
//!
//! # Bounds
//!
//! Arenas below [`QUICK_LIMIT`] bytes whose size is a multiple of
//! [`QUICK_GRANULE`] (every size a front end rounds to 8 or 16) only, one
//! stack per size; at most [`QUICK_DEPTH`] per size; at most a sixteenth of
//! the memory (a heap's fences between regions left out) and
//! [`QUICK_MAX_BYTES`] in all. A full stack leaves the arena
//! to the ordinary free. A moving `realloc` leaves the arena it moved from
//! to the lists only below [`MOVED_CACHE_LIMIT`] (2 KiB); a larger one is
//! freed for real at once. Measured (`benches/RESULTS.md`, "Engine work,
//! part 5"): caching the old places of growing blocks up to 8 KiB cost the
//! heap-efficiency workload 0.06 points over 200 rounds, caching what
//! `free` releases up to 8 KiB did not.
//!
//! # Flushes
//!
//! Every cached arena is freed for real (merging with its free neighbours)
//! before a new uncached allocation (`alloc`, or a handle's) of
//! [`LARGE_REQUEST`] (4 KiB) or more while the lists hold at least 16 times its
//! size (dlmalloc consolidates its fastbins before a large request for the
//! same reason: small cached arenas must not chop up the space large ones
//! need; the ratio keeps the flushes rare; a moving `realloc` does not
//! flush, or a growing vector would flush the lists at every doubling;
//! after such a flush, arenas of `LARGE_REQUEST` bytes or more are freed
//! for real, not cached, for the next [`LARGE_PAUSE`] (256) real frees:
//! where large requests come often, caching large arenas only fed the next
//! flush — a larson-style churn of blocks up to 8 KiB under the LD_PRELOAD
//! malloc took 140.9 M instructions without the pause, 128.8 M with the
//! lists up to 4 KiB and 130.5 M with the pause; `benches/RESULTS.md`;
//! where caching does not pay, the pause covers every size: see
//! [`large_flush`](ArenaManager::large_flush)), before an allocation
//! reports out of memory (then the allocation is retried), before
//! [`defragment`](crate::ArenaManager::defragment), before a relocation or
//! a pass plan, before
//! [`set_config`](crate::ArenaManager::set_config), and before a heap adds a
//! region (its fence must be larger than every free arena). So "an allocation never
//! fails while a fitting free arena exists" stays as true as without the
//! lists. A flush does at most 1,024 × [`QUICK_DEPTH`] (32,768) frees: a
//! constant.

use super::state::ArenaManager;
use crate::config::{Coalescing, Config, Policy};
use crate::stats::Allocation;
use crate::table::{NIL, Slot, State, TableStorage};

/// Arenas of fewer bytes than this are cached when freed. 8 KiB: random
/// actions at max 3000 (reallocs up to 9,000 bytes) took 142.4 M
/// instructions with it, 151.7 M with 4 KiB (`benches/RESULTS.md`).
pub const QUICK_LIMIT: usize = 8192;
/// A moving `realloc` caches the arena it moved from only below this many
/// bytes (a quarter of [`QUICK_LIMIT`]); larger ones are freed for real at
/// once (the module docs say why).
pub(crate) const MOVED_CACHE_LIMIT: usize = QUICK_LIMIT / 4;
/// An uncached new allocation of this many bytes or more flushes the lists
/// first when they hold [`LARGE_FLUSH_RATIO`] times its size.
pub(crate) const LARGE_REQUEST: usize = 4096;
/// After a large request flushed the lists, arenas of [`LARGE_REQUEST`]
/// bytes or more are freed for real, not cached, for this many real frees
/// (the module docs say why).
pub(crate) const LARGE_PAUSE: u32 = 256;
/// [`QuickLists::shrink`] during that pause: the size bits from
/// [`LARGE_REQUEST`] up to [`QUICK_LIMIT`]; a size below the limit with any
/// of them set is at least `LARGE_REQUEST`.
pub(crate) const PAUSED: usize = (QUICK_LIMIT - 1) & !(LARGE_REQUEST - 1);
/// [`QuickLists::shrink`] while caching does not pay: every size bit, so
/// no arena is cached (see [`ArenaManager::large_flush`]).
pub(crate) const PAUSED_ALL: usize = usize::MAX;
/// A pause over every size lasts [`LARGE_PAUSE`] real frees doubled once
/// per flush in a row that found caching unpaid, at most this many times.
pub(crate) const MAX_BACKOFF: u32 = 4;
const _: () = assert!(QUICK_LIMIT.is_power_of_two() && LARGE_REQUEST.is_power_of_two());
/// Only arenas whose size is a multiple of this are cached: one stack per
/// size, indexed with a shift.
pub const QUICK_GRANULE: usize = 8;
/// Stacks: one per multiple of [`QUICK_GRANULE`] below [`QUICK_LIMIT`]
/// (index 0, size 0, stays empty).
pub(crate) const QUICK_CLASSES: usize = QUICK_LIMIT / QUICK_GRANULE;
/// Near sizes: a request of `need` bytes whose own stack is empty (under
/// the fast model, `need` at least 512) may take the top of the first
/// non-empty stack above its own whose arenas hold at most `need + need /
/// QUICK_NEAR_SHARE` bytes; [`Allocation::size`] says how many it got.
/// Fewer than `QUICK_LIMIT / QUICK_GRANULE / QUICK_NEAR_SHARE` (16) stacks
/// are looked at.
///
/// Random actions at max 3000 miss the L2 less (2.90 M against 3.51 M)
/// and run fewer instructions (142.95 M against 144.81 M), at the same
/// heap efficiency; up to 64 bytes larger whatever the size cost that
/// workload 0.06 points, a sixteenth 0.035 (`benches/RESULTS.md`, "Engine
/// work, part 20").
pub const QUICK_NEAR_SHARE: usize = 64;
/// Requests below this many bytes have no larger stack within
/// [`QUICK_NEAR_SHARE`] of them: they look at their own stack only.
pub(crate) const NEAR_MIN: usize = QUICK_NEAR_SHARE * QUICK_GRANULE;
/// At most this many cached arenas per size.
pub const QUICK_DEPTH: usize = 32;
/// The quick lists hold at most one `QUICK_SHARE`-th of the region (and at
/// most [`QUICK_MAX_BYTES`]).
///
/// That much costs locality where sizes rarely repeat: random actions at
/// max 3000 over 128 MiB spread 1.3 MiB of live blocks over 13.2 MiB (talc:
/// 1.9 MiB) and missed the L2 2.3 times as often as talc, and yet every
/// smaller or live-relative cap measured cost more instructions than those
/// misses (`benches/RESULTS.md`, "Engine work, part 19"). Near sizes
/// (see [`ArenaManager::alloc`](crate::ArenaManager::alloc)) take 17 %
/// of those misses away; with them, a 32nd or a 64th of the region still
/// estimates slower (part 20).
pub const QUICK_SHARE: usize = 16;
/// At most this many bytes cached in all (and at most one
/// [`QUICK_SHARE`]-th of the region). It binds on regions over 256 MiB only: random actions at max
/// 3000 over 128 MiB took 151.7 M instructions with 8 MiB cached at most,
/// 154.8 M with 4 MiB, at the same heap efficiency and trace footprints.
pub const QUICK_MAX_BYTES: usize = 16 * 1024 * 1024;

/// The quick lists of one manager. All-zero is empty (so a manager in a
/// `static` stays in `.bss`).
#[derive(Clone, Debug)]
pub(crate) struct QuickLists {
    /// The top of each size's stack (index: size / `QUICK_GRANULE`), plus
    /// one (0: empty); the stack goes on through each cached slot's
    /// `link_next` (NIL ends it).
    pub(crate) heads: [u32; QUICK_CLASSES],
    /// How many arenas each stack holds (read eight at a time by a flush,
    /// which skips the empty ones).
    pub(crate) lens: [u8; QUICK_CLASSES],
    /// Bytes cached (0: nothing is).
    pub(crate) bytes: usize,
    /// 0, or while a large request's flush pauses caching, [`PAUSED`] (arenas
    /// of [`LARGE_REQUEST`] bytes or more) or [`PAUSED_ALL`] (every arena):
    /// an arena whose size has a bit of it set is not cached (one test on
    /// the fast path; 0 keeps an all-zero manager empty).
    pub(crate) shrink: usize,
    /// Real frees left before the pause ends (0: no pause).
    pub(crate) pause: u32,
    /// Allocations the lists served since the last large request's flush.
    pub(crate) hits: usize,
    /// How many large requests' flushes in a row found caching unpaid (at
    /// most [`MAX_BACKOFF`]).
    pub(crate) backoff: u32,
    /// Bytes the lists may hold: 0 outside the fast model.
    pub(crate) budget: usize,
}

/// A large request flushes the lists when they hold this many times its
/// size. Measured over 50 rounds of the heap-efficiency workload
/// (`benches/RESULTS.md`, "Engine work, part 17"): 97.527 % with 16,
/// 97.568 % without quick lists, 97.437 % with 64 and 97.020 % with no
/// flush.
pub(crate) const LARGE_FLUSH_RATIO: usize = 16;

/// Eight stacks' lengths per `u64` word of [`QuickLists::lens`].
const QUICK_WORDS: usize = QUICK_CLASSES / 8;
const _: () = assert!(QUICK_CLASSES.is_multiple_of(8));

// A stack's length fits its `u8`.
const _: () = assert!(QUICK_DEPTH <= u8::MAX as usize);

/// The near sizes of a request of `need` bytes (its size rounded up to its
/// alignment): the sizes of cached arenas, larger than `need`, that it may
/// take when its own stack is empty — multiples of [`QUICK_GRANULE`] up
/// to `need + need / QUICK_NEAR_SHARE` and below [`QUICK_LIMIT`]. `None`
/// when there are none: below 512 bytes no larger size is within the
/// slack (512 may take 520), and a size the lists do not cache has no
/// stack of its own.
/// (The search takes the first non-empty stack in this range.)
///
/// # Time complexity
/// O(1).
pub const fn quick_near_sizes(need: usize) -> Option<core::ops::RangeInclusive<usize>> {
    let Some(c) = quick_index(need) else {
        return None;
    };
    match near_stacks(c) {
        Some((first, last)) => Some(first * QUICK_GRANULE..=last * QUICK_GRANULE),
        None => None,
    }
}

/// [`quick_near_sizes`] in stack indices: the first and the last stack
/// above stack `c` within the slack, if any.
/// Whether a cached arena of `size` bytes may also serve requests smaller
/// than itself: whether it is among the [near sizes](quick_near_sizes) of
/// the next smaller cached size (the ranges grow with the request, so if
/// any smaller request may take it, that one may). From 520 bytes on,
/// for multiples of [`QUICK_GRANULE`] below [`QUICK_LIMIT`].
///
/// # Time complexity
/// O(1).
pub const fn quick_serves_smaller(size: usize) -> bool {
    if size < QUICK_GRANULE {
        return false;
    }
    match quick_near_sizes(size - QUICK_GRANULE) {
        Some(sizes) => *sizes.start() <= size && size <= *sizes.end(),
        None => false,
    }
}

#[inline(always)]
const fn near_stacks(c: usize) -> Option<(usize, usize)> {
    let last = c + c / QUICK_NEAR_SHARE;
    let last = if last < QUICK_CLASSES {
        last
    } else {
        QUICK_CLASSES - 1
    };
    if last > c { Some((c + 1, last)) } else { None }
}

/// The stack of arenas of `size` bytes, if arenas of that size are cached.
#[inline(always)]
pub(crate) const fn quick_index(size: usize) -> Option<usize> {
    if size < QUICK_LIMIT && size.is_multiple_of(QUICK_GRANULE) {
        Some(size / QUICK_GRANULE)
    } else {
        None
    }
}

impl QuickLists {
    pub(crate) const EMPTY: QuickLists = QuickLists {
        heads: [0; QUICK_CLASSES],
        lens: [0; QUICK_CLASSES],
        bytes: 0,
        shrink: 0,
        pause: 0,
        hits: 0,
        backoff: 0,
        budget: 0,
    };

    /// The budget for a region of `capacity` bytes under `config`.
    pub(crate) const fn budget_for(config: Config, capacity: usize) -> usize {
        let fast = matches!(config.policy, Policy::SegregatedFit)
            && matches!(config.coalescing, Coalescing::Immediate);
        if !fast {
            return 0;
        }
        let share = capacity / QUICK_SHARE;
        if share < QUICK_MAX_BYTES {
            share
        } else {
            QUICK_MAX_BYTES
        }
    }
}

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Caches in-use arena `i` (just looked up by a free) if its size's
    /// stack has room; returns whether it did. O(1).
    #[inline(always)]
    pub(super) fn try_cache(&mut self, i: u32) -> bool {
        let Slot { size, used, .. } = *self.slot(i);
        let Some(c) = quick_index(size) else {
            return false;
        };
        if size & self.quick.shrink != 0 {
            return false;
        }
        if self.quick.bytes + size > self.quick.budget || self.quick.lens[c] as usize >= QUICK_DEPTH
        {
            return false;
        }
        let head = self.quick.heads[c];
        let s = self.slot_mut(i);
        s.state = State::Cached;
        s.used = 0;
        s.tag = NIL;
        s.link_next = head.wrapping_sub(1);
        self.quick.heads[c] = i + 1;
        self.quick.lens[c] += 1;
        self.quick.bytes += size;
        self.requested_bytes -= used;
        true
    }

    /// Takes the cached arena on top of the stack of `need`-byte arenas if
    /// its address is `align`-aligned, and hands it out (`used` bytes
    /// requested, tagged `tag`). O(1).
    #[inline(always)]
    pub(super) fn take_cached(
        &mut self,
        need: usize,
        used: usize,
        align: usize,
        tag: u32,
    ) -> Option<Allocation> {
        let c = quick_index(need)?;
        let top = self.quick.heads[c];
        if top == 0 {
            return None;
        }
        let i = top - 1;
        let origin = self.origin;
        let s = self.slot_mut(i);
        debug_assert_eq!(s.size, need);
        if origin.wrapping_add(s.offset) & (align - 1) != 0 {
            return None;
        }
        let (offset, size) = (s.offset, s.size);
        s.state = State::InUse;
        s.used = used;
        s.align_log2 = align.trailing_zeros() as u8;
        s.tag = tag;
        let below = s.link_next;
        s.link_next = NIL;
        self.quick.heads[c] = below.wrapping_add(1);
        self.quick.lens[c] -= 1;
        self.quick.bytes -= size;
        self.quick.hits += 1;
        self.requested_bytes += used;
        Some(Allocation {
            offset,
            size,
            hint: i,
        })
    }

    /// After [`take_cached`](Self::take_cached) missed for `need` bytes:
    /// the size of the first non-empty stack of `need`'s near sizes
    /// ([`quick_near_sizes`]: at most `need / QUICK_NEAR_SHARE` bytes
    /// larger; the caller pops
    /// it with `take_cached`, which also checks the alignment). O(1): at
    /// most 15 stacks are looked at. Out of line: inside `take_cached` the
    /// look made `alloc` too large to inline (+10 M instructions at max
    /// 3000; `benches/RESULTS.md`, part 20).
    #[inline(never)]
    pub(super) fn near_size(&self, need: usize) -> Option<usize> {
        let (first, last) = near_stacks(quick_index(need)?)?;
        // A half-open range: `first..=last` measured +0.4 M instructions at
        // max 3000 (an inclusive range's iterator carries an extra flag).
        let k = (first..last + 1).find(|&k| self.quick.heads[k] != 0)?;
        Some(k * QUICK_GRANULE)
    }

    /// Frees every cached arena for real: each merges with its free
    /// neighbours and enters the free index.
    ///
    /// # Time complexity
    /// O(1): at most `QUICK_LIMIT / QUICK_GRANULE × QUICK_DEPTH` (1,024 × 32)
    /// frees, each O(1), and a look at the stacks' lengths, eight at a time
    /// (128 words): a flush costs about what it frees.
    pub fn flush_quick_lists(&mut self) {
        if self.quick.bytes == 0 {
            return;
        }
        self.flush_cold();
    }

    /// The flush before a large request (see the module docs), and the
    /// pause after it: of arenas of [`LARGE_REQUEST`] bytes or more for
    /// [`LARGE_PAUSE`] real frees while the lists pay; of every arena,
    /// for twice as long at each such flush in a row (up to
    /// [`MAX_BACKOFF`] doublings), while they served fewer allocations
    /// since the last such flush than this one frees — where requests
    /// rarely repeat a size, arenas wait only to be flushed, and caching
    /// then costs more than it saves. Random actions at max 10000 took an
    /// estimated 734.4 M cycles instead of 765.3 M, with 133 flushes instead
    /// of 5,133; workloads whose sizes repeat never pause every size
    /// (`benches/RESULTS.md`, "Engine work, part 17"). O(1), as a flush.
    #[cold]
    #[inline(never)]
    pub(super) fn large_flush(&mut self) {
        let flushed = self.flush_cold();
        let q = &mut self.quick;
        if q.hits < flushed {
            q.shrink = PAUSED_ALL;
            q.pause = LARGE_PAUSE << q.backoff;
            q.backoff = (q.backoff + 1).min(MAX_BACKOFF);
        } else {
            q.shrink = PAUSED;
            q.pause = LARGE_PAUSE;
            q.backoff = 0;
        }
        q.hits = 0;
    }

    /// The lengths of stacks `8 w .. 8 w + 8`, as one word (0: all empty).
    #[inline(always)]
    fn lens_word(&self, w: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.quick.lens[8 * w..8 * w + 8]);
        u64::from_ne_bytes(b)
    }

    /// Frees every cached arena for real; returns how many there were.
    #[cold]
    #[inline(never)]
    fn flush_cold(&mut self) -> usize {
        let mut flushed = 0;
        for w in 0..QUICK_WORDS {
            if self.lens_word(w) == 0 {
                continue;
            }
            for c in 8 * w..8 * w + 8 {
                let mut top = self.quick.heads[c];
                while top != 0 {
                    let i = top - 1;
                    top = self.slot(i).link_next.wrapping_add(1);
                    let s = self.slot_mut(i);
                    s.state = State::Free;
                    s.link_next = NIL;
                    let j = match self.config.coalescing {
                        Coalescing::Deferred => i,
                        Coalescing::Immediate => self.merge_neighbours(i),
                    };
                    self.index_insert(j);
                }
                flushed += self.quick.lens[c] as usize;
                self.quick.heads[c] = 0;
                self.quick.lens[c] = 0;
            }
        }
        self.quick.bytes = 0;
        self.settle();
        flushed
    }

    /// How many arenas are cached. O(1): the 1,024 stacks' lengths, summed
    /// (no counter is kept on the fast path).
    pub(super) fn cached_arenas(&self) -> usize {
        if self.quick.bytes == 0 {
            return 0;
        }
        self.quick.lens.iter().map(|&n| n as usize).sum()
    }

    /// How many arenas are in use: every arena that is neither free nor
    /// cached (no counter is kept on the fast path). O(1).
    pub(super) fn used_arenas(&self) -> usize {
        self.slots.as_ref().len() - self.spare - self.free_arenas - self.cached_arenas()
    }

    /// Bytes in in-use arenas: every byte neither free nor cached (no
    /// counter is kept on the fast path). O(1).
    pub(super) fn in_use_bytes(&self) -> usize {
        self.capacity - self.free_bytes - self.quick.bytes
    }

    /// The size of the largest cached arena (0 if none). O(1): a look at
    /// the 1,024 stacks' lengths, from the largest size down.
    pub(super) fn largest_cached(&self) -> usize {
        if self.quick.bytes == 0 {
            return 0;
        }
        (0..QUICK_CLASSES)
            .rev()
            .find(|&c| self.quick.lens[c] != 0)
            .map_or(0, |c| c * QUICK_GRANULE)
    }

    /// Tells the lists that `bytes` more offsets are not memory (a heap's
    /// fence between two regions), so that their budget stays a share of
    /// the memory alone.
    pub(crate) fn quick_lists_exclude(&mut self, bytes: usize) {
        self.not_memory = self.not_memory.saturating_add(bytes);
        self.rebudget_quick_lists();
    }

    /// Recomputes the lists' byte budget after the model or the region
    /// changed (flushing them first when the model no longer keeps them).
    pub(super) fn rebudget_quick_lists(&mut self) {
        let memory = self.capacity.saturating_sub(self.not_memory);
        self.quick.budget = QuickLists::budget_for(self.config, memory);
        if self.quick.budget == 0 {
            self.flush_quick_lists();
        }
    }
}

#[cfg(test)]
mod tests;
