//! More shards under an address-space limit: how many shards have memory
//! ([`count`]), mapping one more when every one is full ([`grow`]), and
//! extending a shard's mapping in place ([`extend`]).
//!
//! Without a limit the reservation is large (64 GiB, `MAP_NORESERVE`) and
//! never grows. Under `ulimit -v` every mapped byte counts against the
//! limit, so the start-up reservation takes only half of the address space
//! left (the program's own mappings need the rest). Before, that half was
//! all the heap ever had: a loop of `malloc(200)` stopped at 187 MiB under
//! `ulimit -v 500000`, where glibc, which takes memory as it needs it,
//! reached 436 MiB. Now, when every shard is full, the next shard's
//! `shard_size` bytes are mapped right after the last one
//! (`MAP_FIXED_NOREPLACE`) with its descriptors, page records and slot
//! states in a mapping of their own, as long as the kernel grants them, up
//! to as many shards as the address space left at start-up could hold,
//! and one more for a part of one (`Settings::max_shards`). (Not when
//! `SYSARENA_SHARDS` or `SYSARENA_RESERVE` is set: they fix the shards.)
//!
//! Shard 0 itself starts with [`START_LEN`] bytes mapped (when the
//! reservation lies where it was placed to grow), and a shard whose
//! mapping is shorter than its tables allow — shard 0, or a shard added or
//! mapped again where only part of it fitted (with tables for its whole
//! place when the limit had room for them) — grows in place, by half its
//! length ([`extend`]):
//! the thread's own shard when it is full, before any other is tried; any
//! other such shard after every mapped one was tried. A program that
//! allocates little keeps the limit for its own mappings, as under glibc,
//! whose heap grows by `brk`. A mapping that cannot grow (the program split
//! it — `mlock`, `mprotect` or `madvise` on part of a block — or mapped
//! something after it, or the limit has no room) is tried again only after
//! [`BACKOFF`](crate::lock::BACKOFF) more calls ([`EXTEND_BACKOFF`]); the
//! heap goes on in other shards.
//!
//! The shards stay one contiguous range (the owner of an address is a shift
//! away), so the reservation is placed where nothing else goes: above it
//! lies free address space that the kernel's top-down placement reaches
//! last ([`sys::map_noreserve_near`]). If something took that space
//! anyway, the mapping is refused and the heap keeps the shards it has.

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use crate::lock::{Backoff, Lock};
use crate::settings::{MAX_SHARDS, Settings};
use crate::sys;

/// Shards with memory: the start-up count, then one more per [`grow`].
/// Only grows (under [`GROW`]); read with `Acquire`, so a thread that sees
/// a shard also sees its memory and [`REGIONS`] entry.
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// The mapping of each shard added by [`grow`], mapped again by
/// [`revive`] or started short ([`start_short`]; null for the other
/// shards of the start-up reservation), so that its blocks derive from the
/// pointer the kernel returned; its length (`shard_size`, or less for a
/// shard the limit left room for only in part, or one that grows in place:
/// [`extend`]); and the mapping of its tables (descriptors, page records,
/// slot states: `build::added_layout`), made with it so that the start-up
/// tables are only as large as the shards planned with them (under a
/// limit, shard 0 alone: a start-up shard revived maps its own).
static REGIONS: [AtomicPtr<u8>; MAX_SHARDS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_SHARDS];
static LENGTHS: [AtomicUsize; MAX_SHARDS] = [const { AtomicUsize::new(0) }; MAX_SHARDS];
static TABLES: [AtomicPtr<u8>; MAX_SHARDS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_SHARDS];
/// The length an added shard's tables were made for (its length when
/// [`grow`] mapped it): the most a revived shard may map again.
static CAPS: [AtomicUsize; MAX_SHARDS] = [const { AtomicUsize::new(0) }; MAX_SHARDS];
/// Shards whose memory was given back (`retire.rs`): all of their place is
/// a hole until they are revived.
static RETIRED: [AtomicBool; MAX_SHARDS] = [const { AtomicBool::new(false) }; MAX_SHARDS];
/// How many shards are retired now.
static RETIRED_NOW: AtomicUsize = AtomicUsize::new(0);

/// The smallest shard [`grow`] maps when a whole one does not fit.
const MIN_GROWTH: usize = 1 << 20;

/// Whether any shard is shorter than `shard_size` (then [`in_hole`] must
/// look at an address's shard).
static SHORT: AtomicBool = AtomicBool::new(false);

/// Serialises [`grow`]; taken before the shard locks (`fork` too).
static GROW: Lock = Lock::new();

