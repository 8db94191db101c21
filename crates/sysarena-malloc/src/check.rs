//! `SYSARENA_CHECK`: every shard's consistency, checked at exit (and by
//! the tests): the manager's invariants, the accounting and the slab
//! layer's records.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crate::counters::INVALID;
use crate::settings::Settings;
use crate::shard::Locked;
use crate::sys::{self, Buf, SyncCell};
use crate::{globals, settings};

/// `SYSARENA_CHECK`: check every shard's consistency at exit.
static CHECK: AtomicBool = AtomicBool::new(false);

/// Reads `SYSARENA_CHECK`; when it is on, keeps a copy of stderr (see
/// [`StderrCopy`]). Runs during initialisation.
pub(crate) fn init() {
    let on = settings::env_switch(c"SYSARENA_CHECK", false);
    CHECK.store(on, Ordering::Relaxed);
    if on {
        StderrCopy::take();
    }
}

/// A copy of the stderr a process started with, for the check's line at
/// exit. Some programs close stderr before they exit — coreutils' `ls`,
/// `sort` and `cat` do, in `close_stdout` — and the check runs after
/// that, so its line had nowhere to go. Taken only under
/// `SYSARENA_CHECK`, close-on-exec (a program the process runs does not
/// inherit it), at descriptor [`StderrCopy::LOWEST`] or above (away from
/// the low numbers programs pick by hand), and used only when descriptor 2
/// is closed at exit and the copy is still the file it was: a program that
/// reused its number (`dup2` onto it clears close-on-exec, and names
/// another file) gets nothing written into it.
struct StderrCopy;

/// The copy's descriptor, or -1.
static COPY_FD: AtomicI32 = AtomicI32::new(-1);
/// The device and inode of the file the copy names, to tell it is the same.
static COPY_ID: SyncCell<(u64, u64)> = SyncCell::new((0, 0));

impl StderrCopy {
    /// The lowest descriptor number the copy takes.
    const LOWEST: i32 = 100;

    /// Duplicates descriptor 2, if it is open. Runs once, during
    /// initialisation (before any thread of the library's can read
    /// `COPY_ID`).
    fn take() {
        // SAFETY: `fcntl` with `F_DUPFD_CLOEXEC` takes no pointer; it fails
        // harmlessly (-1) when descriptor 2 is closed or the limit is low.
        let fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, Self::LOWEST) };
        if fd < 0 {
            return;
        }
        let Some(id) = file_id(fd) else {
            // SAFETY: `fd` is the descriptor just made, owned by this code.
            unsafe { libc::close(fd) };
            return;
        };
        // SAFETY: written once, here, during initialisation, before
        // `COPY_FD` publishes it (Release below, Acquire in `target`).
        unsafe { *COPY_ID.get() = id };
        COPY_FD.store(fd, Ordering::Release);
    }

    /// Where the check's line goes: descriptor 2 while it is open, else
    /// the copy if it still names the file it was made from, else nowhere.
    fn target() -> Option<i32> {
        // SAFETY: `F_GETFD` takes no pointer; -1 means descriptor 2 is
        // closed.
        if unsafe { libc::fcntl(2, libc::F_GETFD) } >= 0 {
            return Some(2);
        }
        let fd = COPY_FD.load(Ordering::Acquire);
        if fd < 0 {
            return None;
        }
        // SAFETY: as above; a descriptor that is not close-on-exec any more
        // was replaced by the program (`dup2` clears the flag).
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 || flags & libc::FD_CLOEXEC == 0 {
            return None;
        }
        // SAFETY: `COPY_ID` was written before `COPY_FD` was published
        // (the Acquire load above saw it) and is never written again.
        let id = unsafe { *COPY_ID.get() };
        (file_id(fd) == Some(id)).then_some(fd)
    }
}

/// The device and inode of the file open at `fd`.
fn file_id(fd: i32) -> Option<(u64, u64)> {
    let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is valid for writes of one `stat`; `fstat` fills it on
    // success (0), which is the only case it is read.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: `fstat` returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    Some((st.st_dev, st.st_ino))
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
    let mut b = Buf::<512>::new();
    match check_all(g) {
        Ok((checked, used, pages)) => {
            let _ = writeln!(
                b,
                "sysarena-malloc: check ok (pid {}): {} shards consistent ({} never used), {} arenas in use ({} slab pages), {} invalid frees",
                sys::pid(),
                checked,
                g.shards - checked,
                used,
                pages,
                INVALID.load(Ordering::Relaxed),
            );
            if let Some(fd) = StderrCopy::target() {
                sys::write_all(fd, b.as_bytes());
            }
        }
        Err((i, what)) => {
            let _ = writeln!(
                b,
                "sysarena-malloc: check FAILED (pid {}): shard {i}: {what}",
                sys::pid()
            );
            if let Some(fd) = StderrCopy::target() {
                sys::write_all(fd, b.as_bytes());
            }
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
    for i in 0..g.shards {
        // A shard no thread ever used was never built: nothing to check.
        let Some(l) = Locked::lock_if_built(i) else {
            continue;
        };
        check_shard(&l, g.shard_size).map_err(|what| (i, what))?;
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
