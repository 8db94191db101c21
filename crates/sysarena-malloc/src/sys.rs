//! Allocation-free helpers over the system calls the allocator uses (the
//! memory calls themselves are `syscall`'s), a stack buffer that
//! implements `core::fmt::Write`, and environment parsing. Nothing here
//! allocates: it all runs inside `malloc`.

use core::cell::UnsafeCell;
use core::ffi::CStr;
use core::fmt;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use crate::syscall::MapFlags;

/// A cell for process-wide state whose access is serialised by a [`Lock`]
/// (or happens once, before the state is published).
///
/// [`Lock`]: crate::lock::Lock
pub(crate) struct SyncCell<T>(UnsafeCell<T>);

// SAFETY: every user of a `SyncCell` documents the lock (or the
// publish-once protocol) that serialises its accesses.
unsafe impl<T> Sync for SyncCell<T> {}

impl<T> SyncCell<T> {
    pub(crate) const fn new(v: T) -> Self {
        SyncCell(UnsafeCell::new(v))
    }

    pub(crate) const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// The calling thread's `errno`: saved around libc calls that may fail
/// on a path that still succeeds (glibc leaves `errno` alone then).
pub(crate) fn errno() -> i32 {
    // SAFETY: `__errno_location` returns the calling thread's errno slot,
    // valid for reads for the thread's lifetime.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
pub(crate) fn set_errno(e: i32) {
    // SAFETY: `__errno_location` returns the calling thread's errno slot,
    // valid for writes for the thread's lifetime.
    unsafe { *libc::__errno_location() = e };
}

/// Writes all of `bytes` to `fd`, retrying on short writes and `EINTR`;
/// gives up on any other error and returns its `errno` (callers mostly
/// ignore it: there is nobody to tell).
pub(crate) fn write_all(fd: i32, mut bytes: &[u8]) -> Result<(), i32> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid, initialised buffer of that length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            // SAFETY: reading this thread's errno.
            let e = unsafe { *libc::__errno_location() };
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        bytes = &bytes[(n as usize).min(bytes.len())..];
    }
    Ok(())
}

/// Writes `msg` to standard error in one `write`; if the program closed
/// descriptor 2, to the copy of it [`keep_stderr_copy`] kept, if any.
pub(crate) fn eprint(msg: &[u8]) {
    if write_all(2, msg) == Err(libc::EBADF)
        && let Some(fd) = stderr_copy()
    {
        let _ = write_all(fd, msg);
    }
}

/// The descriptor of the copy of stderr, or -1 (see [`keep_stderr_copy`]).
static STDERR_COPY: AtomicI32 = AtomicI32::new(-1);
/// The device and inode of the file the copy names.
static STDERR_DEV: AtomicU64 = AtomicU64::new(0);
static STDERR_INO: AtomicU64 = AtomicU64::new(0);
/// The lowest descriptor number the copy takes: away from the low numbers
/// programs pick by hand.
const STDERR_COPY_LOWEST: i32 = 100;

/// Keeps a copy of the stderr the process started with, for messages
/// written after the program closed it. Some programs close stderr before
/// they exit — coreutils' `ls`, `sort` and `cat` do, in `close_stdout` —
/// and the library's exit messages (`SYSARENA_CHECK`'s line) come after
/// that. Taken only when asked (`SYSARENA_CHECK`), close-on-exec (a program
/// the process runs does not inherit it), at descriptor
/// [`STDERR_COPY_LOWEST`] or above; [`eprint()`] uses it only while
/// descriptor 2 is closed and the copy still names the file it was made
/// from: a program that reused its number (`dup2` onto it clears
/// close-on-exec, and names another file) gets nothing written into it.
/// Runs during initialisation.
pub(crate) fn keep_stderr_copy() {
    // SAFETY: `fcntl` with `F_DUPFD_CLOEXEC` takes no pointer; it fails
    // harmlessly (-1) when descriptor 2 is closed or the limit is low.
    let fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, STDERR_COPY_LOWEST) };
    if fd < 0 {
        return;
    }
    let Some((dev, ino)) = file_id(fd) else {
        // SAFETY: `fd` is the descriptor just made, owned by this code.
        unsafe { libc::close(fd) };
        return;
    };
    STDERR_DEV.store(dev, Ordering::Relaxed);
    STDERR_INO.store(ino, Ordering::Relaxed);
    // Publishes the identity stored above (Acquire in `stderr_copy`).
    STDERR_COPY.store(fd, Ordering::Release);
}

