//! Batches for the thread caches: slots taken from the thread's shard, and
//! slots given back to their owners, one lock per shard in a batch.

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::Relaxed;

use super::locked::lock_for_alloc;
use super::{Drain, Locked, owner};
use crate::settings::Settings;
use crate::slab::Found;

/// Shard locks taken for refills, and the slots they handed out.
pub(crate) static REFILLS: AtomicU64 = AtomicU64::new(0);
pub(crate) static REFILLED: AtomicU64 = AtomicU64::new(0);
/// Shard locks taken to give cached slots back, and the slots given back.
pub(crate) static FLUSHES: AtomicU64 = AtomicU64::new(0);
pub(crate) static FLUSHED: AtomicU64 = AtomicU64::new(0);

/// Fills `out` with free slots of class `c` from the thread's shard (one
/// lock for the batch) and returns how many it took: fewer when the shard
/// has no 64 KiB left for a page, 0 when the layer is off. The slots are
/// the caller's, in state `LIVE` (the caller marks them cached).
///
/// # Time complexity
/// O(`out.len()`) under one lock.
pub(crate) fn refill(c: usize, out: &mut [*mut u8]) -> usize {
    let (_, mut l) = lock_for_alloc(super::count());
    let inner = &mut *l;
    let mut n = 0;
    for slot in out.iter_mut() {
        match inner.slab.alloc(&mut inner.heap, &mut inner.hwm, c) {
            Some(f) => *slot = f.ptr,
            None => break,
        }
        n += 1;
    }
    REFILLS.fetch_add(1, Relaxed);
    REFILLED.fetch_add(n as u64, Relaxed);
    n
}

/// Gives slots a thread cache held back to their pages, each under its
/// owner's lock (one lock per shard in the batch). Returns
/// [`Drain::FlushCache`] if a shard asks for the rest of the caller's
/// cache (`retire.rs`). A pointer that is not a
/// cached slot of this allocator is skipped: after a `fork`, the caches of
/// threads that do not exist in the child are flushed as they were left,
/// possibly mid-update.
///
/// # Time complexity
/// O(`ptrs.len()` × shards in the batch).
pub(crate) fn flush_cached(g: &Settings, ptrs: &mut [*mut u8]) -> Drain {
    let mut drain = Drain::No;
    let mut done = 0;
    while done < ptrs.len() {
        // The first pointer not yet given back names the next shard.
        let Some(k) = ptrs.iter().position(|p| !p.is_null()) else {
            break;
        };
        let Some(i) = owner(g, ptrs[k] as usize) else {
            ptrs[k] = core::ptr::null_mut();
            done += 1;
            continue;
        };
        let mut l = Locked::lock(i);
        FLUSHES.fetch_add(1, Relaxed);
        let inner = &mut *l;
        let base = inner.heap.base().as_ptr();
        for p in ptrs[k..].iter_mut() {
            if p.is_null() || owner(g, *p as usize) != Some(i) {
                continue;
            }
            if let Found::Cached { page, class, idx } = inner.slab.find(base, *p) {
                FLUSHED.fetch_add(1, Relaxed);
                inner.cache_frees += 1;
                // SAFETY: `find` just reported the slot cached: the calling
                // cache holds it and gives it up.
                unsafe { inner.slab.free(&mut inner.heap, page, class, idx) };
            }
            *p = core::ptr::null_mut();
            done += 1;
        }
        if super::retire::after_free(g, i, l, false) == Drain::FlushCache {
            drain = Drain::FlushCache;
        }
    }
    drain
}
