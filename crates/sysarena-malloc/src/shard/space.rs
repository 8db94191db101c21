//! Address space given back: under `ulimit -v`, free arenas of the shards
//! are withdrawn for good so that the kernel can place a direct mapping.

use core::alloc::Layout;
use core::sync::atomic::{AtomicBool, Ordering};

use super::Locked;
use crate::settings::Settings;

/// Whether any shard withdrew address space (then a pointer into the
/// shards may be a direct mapping the kernel placed in the hole).
static WITHDREW: AtomicBool = AtomicBool::new(false);

/// See [`WITHDREW`].
#[inline]
pub(crate) fn withdrew() -> bool {
    WITHDREW.load(Ordering::Relaxed)
}

/// Gives at least `need` bytes of the shards' free address space back to
/// the kernel, for a direct mapping the kernel refused (under `ulimit -v`
/// the reservation competes with the program's own mappings): in each
/// shard in turn, the largest free arena (page-aligned, at most what is
/// still needed) is taken out of use for good — allocated and never freed —
/// and unmapped. Returns the bytes withdrawn.
///
/// # Time complexity
/// O(shards) heap allocations.
pub(crate) fn withdraw(g: &Settings, need: usize) -> usize {
    WITHDREW.store(true, Ordering::Relaxed);
    let mut done = 0;
    for i in 0..super::count() {
        if done >= need {
            break;
        }
        let mut l = Locked::lock(i);
        // Whole pages, leaving a page of room for the alignment.
        let avail = l.heap.stats().largest_free.saturating_sub(g.page) & !(g.page - 1);
        let take = (need - done)
            .checked_next_multiple_of(g.page)
            .unwrap_or(usize::MAX)
            .min(avail);
        if take == 0 {
            continue;
        }
        let Ok(layout) = Layout::from_size_align(take, g.page) else {
            continue;
        };
        let Ok(p) = l.heap.alloc(layout) else {
            continue;
        };
        // SAFETY: `p .. p + take` is an arena of ours, page-aligned, that no
        // one uses and no one will (it stays allocated); unmapping it hands
        // the address space back to the kernel.
        unsafe { crate::syscall::munmap(p.as_ptr().cast(), take) };
        l.withdrawn += take as u64;
        done += take;
    }
    done
}
