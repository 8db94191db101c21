//! # sysarena-malloc — sysarena as the C allocator of unmodified programs
//!
//! A `cdylib` that, loaded with `LD_PRELOAD`, replaces `malloc` and friends
//! in any dynamically linked program with sysarena [`Heap`]s:
//!
//! ```text
//! cargo build --profile preload -p sysarena-malloc
//! LD_PRELOAD=target/preload/libsysarena_malloc.so python3 script.py
//! ```
//!
//! ## How it is built
//!
//! - **Memory.** One large `MAP_NORESERVE` reservation (64 GiB by default),
//!   committed by the kernel page by page as it is touched. It is cut into
//!   *shards*; each shard is a sysarena [`Heap`] whose arena table — the
//!   descriptors, the offset map and the free index, all out of band — lives
//!   in a second `MAP_NORESERVE` mapping, built with
//!   [`SliceManager::from_empty_slice`](sysarena::SliceManager::from_empty_slice)
//!   so that it costs nothing until used.
//! - **Small blocks** (at most 4 KiB; at an alignment above 16, at most
//!   4 KiB once rounded up to it: `slab::aligned_request`) come from
//!   the shard's slab layer (`slab`): 64 KiB pages carved out of its heap,
//!   one descriptor per page, cut into slots of one size class (16, 32, …,
//!   1024 bytes, then 1152, 1280, …, 4096: eight per doubling), with the
//!   class, free bitmap and list links of each page out of band in a
//!   `MAP_NORESERVE` array of page records. O(1) malloc and free; double
//!   frees detected by the bitmap. `SYSARENA_SLAB=0` turns it off.
//! - **Threads.** Each shard has its own futex lock. A thread allocates from
//!   its shard (a thread-local index: shard 0 at first, moved to a free
//!   shard when its own is busy); a free goes to the shard that owns the
//!   address, `(ptr - base) / shard_size`, whichever thread calls it. When a
//!   shard is full, the others are tried. Shards are shared, so a thread's
//!   exit strands nothing.
//! - **Thread caches** (`tcache`). In front of the shards, each thread
//!   keeps bounded per-class stacks of small blocks: a small malloc or free
//!   takes no lock and no atomic read-modify-write, and runs inline in the
//!   exported function (the cache is a thread-local variable in the
//!   initial-exec TLS model, `tls`: two instructions, no
//!   `__tls_get_addr`); a block freed by another thread lands in the
//!   freeing thread's cache. Double frees are caught by a state byte per
//!   slot, out of band. Caches are given back at thread exit, in a forked
//!   child and before reporting out-of-memory. `SYSARENA_TCACHE=0` turns
//!   them off.
//! - **Very large requests** (64 MiB and up) get their own mapping, found
//!   again through a fixed table of mappings; `realloc` moves them with
//!   `mremap`.
//! - **Giving memory back.** Freeing an arena of 128 KiB or more returns
//!   its whole pages to the kernel (`MADV_DONTNEED`), unless (below 32 MiB)
//!   it overlaps a block released just before: buffers freed and
//!   allocated again and again in one place keep their pages. A
//!   slab page that empties goes back the same way, unless it is its
//!   class's one spare or waits in the shard's empty-page pool
//!   (`slab/pool.rs`) for the next page any class carves — the pool is
//!   emptied into the heap, its pages still resident, before the heap
//!   serves a block of 16 KiB or more. Under `ulimit -v` (unless
//!   `SYSARENA_SHARDS` or `SYSARENA_RESERVE` fixes the shards), only shard
//!   0 is mapped at start, and a shard other than shard 0 that a free leaves
//!   empty unmaps its memory (a retired shard's place is mapped again when
//!   every shard is full or busy: `shard/retire.rs`), so the program's own
//!   mappings get the address space, as they do when glibc's heap
//!   shrinks.
//! - **`calloc`** clears only the part of a block below its shard's
//!   high-water mark: memory never handed out is still the kernel's zero
//!   pages.
//! - **`fork`.** `pthread_atfork` handlers take every lock before `fork` and
//!   release them after (the child resets them).
//! - **Foreign pointers.** A free of a pointer sysarena did not hand out is
//!   reported on stderr, glibc-style (`free(): invalid pointer`), and
//!   ignored: programs sometimes free memory obtained before the preload.
//!
//! ## Layers
//!
//! Each module imports only modules to its left: `sys`, `lock`, `ptrmap`,
//! `tls` → `settings`, `counters` → `globals` → `slab` → `shard`, `big`,
//! `trace` → `tcache` → `info` → `check`, `report` → `init` → `api` → `exports`
//! (the README's "Where things are" gives each file's one job).
//!
//! ## The C functions
//!
//! `malloc`, `free`, `calloc`, `realloc`, `reallocarray`, `posix_memalign`,
//! `aligned_alloc`, `memalign`, `valloc`, `pvalloc` and `malloc_usable_size`
//! have the C standard's and glibc's semantics: the same contract as glibc's
//! (pointers passed in are null or live blocks of this allocator; a block
//! is not used after it is freed or successfully reallocated), 16-byte
//! alignment, `errno` set to `ENOMEM` on failure (`EINVAL` for a bad
//! alignment), `free(NULL)` does nothing, `realloc(NULL, n)` is
//! `malloc(n)`, `realloc(p, 0)` frees `p` and returns null, and a `calloc`
//! or `reallocarray` whose product overflows fails with `ENOMEM`. None of
//! them allocates from inside itself, and none can unwind into C.
//!
//! glibc's inspection and trimming calls — `mallinfo2`, `mallinfo`,
//! `malloc_stats`, `malloc_info`, `malloc_trim` — answer with this
//! library's figures in glibc's fields and layout (`info`, which says what
//! each field holds here). `mallopt` stays glibc's: the `SYSARENA_*`
//! settings tune this heap.
//!
//! ## Environment
//!
//! See the crate's `README.md`: `SYSARENA_POLICY`, `SYSARENA_COALESCING`,
//! `SYSARENA_SLAB`, `SYSARENA_TCACHE`, `SYSARENA_DESCRIPTORS`, `SYSARENA_SHARDS`, `SYSARENA_RESERVE`,
//! `SYSARENA_MMAP_THRESHOLD`, `SYSARENA_RELEASE`, `SYSARENA_STATS`,
//! `SYSARENA_CHECK`, `SYSARENA_TRACE`. They are read once, on the first
//! call.
//!
//! [`Heap`]: sysarena::Heap