/// Records the start-up count of shards (initialisation, before any other
/// access).
pub(crate) fn init(n: usize) {
    COUNT.store(n, Ordering::Release);
}

/// Shards with memory now: every index below it may be locked. O(1).
#[inline]
pub(crate) fn count() -> usize {
    COUNT.load(Ordering::Acquire)
}

/// Bytes of the shards with memory, from `g.base`: an address at an offset
/// below it belongs to a shard. O(1).
#[inline]
pub(crate) fn span(g: &Settings) -> usize {
    count() << g.shard_shift
}

/// Shard `i`'s memory when it is a mapping of its own — one [`grow`] added,
/// one [`revive`] mapped again, or shard 0 started short
/// ([`start_short`]) — and its length; `None` for a shard of the start-up
/// reservation that was never retired (and shard 0 mapped whole).
pub(super) fn memory(i: usize) -> Option<(*mut u8, usize)> {
    let p = REGIONS[i].load(Ordering::Acquire);
    (!p.is_null()).then(|| (p, LENGTHS[i].load(Ordering::Relaxed)))
}

/// The mapping of shard `i`'s own tables and the shard length they were
/// laid out for, if [`grow`] added it or [`revive`] gave it tables (`None`:
/// its tables are the planned ones, if it has any: `build::has_tables`).
pub(super) fn tables(i: usize) -> Option<(*mut u8, usize)> {
    let t = TABLES[i].load(Ordering::Acquire);
    (!t.is_null()).then(|| (t, CAPS[i].load(Ordering::Relaxed)))
}

/// Bytes of shard `i`'s memory: `shard_size`, or less for a last shard
/// added (or revived) where a whole one did not fit, or a shard that has
/// not grown to its whole place ([`extend`]: shard 0 starts short); 0
/// while it is retired.
/// O(1).
pub(crate) fn length(g: &Settings, i: usize) -> usize {
    if RETIRED[i].load(Ordering::Acquire) {
        return 0;
    }
    memory(i).map_or(g.shard_size, |(_, len)| len)
}

/// Whether shard `i`'s memory is given back (`retire.rs`). O(1).
#[inline]
pub(crate) fn retired(i: usize) -> bool {
    RETIRED[i].load(Ordering::Relaxed)
}

/// Whether offset `off` (below [`span`]) lies in the part of its shard's
/// place that has no memory: past the end of a shard shorter than its
/// place (a last one added where a whole one did not fit, or one not yet
/// grown to its place, as shard 0 starts), or anywhere in a retired shard,
/// where the kernel may have put
/// anything (a direct mapping of ours, the program's own). One relaxed
/// load unless such a shard exists.
#[inline]
pub(crate) fn in_hole(g: &Settings, off: usize) -> bool {
    SHORT.load(Ordering::Acquire) && off & (g.shard_size - 1) >= length(g, off >> g.shard_shift)
}

/// Marks shard `i` retired, before its memory is unmapped: from here on
/// every address of its place is a hole. Under the shard's lock.
pub(super) fn set_retired(i: usize) {
    SHORT.store(true, Ordering::Release);
    RETIRED[i].store(true, Ordering::Release);
    RETIRED_NOW.fetch_add(1, Ordering::Relaxed);
    // Address space came back: contention may map a shard again.
    CONTENTION_BACKOFF.reset();
}

/// The first of `len`, `len / 2`, `len / 4`, … down to `need` (only
/// `len` if `whole`) that `map` maps, with what it returned; `None` if
/// none. O(log(`len` / `need`)) calls of `map`.
fn largest_part<T>(
    mut len: usize,
    need: usize,
    whole: bool,
    mut map: impl FnMut(usize) -> Option<T>,
) -> Option<(T, usize)> {
    while len >= need && len != 0 {
        if let Some(t) = map(len) {
            return Some((t, len));
        }
        if whole {
            break;
        }
        len /= 2;
    }
    None
}

