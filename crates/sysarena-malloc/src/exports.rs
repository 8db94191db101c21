//! The C ABI: the symbols that `LD_PRELOAD` puts in front of glibc's. Each
//! forwards to [`crate::api`] (the allocation calls; their shared contract
//! is in the crate docs, "The C functions") or to [`crate::info`] (glibc's
//! inspection and trimming calls). Compiled out of the unit-test binary, where glibc
//! stays the allocator and the tests call `api` directly.
//!
//! None of these can unwind: the code under them does not panic on any
//! input, and a panic in an `extern "C"` function aborts the process.

use core::ffi::{c_int, c_void};

use crate::{api, info};

/// C `malloc`.
///
/// # Safety
/// None beyond C's: the result is uninitialised memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    api::malloc(size)
}

/// C `calloc`.
///
/// # Safety
/// None beyond C's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    api::calloc(n, size)
}

/// C `free`.
///
/// # Safety
/// `p` is null or a live block from this allocator, not used afterwards.
/// (Other pointers are reported and ignored, but memory that a foreign `p`
/// happens to equal the start of a live block of ours would be freed.)
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: forwarded.
    unsafe { api::free(p) }
}

/// C `realloc` (glibc: `realloc(p, 0)` frees and returns null).
///
/// # Safety
/// As [`free`] for `p`; on success `p` is not used again unless returned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { api::realloc(p, size) }
}

/// glibc `reallocarray`.
///
/// # Safety
/// As [`realloc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { api::reallocarray(p, n, size) }
}

/// POSIX `posix_memalign`.
///
/// # Safety
/// `out` must be valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // SAFETY: forwarded.
    unsafe { api::posix_memalign(out, align, size) }
}

/// C11 `aligned_alloc`.
///
/// # Safety
/// None beyond C's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    api::aligned_alloc(align, size)
}

/// glibc `memalign`.
///
/// # Safety
/// None beyond C's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    api::memalign(align, size)
}

/// `valloc`: page-aligned memory.
///
/// # Safety
/// None beyond C's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    api::valloc(size)
}

/// `pvalloc`: page-aligned, whole pages.
///
/// # Safety
/// None beyond C's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    api::pvalloc(size)
}

/// glibc `malloc_usable_size`.
///
/// # Safety
/// `p` is null or a block from this allocator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    // SAFETY: forwarded.
    unsafe { api::malloc_usable_size(p) }
}

/// glibc `mallinfo2`: the heap's figures in glibc's fields (`info.rs`
/// says what each holds here).
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mallinfo2() -> libc::mallinfo2 {
    info::mallinfo2()
}

/// glibc `mallinfo`: [`mallinfo2`] cut to `int`s, as glibc's.
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mallinfo() -> libc::mallinfo {
    info::mallinfo()
}

/// glibc `malloc_stats`: per shard and in total, to stderr, in glibc's
/// layout.
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_stats() {
    info::malloc_stats();
}

/// glibc `malloc_info`: the heap as XML, in glibc's elements.
///
/// # Safety
/// `stream` is a `FILE` open for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_info(options: c_int, stream: *mut libc::FILE) -> c_int {
    // SAFETY: forwarded.
    unsafe { info::malloc_info(options, stream) }
}

/// glibc `malloc_trim`: free memory's whole pages back to the kernel; 1 if
/// any went back.
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_trim(pad: usize) -> c_int {
    info::malloc_trim(pad)
}

// glibc's internal names, which some programs and wrapper libraries call
// directly (jemalloc and mimalloc export them too): each is the same
// function as its public name, so a block from one is freed by the other.

/// glibc's `__libc_malloc`: [`malloc`].
///
/// # Safety
/// As [`malloc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __libc_malloc(size: usize) -> *mut c_void {
    api::malloc(size)
}

/// glibc's `__libc_calloc`: [`calloc`].
///
/// # Safety
/// As [`calloc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __libc_calloc(n: usize, size: usize) -> *mut c_void {
    api::calloc(n, size)
}

/// glibc's `__libc_free`: [`free`].
///
/// # Safety
/// As [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __libc_free(p: *mut c_void) {
    // SAFETY: forwarded.
    unsafe { api::free(p) }
}

/// `cfree`, the old name of [`free`] (still in glibc's ABI).
///
/// # Safety
/// As [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cfree(p: *mut c_void) {
    // SAFETY: forwarded.
    unsafe { api::free(p) }
}

/// glibc's `__libc_realloc`: [`realloc`].
///
/// # Safety
/// As [`realloc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { api::realloc(p, size) }
}

/// glibc's `__libc_memalign`: [`memalign`].
///
/// # Safety
/// As [`memalign`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __libc_memalign(align: usize, size: usize) -> *mut c_void {
    api::memalign(align, size)
}

/// Runs as the library is loaded, from `.init_array` (before the
/// program's `main` and its own `pthread_atfork` calls).
#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = crate::at_load;

/// Runs at exit from `.fini_array` (after the program's `atexit` handlers
/// and the destructors of the program itself).
#[used]
#[unsafe(link_section = ".fini_array")]
static FINI: extern "C" fn() = crate::at_exit;
