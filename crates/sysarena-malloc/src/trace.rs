//! The trace recorder (`SYSARENA_TRACE=path`): every successful call becomes
//! one line of the project's trace format (`a <id> <size> <align>`,
//! `f <id>`, `r <id> <new_size>`; see `traces/README.md` in the repository).
//!
//! - Lines collect in a static buffer and are written with `write(2)` when
//!   it fills, and at exit.
//! - Pointers map to ids through a fixed open-addressing table in a
//!   `MAP_NORESERVE` mapping ([`TABLE_ENTRIES`] entries); ids come from an
//!   atomic counter, start at 1 and are never reused.
//! - While tracing, every call runs under the trace lock: the order of the
//!   lines is the order of the calls, and an address freed by one thread and
//!   handed out again to another is never seen under two ids at once.
//! - `fork`: the child discards the parent's unwritten lines (the parent
//!   writes them), forgets the parent's blocks, and writes its own trace to
//!   `path.<pid>` (or to the `%p` expansion of `path`), opened on its first
//!   event, so a child that only `exec`s leaves no file. Its first
//!   [`CHILD_THROUGH`] lines are written at once, not buffered: a child
//!   usually ends with `_exit` or `exec`, which run no exit handler, and
//!   buffered lines would be lost.
//! - A process writes `path` only if it can take an exclusive `flock` on it;
//!   a program started (`exec`) by a traced one finds it locked and writes
//!   `path.<pid>` instead.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::lock::Lock;
use crate::ptrmap::{Entry, PtrMap};
use crate::sys::{self, Buf, SyncCell};
use crate::syscall::MapFlags;

/// Entries of the pointer → id table (16 bytes each, reserved, committed on
/// touch). At 7/8 full, tracing stops with a message.
pub(crate) const TABLE_ENTRIES: usize = 1 << 22;
/// The line buffer.
const BUF: usize = 1 << 16;
/// Lines a forked child writes at once (one `write` each) before it
/// buffers them as any process does: a short-lived child loses none to an
/// `_exit` or `exec`, and a long-lived one pays about a millisecond.
const CHILD_THROUGH: u32 = 1024;

/// The trace file's descriptor plus one (0: none). The state's first
/// value is all zero bytes, so its static (69 KB, mostly the line buffer)
/// lies in `.bss`, untouched unless a program is traced, not in `.data`,
/// whose pages every program maps in (an `fd` of -1 put it there).
#[derive(Clone, Copy)]
struct Fd(u32);

impl Fd {
    /// No file.
    const NONE: Fd = Fd(0);

    /// Open descriptor `fd` (at least 0).
    fn of(fd: i32) -> Fd {
        Fd(fd as u32 + 1)
    }

    /// The descriptor, if a file is open.
    fn get(self) -> Option<i32> {
        self.0.checked_sub(1).map(|fd| fd as i32)
    }
}

struct State {
    fd: Fd,
    /// A forked child has not opened its own file yet.
    reopen: bool,
    template: Buf<4096>,
    has_pid: bool,
    buf: [u8; BUF],
    len: usize,
    map: PtrMap,
    table: *mut Entry,
    /// Past the exit flush: write every line at once.
    finished: bool,
    /// Lines still to write at once in a forked child ([`CHILD_THROUGH`]).
    through: u32,
}

static LOCK: Lock = Lock::new();
static ACTIVE: AtomicBool = AtomicBool::new(false);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static STATE: SyncCell<State> = SyncCell::new(State {
    fd: Fd::NONE,
    reopen: false,
    template: Buf::new(),
    has_pid: false,
    buf: [0; BUF],
    len: 0,
    map: PtrMap::none(),
    table: core::ptr::null_mut(),
    finished: false,
    through: 0,
});