/// Maps a shard of `len` bytes (of `whole`, a shard's place) at `at` and
/// its tables, both or neither; returns them and the length the tables
/// were made for. A shard mapped in part gets tables for the whole place
/// when the limit has room for them, so that it grows in place
/// ([`extend`]) as the rest of the place becomes the heap's; else tables
/// for the part. (With tables for the part only, `enomem fill 2000` at
/// `ulimit -v 500000` ended with the last shard at 32 MiB and the 22 MiB
/// left to the limit spent on 6,136 page mappings of one small block
/// each.)
fn map_shard(i: usize, at: usize, len: usize, whole: usize) -> Option<(*mut u8, *mut u8, usize)> {
    let region = sys::map_fixed_noreplace(at, len)?;
    let caps = [whole, len];
    let caps = if len < whole { &caps[..] } else { &caps[1..] };
    for &cap in caps {
        if let Some(tables) = super::build::map_added_tables(i, cap) {
            return Some((region, tables, cap));
        }
    }
    // SAFETY: the mapping just made, never used.
    unsafe { crate::syscall::munmap(region.cast(), len) };
    None
}

/// After a request of `size` bytes at `align` found no room in the first
/// `seen` shards: whether shard `seen` now exists to try — mapped here if
/// the planned tables have room for it and the kernel grants its memory,
/// or by another thread meanwhile. Only under an address-space limit (else
/// `max_shards` is the start-up count), and never for a request no shard
/// can hold. When a whole shard does not fit under the limit, the largest
/// power-of-two part of it that does (down to [`MIN_GROWTH`], and enough
/// for the request) becomes the shard, with tables for the whole place if
/// they fit ([`map_shard`]: then it grows in place later); the rest of its
/// place is free address space, where the kernel may put anything
/// ([`in_hole`]).
///
/// # Time complexity
/// O(log(`shard_size` / [`MIN_GROWTH`])) `mmap` calls, under one lock.
#[cold]
pub(super) fn grow(g: &Settings, seen: usize, size: usize, align: usize) -> bool {
    if seen >= g.max_shards || size.saturating_add(align) > g.shard_size {
        return false;
    }
    GROW.lock();
    // A refused mapping sets errno; the request may still succeed (a page
    // mapping of its own), and then errno must be as the caller left it.
    let saved = sys::errno();
    let n = COUNT.load(Ordering::Acquire);
    let ok = if n > seen {
        true
    } else if n >= g.max_shards {
        false
    } else {
        let at = g.base + n * g.shard_size;
        // A whole shard is always tried (the request fits one).
        let need = size.saturating_add(align).max(MIN_GROWTH).min(g.shard_size);
        match largest_part(g.shard_size, need, false, |len| {
            map_shard(n, at, len, g.shard_size)
        }) {
            Some(((p, tables, cap), len)) => {
                LENGTHS[n].store(len, Ordering::Relaxed);
                CAPS[n].store(cap, Ordering::Relaxed);
                if len < g.shard_size {
                    SHORT.store(true, Ordering::Release);
                }
                TABLES[n].store(tables, Ordering::Relaxed);
                REGIONS[n].store(p, Ordering::Release);
                COUNT.store(n + 1, Ordering::Release);
                true
            }
            None => false,
        }
    };
    sys::set_errno(saved);
    GROW.unlock();
    ok
}

/// The memory shard 0 starts with under an address-space limit (when the
/// shards can grow): the rest of its place is mapped as its heap fills
/// ([`extend`]), as glibc's heap grows by `brk`. Mapped whole (64 MiB at
/// `ulimit -v 500000`), it left `python3` 87 MB less of the limit than
/// glibc does, at start-up, for its own mappings.
pub(crate) const START_LEN: usize = MIN_GROWTH;

/// Records that only the first `len` bytes of shard `i`'s place are mapped,
/// at `p` (initialisation, before the shard is built; [`extend`] maps more
/// of it).
pub(crate) fn start_short(i: usize, p: *mut u8, len: usize) {
    LENGTHS[i].store(len, Ordering::Relaxed);
    SHORT.store(true, Ordering::Release);
    REGIONS[i].store(p, Ordering::Release);
}

/// The calls of [`extendable`] for shard `i` that answer false after its
/// mapping could not grow: the program may have split it — `mlock`,
/// `mprotect` or `madvise` on part of one of its blocks, or a withdrawal
/// (`space.rs`), makes it more than one mapping, which `mremap` refuses to
/// move as one — or taken the space after it, or the limit has no room.
/// Each call's refused `mremap`s made a malloc/free loop 13–20 × slower
/// once the heap had moved on to other shards.
static EXTEND_BACKOFF: [Backoff; MAX_SHARDS] = [const { Backoff::new() }; MAX_SHARDS];

/// Times a shard's mapping grew in place, and times it could not
/// ([`extend`]), for the stats report.
static EXTENDED: AtomicUsize = AtomicUsize::new(0);
static EXTEND_REFUSED: AtomicUsize = AtomicUsize::new(0);

