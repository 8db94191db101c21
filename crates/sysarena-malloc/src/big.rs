//! Direct mappings for very large requests (`SYSARENA_MMAP_THRESHOLD`,
//! default 64 MiB): each gets its own `mmap`, and a fixed open-addressing
//! table (in `.bss`, out of band like everything else) maps its address to
//! its length, so `free`, `realloc` and `malloc_usable_size` find it.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::lock::Lock;
use crate::ptrmap::{Entry, PtrMap};
use crate::settings::Settings;
use crate::sys::{self, SyncCell};

/// Live direct mappings at most (at 64 MiB each: 3.5 TiB).
const CAP: usize = 1 << 16;

static LOCK: Lock = Lock::new();
static ENTRIES: SyncCell<[Entry; CAP]> = SyncCell::new([Entry::EMPTY; CAP]);
// SAFETY: ENTRIES is zeroed, CAP entries, a power of two, used only by MAP.
static MAP: SyncCell<PtrMap> =
    SyncCell::new(unsafe { PtrMap::new(ENTRIES.get().cast::<Entry>(), CAP) });
/// Live mappings (read without the lock to skip lookups when there are none).
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The most mappings live at once (`malloc_stats`' "max mmap regions").
pub(crate) static PEAK_LIVE: AtomicUsize = AtomicUsize::new(0);
/// Bytes mapped now and at most, for the stats report.
pub(crate) static MAPPED: AtomicUsize = AtomicUsize::new(0);
pub(crate) static PEAK_MAPPED: AtomicUsize = AtomicUsize::new(0);
/// The most bytes of the live mappings that were touched (resident, by
/// `mincore`) at once, as sampled by [`sample_touched`]: what the
/// footprint counts (a program's huge buffer that it never fills costs
/// only the pages it wrote).
pub(crate) static PEAK_TOUCHED: AtomicUsize = AtomicUsize::new(0);

/// With the stats report on: adds up the touched bytes of every live
/// mapping (`mincore`) and keeps the peak in [`PEAK_TOUCHED`]. Called
/// (under the table's lock) before a mapping is unmapped or resized, and
/// at exit: touched bytes only grow in between, so the peak is exact. A
/// sample is skipped when the live mappings hold no more bytes than the
/// peak already is (they cannot raise it): a program that fills its
/// mappings and frees them pays no walk per free (8,000 mappings of 5,000
/// bytes, written, then freed: 29 s with the report on, now
/// [`sample_locked`] runs once).
///
/// # Time complexity
/// O(1) when skipped; else O([`CAP`] + pages of the live mappings). Only
/// when the report is on.
fn sample_locked(m: &PtrMap) {
    if !crate::counters::enabled()
        || MAPPED.load(Ordering::Relaxed) <= PEAK_TOUCHED.load(Ordering::Relaxed)
    {
        return;
    }
    let page = crate::globals::get_if_ready().map_or(4096, |g| g.page);
    let mut touched = 0;
    m.for_each(|start, len| touched += sys::resident(start, len as usize, page));
    PEAK_TOUCHED.fetch_max(touched, Ordering::Relaxed);
}

/// [`sample_locked`], taking the lock (before the exit report).
pub(crate) fn sample_touched() {
    if LIVE.load(Ordering::Relaxed) != 0 {
        with_map(|m| sample_locked(m));
    }
}

fn with_map<R>(f: impl FnOnce(&mut PtrMap) -> R) -> R {
    LOCK.lock();
    // SAFETY: MAP is only touched under LOCK.
    let r = f(unsafe { &mut *MAP.get() });
    LOCK.unlock();
    r
}

fn account(delta: isize) {
    let before = MAPPED.load(Ordering::Relaxed);
    let now = if delta >= 0 {
        MAPPED.fetch_add(delta as usize, Ordering::Relaxed) + delta as usize
    } else {
        MAPPED.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed) - delta.unsigned_abs()
    };
    PEAK_MAPPED.fetch_max(now, Ordering::Relaxed);
    // Direct mappings count as live bytes (page-rounded) in the report.
    crate::counters::big_changed(before, before.wrapping_add_signed(delta));
}