/// Reads `SYSARENA_TRACE` and opens the trace. Runs during initialisation,
/// before any other access to the recorder.
pub(crate) fn init() {
    let Some(path) = sys::env(c"SYSARENA_TRACE") else {
        return;
    };
    if path.is_empty() {
        return;
    }
    // SAFETY: initialisation has exclusive access (the caller's contract).
    let st = unsafe { &mut *STATE.get() };
    st.template.push(path);
    st.has_pid = path.windows(2).any(|w| w == b"%p");
    let Some(table) = sys::map_noreserve(TABLE_ENTRIES * core::mem::size_of::<Entry>()) else {
        sys::eprint(b"sysarena-malloc: SYSARENA_TRACE: cannot map the id table; not tracing\n");
        return;
    };
    st.table = table.cast();
    // SAFETY: a fresh zeroed mapping of TABLE_ENTRIES entries, ours for ever.
    st.map = unsafe { PtrMap::new(st.table, TABLE_ENTRIES) };
    if open(st, None) {
        ACTIVE.store(true, Ordering::Relaxed);
    }
}

/// Opens the trace file: `path` (the `%p` expansion) if this process can
/// own it, else `path.<pid>`. Owning means holding an exclusive `flock` on
/// it: a program started by a traced one (a compiler driver running `cc1`,
/// `timeout` running its command) inherits `SYSARENA_TRACE` and must not
/// truncate the file its parent is still writing.
fn open(st: &mut State, child: Option<u32>) -> bool {
    let pid = sys::pid();
    if child.is_none() && try_open(st, pid, None, true) {
        return true;
    }
    let suffix = if st.has_pid { None } else { Some(pid) };
    try_open(st, pid, suffix, false)
}

fn try_open(st: &mut State, pid: u32, suffix: Option<u32>, own: bool) -> bool {
    let mut path = Buf::<4200>::new();
    if !sys::expand_path(st.template.as_bytes(), pid, suffix, &mut path) {
        sys::eprint(b"sysarena-malloc: SYSARENA_TRACE: path too long; not tracing\n");
        return false;
    }
    let Some(c) = path.c_str() else { return false };
    let trunc = if own { 0 } else { libc::O_TRUNC };
    // SAFETY: `c` is a NUL-terminated path in `path`, alive for the call.
    let fd = unsafe {
        libc::open(
            c,
            libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | trunc,
            0o644,
        )
    };
    if fd < 0 {
        let mut m = Buf::<4400>::new();
        m.push(b"sysarena-malloc: SYSARENA_TRACE: cannot open ");
        m.push(path.as_bytes());
        m.push(b"; not tracing\n");
        sys::eprint(m.as_bytes());
        return false;
    }
    if own {
        // SAFETY: `fd` is the descriptor just opened.
        let owned = unsafe {
            libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) == 0 && libc::ftruncate(fd, 0) == 0
        };
        if !owned {
            // SAFETY: closing the descriptor just opened.
            unsafe { libc::close(fd) };
            return false;
        }
    }
    st.fd = Fd::of(fd);
    true
}

/// Whether calls are being recorded.
#[inline]
pub(crate) fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// The trace lock, held while one call runs and is recorded.
#[derive(Debug)]
pub(crate) struct Guard(());

/// Takes the trace lock if tracing.
pub(crate) fn begin() -> Option<Guard> {
    if !active() {
        return None;
    }
    LOCK.lock();
    if !active() {
        LOCK.unlock();
        return None;
    }
    Some(Guard(()))
}

impl Drop for Guard {
    fn drop(&mut self) {
        LOCK.unlock();
    }
}

impl Guard {
    fn st(&mut self) -> &mut State {
        // SAFETY: the guard holds LOCK, which serialises all access to STATE
        // after initialisation.
        unsafe { &mut *STATE.get() }
    }

    /// Records `a <id> <size> <align>` for the new block `p`.
    pub(crate) fn alloc(&mut self, p: *mut u8, size: usize, align: usize) {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        if self.st().map.insert(p as usize, id).is_err() {
            self.stop(b"sysarena-malloc: SYSARENA_TRACE: id table full; tracing stops\n");
            return;
        }
        self.line(b'a', id, Some(size), Some(align));
    }

