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
//! Now a shard other than shard 0 that a free leaves *empty* — no block in
//! use, no slot in a thread cache, no address space withdrawn for a direct
//! mapping — is *retired*, if its high-water mark had reached half its
//! length since it was built (so a loop that allocates and frees one block
//! in a shard of its own does not map and unmap it each time). Its empty
//! slab pages go back to its heap, its memory is unmapped, its descriptor
//! table zeroed (the pages given back), and it is rebuilt in place over no
//! memory: every allocation passes it by, and every address of its place
//! is a hole ([`grow::in_hole`](super::grow::in_hole)), so a free of a
//! pointer there is a foreign pointer's and the kernel may put anything
//! there. When every shard is full, the lowest retired shard is *revived*
//! before a new one is added ([`grow::revive`](super::grow::revive)): its
//! place is mapped again (`MAP_FIXED_NOREPLACE`: all of it, or the largest
//! power-of-two part that fits) and the shard is built over the new
//! mapping, whose pointer its blocks derive from. Its memory is fresh, so
//! its high-water mark starts at 0 again and `calloc` clears nothing there.
//!
//! Without a limit nothing here runs: the one test is `Settings::limited`.

use super::build::{self, Over};
use super::{Inner, Locked, grow};
use crate::settings::Settings;
use crate::slab::PAGE;

/// After a free in shard `i`, whose lock `l` holds: retires the shard if
/// the free left it empty (see the module docs). `asked`: `malloc_trim`
/// asks, and an empty shard retires however little it was used.
///
/// # Time complexity
/// O(1) unless it retires; then O(slab classes) for the empty pages, two
/// system calls, and zeroing the table's partial first and last pages.
#[inline]
pub(crate) fn after_free(g: &Settings, i: usize, l: Locked, asked: bool) {
    if g.limited && i != 0 && l.slab.counts.used_slots == 0 && retirable(g, i, &l, asked) {
        retire(g, i, l);
    }
}

/// Whether shard `i` is empty (nothing in use but empty slab pages, none
/// withdrawn) and, unless `asked`, was at least half used since it was
/// built.
fn retirable(g: &Settings, i: usize, l: &Inner, asked: bool) -> bool {
    let len = grow::length(g, i);
    len != 0
        && l.withdrawn == 0
        && (asked || l.hwm >= len / 2)
        && l.heap.stats().in_use_bytes == (l.slab.counts.pages + l.slab.pooled_pages()) * PAGE
}

/// Retires shard `i` (empty: [`retirable`]), whose lock `l` holds.
#[cold]
fn retire(g: &Settings, i: usize, mut l: Locked) {
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
    let kept = Kept::of(&l);
    // A hole from here on: a free of an address there no longer reaches
    // this shard (it does not come here while we hold the lock either).
    grow::set_retired(i);
    // SAFETY: the shard's memory, `len` bytes at `region` — its start-up
    // part or its own mapping — holds no block (the heap has nothing in
    // use) and nothing refers to it: no slot is cached (no slot is in use),
    // no address is handed out, and the layer and heap that described it
    // are replaced below before the lock is released.
    unsafe { libc::munmap(region.cast(), len) };
    // SAFETY: we hold the lock; nothing refers to the shard's state but
    // `l`, which is not dereferenced again until the rebuild is done.
    let ok = unsafe {
        build::zero_tables(i);
        build::build(i, Over::Nothing)
    };
    if !ok {
        // Over no memory the manager refuses nothing: cannot happen, and
        // the old state describes memory that is gone.
        crate::sys::eprint(b"sysarena-malloc: cannot retire a shard; aborting\n");
        // SAFETY: ends the process; nothing is unwound.
        unsafe { libc::abort() };
    }
    kept.restore(&mut l, len);
}

/// Rebuilds retired shard `i` over the memory [`grow::revive`] just
/// mapped, and marks it live; under its lock.
pub(super) fn rebuild(i: usize) {
    let mut l = Locked::lock(i);
    let kept = Kept::of(&l);
    // SAFETY: we hold the lock; the shard is built over nothing (retired),
    // so nothing refers to its state but `l`; its new memory is mapped,
    // fresh and unused.
    let ok = unsafe {
        build::zero_tables(i);
        build::build(i, Over::Memory)
    };
    if !ok {
        // The same table and a region no larger than before: cannot fail.
        crate::sys::eprint(b"sysarena-malloc: cannot revive a shard; aborting\n");
        // SAFETY: ends the process; nothing is unwound.
        unsafe { libc::abort() };
    }
    kept.restore(&mut l, 0);
    grow::set_live(i);
}

/// What a rebuilt shard keeps of its earlier life, for the stats report:
/// its counts and its highest high-water mark.
struct Kept {
    counts: [u64; 5],
    hwm: usize,
}

impl Kept {
    fn of(l: &Inner) -> Kept {
        Kept {
            counts: [l.allocs, l.frees, l.reallocs, l.released, l.retired],
            hwm: l.hwm.max(l.hwm_before),
        }
    }

    /// Puts them back into the rebuilt shard, adding `given` bytes of
    /// memory given back.
    fn restore(&self, l: &mut Inner, given: usize) {
        let [allocs, frees, reallocs, released, retired] = self.counts;
        l.allocs = allocs;
        l.frees = frees;
        l.reallocs = reallocs;
        l.released = released;
        l.retired = retired + given as u64;
        l.hwm_before = self.hwm;
    }
}