/// The copy of stderr, if one was kept and it still names its file.
fn stderr_copy() -> Option<i32> {
    let fd = STDERR_COPY.load(Ordering::Acquire);
    if fd < 0 {
        return None;
    }
    // SAFETY: `F_GETFD` takes no pointer. A descriptor that is not
    // close-on-exec any more was replaced by the program (`dup2` clears the
    // flag).
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 || flags & libc::FD_CLOEXEC == 0 {
        return None;
    }
    let id = (
        STDERR_DEV.load(Ordering::Relaxed),
        STDERR_INO.load(Ordering::Relaxed),
    );
    (file_id(fd) == Some(id)).then_some(fd)
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

/// A fixed-capacity byte buffer on the stack that implements
/// [`fmt::Write`]; output past the capacity is cut off, never an error that
/// could panic.
pub(crate) struct Buf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Buf<N> {
    pub(crate) const fn new() -> Self {
        Buf {
            bytes: [0; N],
            len: 0,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub(crate) fn push(&mut self, s: &[u8]) {
        let n = s.len().min(N - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    /// Appends a decimal number.
    pub(crate) fn push_u64(&mut self, v: u64) {
        let mut digits = [0u8; 20];
        let n = fmt_u64(v, &mut digits);
        self.push(&digits[20 - n..]);
    }

    /// The contents plus a terminating NUL, as a C string; `None` when the
    /// buffer is full (the string would be cut).
    pub(crate) fn c_str(&mut self) -> Option<*const libc::c_char> {
        if self.len >= N {
            return None;
        }
        self.bytes[self.len] = 0;
        Some(self.bytes.as_ptr().cast())
    }
}

impl<const N: usize> fmt::Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Writes `v` in decimal right-aligned into `out`; returns the digit count.
pub(crate) fn fmt_u64(mut v: u64, out: &mut [u8; 20]) -> usize {
    let mut i = 20;
    loop {
        i -= 1;
        out[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return 20 - i;
        }
    }
}

/// Pages `mincore` reports on per call (its vector is on the stack).
const MINCORE_CHUNK: usize = 512;

/// Resident bytes of `start .. start + len` (`page`-aligned, inside
/// mappings of ours), by `mincore`; what it counted before a refusal if the
/// kernel refuses (a range that is not mapped).
pub(crate) fn resident(start: usize, len: usize, page: usize) -> usize {
    let mut vec = [0u8; MINCORE_CHUNK];
    let mut total = 0;
    let mut at = start;
    let end = start + len;
    while at < end {
        let n = ((end - at) / page).min(MINCORE_CHUNK);
        if n == 0 {
            break;
        }
        // SAFETY: `at .. at + n * page` lies in a live mapping of ours
        // (page-aligned); `vec` holds `n <= MINCORE_CHUNK` bytes.
        if unsafe { libc::mincore(at as *mut _, n * page, vec.as_mut_ptr()) } != 0 {
            return total;
        }
        total += vec[..n].iter().filter(|&&v| v & 1 != 0).count() * page;
        at += n * page;
    }
    total
}

/// Zeroes `len` bytes at `p`: the whole 4 KiB pages inside go back to the
/// kernel (`MADV_DONTNEED`: they read as zero, and are no longer resident),
/// the partial first and last pages are written (as is everything, if the
/// kernel refuses: pages larger than 4 KiB).
///
/// # Safety
/// `p .. p + len` lies inside private anonymous memory this library mapped,
/// and no one else uses it.
pub(crate) unsafe fn zero(p: *mut u8, len: usize) {
    let start = p as usize;
    let (a, b) = (start.next_multiple_of(4096), (start + len) & !4095);
    // SAFETY: whole pages inside `p .. p + len`, the caller's private
    // anonymous memory, which no one uses: they read as zero afterwards.
    if b > a && unsafe { crate::syscall::dont_need(a as *mut u8, b - a) } {
        // SAFETY: the partial first and last pages, inside the range.
        unsafe {
            p.write_bytes(0, a - start);
            (b as *mut u8).write_bytes(0, start + len - b);
        }
    } else {
        // SAFETY: the caller's range.
        unsafe { p.write_bytes(0, len) };
    }
}

/// Maps `len` bytes of fresh, zeroed, private anonymous memory that is
/// committed only when touched, at `hint` with `extra` flags (none, or
/// `FIXED_NOREPLACE`); `None` on failure.
fn map_anon(hint: usize, len: usize, extra: MapFlags) -> Option<*mut u8> {
    debug_assert!(!extra.contains(MapFlags::FIXED));
    // SAFETY: an anonymous mapping, never `MAP_FIXED` (which could replace
    // one): the kernel takes the hint only where nothing is mapped, and the
    // new mapping touches no existing memory.
    let p = unsafe { crate::syscall::map(hint as *mut _, len, MapFlags::NORESERVE | extra) };
    p.map(<*mut libc::c_void>::cast)
}

/// Maps `len` bytes of fresh, zeroed, private anonymous memory that is
/// committed only when touched; `None` on failure.
pub(crate) fn map_noreserve(len: usize) -> Option<*mut u8> {
    map_anon(0, len, MapFlags::empty())
}

/// Where a reservation that may grow is placed (`map_noreserve_near`): at
/// a random 64 KiB boundary in 16–32 TiB (28 bits of randomness, as the
/// kernel gives its own mappings), far below the kernel's top-down
/// placement of mappings (just under the stack, near 128 TiB on x86_64)
/// and above a program's data and `brk` heap, so the address space after
/// it stays free. Without randomness (`getrandom` failed), 16 TiB.
pub(crate) fn growable_at() -> usize {
    let mut r = 0u64;
    // SAFETY: writes at most 8 bytes into `r`; GRND_NONBLOCK never waits
    // (an early-boot pool that is not ready fails instead).
    let n = unsafe { libc::getrandom((&raw mut r).cast(), 8, libc::GRND_NONBLOCK) };
    let r = if n == 8 { r as usize } else { 0 };
    (1 << 44) + ((r & ((1 << 28) - 1)) << 16)
}

/// Like [`map_noreserve`], at `hint` if the kernel can place it there
/// (anywhere else otherwise).
pub(crate) fn map_noreserve_near(hint: usize, len: usize) -> Option<*mut u8> {
    map_anon(hint, len, MapFlags::empty())
}

/// `len` bytes of fresh zeroed memory (`MAP_NORESERVE`) at exactly `at`, or
/// `None` if anything is mapped there or the kernel refuses (an address
/// space limit). A kernel older than `MAP_FIXED_NOREPLACE` (4.17) takes it
/// as a hint: a mapping elsewhere is undone.
pub(crate) fn map_fixed_noreplace(at: usize, len: usize) -> Option<*mut u8> {
    let p = map_anon(at, len, MapFlags::FIXED_NOREPLACE)?;
    if p as usize != at {
        // SAFETY: the mapping just made, elsewhere; no one has seen it.
        unsafe { crate::syscall::munmap(p.cast(), len) };
        return None;
    }
    Some(p)
}

/// Extends the mapping `p .. p + len` in place to `new_len` bytes
/// (`mremap` without `MREMAP_MAYMOVE`: the added bytes are more of the same
/// mapping, fresh and zeroed, with its flags); false, with nothing changed,
/// when the kernel refuses (the bytes after it are mapped, the limit has no
/// room, or `p .. p + len` is not one whole mapping).
///
/// # Safety
/// `p .. p + len` is memory of ours, all of one mapping made by
/// [`map_anon`]'s callers (or part of one, from its start), and
/// `new_len >= len`.
pub(crate) unsafe fn extend_in_place(p: *mut u8, len: usize, new_len: usize) -> bool {
    debug_assert!(new_len >= len);
    // SAFETY: without `MREMAP_MAYMOVE` the mapping stays at `p` or the
    // call fails; the caller's contract makes `p .. p + len` ours, and the
    // kernel only takes the bytes after it where nothing is mapped.
    let r = unsafe { crate::syscall::mremap(p.cast(), len, new_len, false) };
    r.is_some_and(|r| r.cast::<u8>() == p)
}

/// The address space this process may still map under `RLIMIT_AS`
/// (`ulimit -v`): the limit less what is mapped now (`/proc/self/statm`);
/// `None` when there is no limit.
pub(crate) fn address_space_left() -> Option<usize> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid rlimit to write.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut r) } != 0 || r.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    let limit = usize::try_from(r.rlim_cur).unwrap_or(usize::MAX);
    let mut buf = [0u8; 128];
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/statm".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    let mut used = 0;
    if fd >= 0 {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        // SAFETY: closing the descriptor opened above.
        unsafe { libc::close(fd) };
        if n > 0 {
            let first = buf[..n as usize]
                .split(|&b| b == b' ')
                .next()
                .unwrap_or(&[]);
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
            used = parse_size(first).unwrap_or(0).saturating_mul(page);
        }
    }
    Some(limit.saturating_sub(used))
}

/// The value of environment variable `name` (a NUL-terminated name), if set.
pub(crate) fn env(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: `name` is NUL-terminated; `getenv` does not allocate, and the
    // string it returns lives in the environment block. Callers copy what
    // they keep, so a later `setenv` by the program cannot pull it away
    // while it is used.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: `getenv` returns a NUL-terminated string.
    Some(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// Parses a byte count or a count: decimal digits with an optional binary
/// suffix `k`, `m`, `g` or `t` (either case). `None` if malformed or
/// overflowing.
pub(crate) fn parse_size(s: &[u8]) -> Option<usize> {
    let (digits, shift) = match s.last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        b't' | b'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: usize = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((d - b'0') as usize)?;
    }
    v.checked_mul(1usize << shift)
}

/// Copies a path template into `out`, replacing each `%p` with `pid`, and
/// appending `suffix_pid` as `.<pid>` when given. `false` if it does not fit.
pub(crate) fn expand_path<const N: usize>(
    template: &[u8],
    pid: u32,
    suffix_pid: Option<u32>,
    out: &mut Buf<N>,
) -> bool {
    let mut i = 0;
    while i < template.len() {
        if template[i] == b'%' && template.get(i + 1) == Some(&b'p') {
            out.push_u64(pid as u64);
            i += 2;
        } else {
            out.push(&template[i..i + 1]);
            i += 1;
        }
    }
    if let Some(p) = suffix_pid {
        out.push(b".");
        out.push_u64(p as u64);
    }
    out.as_bytes().len() < N
}

/// The calling process's id.
pub(crate) fn pid() -> u32 {
    // SAFETY: `getpid` has no preconditions.
    unsafe { libc::getpid() as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_clears_exactly_its_range_across_whole_and_partial_pages() {
        let len = 4 * 4096;
        let p = map_noreserve(len).unwrap();
        // SAFETY: the fresh mapping's `len` bytes, ours.
        let all = unsafe { core::slice::from_raw_parts_mut(p, len) };
        all.fill(7);
        // From the middle of page 0 to the middle of page 3: the whole
        // pages 1 and 2 go back, the partial ends are written.
        let (from, to) = (100, 3 * 4096 + 50);
        // SAFETY: inside the mapping, used by nothing else.
        unsafe { zero(p.add(from), to - from) };
        for (i, &b) in all.iter().enumerate() {
            assert_eq!(b, if (from..to).contains(&i) { 0 } else { 7 }, "byte {i}");
        }
        // SAFETY: the mapping made above, no longer used.
        unsafe { crate::syscall::munmap(p.cast(), len) };
    }

    #[test]
    fn a_mapping_extends_in_place_keeping_its_bytes_until_something_lies_after_it() {
        let mib = 1 << 20;
        // Where the shards go: the space after it is free.
        let p = map_noreserve_near(growable_at(), mib).unwrap();
        // SAFETY: the first byte of the fresh mapping.
        unsafe { *p = 7 };
        // SAFETY: `p .. p + mib` is that one mapping.
        assert!(unsafe { extend_in_place(p, mib, 2 * mib) });
        // SAFETY: the extended mapping's first and last bytes.
        unsafe {
            assert_eq!(*p, 7, "the old bytes stay");
            assert_eq!(*p.add(2 * mib - 1), 0, "the new ones are zero");
            *p.add(2 * mib - 1) = 9;
        }
        // Something right after it: it cannot grow, and nothing changes.
        let next = map_fixed_noreplace(p as usize + 2 * mib, 4096).unwrap();
        // SAFETY: as above.
        assert!(!unsafe { extend_in_place(p, 2 * mib, 3 * mib) });
        // SAFETY: both mappings, made here.
        unsafe {
            assert_eq!((*p, *p.add(2 * mib - 1)), (7, 9));
            crate::syscall::munmap(next.cast(), 4096);
            crate::syscall::munmap(p.cast(), 2 * mib);
        }
    }

    #[test]
    fn resident_counts_only_touched_pages() {
        let page = 4096;
        // More pages than one mincore call covers.
        let len = (MINCORE_CHUNK * 2 + 7) * page;
        let p = map_noreserve(len).unwrap();
        let start = p as usize;
        assert_eq!(resident(start, len, page), 0);
        for i in [0, 3, MINCORE_CHUNK + 1, 2 * MINCORE_CHUNK + 6] {
            // SAFETY: inside the mapping.
            unsafe { *((start + i * page) as *mut u8) = 1 };
        }
        assert_eq!(resident(start, len, page), 4 * page);
        // SAFETY: ours.
        unsafe { crate::syscall::munmap(p.cast(), len) };
    }
    use core::fmt::Write;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size(b"123"), Some(123));
        assert_eq!(parse_size(b"4k"), Some(4096));
        assert_eq!(parse_size(b"64G"), Some(64 << 30));
        assert_eq!(parse_size(b""), None);
        assert_eq!(parse_size(b"k"), None);
        assert_eq!(parse_size(b"12x"), None);
        assert_eq!(parse_size(b"99999999999999999999999"), None);
        assert_eq!(parse_size(b"99999999999T"), None);
    }

    #[test]
    fn buf_formats_and_truncates() {
        let mut b = Buf::<8>::new();
        write!(b, "{}-{}", 12, core::hint::black_box("abcdefgh")).unwrap();
        assert_eq!(b.as_bytes(), b"12-abcde");
        assert!(b.c_str().is_none());
        let mut b = Buf::<32>::new();
        b.push_u64(0);
        b.push(b" ");
        b.push_u64(u64::MAX);
        assert_eq!(b.as_bytes(), b"0 18446744073709551615");
    }

    #[test]
    fn expands_paths() {
        let mut b = Buf::<64>::new();
        assert!(expand_path(b"/tmp/t.%p.log", 42, None, &mut b));
        assert_eq!(b.as_bytes(), b"/tmp/t.42.log");
        let mut b = Buf::<64>::new();
        assert!(expand_path(b"/tmp/t%", 42, Some(7), &mut b));
        assert_eq!(b.as_bytes(), b"/tmp/t%.7");
        let mut b = Buf::<4>::new();
        assert!(!expand_path(b"/tmp/x", 1, None, &mut b));
    }
}
