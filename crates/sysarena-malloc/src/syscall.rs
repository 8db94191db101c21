//! The memory system calls the allocator makes — `mmap`, `munmap`,
//! `mremap`, `madvise` — and the futex and CPU-affinity calls, made
//! through [`rustix`] rather than the C library's wrappers.
//!
//! On Linux (x86-64, AArch64, RISC-V and the other architectures of
//! `rustix`'s `linux_raw` backend) `rustix` makes each call with the
//! architecture's system-call instruction, inline: no C library code runs
//! and `errno` is never written. Both matter to an `LD_PRELOAD` malloc:
//!
//! - A process's pages of the C library's code are resident by 64 KiB
//!   windows (a read fault maps every cached page around it), and under
//!   glibc's own `malloc` a small program never enters the windows that
//!   hold these wrappers. Through libc, the library's start-up and exit
//!   touched two more windows of `libc.so.6` than glibc's `malloc` does
//!   (`mmap` and its neighbours; `sched_getaffinity`): 128 KB of a small
//!   program's resident memory, for a few instructions each (the crate's
//!   `RESULTS.md`, "The C library's pages").
//! - A refused call (an address-space limit, a mapping the kernel will not
//!   split) leaves the program's `errno` as it was: `malloc` sets `ENOMEM`
//!   itself when it fails (`api`), and a call that fails on the way to a
//!   `malloc` that succeeds changes nothing the program can see.
//!
//! The wrappers here return what their callers test — an address or
//! `None`, success or not — and take `rustix`'s flag types. `mincore`,
//! which `rustix` does not offer and only `malloc_trim` and the exit
//! report use, stays libc's ([`sys::resident`](crate::sys::resident)).

use core::ffi::c_void;
use core::sync::atomic::AtomicU32;

pub(crate) use rustix::mm::MapFlags;
use rustix::mm::{self, MremapFlags, ProtFlags};
use rustix::thread::futex;

/// `mmap(2)` of fresh, private, anonymous, readable and writable memory:
/// `len` bytes at `hint` (a hint unless `flags` holds `FIXED` or
/// `FIXED_NOREPLACE`; null: anywhere), with `flags` beside `PRIVATE`. The
/// mapping's address, or `None` if the kernel refuses.
///
/// # Safety
/// With `MapFlags::FIXED` the mapping replaces whatever was at `hint ..
/// hint + len`: nothing may use that memory any more.
#[inline]
pub(crate) unsafe fn map(hint: *mut c_void, len: usize, flags: MapFlags) -> Option<*mut c_void> {
    // SAFETY: the caller's contract (an anonymous mapping touches no
    // existing memory unless `FIXED` replaces it).
    unsafe {
        mm::mmap_anonymous(
            hint,
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE | flags,
        )
    }
    .ok()
}

/// `munmap(2)`: false if the kernel refuses (splitting a mapping can pass
/// `vm.max_map_count`), and then the memory is still mapped.
///
/// # Safety
/// Nothing may use `addr .. addr + len` afterwards.
#[inline]
pub(crate) unsafe fn munmap(addr: *mut c_void, len: usize) -> bool {
    // SAFETY: the caller's contract.
    unsafe { mm::munmap(addr, len) }.is_ok()
}

/// `mremap(2)` of the mapping at `addr .. addr + old_len` to `new_len`
/// bytes, without a new address: in place, or, if `may_move`, wherever
/// the kernel finds room. The mapping's address, or `None` (and the old
/// mapping unchanged) if the kernel refuses.
///
/// # Safety
/// `addr .. addr + old_len` is one mapping of the caller's (or its start);
/// if it moves, nothing may use the old addresses.
#[inline]
pub(crate) unsafe fn mremap(
    addr: *mut c_void,
    old_len: usize,
    new_len: usize,
    may_move: bool,
) -> Option<*mut c_void> {
    let flags = if may_move {
        MremapFlags::MAYMOVE
    } else {
        MremapFlags::empty()
    };
    // SAFETY: the caller's contract.
    unsafe { mm::mremap(addr, old_len, new_len, flags) }.ok()
}

/// Gives `len` bytes at `p` back to the kernel (`madvise(MADV_DONTNEED)`):
/// on private anonymous memory they read as zero afterwards. Returns
/// whether the kernel took them; it refuses (`EINVAL`) an address that is
/// not page-aligned — under a kernel with pages larger than the caller
/// assumed — and then the bytes keep their old data. The length is
/// rounded up to whole pages. One system call.
///
/// # Safety
/// `p .. p + len`, rounded up to whole pages, lies inside private
/// anonymous memory this library mapped, and no one uses its bytes.
#[inline]
pub(crate) unsafe fn dont_need(p: *mut u8, len: usize) -> bool {
    // SAFETY: the caller's contract: unused bytes of our own mapping.
    unsafe { mm::madvise(p.cast(), len, mm::Advice::LinuxDontNeed) }.is_ok()
}

/// `FUTEX_WAIT` (private) on `word` while it holds `val`, without a
/// timeout. It returns on a wake-up, at once if `word` no longer holds
/// `val`, or spuriously: callers loop.
#[inline]
pub(crate) fn futex_wait(word: &AtomicU32, val: u32) {
    // Every outcome (woken, changed first, interrupted) sends the caller
    // back to its loop.
    let _ = futex::wait(word, futex::Flags::PRIVATE, val, None);
}

/// `FUTEX_WAKE` (private) of up to `n` waiters on `word`.
#[inline]
pub(crate) fn futex_wake(word: &AtomicU32, n: u32) {
    // It fails only for an invalid address, which a reference is not.
    let _ = futex::wake(word, futex::Flags::PRIVATE, n);
}

/// The number of CPUs this process may run on (its affinity mask's bits),
/// or `None` if the kernel does not say.
pub(crate) fn cpus_allowed() -> Option<usize> {
    rustix::thread::sched_getaffinity(None)
        .ok()
        .map(|set| set.count() as usize)
}
