//! The memory system calls the allocator makes — `mmap`, `munmap`,
//! `mremap`, `madvise`, `mincore` — and the futex and CPU-affinity calls,
//! made directly on x86-64 Linux instead of through the C library's
//! wrappers, with the wrappers' conventions (`-1` or `MAP_FAILED` and
//! `errno` on failure), so that callers read them as they read libc's.
//!
//! Why: a process's pages of the C library's code are resident by 64 KiB
//! windows (a read fault maps every cached page around it), and under
//! glibc's own `malloc` a small program never enters the windows that hold
//! these wrappers. Through libc, the library's start-up and exit touched
//! two more windows of `libc.so.6` than glibc's `malloc` does (`mmap` and
//! its neighbours; `sched_getaffinity`): 128 KB of a small program's
//! resident memory, for a few instructions each (the crate README, "The
//! C library's pages"). Elsewhere these are libc's functions.

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use core::arch::asm;

    /// A system call with up to six arguments; the kernel's result (a
    /// negated error number in `-4095..=-1`).
    ///
    /// # Safety
    /// As the call `n` with these arguments.
    #[inline(always)]
    pub(super) unsafe fn call6(n: libc::c_long, a: [usize; 6]) -> isize {
        let ret: isize;
        // SAFETY: the x86-64 Linux system call convention: the number in
        // rax, the arguments in rdi, rsi, rdx, r10, r8, r9; the kernel
        // clobbers rcx and r11 and returns in rax; it touches no user
        // stack. What the call does is the caller's contract.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") n as isize => ret,
                in("rdi") a[0],
                in("rsi") a[1],
                in("rdx") a[2],
                in("r10") a[3],
                in("r8") a[4],
                in("r9") a[5],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// A call of three arguments that returns an `int` as libc's wrapper
    /// does (`munmap`, `madvise`, `mincore`).
    ///
    /// # Safety
    /// As the call `n` with these arguments.
    #[inline(always)]
    pub(super) unsafe fn int3(n: libc::c_long, a: usize, b: usize, c: usize) -> libc::c_int {
        // SAFETY: the caller's contract.
        result(unsafe { call6(n, [a, b, c, 0, 0, 0]) }) as libc::c_int
    }

    /// A call that returns an address as libc's wrapper does
    /// (`MAP_FAILED` on failure: `mmap`, `mremap`).
    ///
    /// # Safety
    /// As the call `n` with these arguments.
    #[inline(always)]
    pub(super) unsafe fn address(n: libc::c_long, a: [usize; 6]) -> *mut libc::c_void {
        // SAFETY: the caller's contract.
        match result(unsafe { call6(n, a) }) {
            -1 => libc::MAP_FAILED,
            r => r as *mut libc::c_void,
        }
    }

    /// The kernel's result as libc returns it: `-1` with `errno` set on
    /// failure.
    #[inline(always)]
    pub(super) fn result(r: isize) -> isize {
        if (-4095..0).contains(&r) {
            // SAFETY: `__errno_location` returns the calling thread's errno
            // slot, valid for writes for the thread's lifetime. (Not
            // `sys::set_errno`: `sys` makes its calls through this module.)
            unsafe { *libc::__errno_location() = -r as i32 };
            -1
        } else {
            r
        }
    }
}

use core::ffi::c_void;

