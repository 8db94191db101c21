//! `SYSARENA_CHECK`: every shard's consistency, checked at exit (and by
//! the tests): the manager's invariants, the accounting and the slab
//! layer's records.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::counters::INVALID;
use crate::settings::Settings;
use crate::shard::Locked;
use crate::sys::{self, Buf};
use crate::{globals, settings};

/// `SYSARENA_CHECK`: check every shard's consistency at exit.
static CHECK: AtomicBool = AtomicBool::new(false);

/// Reads `SYSARENA_CHECK`; when it is on, keeps a copy of stderr for the
/// check's line ([`sys::keep_stderr_copy`]: a program may close its stderr
/// before exit). Runs during initialisation.
pub(crate) fn init() {
    let on = settings::env_switch(c"SYSARENA_CHECK", false);
    CHECK.store(on, Ordering::Relaxed);
    if on {
        sys::keep_stderr_copy();
    }
}

/// `SYSARENA_CHECK=1`: at exit, checks every shard ever used — the manager's
/// invariants (`check_invariants`), its accounting (bytes and descriptors
/// add up, slab pages are in-use arenas), the high-water mark, and the slab
/// layer's lists, counts and bitmaps — each under the shard's lock. Writes
/// one line to stderr: `sysarena-malloc: check ok (...)`, or names the shard
/// and what is wrong and aborts, so that the process fails.
/// O(arenas + descriptors + touched slab pages) per shard.
pub(crate) fn check_at_exit() {
    if !CHECK.load(Ordering::Relaxed) {
        return;
    }
    let Some(g) = globals::get_if_ready() else {
        return;
    };
    check_and_say(g);
}

/// [`check_at_exit`] once the check is on. Out of line, so that its frame
/// is not probed on every program's way out (the report's reason:
/// `report::write_report`).
#[cold]
#[inline(never)]
fn check_and_say(g: &Settings) {
    let mut b = Buf::<512>::new();
    match check_all(g) {
        Ok((checked, used, pages)) => {
            let _ = writeln!(
                b,
                "sysarena-malloc: check ok (pid {}): {} shards consistent ({} never used), {} arenas in use ({} slab pages), {} invalid frees",
                sys::pid(),
                checked,
                crate::shard::count() - checked,
                used,
                pages,
                INVALID.load(Ordering::Relaxed),
            );
            sys::eprint(b.as_bytes());
        }
        Err((i, what)) => {
            let _ = writeln!(
                b,
                "sysarena-malloc: check FAILED (pid {}): shard {i}: {what}",
                sys::pid()
            );
            sys::eprint(b.as_bytes());
            // SAFETY: ends the process; nothing is unwound.
            unsafe { libc::abort() };
        }
    }
}

/// Checks every shard ever used in turn, each under its lock (see
/// [`check_at_exit`]); returns how many shards it checked, the arenas in
/// use and the slab pages, or the first shard found wrong and what is wrong
/// with it.
pub(crate) fn check_all(g: &Settings) -> Result<(usize, usize, usize), (usize, &'static str)> {
    let (mut checked, mut used, mut pages) = (0, 0, 0);
    for i in 0..crate::shard::count() {
        // A shard no thread ever used was never built: nothing to check.
        let Some(l) = Locked::lock_if_built(i) else {
            continue;
        };
        check_shard(&l, crate::shard::length(g, i)).map_err(|what| (i, what))?;
        checked += 1;
        used += l.heap.stats().used_arenas;
        pages += l.slab.counts.pages;
    }
    Ok((checked, used, pages))
}

fn check_shard(l: &Locked, shard_size: usize) -> Result<(), &'static str> {
    let m = l.heap.manager();
    m.check_invariants().map_err(|e| e.what)?;
    let s = m.stats();
    if s.in_use_bytes + s.free_bytes != s.capacity || s.capacity != shard_size {
        return Err("the bytes do not add up");
    }
    if s.free_arenas + s.used_arenas + s.spare_descriptors != s.descriptors {
        return Err("the descriptors do not add up");
    }
    if s.requested_bytes > s.in_use_bytes || s.largest_free > s.free_bytes {
        return Err("requested or free bytes out of range");
    }
    if l.slab.counts.pages + l.slab.pooled_pages() > s.used_arenas {
        return Err("more slab pages (pooled ones included) than arenas in use");
    }
    if l.hwm > s.capacity {
        return Err("the high-water mark lies past the shard");
    }
    l.slab.verify(l.hwm.div_ceil(crate::slab::PAGE))
}
