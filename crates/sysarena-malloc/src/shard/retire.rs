//! Giving an emptied shard's memory back under an address-space limit,
//! and mapping it again when the heap needs it.
//!
//! Under `ulimit -v` every mapped byte counts against the limit, used or
//! not. glibc gives its heap's free top back as the program frees (`brk`
//! shrinks, and a thread arena's heap is unmapped once empty), so a program
//! that fills its heap, frees it all and then maps a large file of its own
//! gets the space. Here the shards stayed mapped, grown ones too: filled
//! with 300 MiB of small blocks and freed under `ulimit -v 500000`, the
//! program's own `mmap` of 150 MiB failed where glibc granted it.
//!
//! Now the start-up shards past shard 0 start retired ([`start_retired`]),
//! and a shard other than shard 0 that a free leaves *empty* — no block in
//! use, no slot in a thread cache, no address space withdrawn for a direct
//! mapping — is *retired*, if its high-water mark had reached half its
//! length since it was built (so a loop that allocates and frees one block
//! in a shard of its own does not map and unmap it each time). Its empty
//! slab pages go back to its heap, its memory is unmapped, its descriptor
//! table zeroed (the pages given back), and it is rebuilt in place over no
//! memory: every allocation passes it by, and every address of its place
//! is a hole ([`grow::in_hole`]), so a free of a
//! pointer there is a foreign pointer's and the kernel may put anything
//! there. When every shard is full (or every mapped one busy), the lowest
//! retired shard is *revived* before a new one is added
//! ([`grow::revive`]): its
//! place is mapped again (`MAP_FIXED_NOREPLACE`: all of it, or the largest
//! power-of-two part that fits) and the shard is built over the new
//! mapping, whose pointer its blocks derive from. Its memory is fresh, so
//! its high-water mark starts at 0 again and `calloc` clears nothing there.
//!
//! Without a limit nothing here runs: the one test is `Settings::limited`.

use super::build::{self, Over};
use super::{Inner, Locked, grow};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::settings::Settings;
use crate::slab::{self, PAGE};

/// Whether a free asks the calling thread to give its cache back: under
/// an address-space limit, a shard that would retire but for slots still
/// in use started draining ([`after_free`]), and the caller's cache may
/// hold them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Drain {
    /// Nothing asked.
    No,
    /// Give the calling thread's cache back.
    FlushCache,
}

/// Bytes of slots in use at most for a shard that would retire but for
/// them to drain: what one thread cache holds at most (1 MiB,
/// `tcache::MAX_BYTES`). A shard whose program still holds more does not
/// make those frees slow.
const DRAIN_BYTES: usize = 1 << 20;

/// Bumped each time a shard starts draining: each thread cache compares it
/// at its next scan and, when it changed, gives its slots back (they may
/// be the draining shard's last ones).
static DRAIN_EPOCH: AtomicU64 = AtomicU64::new(0);

/// [`DRAIN_EPOCH`] now. O(1).
pub(crate) fn drain_epoch() -> u64 {
    DRAIN_EPOCH.load(Ordering::Relaxed)
}

/// After a free in shard `i`, whose lock `l` holds: retires the shard if
/// the free left it empty (see the module docs). `asked`: `malloc_trim`
/// asks, and an empty shard retires however little it was used.
///
/// A shard that would retire but for at most [`DRAIN_BYTES`] of slots in
/// use — the program's, or thread caches' (a thread that frees its blocks
/// keeps the last ones in its cache, and may never call again) —
/// *drains*: its slab pages are marked so that a free of their slots
/// passes the caches by and comes here, the caller is asked to give its own
/// cache back ([`Drain::FlushCache`]), and every other thread's cache gives
/// its slots back at its next scan ([`drain_epoch`]). Its last free then
/// retires it. A drain has a budget of locked frees (twice the slots in
/// use when it began, and 64): if the shard has not emptied by then — the
/// program keeps blocks there, or goes on using it — it stops, and the
/// next drain waits for that budget times `2^failed drains` more frees.
/// `malloc_trim` never starts one.
///
/// # Time complexity
/// O(1) unless a drain starts or ends or the shard retires: then
/// O(arenas) to mark the pages, and for a retirement two system calls and
/// zeroing the tables' partial first and last pages.
#[inline]
pub(crate) fn after_free(g: &Settings, i: usize, l: Locked, asked: bool) -> Drain {
    if !g.limited || i == 0 {
        return Drain::No;
    }
    after_free_limited(g, i, l, asked)
}