// Built with `panic = "abort"` (the `preload` profile, the library as
// shipped) the library links no `std`: the std runtime's panic machinery
// (backtraces, unwinding tables) would load `libgcc_s` and add code that a
// malloc never needs. Built with unwinding (tests, `--release`), it links
// `std` as any crate does; nothing outside the tests uses it either way.
#![cfg_attr(all(not(test), panic = "abort"), no_std)]

mod api;
mod big;
mod check;
mod counters;
#[cfg(not(test))]
mod exports;
mod globals;
mod info;
mod init;
mod lock;
mod ptrmap;
mod report;
mod settings;
mod shard;
mod slab;
mod sys;
mod syscall;
mod tcache;
#[cfg(test)]
mod threads;
mod tls;
mod trace;

/// Sets the library up as it is loaded, before the program's `main`: the
/// region, and the `fork` handlers. They must be registered before any the
/// program registers (which `pthread_atfork` then runs in the right order
/// around ours: theirs before our prepare, after our parent and child
/// handlers), or a program that registers its own before its first
/// `malloc` and allocates in them deadlocks in `fork`.
#[cfg_attr(test, allow(dead_code))]
extern "C" fn at_load() {
    let _ = init::get();
}

/// Writes the trace buffer and the stats report, then runs the
/// `SYSARENA_CHECK` consistency check; runs at exit.
#[cfg_attr(test, allow(dead_code))]
extern "C" fn at_exit() {
    trace::finish();
    tcache::show_mine();
    report::write_at_exit();
    check::check_at_exit();
}

// Without `std`, nothing else asks the linker for the C library: link it
// (and its static part, where `pthread_atfork` lives) so that the library
// names `libc.so.6` and binds glibc's versioned symbols.
#[cfg(all(not(test), panic = "abort"))]
#[link(name = "c")]
unsafe extern "C" {}

/// Without `std`, the library's own heap is also Rust's global allocator.
/// Nothing in the library allocates; but a build that links the `alloc`
/// crate — the core's `alloc` feature, which Cargo turns on when another
/// package of the workspace is built in the same command — must name one.
#[cfg(all(not(test), panic = "abort"))]
#[global_allocator]
static OWN_HEAP: OwnHeap = OwnHeap;

/// [`OWN_HEAP`]'s type: `memalign` and `free` of this library.
#[cfg(all(not(test), panic = "abort"))]
struct OwnHeap;

// SAFETY: `memalign` returns null or a block of at least `size` bytes at
// the alignment asked for (a power of two, as a `Layout`'s), which stays
// valid until `free`; `free` takes exactly those blocks.
#[cfg(all(not(test), panic = "abort"))]
unsafe impl core::alloc::GlobalAlloc for OwnHeap {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        api::memalign(layout.align(), layout.size()).cast()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: core::alloc::Layout) {
        // SAFETY: `ptr` came from `alloc` above (the trait's contract).
        unsafe { api::free(ptr.cast()) }
    }
}

/// Without `std` (the `preload` profile), a panic — a bug in the library:
/// no input makes it panic — names where it happened on stderr and aborts,
/// as a panic in an `extern "C"` function does with `std`.
#[cfg(all(not(test), panic = "abort"))]
#[panic_handler]
#[cold]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let mut msg = sys::Buf::<512>::new();
    msg.push(b"sysarena-malloc: panicked");
    if let Some(at) = info.location() {
        let _ = write!(msg, " at {}:{}", at.file(), at.line());
    }
    let _ = writeln!(msg, ": {}", info.message());
    sys::eprint(msg.as_bytes());
    // SAFETY: abort takes no arguments and never returns.
    unsafe { libc::abort() }
}