/// Maps `size` bytes at `align` (fresh, zeroed). Null on failure.
pub(crate) fn alloc(g: &Settings, size: usize, align: usize) -> *mut u8 {
    let Some(len) = size.max(1).checked_next_multiple_of(g.page) else {
        return core::ptr::null_mut();
    };
    let extra = if align > g.page { align } else { 0 };
    let Some(map_len) = len.checked_add(extra) else {
        return core::ptr::null_mut();
    };
    // Not MAP_NORESERVE: the kernel's overcommit check applies, as to
    // glibc's mappings, so an impossible request fails here rather than
    // being killed later.
    // SAFETY: a fresh anonymous mapping touches no existing memory.
    let mapped = unsafe {
        crate::syscall::map(
            core::ptr::null_mut(),
            map_len,
            crate::syscall::MapFlags::empty(),
        )
    };
    let Some(p) = mapped else {
        return core::ptr::null_mut();
    };
    let mut start = p as usize;
    if extra != 0 {
        // Trim the mapping to an `align`-aligned start and `len` bytes.
        let aligned = start.next_multiple_of(align);
        // SAFETY: both pieces lie in the mapping just made and are not used.
        unsafe {
            if aligned > start {
                crate::syscall::munmap(start as *mut _, aligned - start);
            }
            let tail = aligned + len;
            let end = start + map_len;
            if end > tail {
                crate::syscall::munmap(tail as *mut _, end - tail);
            }
        }
        start = aligned;
    }
    if with_map(|m| m.insert(start, len as u64)).is_err() {
        // SAFETY: the mapping is ours and was never handed out.
        unsafe { crate::syscall::munmap(start as *mut _, len) };
        return core::ptr::null_mut();
    }
    let live = LIVE.fetch_add(1, Ordering::Relaxed) + 1;
    PEAK_LIVE.fetch_max(live, Ordering::Relaxed);
    account(len as isize);
    start as *mut u8
}

/// Mappings live now.
pub(crate) fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Whether the table has room for one more mapping (another thread may
/// take it first: [`alloc`] still checks).
pub(crate) fn has_room() -> bool {
    with_map(|m| m.has_room())
}

/// The length of the direct mapping at `p`, if it is one.
pub(crate) fn usable(p: *mut u8) -> Option<usize> {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    with_map(|m| m.get(p as usize)).map(|l| l as usize)
}

/// Unmaps the direct mapping at `p`; `false` if `p` is not one.
///
/// # Safety
/// If `p` is a direct mapping, the caller gives it up.
pub(crate) unsafe fn free(p: *mut u8) -> bool {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return false;
    }
    let Some(len) = with_map(|m| {
        if m.get(p as usize).is_some() {
            sample_locked(m);
        }
        m.remove(p as usize)
    }) else {
        return false;
    };
    LIVE.fetch_sub(1, Ordering::Relaxed);
    account(-(len as isize));
    // SAFETY: `p .. p + len` is the mapping we made; the caller gives it up.
    unsafe { crate::syscall::munmap(p.cast(), len as usize) };
    true
}

/// Resizes the direct mapping at `p` to `size` bytes (at least the mmap
/// threshold) with `mremap`, which moves pages rather than bytes. `None` if
/// `p` is not a direct mapping; `Some(null)` if the kernel refused (then `p`
/// is unchanged).
///
/// # Safety
/// On success the caller must not use `p` again (unless it is returned).
pub(crate) unsafe fn remap(g: &Settings, p: *mut u8, size: usize) -> Option<*mut u8> {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    // Out of the table first: once the kernel moves the pages, another
    // thread's new mapping may land at `p` and must find no stale entry.
    let old = with_map(|m| {
        if m.get(p as usize).is_some() {
            sample_locked(m);
        }
        m.remove(p as usize)
    })? as usize;
    let q = match size.checked_next_multiple_of(g.page) {
        // SAFETY: `p .. p + old` is a mapping of ours owned by the caller;
        // the kernel moves or resizes it, or leaves it unchanged.
        Some(len) => unsafe { crate::syscall::mremap(p.cast(), old, len, true) },
        None => None,
    };
    let (addr, len) = match q {
        Some(q) => (q as usize, size.next_multiple_of(g.page)),
        None => (p as usize, old),
    };
    // Cannot fail: one entry was just removed.
    let _ = with_map(|m| m.insert(addr, len as u64));
    if q.is_none() {
        return Some(core::ptr::null_mut());
    }
    account(len as isize - old as isize);
    Some(addr as *mut u8)
}

/// Takes the table's lock before `fork`.
pub(crate) fn lock_for_fork() {
    LOCK.lock();
}

/// Releases it in the parent after `fork`.
pub(crate) fn unlock_after_fork() {
    LOCK.unlock();
}

/// Frees it in the child after `fork`.
pub(crate) fn reset_in_child() {
    LOCK.reset_in_child();
}
