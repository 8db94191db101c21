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
//! # Bounds
//!
//! Arenas below [`QUICK_LIMIT`] bytes whose size is a multiple of
//! [`QUICK_GRANULE`] (every size a front end rounds to 8 or 16) only, one
//! stack per size; at most [`QUICK_DEPTH`] per size; at most a sixteenth of
//! the region and [`QUICK_MAX_BYTES`] in all. A full stack leaves the arena
//! to the ordinary free.
//!
//! # Flushes
//!
//! Every cached arena is freed for real (merging with its free neighbours)
//! before an allocation reports out of memory (then the allocation is
//! retried), before [`defragment`](crate::ArenaManager::defragment), before
//! a relocation or a pass plan, and before
//! [`set_config`](crate::ArenaManager::set_config). So "an allocation never
//! fails while a fitting free arena exists" stays as true as without the
//! lists. A flush does at most 128 × [`QUICK_DEPTH`] frees: a constant.

use super::state::ArenaManager;
use crate::config::{Coalescing, Config, Policy};
use crate::stats::Allocation;
use crate::table::{NIL, Slot, State, TableStorage};

/// Arenas of fewer bytes than this are cached when freed.
pub const QUICK_LIMIT: usize = 1024;
/// Only arenas whose size is a multiple of this are cached: one stack per
/// size, indexed with a shift.
pub const QUICK_GRANULE: usize = 8;
/// Stacks: one per multiple of [`QUICK_GRANULE`] below [`QUICK_LIMIT`]
/// (index 0, size 0, stays empty).
pub(crate) const QUICK_CLASSES: usize = QUICK_LIMIT / QUICK_GRANULE;
/// At most this many cached arenas per size.
pub const QUICK_DEPTH: usize = 16;
/// At most this many bytes cached in all (and at most a sixteenth of the
/// region).
pub const QUICK_MAX_BYTES: usize = 256 * 1024;

/// The quick lists of one manager. All-zero is empty (so a manager in a
/// `static` stays in `.bss`).
#[derive(Clone, Debug)]
pub(crate) struct QuickLists {
    /// The top of each size's stack (index: size / `QUICK_GRANULE`), plus
    /// one (0: empty); the stack goes on through each cached slot's
    /// `link_next` (NIL ends it).
    pub(crate) heads: [u32; QUICK_CLASSES],
    /// How many arenas each stack holds.
    pub(crate) lens: [u8; QUICK_CLASSES],
    /// Bytes cached.
    pub(crate) bytes: usize,
    /// Arenas cached.
    pub(crate) arenas: usize,
    /// Bytes the lists may hold: 0 outside the fast model.
    pub(crate) budget: usize,
}

// A stack's length fits its `u8`.
const _: () = assert!(QUICK_DEPTH <= u8::MAX as usize);

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
        arenas: 0,
        budget: 0,
    };

    /// The budget for a region of `capacity` bytes under `config`.
    pub(crate) const fn budget_for(config: Config, capacity: usize) -> usize {
        let fast = matches!(config.policy, Policy::SegregatedFit)
            && matches!(config.coalescing, Coalescing::Immediate);
        if !fast {
            return 0;
        }
        let share = capacity / 16;
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
        self.quick.arenas += 1;
        self.used_arenas -= 1;
        self.in_use_bytes -= size;
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
        self.quick.arenas -= 1;
        self.used_arenas += 1;
        self.in_use_bytes += size;
        self.requested_bytes += used;
        Some(Allocation { offset, size })
    }

    /// Frees every cached arena for real: each merges with its free
    /// neighbours and enters the free index.
    ///
    /// # Time complexity
    /// O(1): at most `QUICK_LIMIT / QUICK_GRANULE × QUICK_DEPTH` (128 × 16)
    /// frees, each O(1), and a look at each stack's top.
    pub fn flush_quick_lists(&mut self) {
        if self.quick.arenas == 0 {
            return;
        }
        self.flush_cold();
    }

    #[cold]
    #[inline(never)]
    fn flush_cold(&mut self) {
        for c in 0..QUICK_CLASSES {
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
            self.quick.heads[c] = 0;
            self.quick.lens[c] = 0;
        }
        self.quick.bytes = 0;
        self.quick.arenas = 0;
        self.settle();
    }

    /// Recomputes the lists' byte budget after the model or the region
    /// changed (flushing them first when the model no longer keeps them).
    pub(super) fn rebudget_quick_lists(&mut self) {
        self.quick.budget = QuickLists::budget_for(self.config, self.capacity);
        if self.quick.budget == 0 {
            self.flush_quick_lists();
        }
    }
}