    /// Records `f <id>` for `p`, if it is a traced block.
    pub(crate) fn free(&mut self, p: *mut u8) {
        if let Some(id) = self.st().map.remove(p as usize) {
            self.line(b'f', id, None, None);
        }
    }

    /// Records `r <id> <size>` for `old`, now at `new`; a block the trace
    /// never saw (allocated before a `fork`) appears as a new `a`.
    pub(crate) fn realloc(&mut self, old: *mut u8, new: *mut u8, size: usize) {
        match self.st().map.remove(old as usize) {
            Some(id) => {
                // Cannot fail: one entry was just removed.
                let _ = self.st().map.insert(new as usize, id);
                self.line(b'r', id, Some(size), None);
            }
            None => self.alloc(new, size, crate::settings::MIN_ALIGN),
        }
    }

    fn line(&mut self, op: u8, id: u64, a: Option<usize>, b: Option<usize>) {
        let st = self.st();
        if st.reopen {
            st.reopen = false;
            if !open(st, Some(sys::pid())) {
                ACTIVE.store(false, Ordering::Relaxed);
                return;
            }
        }
        let mut l = Buf::<64>::new();
        l.push(&[op, b' ']);
        l.push_u64(id);
        for v in [a, b].into_iter().flatten() {
            l.push(b" ");
            l.push_u64(v as u64);
        }
        l.push(b"\n");
        let bytes = l.as_bytes();
        if st.len + bytes.len() > BUF {
            flush(st);
        }
        st.buf[st.len..st.len + bytes.len()].copy_from_slice(bytes);
        st.len += bytes.len();
        if st.through > 0 {
            st.through -= 1;
            flush(st);
        } else if st.finished {
            flush(st);
        }
    }

    fn stop(&mut self, why: &[u8]) {
        let st = self.st();
        flush(st);
        ACTIVE.store(false, Ordering::Relaxed);
        sys::eprint(why);
    }
}

fn flush(st: &mut State) {
    if st.len > 0
        && let Some(fd) = st.fd.get()
    {
        let _ = sys::write_all(fd, &st.buf[..st.len]);
    }
    st.len = 0;
}

/// Writes the buffered lines at exit; later calls (other exit handlers)
/// are written line by line.
pub(crate) fn finish() {
    if let Some(mut g) = begin() {
        let st = g.st();
        flush(st);
        st.finished = true;
    }
}

/// Takes the trace lock before `fork`.
pub(crate) fn lock_for_fork() {
    LOCK.lock();
}

/// Releases it in the parent after `fork`.
pub(crate) fn unlock_after_fork() {
    LOCK.unlock();
}

/// The child after `fork`: drops the parent's unwritten lines and blocks,
/// and opens its own file at its first event.
pub(crate) fn reset_in_child() {
    LOCK.reset_in_child();
    if !active() {
        return;
    }
    // SAFETY: the child has one thread, and it is here.
    let st = unsafe { &mut *STATE.get() };
    st.len = 0;
    st.through = CHILD_THROUGH;
    if let Some(fd) = st.fd.get() {
        // SAFETY: closing the child's copy of our own descriptor.
        unsafe { libc::close(fd) };
        st.fd = Fd::NONE;
    }
    st.reopen = true;
    // Fresh zero pages over the table (cheaper than clearing it, and a
    // child that only execs never touches them).
    // SAFETY: remapping our own table mapping in place.
    let p = unsafe {
        crate::syscall::map(
            st.table.cast(),
            TABLE_ENTRIES * core::mem::size_of::<Entry>(),
            MapFlags::NORESERVE | MapFlags::FIXED,
        )
    };
    if p.is_none() {
        ACTIVE.store(false, Ordering::Relaxed);
        return;
    }
    st.map.reset_len();
    NEXT_ID.store(1, Ordering::Relaxed);
}
