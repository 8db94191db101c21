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
    if g.slab && size <= slab::MAX_SIZE && align <= slab::GRANULE {
        if g.tcache
            && let Some(p) = tcache::alloc(g, size)
        {
            if zero {
                // SAFETY: the slot's class size is the block's.
                unsafe { ptr::write_bytes(p, 0, slab::class_size(slab::class_of(size))) };
            }
            return p;
        }
        if let Some(f) = shard::alloc_small(g, size) {
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
        counters::BIG_ALLOCS.fetch_add(1, Ordering::Relaxed);
        // Fresh pages: already zero.
        return big::alloc(g, size, align);
    }
    // Out of memory: this thread's cache gives its blocks back first.
    let fresh = shard::alloc(g, size, align).or_else(|| {
        (g.tcache && tcache::flush_mine(g))
            .then(|| shard::alloc(g, size, align))
            .flatten()
    });
    match fresh {
        Some(f) => {
            if zero && f.dirty > 0 {
                // SAFETY: the first `dirty <= size` bytes of the new block.
                unsafe { ptr::write_bytes(f.ptr, 0, f.dirty) };
            }
            f.ptr
        }
        None => ptr::null_mut(),
    }
}

/// An allocation with tracing and errno.
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

/// `malloc(size)`: at least `size` bytes aligned to 16; `malloc(0)` returns
/// a unique pointer. Null and `ENOMEM` when no memory (or descriptor) is
/// left.
pub(crate) fn malloc(size: usize) -> *mut c_void {
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
    match shard::owner(g, p as usize) {
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
    match shard::owner(g, p as usize) {
        // SAFETY: forwarded; an invalid `p` is reported, not used.
        Some(i) => match unsafe { Locked::lock(i).free(p, g) } {
            Ok(()) => {}
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
pub(crate) unsafe fn free(p: *mut c_void) {
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

/// Resizes `p` to `size > 0` bytes; null (errno set) on failure with `p`
/// unchanged.
///
/// # Safety
/// As [`realloc`].
unsafe fn realloc_raw(g: &Settings, p: *mut u8, size: usize) -> *mut u8 {
    if let Some(i) = shard::owner(g, p as usize) {
        if size >= g.mmap_threshold {
            let Ok(old) = Locked::lock(i).usable(p) else {
                return invalid_realloc();
            };
            let q = big::alloc(g, size, MIN_ALIGN);
            if q.is_null() {
                return no_memory().cast();
            }
            counters::BIG_ALLOCS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: `p` has `old` usable bytes, `q` at least `size`;
            // distinct blocks.
            unsafe { ptr::copy_nonoverlapping(p, q, old.min(size)) };
            // SAFETY: `p` is live and given up.
            unsafe { free_raw(g, p) };
            return q;
        }
        // SAFETY: forwarded.
        return match unsafe { shard::realloc(g, i, p, size) } {
            Ok(q) => q,
            Err(ReallocFail::Invalid) => invalid_realloc(),
            Err(ReallocFail::NoMemory) => no_memory().cast(),
        };
    }
    // A direct mapping: stays one while at least half the threshold.
    if size >= g.mmap_threshold / 2 {
        // SAFETY: forwarded.
        return match unsafe { big::remap(g, p, size) } {
            None => invalid_realloc(),
            Some(q) if q.is_null() => no_memory().cast(),
            Some(q) => q,
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
    match shard::owner(g, p as usize) {
        Some(i) => Locked::lock(i).usable(p.cast()).unwrap_or(0),
        None => big::usable(p.cast()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno() -> i32 {
        // SAFETY: reading this thread's errno.
        unsafe { *libc::__errno_location() }
    }

    #[test]
    fn malloc_free_usable() {
        let p = malloc(100);
        assert!(!p.is_null());
        assert_eq!(p as usize % 16, 0);
        // SAFETY: `p` is ours.
        unsafe {
            assert!(malloc_usable_size(p) >= 100);
            ptr::write_bytes(p.cast::<u8>(), 0xab, 100);
            free(p);
            free(ptr::null_mut());
        }
        let z = malloc(0);
        assert!(!z.is_null());
        // SAFETY: ours.
        unsafe { free(z) };
    }

    #[test]
    fn calloc_zeroes_reused_memory() {
        for _ in 0..50 {
            let p = malloc(4096).cast::<u8>();
            // SAFETY: 4096 bytes of ours.
            unsafe {
                ptr::write_bytes(p, 0xff, 4096);
                free(p.cast());
            }
            let q = calloc(64, 64).cast::<u8>();
            // SAFETY: 4096 bytes of ours.
            let s = unsafe { core::slice::from_raw_parts(q, 4096) };
            assert!(s.iter().all(|&b| b == 0));
            // SAFETY: ours.
            unsafe { free(q.cast()) };
        }
        set_errno(0);
        assert!(calloc(usize::MAX / 2, 3).is_null());
        assert_eq!(errno(), libc::ENOMEM);
    }

    #[test]
    fn small_blocks_use_the_slab_layer() {
        let g = init::get().unwrap();
        assert!(g.slab);
        // calloc zeroes a reused slot.
        for size in [1usize, 16, 17, 100, 512, 1000, 1024] {
            let p = malloc(size).cast::<u8>();
            // SAFETY: `size` bytes of ours; then freed.
            unsafe {
                ptr::write_bytes(p, 0xee, malloc_usable_size(p.cast()));
                free(p.cast());
            }
            let q = calloc(1, size).cast::<u8>();
            // SAFETY: the whole usable size is ours.
            let s = unsafe { core::slice::from_raw_parts(q, malloc_usable_size(q.cast())) };
            assert!(
                s.iter().all(|&b| b == 0),
                "calloc({size}) reused dirty bytes"
            );
            assert_eq!(s.len(), size.max(1).next_multiple_of(16));
            // SAFETY: ours.
            unsafe { free(q.cast()) };
        }
        // SAFETY: every pointer below is ours and used within its size.
        unsafe {
            // realloc within a class stays; across classes it moves and keeps
            // the bytes; up into the heap and back down too.
            let p = malloc(20).cast::<u8>();
            for i in 0..20 {
                *p.add(i) = i as u8;
            }
            assert_eq!(realloc(p.cast(), 30).cast::<u8>(), p);
            let q = realloc(p.cast(), 200).cast::<u8>();
            assert_eq!(malloc_usable_size(q.cast()), 208);
            let r = realloc(q.cast(), 5000).cast::<u8>();
            let s = realloc(r.cast(), 10).cast::<u8>();
            for i in 0..10 {
                assert_eq!(*s.add(i), i as u8);
            }
            assert_eq!(malloc_usable_size(s.cast()), 16);
            free(s.cast());
            // A double free of a slot is reported and ignored. (A size no
            // other test uses: tests run in parallel, and another thread
            // could be handed the slot between the two frees.)
            let d = malloc(470);
            let before = counters::INVALID.load(Ordering::Relaxed);
            free(d);
            free(d);
            assert_eq!(malloc_usable_size(d), 0);
            assert!(counters::INVALID.load(Ordering::Relaxed) > before);
            // Alignment above 16 does not use the layer, and still works.
            let a = memalign(64, 48);
            assert_eq!(a as usize % 64, 0);
            free(a);
        }
    }

    #[test]
    fn realloc_semantics() {
        // SAFETY: every pointer below is ours and used within its size.
        unsafe {
            let p = realloc(ptr::null_mut(), 10).cast::<u8>();
            assert!(!p.is_null());
            for i in 0..10 {
                *p.add(i) = i as u8;
            }
            let q = realloc(p.cast(), 100_000).cast::<u8>();
            assert!(!q.is_null());
            for i in 0..10 {
                assert_eq!(*q.add(i), i as u8);
            }
            let r = realloc(q.cast(), 5).cast::<u8>();
            assert_eq!(*r.add(4), 4);
            assert!(realloc(r.cast(), 0).is_null());
            set_errno(0);
            let s = malloc(16);
            assert!(reallocarray(s, usize::MAX, 2).is_null());
            assert_eq!(errno(), libc::ENOMEM);
            free(s);
        }
    }

    #[test]
    fn big_blocks_map_and_remap() {
        let g = init::get().unwrap();
        let n = g.mmap_threshold;
        let p = malloc(n).cast::<u8>();
        assert!(!p.is_null());
        assert!(shard::owner(g, p as usize).is_none());
        // SAFETY: `n` bytes of ours; then resized and freed.
        unsafe {
            *p = 7;
            *p.add(n - 1) = 9;
            assert!(malloc_usable_size(p.cast()) >= n);
            let q = realloc(p.cast(), 2 * n).cast::<u8>();
            assert_eq!((*q, *q.add(n - 1)), (7, 9));
            let r = realloc(q.cast(), 1000).cast::<u8>();
            assert!(shard::owner(g, r as usize).is_some());
            assert_eq!(*r, 7);
            let s = realloc(r.cast(), n + 1).cast::<u8>();
            assert_eq!(*s, 7);
            free(s.cast());
        }
    }

    #[test]
    fn aligned_family() {
        for align in [16usize, 32, 64, 4096, 1 << 16] {
            let p = memalign(align, 100);
            assert_eq!(p as usize % align, 0);
            let q = aligned_alloc(align, 3 * align);
            assert_eq!(q as usize % align, 0);
            let mut r = ptr::null_mut();
            // SAFETY: `r` is a valid out-pointer; the blocks are ours.
            unsafe {
                assert_eq!(posix_memalign(&mut r, align, 1), 0);
                assert_eq!(r as usize % align, 0);
                free(p);
                free(q);
                free(r);
            }
        }
        let mut r = ptr::null_mut();
        // SAFETY: `r` is a valid out-pointer.
        unsafe {
            assert_eq!(posix_memalign(&mut r, 24, 8), libc::EINVAL);
            assert_eq!(posix_memalign(&mut r, 4, 8), libc::EINVAL);
        }
        set_errno(0);
        assert!(aligned_alloc(24, 48).is_null());
        assert_eq!(errno(), libc::EINVAL);
        // memalign rounds a non-power of two up.
        let p = memalign(24, 10);
        assert_eq!(p as usize % 32, 0);
        let v = valloc(10);
        let pv = pvalloc(10);
        assert_eq!(v as usize % 4096, 0);
        assert_eq!(pv as usize % 4096, 0);
        // SAFETY: ours.
        unsafe {
            assert!(malloc_usable_size(pv) >= 4096);
            free(p);
            free(v);
            free(pv);
        }
    }

    #[test]
    fn foreign_and_double_frees_are_ignored() {
        let mut local = [0u64; 4];
        let before = counters::INVALID.load(Ordering::Relaxed);
        // A size no other test uses (see `small_blocks_use_the_slab_layer`).
        let p = malloc(440);
        // SAFETY: invalid frees are reported and ignored; `p` is ours.
        unsafe {
            free(local.as_mut_ptr().cast());
            free(p.cast::<u8>().add(16).cast());
            free(p);
            free(p);
            assert_eq!(malloc_usable_size(local.as_mut_ptr().cast()), 0);
            assert!(realloc(local.as_mut_ptr().cast(), 10).is_null());
        }
        assert!(counters::INVALID.load(Ordering::Relaxed) >= before + 4);
        assert_eq!(local, [0; 4]);
    }

    #[test]
    fn threads_free_each_others_blocks() {
        let (tx, rx) = std::sync::mpsc::channel::<usize>();
        let producer = std::thread::spawn(move || {
            for i in 0..20_000usize {
                let p = malloc(16 + i % 300).cast::<u8>();
                // SAFETY: at least 16 bytes of ours.
                unsafe { *p = (i % 251) as u8 };
                tx.send(p as usize).unwrap();
            }
        });
        let mut n = 0usize;
        for p in rx {
            // SAFETY: the producer handed us the block.
            unsafe {
                assert_eq!(*(p as *const u8), (n % 251) as u8);
                free(p as *mut c_void);
            }
            n += 1;
        }
        producer.join().unwrap();
        assert_eq!(n, 20_000);
    }
}
