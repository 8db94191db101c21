//! The C allocation functions with the C standard's and glibc's semantics,
//! as Rust functions. `exports` gives them their C names; unit tests call
//! them directly (in the test binary glibc stays the process allocator).

use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::Ordering;

use sysarena::FreeError;

use crate::init;
use crate::settings::{MIN_ALIGN, Settings};
use crate::shard::{self, Locked, ReallocFail};
use crate::sys::{self, set_errno};
use crate::{big, counters, globals, slab, tcache, trace};

fn no_memory() -> *mut c_void {
    set_errno(libc::ENOMEM);
    counters::FAILED.fetch_add(1, Ordering::Relaxed);
    ptr::null_mut()
}

fn invalid(msg: &[u8]) {
    counters::INVALID.fetch_add(1, Ordering::Relaxed);
    sys::eprint(msg);
}

/// `size` bytes at `align` (a power of two, at least 16); the caller sets
/// errno on null. `zero`: the block must read as zero.
#[inline]
fn alloc_raw(g: &Settings, size: usize, align: usize, zero: bool) -> *mut u8 {
    // A small block, at an alignment its class's slots have (a 100-byte
    // block at 64 takes a 128-byte slot): from a slab page. As an arena of
    // the heap, `posix_memalign(64, 1..256)` took three times as long as
    // `malloc` (`tests/programs/aligned.c`; `RESULTS.md`, "Aligned blocks").
    if g.slab
        && let Some(size) = slab::aligned_request(size, align)
    {
        if g.tcache
            && let Some(p) = tcache::alloc(g, size)
        {
            if zero {
                // SAFETY: the slot's class size is the block's.
                unsafe { ptr::write_bytes(p, 0, slab::class_size(slab::class_of(size))) };
            }
            return p;
        }
        if let Some(f) = shard::alloc_small(size) {
            if zero && f.dirty > 0 {
                // SAFETY: the first `dirty` bytes of the new slot, at most
                // its class size.
                unsafe { ptr::write_bytes(f.ptr, 0, f.dirty) };
            }
            return f.ptr;
        }
    }
    // `align` is a power of two: round up with a mask, not a division.
    let Some(need) = size.max(1).checked_add(align - 1).map(|n| n & !(align - 1)) else {
        return ptr::null_mut();
    };
    if need >= g.mmap_threshold {
        let p = big_alloc(g, size, align);
        if !p.is_null() {
            return p;
        }
        // No mapping (the table of direct mappings is full, or the kernel
        // refused): the shards may still hold the block.
        return shard_alloc(g, size, align, zero).unwrap_or(ptr::null_mut());
    }
    if let Some(p) = shard_alloc(g, size, align, zero) {
        return p;
    }
    // Every shard is full (a small reservation under `ulimit -v`, or every
    // descriptor taken): the block gets its own mapping, as a large one
    // would (fresh pages, already zero), while the kernel and the table of
    // direct mappings allow.
    big_alloc(g, size, align)
}

/// A block of the shards, cleared if `zero`; `None` if no shard holds it,
/// even after this thread's cache gave its blocks back.
fn shard_alloc(g: &Settings, size: usize, align: usize, zero: bool) -> Option<*mut u8> {
    let f = shard::alloc(g, size, align).or_else(|| {
        (g.tcache && tcache::flush_mine(g))
            .then(|| shard::alloc(g, size, align))
            .flatten()
    })?;
    if zero && f.dirty > 0 {
        // SAFETY: the first `dirty <= size` bytes of the new block.
        unsafe { ptr::write_bytes(f.ptr, 0, f.dirty) };
    }
    Some(f.ptr)
}

/// The shard that owns `p`, or `None` for a pointer outside the shards —
/// or a direct mapping that the kernel placed where the shards withdrew
/// address space (checked only once they have).
#[inline]
fn owner(g: &Settings, p: *mut u8) -> Option<usize> {
    let i = shard::owner(g, p as usize)?;
    if shard::withdrew() && big::usable(p).is_some() {
        return None;
    }
    Some(i)
}

/// After the kernel refused a direct mapping of `need` bytes: under an
/// address-space limit, if the request could fit once the shards give back
/// their free address space (`need` at most what is left plus the shards'
/// span — a larger one fails anyway, and must not shrink the heap), the
/// shards withdraw up to `need` bytes. Whether anything was withdrawn.
#[cold]
fn withdraw_for(g: &Settings, need: usize) -> bool {
    if !g.limited {
        return false;
    }
    let left = sys::address_space_left().unwrap_or(0);
    need <= left.saturating_add(shard::span(g)) && shard::withdraw(g, need) > 0
}