#[cold]
fn after_free_limited(g: &Settings, i: usize, mut l: Locked, asked: bool) -> Drain {
    let inner = &mut *l;
    let (used, used_slots) = (inner.slab.counts.used_bytes, inner.slab.counts.used_slots);
    if inner.drain_left != 0 {
        inner.drain_left -= 1;
        if used_slots == 0 {
            stop_draining(inner, false);
        } else {
            if inner.drain_left == 0 {
                stop_draining(inner, true);
            }
            return Drain::No;
        }
    }
    if used_slots == 0 {
        if retirable(g, i, &l, asked) {
            retire(g, i, l);
        }
        return Drain::No;
    }
    if !asked
        && used <= DRAIN_BYTES
        && freed(inner) >= inner.drain_quiet_until
        && retirable(g, i, inner, false)
    {
        inner.drain_left = drain_budget(inner);
        inner.slab.set_draining(&inner.heap, true);
        DRAIN_EPOCH.fetch_add(1, Ordering::Relaxed);
        return Drain::FlushCache;
    }
    Drain::No
}

/// Ends shard `l`'s drain; `failed`: its budget ran out before it emptied,
/// so the next drain waits longer.
fn stop_draining(l: &mut Inner, failed: bool) {
    l.drain_left = 0;
    l.slab.set_draining(&l.heap, false);
    if failed {
        l.failed_drains = l.failed_drains.saturating_add(1);
        l.drain_quiet_until = freed(l) + (drain_budget(l) << l.failed_drains.min(16));
    }
}

/// The locked frees a drain of shard `l` may take: twice its slots in use,
/// and 64 (the wait after a failed drain is this, doubled per failure).
fn drain_budget(l: &Inner) -> u64 {
    2 * l.slab.counts.used_slots as u64 + 64
}

/// Frees the shard has seen: under its lock, and given back by thread
/// caches.
fn freed(l: &Inner) -> u64 {
    l.frees + l.cache_frees
}

/// Whether shard `i` is empty (nothing in use but empty slab pages, none
/// withdrawn) and, unless `asked`, was at least half used since it was
/// built, and has seen the frees of its retirement backoff.
fn retirable(g: &Settings, i: usize, l: &Inner, asked: bool) -> bool {
    let len = grow::length(g, i);
    len != 0
        && l.withdrawn == 0
        && (asked || (l.hwm >= len / 2 && freed(l) - l.frees_at_build >= backoff(l.retires)))
        && l.heap.stats().in_use_bytes == (l.slab.counts.pages + l.slab.pooled_pages()) * PAGE
}

/// Frees a shard that retired `retires` times needs in its new life before
/// it retires again: `2^retires - 1`. A program that allocates and frees a
/// block as large as half a shard, alone in it, again and again would
/// otherwise unmap and map it each time (about 14 µs more per round, the
/// review measured with a 40 MiB block left unwritten); so the shard
/// retires at the 1st, 2nd, 5th, 12th, 27th… round, a number of times
/// logarithmic in the rounds.
fn backoff(retires: u32) -> u64 {
    (1u64 << retires.min(63)) - 1
}

/// Retires shard `i` (empty: [`retirable`]), whose lock `l` holds. A
/// `free` leaves errno alone: a refused system call here does too.
#[cold]
fn retire(g: &Settings, i: usize, l: Locked) {
    let saved = crate::sys::errno();
    retire_now(g, i, l);
    crate::sys::set_errno(saved);
}

fn retire_now(g: &Settings, i: usize, mut l: Locked) {
    // The empty pages (class spares, the pool) go back to the heap, which
    // is then one free arena.
    let inner = &mut *l;
    inner.slab.trim(&mut inner.heap, g.page);
    inner.heap.flush_quick_lists();
    if l.heap.stats().in_use_bytes != 0 {
        // Cannot happen (the shard held only empty pages): keep it.
        return;
    }
    let len = grow::length(g, i);
    let region = l.heap.base().as_ptr();
    // A hole from here on: a free of an address there no longer reaches
    // this shard (it does not come here while we hold the lock either).
    grow::set_retired(i);
    // SAFETY: the shard's memory, `len` bytes at `region` — its start-up
    // part or its own mapping — holds no block (the heap has nothing in
    // use) and nothing refers to it: no slot is cached (no slot is in use),
    // no address is handed out, and the layer and heap that described it
    // are replaced below before the lock is released.
    if !unsafe { crate::syscall::munmap(region.cast(), len) } {
        // The kernel refused (splitting a mapping can pass
        // `vm.max_map_count`): the memory is still there, and so is the
        // shard, whole and empty. It stays as it is.
        grow::set_live(i);
        return;
    }
    // SAFETY: we hold the lock; the shard's memory is gone.
    unsafe { build_again(&mut l, i, Over::Nothing, len) };
}