/// How often shards' mappings grew in place, and how often they could
/// not. O(1).
pub(crate) fn extensions() -> (usize, usize) {
    (
        EXTENDED.load(Ordering::Relaxed),
        EXTEND_REFUSED.load(Ordering::Relaxed),
    )
}

/// Whether shard `i`'s memory is a mapping of its own shorter than its
/// tables allow, which [`extend`] may grow — unless it could not grow
/// lately ([`EXTEND_BACKOFF`]). O(1).
#[inline]
pub(super) fn extendable(g: &Settings, i: usize) -> bool {
    let cap = tables(i).map_or(g.shard_size, |(_, cap)| cap);
    !retired(i) && memory(i).is_some_and(|(_, len)| len < cap) && EXTEND_BACKOFF[i].pass()
}

/// For a request that needs `need` bytes more than full shard `i` holds:
/// extends the shard's mapping in place ([`sys::extend_in_place`]) by
/// half as many bytes as it has, or by `need` if that is more, or by the
/// largest power-of-two part of that which the limit leaves room for,
/// down to `need`; never past the length its tables were made for. (By
/// half, not doubling: under the limit every byte mapped counts, and
/// `python3` started with shard 0 at 8 MiB where it used 7; now its
/// `VmSize` at start is 0.5 MB smaller, in 11 steps to 64 MiB, not 6.)
/// Returns the mapping and its old and new length: the caller adds the
/// bytes to the shard's heap and then records the length
/// ([`set_length`]), or gives them back ([`shrink_back`]). Under the
/// shard's lock, after [`extendable`] said yes (the backoff is its
/// business); errno is kept.
///
/// # Time complexity
/// O(log(length / `need`)) `mremap` calls.
#[cold]
pub(super) fn extend(g: &Settings, i: usize, need: usize) -> Option<(*mut u8, usize, usize)> {
    // It may have retired since `extendable` looked, unlocked.
    if retired(i) {
        return None;
    }
    let (p, len) = memory(i)?;
    let room = tables(i)
        .map_or(g.shard_size, |(_, cap)| cap)
        .checked_sub(len)?;
    let need = need.checked_next_multiple_of(crate::slab::PAGE)?;
    if need > room {
        return None;
    }
    let want = (len / 2).max(need).min(room);
    let saved = sys::errno();
    let r = largest_part(want, need, false, |add| {
        // Whole slab pages: the shard's length stays a multiple of them.
        let add = add & !(crate::slab::PAGE - 1);
        // SAFETY: `p .. p + len` is shard `i`'s memory, a mapping of ours
        // from its start (made by `grow`, `revive` or the start-up
        // reservation), which only the shard's lock holder changes. If it
        // is more than one mapping now (the program changed a part's
        // protection, or a withdrawal unmapped a hole in it) the kernel
        // refuses and nothing changes.
        (add >= need && unsafe { sys::extend_in_place(p, len, len + add) }).then_some(add)
    });
    sys::set_errno(saved);
    if r.is_some() {
        EXTENDED.fetch_add(1, Ordering::Relaxed);
    } else {
        EXTEND_REFUSED.fetch_add(1, Ordering::Relaxed);
        EXTEND_BACKOFF[i].refused();
    }
    r.map(|(add, _)| (p, len, len + add))
}

/// Records shard `i`'s new length after [`extend`], once its heap holds
/// the added bytes. Under the shard's lock.
pub(super) fn set_length(i: usize, len: usize) {
    LENGTHS[i].store(len, Ordering::Release);
}

/// Gives back the bytes [`extend`] added to shard `i` (from `old` to
/// `new` bytes) when its heap could not take them. Under the shard's lock.
pub(super) fn shrink_back(i: usize, old: usize, new: usize) {
    if let Some((p, _)) = memory(i) {
        // SAFETY: `p + old .. p + new` is the tail `extend` just added to
        // the shard's mapping, which nothing uses.
        unsafe { crate::syscall::munmap(p.add(old).cast(), new - old) };
    }
}

/// Marks shard `i`, rebuilt over memory again (or whose memory could not
/// be unmapped after all), live: under its lock, so that no block of it is
/// handed out while its place still reads as a hole.
pub(super) fn set_live(i: usize) {
    RETIRED_NOW.fetch_sub(1, Ordering::Relaxed);
    RETIRED[i].store(false, Ordering::Release);
}

