//! A shard's state blocks mapped as they are taken, under an address-space
//! limit (`state.rs`): they end a mapping of their own, its *area*, which
//! starts with [`FIRST_BLOCKS`] of them and grows in place (`mremap`
//! without moving: the chunks' addresses are in the pages' words, which
//! threads read without a lock). The area lies beyond the shards' places
//! (`shard/build.rs`, `tables_place`), where the kernel places nothing of
//! its own accord; if the program maps something right after it anyway,
//! or the limit has no room, the area stops growing, pages of the slab
//! layer are no longer carved in that shard, and small blocks go to the
//! heap's arenas or to other shards. A refused growth is tried again only
//! after [`BACKOFF`](crate::lock::BACKOFF) more calls that would grow it.

use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use super::state::BLOCK;
use crate::lock::Backoff;
use crate::settings::MAX_SHARDS;
use crate::sys;

/// Blocks an area starts with.
pub(crate) const FIRST_BLOCKS: usize = 16;

/// The mapping that a shard's state blocks end: its start, its length and
/// how many blocks it holds (null start: no area, every block mapped).
/// Written when the mapping is made ([`set`], before the shard is built
/// over it), then under the shard's lock ([`mapped`]).
struct Area {
    start: AtomicPtr<u8>,
    len: AtomicUsize,
    blocks: AtomicUsize,
    /// The calls that would grow the area, passed by after a refused
    /// growth. Without it each new slab page of a shard whose area was
    /// blocked retried two refused `mremap`s: 193,662 of them in 1,000,000
    /// `malloc`s of 16 to 512 bytes, 50 % more wall time.
    backoff: Backoff,
}

static AREAS: [Area; MAX_SHARDS] = [const {
    Area {
        start: AtomicPtr::new(core::ptr::null_mut()),
        len: AtomicUsize::new(0),
        blocks: AtomicUsize::new(0),
        backoff: Backoff::new(),
    }
}; MAX_SHARDS];

/// Areas grown in place, and growths refused (the mapping could not grow:
/// something lies after it, or the limit has no room), for the stats
/// report.
static GROWN: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);

/// [`GROWN`] and [`REFUSED`].
pub(crate) fn growths() -> (usize, usize) {
    (
        GROWN.load(Ordering::Relaxed),
        REFUSED.load(Ordering::Relaxed),
    )
}

/// Records that shard `i`'s state blocks end the mapping at `start` of
/// `len` bytes, which holds the first `blocks` of them and may grow in
/// place for more. Before the shard is built over it. O(1).
pub(crate) fn set(i: usize, start: *mut u8, len: usize, blocks: usize) {
    let a = &AREAS[i];
    a.len.store(len, Ordering::Relaxed);
    a.blocks.store(blocks, Ordering::Relaxed);
    a.backoff.reset();
    a.start.store(start, Ordering::Release);
}

/// Whether shard `i` has an area. O(1).
pub(crate) fn recorded(i: usize) -> bool {
    !AREAS[i].start.load(Ordering::Acquire).is_null()
}

/// How many blocks shard `i`'s area holds now. O(1).
#[cfg(test)]
fn blocks(i: usize) -> usize {
    AREAS[i].blocks.load(Ordering::Relaxed)
}

/// Whether block `b` of shard `i`'s area (whose blocks start at `blocks`,
/// `pages` of them at most) is mapped; if it is not (`b` is the next
/// above every block taken), the area grows in place — doubling, else by
/// that one block — and says whether it could (no: something is mapped
/// after it, or the limit has no room; or it could not lately: the
/// [`Backoff`]). errno is kept.
///
/// # Safety
/// Shard `i` has an area ([`set`]) whose blocks start at `blocks`, and the
/// caller holds the shard's lock.
///
/// # Time complexity
/// O(1): at most two `mremap` calls.
pub(crate) unsafe fn mapped(i: usize, blocks: *mut u8, b: usize, pages: usize) -> bool {
    let a = &AREAS[i];
    let have = a.blocks.load(Ordering::Relaxed);
    if b < have {
        return true;
    }
    grow(a, blocks, have, b, pages)
}