/// Builds shard `i`, whose lock `l` holds, again in place over `over`
/// (its tables zeroed first), keeping its counts and highest mark
/// ([`Kept`]); `given`: the bytes it just gave back (0 when revived).
/// Over no memory the manager refuses nothing, and over its memory again
/// the same table and a region no larger than before serve: the build
/// cannot fail, and if it did, the old state would describe memory that is
/// gone or new, so the process aborts.
///
/// # Safety
/// Nothing refers to the shard's state but `l`; over [`Over::Memory`],
/// its memory is mapped, fresh and unused (`grow::revive`).
unsafe fn build_again(l: &mut Locked, i: usize, over: Over, given: usize) {
    let kept = Kept::of(l);
    // SAFETY: the caller's contract; `l` is not dereferenced until the
    // build is done.
    let ok = unsafe {
        build::zero_tables(i);
        build::build(i, over)
    };
    if !ok {
        crate::sys::eprint(b"sysarena-malloc: cannot build a shard again; aborting\n");
        // SAFETY: ends the process; nothing is unwound.
        unsafe { libc::abort() };
    }
    kept.restore(l, given);
}

/// Under an address-space limit, at start-up: the start-up shards past
/// shard 0 start retired — their memory unmapped before anything is built
/// there — so that a program that uses little heap keeps the rest of the
/// limit for its own mappings (at `ulimit -v 500000`, `python3` mapped
/// 218 MiB more than under glibc, 234 MB in all, and could not `mmap`
/// 300 MiB of its own, which glibc grants up to 400 MiB and more). They
/// are mapped again as the heap fills, or when a thread finds every
/// mapped shard busy (`lock_for_alloc_slow`), with tables of their own
/// (the planned tables are shard 0's alone then). O(shards) system calls.
///
/// # Safety
/// Initialisation, before any shard but 0 is built: `base + i *
/// shard_size` for `i` in `1..shards` is shard `i`'s memory, part of the
/// start-up reservation, which nothing uses yet.
pub(crate) unsafe fn start_retired(base: usize, shard_size: usize, shards: usize) {
    for i in 1..shards {
        // SAFETY: the caller's contract: shard `i`'s unused memory.
        if unsafe {
            crate::syscall::munmap((base + i * shard_size) as *mut libc::c_void, shard_size)
        } {
            grow::set_retired(i);
        }
    }
}

/// Rebuilds retired shard `i` over the memory [`grow::revive`] just
/// mapped, and marks it live; under its lock.
pub(super) fn rebuild(i: usize) {
    let mut l = Locked::lock(i);
    // SAFETY: we hold the lock; the shard is built over nothing (retired),
    // so nothing refers to its state but `l`; its new memory is mapped,
    // fresh and unused.
    unsafe { build_again(&mut l, i, Over::Memory, 0) };
    grow::set_live(i);
}

/// What a rebuilt shard keeps of its earlier life: its counts and its
/// highest high-water mark (for the stats report), and how often it
/// retired.
struct Kept {
    counts: [u64; 6],
    slab: slab::Counts,
    hwm: usize,
    retires: u32,
}

impl Kept {
    fn of(l: &Inner) -> Kept {
        Kept {
            counts: [
                l.allocs,
                l.frees,
                l.reallocs,
                l.released,
                l.retired,
                l.cache_frees,
            ],
            slab: l.slab.counts,
            hwm: l.hwm.max(l.hwm_before),
            retires: l.retires,
        }
    }

    /// Puts them back into the rebuilt shard; `given`: the bytes of memory
    /// it gave back, if it just retired.
    fn restore(&self, l: &mut Inner, given: usize) {
        let [allocs, frees, reallocs, released, retired, cache_frees] = self.counts;
        l.allocs = allocs;
        l.frees = frees;
        l.reallocs = reallocs;
        l.released = released;
        l.retired = retired + given as u64;
        l.cache_frees = cache_frees;
        l.slab.counts = self.slab;
        l.hwm_before = self.hwm;
        l.retires = self.retires + u32::from(given != 0);
        l.frees_at_build = frees + cache_frees;
    }
}