/// Maps the place of a retired shard again, under the growth lock, for a
/// request of `size` bytes at `align` that no shard could hold: the lowest
/// retired shard whose place the kernel grants (all the length its tables
/// were made for, or the largest power-of-two part of it that fits, down
/// to [`MIN_GROWTH`] and enough for the request; only all of it if
/// `whole`) is rebuilt over the new
/// mapping by `rebuild`, which runs with the mapping recorded, under the
/// growth lock, and must call [`set_live`] under the shard's lock. Returns the shard, or `None` when none is retired or none
/// could be mapped.
///
/// # Time complexity
/// O(shards + log(`shard_size` / [`MIN_GROWTH`])) `mmap` calls, under one
/// lock, and the rebuild.
#[cold]
pub(super) fn revive(
    g: &Settings,
    size: usize,
    align: usize,
    whole: bool,
    rebuild: impl Fn(usize),
) -> Option<usize> {
    if RETIRED_NOW.load(Ordering::Relaxed) == 0 {
        return None;
    }
    GROW.lock();
    let saved = sys::errno();
    let need = size.saturating_add(align).max(MIN_GROWTH);
    let mut found = None;
    for i in 0..COUNT.load(Ordering::Acquire) {
        if !RETIRED[i].load(Ordering::Acquire) {
            continue;
        }
        let at = g.base + i * g.shard_size;
        let cap = tables(i).map_or(g.shard_size, |(_, cap)| cap);
        // A start-up shard retired since start-up under a limit has no
        // tables (they were not planned: they took the limit from the
        // program): it gets them now, as `grow` makes a new shard's, for a
        // whole shard (it may grow in place: `extend`), with its memory —
        // both or neither, a smaller part of the memory when both do not
        // fit.
        let tableless = !super::build::has_tables(i);
        let Some((p, len)) = largest_part(cap, need, whole, |len| {
            let p = sys::map_fixed_noreplace(at, len)?;
            if tableless {
                let Some(t) = super::build::map_added_tables(i, g.shard_size) else {
                    // SAFETY: the mapping just made, never used.
                    unsafe { crate::syscall::munmap(p.cast(), len) };
                    return None;
                };
                CAPS[i].store(g.shard_size, Ordering::Relaxed);
                TABLES[i].store(t, Ordering::Release);
            }
            Some(p)
        }) else {
            continue;
        };
        LENGTHS[i].store(len, Ordering::Relaxed);
        REGIONS[i].store(p, Ordering::Release);
        rebuild(i);
        found = Some(i);
        break;
    }
    sys::set_errno(saved);
    GROW.unlock();
    found
}

/// The contended allocations that [`revive_on_contention`] lets pass
/// after a try found no place it could map.
static CONTENTION_BACKOFF: Backoff = Backoff::new();

/// [`revive`] of a whole retired shard for a thread that found every
/// mapped shard busy (no request: any shard serves it). When the program
/// has taken the address space, every try fails; so after a failure the
/// next contended allocations do not try ([`CONTENTION_BACKOFF`]: a storm
/// of refused mappings under the growth lock made four threads ten times
/// slower), unless a shard retires meanwhile ([`set_retired`]).
pub(super) fn revive_on_contention(g: &Settings, rebuild: impl Fn(usize)) -> Option<usize> {
    if RETIRED_NOW.load(Ordering::Relaxed) == 0 {
        return None;
    }
    if !CONTENTION_BACKOFF.pass() {
        return None;
    }
    let r = revive(g, 0, crate::settings::MIN_ALIGN, true, rebuild);
    if r.is_none() {
        CONTENTION_BACKOFF.refused();
    }
    r
}

/// Takes the growth lock before `fork` (before the shard locks).
pub(crate) fn lock_for_fork() {
    GROW.lock();
}

/// Releases it in the parent after `fork`.
pub(crate) fn unlock_after_fork() {
    GROW.unlock();
}

/// Frees it in the child after `fork`.
pub(crate) fn reset_in_child() {
    GROW.reset_in_child();
}

#[cfg(test)]
mod tests {
    use super::largest_part;

    #[test]
    fn the_largest_part_that_maps_is_taken_halving_down_to_the_need() {
        let mut tried = Vec::new();
        let fits = |len: usize| (len <= 4).then_some(len * 10);
        let r = largest_part(16, 2, false, |len| {
            tried.push(len);
            fits(len)
        });
        assert_eq!((r, tried), (Some((40, 4)), vec![16, 8, 4]));
        assert_eq!(largest_part(16, 2, true, fits), None, "whole: one try");
        assert_eq!(largest_part(16, 32, false, fits), None, "below the need");
        assert_eq!(largest_part(4, 2, true, fits), Some((40, 4)));
    }
}