/// `mmap(2)`.
///
/// # Safety
/// As `mmap`: a mapping with `MAP_FIXED` replaces whatever was there.
#[inline]
pub(crate) unsafe fn mmap(
    addr: *mut c_void,
    len: usize,
    prot: libc::c_int,
    flags: libc::c_int,
    fd: libc::c_int,
    off: libc::off_t,
) -> *mut c_void {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let a = [
            addr as usize,
            len,
            prot as usize,
            flags as usize,
            fd as usize,
            off as usize,
        ];
        // SAFETY: the caller's contract.
        unsafe { imp::address(libc::SYS_mmap, a) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    // SAFETY: the caller's contract.
    unsafe {
        libc::mmap(addr, len, prot, flags, fd, off)
    }
}

/// `munmap(2)`.
///
/// # Safety
/// As `munmap`: nothing may use the range afterwards.
#[inline]
pub(crate) unsafe fn munmap(addr: *mut c_void, len: usize) -> libc::c_int {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    // SAFETY: the caller's contract.
    unsafe {
        imp::int3(libc::SYS_munmap, addr as usize, len, 0)
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    // SAFETY: the caller's contract.
    unsafe {
        libc::munmap(addr, len)
    }
}

/// `mremap(2)` without a new address (no `MREMAP_FIXED`).
///
/// # Safety
/// As `mremap`: with `MREMAP_MAYMOVE` the old range may be gone.
#[inline]
pub(crate) unsafe fn mremap(
    addr: *mut c_void,
    old_len: usize,
    new_len: usize,
    flags: libc::c_int,
) -> *mut c_void {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let a = [addr as usize, old_len, new_len, flags as usize, 0, 0];
        // SAFETY: the caller's contract.
        unsafe { imp::address(libc::SYS_mremap, a) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    // SAFETY: the caller's contract.
    unsafe {
        libc::mremap(addr, old_len, new_len, flags)
    }
}

/// `madvise(2)`.
///
/// # Safety
/// As `madvise`: `MADV_DONTNEED` makes private anonymous memory read as
/// zero.
#[inline]
pub(crate) unsafe fn madvise(addr: *mut c_void, len: usize, advice: libc::c_int) -> libc::c_int {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    // SAFETY: the caller's contract.
    unsafe {
        imp::int3(libc::SYS_madvise, addr as usize, len, advice as usize)
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    // SAFETY: the caller's contract.
    unsafe {
        libc::madvise(addr, len, advice)
    }
}

/// `mincore(2)`.
///
/// # Safety
/// As `mincore`: `vec` holds a byte for every page of the range.
#[inline]
pub(crate) unsafe fn mincore(addr: *mut c_void, len: usize, vec: *mut u8) -> libc::c_int {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    // SAFETY: the caller's contract.
    unsafe {
        imp::int3(libc::SYS_mincore, addr as usize, len, vec as usize)
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    // SAFETY: the caller's contract.
    unsafe {
        libc::mincore(addr, len, vec.cast())
    }
}

/// The futex call on `word`: `FUTEX_WAIT` while it holds `val`, or
/// `FUTEX_WAKE` of `val` waiters (`op`, with `FUTEX_PRIVATE_FLAG`).
///
/// # Safety
/// `word` is a valid, aligned `u32` for the call.
#[inline]
pub(crate) unsafe fn futex(word: *const u32, op: libc::c_int, val: u32) -> libc::c_long {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        // The timeout (fourth argument) null: wait without one.
        let a = [word as usize, op as usize, val as usize, 0, 0, 0];
        // SAFETY: the caller's contract.
        imp::result(unsafe { imp::call6(libc::SYS_futex, a) }) as libc::c_long
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    // SAFETY: the caller's contract.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            op,
            val,
            core::ptr::null::<libc::timespec>(),
        )
    }
}

/// The number of CPUs this process may run on (its affinity mask's bits),
/// or `None` if the kernel does not say.
pub(crate) fn cpus_allowed() -> Option<usize> {
    // SAFETY: a zeroed cpu_set_t is valid.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    let size = size_of::<libc::cpu_set_t>();
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    // SAFETY: the kernel writes at most `size` bytes of the mask into `set`
    // (and returns how many); the rest stays zero, as glibc's wrapper
    // leaves it.
    let ok = imp::result(unsafe {
        imp::call6(
            libc::SYS_sched_getaffinity,
            [0, size, (&raw mut set) as usize, 0, 0, 0],
        )
    }) >= 0;
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    // SAFETY: sched_getaffinity writes at most `size` bytes into `set`.
    let ok = unsafe { libc::sched_getaffinity(0, size, &mut set) } == 0;
    // SAFETY: `set` is an initialised mask.
    ok.then(|| unsafe { libc::CPU_COUNT(&set) } as usize)
}