/// A direct mapping (counted in the report's calls); if the kernel refuses
/// (an address-space limit), the shards give free address space back and
/// it is tried once more. Null if the table of direct mappings is full.
fn big_alloc(g: &Settings, size: usize, align: usize) -> *mut u8 {
    if !big::has_room() {
        return ptr::null_mut();
    }
    // The system calls write no errno (`syscall`), but the retry reads the
    // address-space limit through libc (`getrlimit`, `/proc/self/statm`),
    // whose calls may; the request may still succeed (the retry, or the
    // shards), and then errno must be as the caller left it.
    let saved = sys::errno();
    let mut p = big::alloc(g, size, align);
    if p.is_null() {
        let need = size.saturating_add(align).saturating_add(g.page);
        if withdraw_for(g, need) {
            p = big::alloc(g, size, align);
        }
    }
    if !p.is_null() {
        counters::BIG_ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
    sys::set_errno(saved);
    p
}

/// An allocation with tracing and errno.
#[inline(never)]
fn allocate(size: usize, align: usize, zero: bool) -> *mut c_void {
    let Some(g) = init::get() else {
        return no_memory();
    };
    let align = align.max(MIN_ALIGN);
    let mut t = trace::begin();
    let p = alloc_raw(g, size, align, zero);
    if p.is_null() {
        return no_memory();
    }
    if let Some(t) = &mut t {
        t.alloc(p, size, align);
    }
    p.cast()
}

/// The settings, if a call may take a thread cache's fast path: the
/// allocator is ready and not tracing (a traced call runs under the trace
/// lock).
#[inline(always)]
fn fast_settings() -> Option<&'static Settings> {
    let g = globals::get_if_ready()?;
    (g.tcache && !trace::active()).then_some(g)
}

/// `malloc(size)`: at least `size` bytes aligned to 16; `malloc(0)` returns
/// a unique pointer. Null and `ENOMEM` when no memory (or descriptor) is
/// left.
#[inline]
pub(crate) fn malloc(size: usize) -> *mut c_void {
    if size <= slab::MAX_SIZE
        && let Some(g) = fast_settings()
        && let Some(p) = tcache::alloc_fast(g, size)
    {
        return p.cast();
    }
    allocate(size, MIN_ALIGN, false)
}

/// `calloc(n, size)`: `n * size` zeroed bytes; null and `ENOMEM` if the
/// product overflows.
pub(crate) fn calloc(n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        Some(total) => allocate(total, MIN_ALIGN, true),
        None => no_memory(),
    }
}

/// Frees `p` (which must be unused afterwards) without tracing.
///
/// # Safety
/// If `p` is a live block, the caller gives it up.
unsafe fn free_raw(g: &Settings, p: *mut u8) {
    match owner(g, p.cast()) {
        // SAFETY: forwarded; the cache only takes a live slab slot.
        Some(_) if g.tcache => match unsafe { tcache::free(g, p) } {
            tcache::Freed::Cached => {}
            tcache::Freed::DoubleFree => invalid(b"free(): double free detected\n"),
            // SAFETY: forwarded; an invalid `p` is reported, not used.
            tcache::Freed::Pass => unsafe { free_locked(g, p) },
        },
        // SAFETY: forwarded; an invalid `p` is reported, not used.
        Some(_) => unsafe { free_locked(g, p) },
        None => {
            // SAFETY: forwarded.
            if !unsafe { big::free(p) } {
                invalid(b"free(): invalid pointer\n");
            }
        }
    }
}

/// Frees `p`, a pointer into the shards, under its owner's lock.
///
/// # Safety
/// As [`free_raw`].
unsafe fn free_locked(g: &Settings, p: *mut u8) {
    match owner(g, p.cast()) {
        // SAFETY: forwarded; an invalid `p` is reported, not used.
        Some(i) => match unsafe { shard::free_in(g, i, p) } {
            Ok(shard::Drain::No) => {}
            // A shard would give its memory back but for slots in use,
            // perhaps in this thread's cache: give them back.
            Ok(shard::Drain::FlushCache) => {
                if g.tcache {
                    tcache::flush_mine(g);
                }
            }
            Err(FreeError::DoubleFree { .. }) => invalid(b"free(): double free detected\n"),
            Err(_) => invalid(b"free(): invalid pointer\n"),
        },
        None => {
            // SAFETY: forwarded.
            if !unsafe { big::free(p) } {
                invalid(b"free(): invalid pointer\n");
            }
        }
    }
}

