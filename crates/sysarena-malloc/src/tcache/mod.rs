//! Thread caches: small blocks a thread allocates and frees with no lock
//! and no atomic read-modify-write.
//!
//! Each thread has one bounded stack of slots per size class, in a cache
//! mapped at its first small call and reached through a pointer in its
//! thread-local storage (an exited thread's cache is kept for the next
//! thread) ([`cap`] slots, and [`MAX_BYTES`] in all). The
//! cache lives out of band like everything else: it holds pointers, and
//! nothing is written into the blocks.
//!
//! - **malloc** of a small block pops the class's stack; an empty stack is
//!   refilled with half its capacity from the thread's shard, under one
//!   lock ([`shard::refill`]).
//! - **free** of a slab slot — whichever thread allocated it — pushes it
//!   on the calling thread's stack; a full stack (or a cache over its byte
//!   bound) first gives its older half back to the owning shards, one lock
//!   per shard in the batch ([`shard::flush_cached`]). So a block freed by
//!   another thread never takes its owner's lock on the fast path: it is
//!   reused by the freeing thread, and reaches its page in a batch.
//! - **Double frees** are still detected, out of band: every slot has a
//!   state byte (`slab::state`: free, live or cached). A free reads it
//!   (a relaxed load) and requires `LIVE`; push and pop store `CACHED` and
//!   `LIVE` (relaxed stores, no read-modify-write). Cost: one byte per 16
//!   bytes of slab page (4 KiB per 64 KiB page), a load and a store per
//!   call. Two frees of one block that race on two threads (a data race in
//!   the program) can both pass; every ordered double free is caught.
//! - **Nothing is stranded.** A thread's cache is given back when the thread
//!   exits (a `pthread` key destructor), in a forked child for every thread
//!   that does not exist there, and before an allocation reports
//!   out-of-memory. All caches are listed (under a lock, at registration
//!   and exit), so the stats report can say what sits in them.
//!
//! `SYSARENA_TCACHE=0` turns the caches off (every call takes its shard's
//! lock, as before they existed).

use crate::counters;
use crate::settings::Settings;
use crate::shard;
use crate::slab::state::{self, Lookup};
use crate::slab::{self, CLASSES, class_size};
use core::sync::atomic::Ordering::Relaxed;

mod cache;
mod registry;
#[cfg(test)]
mod tests;

use cache::{ACTIVE, Cache, SPARSE_REFILL};
pub(crate) use cache::{MAX_BIN, MAX_BYTES, cap};
use registry::{cache, register};
pub(crate) use registry::{
    enable, flush_mine, init, lock_for_fork, reset_in_child, show_mine, totals, unlock_after_fork,
};

/// A small block (a slot of `size`'s class: `slab::aligned_request` says
/// which sizes and alignments have one) from the thread's
/// cache, refilling it from the shard when empty; `None` when the cache is
/// off or the shard has no page left (the caller takes the shard path).
///
/// # Time complexity
/// O(1); a refill takes one lock for [`cap`]` / 2` slots.
#[inline]
pub(crate) fn alloc(g: &Settings, size: usize) -> Option<*mut u8> {
    let c = slab::class_of(size);
    let kp = cache();
    if kp.is_null() {
        return alloc_slow(g, c);
    }
    // SAFETY: this thread's cache; nothing below calls malloc, so no other
    // reference to it exists while this one lives.
    let k = unsafe { &mut *kp };
    if k.lens[c] == 0 {
        return alloc_slow(g, c);
    }
    Some(pop(g, k, c))
}

/// A small block (a slot of `size`'s class: `slab::aligned_request` says
/// which sizes and alignments have one) from the thread's
/// cache if its stack for the class is not empty; `None` otherwise (the
/// caller takes [`alloc`]). The fast path of `malloc`: no call, no lock.
///
/// # Time complexity
/// O(1).
#[inline(always)]
pub(crate) fn alloc_fast(g: &Settings, size: usize) -> Option<*mut u8> {
    let c = slab::class_of(size).min(CLASSES - 1);
    let kp = cache();
    if kp.is_null() {
        return None;
    }
    // SAFETY: as in `alloc`.
    let k = unsafe { &mut *kp };
    if k.lens[c] == 0 {
        return None;
    }
    Some(pop(g, k, c))
}

#[inline(always)]
fn pop(g: &Settings, k: &mut Cache, c: usize) -> *mut u8 {
    let len = k.lens[c] - 1;
    k.lens[c] = len;
    let p = k.stacks[c][len & (MAX_BIN - 1)];
    k.used[c] = true;
    let size = class_size(c);
    k.bytes -= size;
    k.allocs += 1;
    state::slot_of((p as usize).wrapping_sub(g.base), c).store(state::LIVE, Relaxed);
    if counters::enabled() {
        counters::live_changed(0, size);
    }
    p
}