#[cold]
#[inline(never)]
fn grow(a: &Area, blocks: *mut u8, have: usize, b: usize, pages: usize) -> bool {
    if !a.backoff.pass() {
        return false;
    }
    let (start, len) = (
        a.start.load(Ordering::Relaxed),
        a.len.load(Ordering::Relaxed),
    );
    debug_assert_eq!(start as usize + len, blocks as usize + have * BLOCK);
    let want = (have * 2).max(b + 1).min(pages);
    // Doubling, else the one block (not again when they are the same).
    let one = (b + 1 < want).then_some(b + 1);
    let grown = core::iter::once(want).chain(one).find(|&n| {
        // SAFETY: `start .. start + len` is this area's mapping, made by
        // the shard's tables' owner (`shard/grow.rs`, `init.rs`), never
        // unmapped, changed only under this shard's lock (the caller's
        // contract).
        n > have
            && n <= pages
            && unsafe { sys::extend_in_place(start, len, len + (n - have) * BLOCK) }
    });
    let Some(n) = grown else {
        a.backoff.refused();
        REFUSED.fetch_add(1, Ordering::Relaxed);
        return false;
    };
    GROWN.fetch_add(1, Ordering::Relaxed);
    a.len.store(len + (n - have) * BLOCK, Ordering::Relaxed);
    a.blocks.store(n, Ordering::Relaxed);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::BACKOFF;

    /// An area grows in place as its blocks are taken, doubling, its new
    /// blocks zeroed; with something mapped right after it, a block past
    /// its end is refused and nothing changes, and after that the area is
    /// passed by for `BACKOFF` calls before it tries again.
    #[test]
    fn an_area_grows_in_place_until_something_lies_after_it() {
        // A place of 64 blocks, of which the first 4 stay mapped (plus one
        // page before the blocks, as the tables before them), where the
        // library puts its reservation (16-32 TiB): no other test's mapping
        // lands in the unmapped tail.
        let pages = 64;
        let hint = sys::growable_at();
        let place = sys::map_noreserve_near(hint, (1 + pages) * BLOCK).expect("map");
        assert_eq!(place as usize, hint, "the high place is free");
        let start = place;
        let short = BLOCK + 4 * BLOCK;
        // SAFETY: the tail of the mapping just made, unused.
        unsafe { crate::syscall::munmap(place.add(short).cast(), (1 + pages) * BLOCK - short) };
        // SAFETY: inside the mapping.
        let first = unsafe { start.add(BLOCK) };
        let i = MAX_SHARDS - 1;
        set(i, start, short, 4);
        assert!(recorded(i));
        // SAFETY: shard `i` is this test's alone (no shard of the test
        // binary is built over it), its area as recorded.
        let take = |b| unsafe { mapped(i, first, b, pages) };
        assert!(take(3));
        assert_eq!(blocks(i), 4, "block 3 was mapped");
        assert!(take(4));
        assert_eq!(blocks(i), 8, "doubled");
        // SAFETY: blocks 0 .. 8 are mapped now; the new ones read as zero.
        unsafe {
            assert_eq!(*first.add(7 * BLOCK + 5), 0);
            *first.add(7 * BLOCK + 5) = 1;
        }
        // Something of someone else's right after block 9.
        let after = first as usize + 10 * BLOCK;
        let other = sys::map_fixed_noreplace(after, BLOCK).expect("map after");
        assert!(take(8));
        assert_eq!(blocks(i), 9, "doubling refused: by the one block");
        assert!(take(9));
        assert_eq!(blocks(i), 10, "up to what lies after");
        assert!(!take(10), "refused: mapped after it");
        assert_eq!(blocks(i), 10);
        // The way is free again, but the area is passed by for a while.
        // SAFETY: the test's own mapping, unused.
        unsafe { crate::syscall::munmap(other.cast(), BLOCK) };
        for _ in 0..BACKOFF {
            assert!(!take(10), "within the backoff");
        }
        assert!(take(10), "tried again after it");
        assert_eq!(blocks(i), 20);
        // SAFETY: the test's own mapping, unused from here on.
        unsafe { crate::syscall::munmap(start.cast(), BLOCK + 20 * BLOCK) };
        set(i, core::ptr::null_mut(), 0, 0);
    }
}