/// `free(p)`: nothing for null; a pointer sysarena did not hand out (or
/// already freed) is reported on stderr, glibc-style, and ignored.
///
/// # Safety
/// If `p` is a live block, the caller must not use it again.
#[inline]
pub(crate) unsafe fn free(p: *mut c_void) {
    if let Some(g) = fast_settings()
        && !shard::withdrew()
        // SAFETY: forwarded; only a live slab slot is taken.
        && unsafe { tcache::free_fast(g, p.cast()) }
    {
        return;
    }
    // SAFETY: forwarded.
    unsafe { free_slow(p) }
}

/// [`free`] past the thread cache's fast path.
///
/// # Safety
/// As [`free`].
#[inline(never)]
unsafe fn free_slow(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    let Some(g) = globals::get_if_ready() else {
        // Nothing was handed out yet: `p` is not ours.
        invalid(b"free(): invalid pointer\n");
        return;
    };
    if let Some(mut t) = trace::begin() {
        // Recorded before the block can be handed out again.
        t.free(p.cast());
        // SAFETY: forwarded (the trace lock is held until `t` drops).
        unsafe { free_raw(g, p.cast()) };
        return;
    }
    // SAFETY: forwarded.
    unsafe { free_raw(g, p.cast()) };
}

fn invalid_realloc() -> *mut u8 {
    invalid(b"realloc(): invalid pointer\n");
    set_errno(libc::EINVAL);
    ptr::null_mut()
}

/// Moves shard `i`'s block `p` into a mapping of its own of `size` bytes
/// (copying what fits) and frees it; on failure `p` is unchanged.
///
/// # Safety
/// `p` is a live block of shard `i`, not used again by the caller on
/// success.
unsafe fn realloc_to_mapping(
    g: &Settings,
    i: usize,
    p: *mut u8,
    size: usize,
) -> Result<*mut u8, ReallocFail> {
    let old = Locked::lock(i)
        .usable(p)
        .map_err(|_| ReallocFail::Invalid)?;
    let q = big_alloc(g, size, MIN_ALIGN);
    if q.is_null() {
        return Err(ReallocFail::NoMemory);
    }
    // SAFETY: `p` has `old` usable bytes, `q` at least `size`; distinct
    // blocks.
    unsafe { ptr::copy_nonoverlapping(p, q, old.min(size)) };
    // SAFETY: `p` is live and given up.
    unsafe { free_raw(g, p) };
    Ok(q)
}

/// A shard's `realloc` outcome as `realloc` returns it.
fn shard_realloc_result(r: Result<*mut u8, ReallocFail>) -> *mut u8 {
    match r {
        Ok(q) => q,
        Err(ReallocFail::Invalid) => invalid_realloc(),
        Err(ReallocFail::NoMemory) => no_memory().cast(),
    }
}

/// Resizes `p` to `size > 0` bytes; null (errno set) on failure with `p`
/// unchanged.
///
/// # Safety
/// As [`realloc`].
unsafe fn realloc_raw(g: &Settings, p: *mut u8, size: usize) -> *mut u8 {
    if let Some(i) = owner(g, p.cast()) {
        if size >= g.mmap_threshold {
            // A mapping of its own; if none can be made (the table of
            // direct mappings is full, or the kernel refused), the shards
            // may still hold it.
            // SAFETY: forwarded.
            match unsafe { realloc_to_mapping(g, i, p, size) } {
                Err(ReallocFail::NoMemory) => {}
                r => return shard_realloc_result(r),
            }
            // SAFETY: forwarded (`p` is unchanged).
            return shard_realloc_result(unsafe { shard::realloc(g, i, p, size) });
        }
        // SAFETY: forwarded.
        return match unsafe { shard::realloc(g, i, p, size) } {
            // Every shard is full: a mapping of its own (see `alloc_raw`).
            Err(ReallocFail::NoMemory) => {
                // SAFETY: forwarded (`p` is unchanged).
                let r = unsafe { realloc_to_mapping(g, i, p, size) };
                shard_realloc_result(r)
            }
            r => shard_realloc_result(r),
        };
    }
    // A direct mapping: stays one while at least half the threshold.
    if size >= g.mmap_threshold / 2 {
        // SAFETY: forwarded.
        let q = match unsafe { big::remap(g, p, size) } {
            None => return invalid_realloc(),
            // Refused (an address-space limit): the shards give address
            // space back, and the kernel is asked once more.
            Some(q) if q.is_null() && withdraw_for(g, size) => {
                // SAFETY: forwarded (`p` is unchanged after a refusal).
                unsafe { big::remap(g, p, size) }
            }
            Some(q) => Some(q),
        };
        return match q {
            Some(q) if !q.is_null() => q,
            _ => no_memory().cast(),
        };
    }
    let Some(old) = big::usable(p) else {
        return invalid_realloc();
    };
    let q = alloc_raw(g, size, MIN_ALIGN, false);
    if q.is_null() {
        return no_memory().cast();
    }
    // SAFETY: `p` has `old` bytes, `q` at least `size`; distinct blocks.
    unsafe { ptr::copy_nonoverlapping(p, q, old.min(size)) };
    // SAFETY: `p` is a live direct mapping, given up.
    unsafe { big::free(p) };
    q
}