#[cold]
fn alloc_slow(g: &Settings, c: usize) -> Option<*mut u8> {
    let mut kp = cache();
    if kp.is_null() {
        kp = register()?;
    }
    // SAFETY: as in `alloc` (`register` is over).
    let k = unsafe { &mut *kp };
    if k.mode != ACTIVE {
        return None;
    }
    // Before the refill: the scan may empty stacks (class `c`'s is empty).
    k.tick(g);
    let bit = 1u128 << c;
    let want = if k.sparse & bit != 0 {
        k.sparse &= !bit;
        SPARSE_REFILL
    } else {
        cap(c) / 2
    };
    let stack = &mut k.stacks[c];
    let n = shard::refill(c, &mut stack[..want]);
    if n == 0 {
        return None;
    }
    // The shard hands out a page's lowest free slots first; the stack pops
    // from its top, so put the first slot there. Popped highest first, a
    // refill's slots ran up the page (to its given-back tail, past a
    // class's first `FIRST_KEEP` bytes) while the slots below waited, and
    // the flush of a full stack's older half gave back the low ones:
    // `git log --stat`'s peak RSS, medians of 8 runs in four batches,
    // 50.1 MB before, 49.7–49.9 MB after (glibc 47.2), at the same
    // instructions (one-thread larson, callgrind).
    stack[..n].reverse();
    for &p in &stack[..n] {
        state::slot_of((p as usize).wrapping_sub(g.base), c).store(state::CACHED, Relaxed);
    }
    k.lens[c] = n;
    k.bytes += n * class_size(c);
    k.active |= 1 << c;
    k.show();
    Some(pop(g, k, c))
}

/// What [`free`] did.
pub(crate) enum Freed {
    /// The block is in the thread's cache.
    Cached,
    /// The block is a slot, but not a live one: a double free (nothing
    /// changed).
    DoubleFree,
    /// Not the cache's business (not a slab slot, or the cache is off): the
    /// caller takes the shard path, which reports an invalid pointer.
    Pass,
}

/// Frees `p` into the thread's cache if it is a live slab slot and its
/// class's stack has room; `false` otherwise, with nothing changed (the
/// caller takes [`free`], which reports a double free). The fast path of
/// `free`: no call, no lock.
///
/// # Safety
/// As [`free`].
///
/// # Time complexity
/// O(1).
#[inline(always)]
pub(crate) unsafe fn free_fast(g: &Settings, p: *mut u8) -> bool {
    let off = (p as usize).wrapping_sub(g.base);
    if off >= crate::shard::span(g) {
        return false;
    }
    let Lookup::Slot(slot) = state::locate(off) else {
        return false;
    };
    let kp = cache();
    if kp.is_null() {
        return false;
    }
    // SAFETY: as in `alloc`.
    let k = unsafe { &mut *kp };
    let c = slot.class.min(CLASSES - 1);
    let size = class_size(c);
    if slot.state.load(Relaxed) != state::LIVE || k.lens[c] >= cap(c) || k.bytes + size > MAX_BYTES
    {
        return false;
    }
    slot.state.store(state::CACHED, Relaxed);
    k.push(c, p, size);
    true
}

/// Frees `p` into the thread's cache if it is a live slab slot.
///
/// # Safety
/// If `p` is a live block, the caller gives it up.
///
/// # Time complexity
/// O(1); a full stack first gives half of itself back (one lock per shard
/// in the batch).
#[inline]
pub(crate) unsafe fn free(g: &Settings, p: *mut u8) -> Freed {
    let off = (p as usize).wrapping_sub(g.base);
    if off >= crate::shard::span(g) {
        return Freed::Pass;
    }
    let Lookup::Slot(slot) = state::locate(off) else {
        return Freed::Pass;
    };
    let mut kp = cache();
    if kp.is_null() {
        match register() {
            Some(r) => kp = r,
            None => return Freed::Pass,
        }
    }
    // SAFETY: as in `alloc`.
    let k = unsafe { &mut *kp };
    if slot.state.load(Relaxed) != state::LIVE {
        return Freed::DoubleFree;
    }
    let c = slot.class;
    let size = class_size(c);
    if k.lens[c] == cap(c) || k.bytes + size > MAX_BYTES {
        make_room(g, k, c);
        // Giving slots back may have made this slot's page drain
        // (`shard/retire.rs`): then it goes to its shard, not here.
        if !matches!(state::locate(off), Lookup::Slot(_)) {
            return Freed::Pass;
        }
    }
    slot.state.store(state::CACHED, Relaxed);
    k.push(c, p, size);
    Freed::Cached
}

/// Makes room for one slot of class `c`: the older half of a full stack
/// goes back; over the byte bound, every stack's older half.
#[cold]
fn make_room(g: &Settings, k: &mut Cache, c: usize) {
    if k.lens[c] == cap(c) {
        k.flush_bin(g, c, cap(c) / 2);
    }
    // Over the byte bound: the stack holding the most bytes gives back its
    // older half, until the slot fits (halving every stack at once made a
    // stress over all classes refill them all: 4.7 × the instructions at
    // a bound of 256 KiB).
    while k.bytes > 0 && k.bytes + class_size(c) > MAX_BYTES {
        let (mut most, mut at) = (0, 0);
        for d in 0..CLASSES {
            let b = k.lens[d] * class_size(d);
            if b > most {
                (most, at) = (b, d);
            }
        }
        let half = k.lens[at].div_ceil(2);
        k.flush_bin(g, at, half);
    }
    k.tick(g);
    k.show();
}