/// `realloc(p, size)`: `malloc(size)` for null; for `size == 0` frees `p`
/// and returns null (glibc); otherwise resizes in place when it can, else
/// moves. On failure returns null with `ENOMEM` and leaves `p` unchanged.
/// A pointer sysarena did not hand out is reported and null returned
/// (`EINVAL`).
///
/// # Safety
/// `p` is null or a pointer this allocator returned and not yet freed; on
/// success (or `size == 0`) it must not be used again unless returned.
pub(crate) unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    if size == 0 {
        // SAFETY: forwarded.
        unsafe { free(p) };
        return ptr::null_mut();
    }
    let Some(g) = globals::get_if_ready() else {
        return invalid_realloc().cast();
    };
    let mut t = trace::begin();
    // SAFETY: forwarded (under the trace lock, if tracing).
    let q = unsafe { realloc_raw(g, p.cast(), size) };
    if let (Some(t), false) = (&mut t, q.is_null()) {
        t.realloc(p.cast(), q, size);
    }
    q.cast()
}

/// `reallocarray(p, n, size)`: `realloc(p, n * size)`, or null with
/// `ENOMEM` (and `p` unchanged) if the product overflows.
///
/// # Safety
/// As [`realloc`].
pub(crate) unsafe fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: forwarded.
        Some(total) => unsafe { realloc(p, total) },
        None => no_memory(),
    }
}

/// `memalign(align, size)` (glibc): an alignment that is not a power of two
/// is rounded up to one; one above `SIZE_MAX / 2 + 1` gives `EINVAL`.
pub(crate) fn memalign(align: usize, size: usize) -> *mut c_void {
    if align > usize::MAX / 2 + 1 {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    allocate(size, align.max(1).next_power_of_two(), false)
}

/// `aligned_alloc(align, size)`: `EINVAL` unless `align` is a power of two.
pub(crate) fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    allocate(size, align, false)
}

/// `posix_memalign(out, align, size)`: 0 and `*out` set, `EINVAL` unless
/// `align` is a power of two multiple of `sizeof(void *)`, `ENOMEM` (with
/// `*out` untouched) when no memory is left. errno is left as it was.
///
/// # Safety
/// `out` must be valid for a pointer-sized write.
pub(crate) unsafe fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || !align.is_multiple_of(core::mem::size_of::<usize>()) {
        return libc::EINVAL;
    }
    // SAFETY: reading this thread's errno slot.
    let saved = unsafe { *libc::__errno_location() };
    let p = allocate(size, align, false);
    set_errno(saved);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller guarantees `out` is writable.
    unsafe { *out = p };
    0
}

fn page() -> usize {
    init::get().map_or(4096, |g| g.page)
}

/// `valloc(size)`: page-aligned.
pub(crate) fn valloc(size: usize) -> *mut c_void {
    allocate(size, page(), false)
}

/// `pvalloc(size)`: page-aligned, the size rounded up to whole pages.
pub(crate) fn pvalloc(size: usize) -> *mut c_void {
    let page = page();
    match size.checked_next_multiple_of(page) {
        Some(n) => allocate(n.max(page), page, false),
        None => no_memory(),
    }
}

/// `malloc_usable_size(p)`: the bytes the block at `p` may use (its
/// arena's size, at least what was requested); 0 for null or a pointer
/// sysarena did not hand out.
///
/// # Safety
/// `p` is null or a pointer this allocator returned (a stale or foreign
/// pointer gives 0 or a size, never undefined behaviour in the allocator).
pub(crate) unsafe fn malloc_usable_size(p: *mut c_void) -> usize {
    let Some(g) = globals::get_if_ready() else {
        return 0;
    };
    if p.is_null() {
        return 0;
    }
    match owner(g, p.cast()) {
        Some(i) => Locked::lock(i).usable(p.cast()).unwrap_or(0),
        None => big::usable(p.cast()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests;
