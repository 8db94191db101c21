//! Process-wide state: the settings read from the environment, the
//! reservation, lazy initialisation on the first call, and the `fork`
//! handlers.

use core::mem::size_of;
use core::sync::atomic::{AtomicU8, Ordering};

use sysarena::{Coalescing, Config, Policy, Slot};

use crate::sys::{self, SyncCell};
use crate::{big, report, shard, slab, trace};

/// Default size of the address-space reservation (`SYSARENA_RESERVE`).
pub(crate) const DEFAULT_RESERVE: usize = 64 << 30;
/// The smallest reservation tried before giving up.
const MIN_RESERVE: usize = 64 << 20;
/// Default descriptors per shard (`SYSARENA_DESCRIPTORS`).
pub(crate) const DEFAULT_DESCRIPTORS: usize = 1 << 22;
/// Default direct-mapping threshold (`SYSARENA_MMAP_THRESHOLD`).
pub(crate) const DEFAULT_MMAP_THRESHOLD: usize = 64 << 20;
/// Default release threshold (`SYSARENA_RELEASE`).
pub(crate) const DEFAULT_RELEASE: usize = 1 << 20;

/// Everything fixed at initialisation. Written once by the initialising
/// thread before `STATE` becomes `READY` (release), read-only afterwards.
#[derive(Debug)]
pub(crate) struct Globals {
    /// First byte of the reservation.
    pub(crate) base: usize,
    /// Bytes of the reservation in use: `shards * shard_size`.
    pub(crate) span: usize,
    /// Bytes per shard (a power of two, at least 64 KiB).
    pub(crate) shard_size: usize,
    /// log2 of `shard_size`: the owner of an address is a shift away.
    pub(crate) shard_shift: u32,
    /// Number of shards.
    pub(crate) shards: usize,
    /// Descriptors per shard.
    pub(crate) descriptors: usize,
    /// Requests of at least this many bytes get their own mapping.
    pub(crate) mmap_threshold: usize,
    /// Freed arenas of at least this many bytes give their pages back
    /// (0: never).
    pub(crate) release: usize,
    /// The page size.
    pub(crate) page: usize,
    /// Policy and coalescing of every shard.
    pub(crate) config: Config,
    /// Whether small blocks go to the slab layer (`SYSARENA_SLAB`).
    pub(crate) slab: bool,
}

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;
const FAILED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static GLOBALS: SyncCell<Globals> = SyncCell::new(Globals {
    base: 0,
    span: 0,
    shard_size: 0,
    shard_shift: 0,
    shards: 0,
    descriptors: 0,
    mmap_threshold: DEFAULT_MMAP_THRESHOLD,
    release: DEFAULT_RELEASE,
    page: 4096,
    config: Config::fast(),
    slab: true,
});

/// The settings, initialising the allocator on the first call; `None` if
/// no memory could be reserved.
#[inline]
pub(crate) fn get() -> Option<&'static Globals> {
    if STATE.load(Ordering::Acquire) == READY {
        // SAFETY: READY is stored (release) after GLOBALS is written for the
        // last time; this acquire load orders our read after that write.
        return Some(unsafe { &*GLOBALS.get() });
    }
    init_slow()
}

/// The settings if the allocator is initialised, without initialising it.
#[inline]
pub(crate) fn get_if_ready() -> Option<&'static Globals> {
    // SAFETY: as in `get`.
    (STATE.load(Ordering::Acquire) == READY).then(|| unsafe { &*GLOBALS.get() })
}

#[cold]
fn init_slow() -> Option<&'static Globals> {
    loop {
        match STATE.compare_exchange(UNINIT, BUSY, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => {
                // SAFETY: we won the race: no other thread reads or writes
                // GLOBALS until STATE leaves BUSY.
                let ok = unsafe { init(&mut *GLOBALS.get()) };
                STATE.store(if ok { READY } else { FAILED }, Ordering::Release);
                if !ok {
                    sys::eprint(b"sysarena-malloc: cannot reserve memory; malloc will fail\n");
                    return None;
                }
                // Now that malloc works, register what may itself allocate.
                register_fork_handlers();
                return get();
            }
            Err(READY) => return get(),
            Err(FAILED) => return None,
            // Another thread is initialising (init itself never calls
            // malloc, so this is never our own thread): wait for it.
            Err(_) => core::hint::spin_loop(),
        }
    }
}

/// Reads the environment, reserves the region and the descriptor tables
/// and builds every shard. Calls nothing that allocates.
///
/// # Safety
/// Runs once, with exclusive access to `g` and the shards.
unsafe fn init(g: &mut Globals) -> bool {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    g.page = if page > 0 { page as usize } else { 4096 };

    let shards = env_size(c"SYSARENA_SHARDS", default_shards()).clamp(1, shard::MAX_SHARDS);
    let mut reserve = env_size(c"SYSARENA_RESERVE", DEFAULT_RESERVE).max(MIN_RESERVE);
    let descriptors = env_size(c"SYSARENA_DESCRIPTORS", DEFAULT_DESCRIPTORS).clamp(16, 1 << 30);
    g.mmap_threshold = env_size(c"SYSARENA_MMAP_THRESHOLD", DEFAULT_MMAP_THRESHOLD).max(g.page);
    g.release = env_size(c"SYSARENA_RELEASE", DEFAULT_RELEASE);
    g.config = config_from_env();
    g.slab = env_switch(c"SYSARENA_SLAB", true);

    // One slab page more than asked: the shards start at the first 64 KiB
    // boundary (slab pages are 64 KiB-aligned arenas of the shards).
    let raw = loop {
        if let Some(p) = sys::map_noreserve(reserve + slab::PAGE) {
            break p;
        }
        if reserve / 2 < MIN_RESERVE {
            return false;
        }
        reserve /= 2;
    };
    let base = raw.wrapping_add((raw as usize).next_multiple_of(slab::PAGE) - raw as usize);
    // Shards are a power of two of bytes (whole slab pages), so that the
    // owner of an address is a shift away; the rest of the reservation is
    // never used.
    let per_shard = reserve / shards;
    if per_shard < slab::PAGE {
        return false;
    }
    let shard_size = 1usize << per_shard.ilog2();
    let Some(table_bytes) = shards
        .checked_mul(descriptors)
        .and_then(|n| n.checked_mul(size_of::<Slot>()))
    else {
        return false;
    };
    let Some(tables) = sys::map_noreserve(table_bytes) else {
        return false;
    };
    // The slab layer's page records: one per 64 KiB of the shards, out of
    // band, committed on touch. Without them the layer is off.
    let pages_per_shard = shard_size / slab::PAGE;
    let meta = sys::map_noreserve(shards * pages_per_shard * slab::META_BYTES)
        .map_or(core::ptr::null_mut(), |p| p.cast::<slab::PageMeta>());
    if meta.is_null() {
        g.slab = false;
    }
    for i in 0..shards {
        // SAFETY: shard `i`'s table is its own `descriptors` slots in the
        // fresh (zeroed) table mapping, its page records its own
        // `pages_per_shard` in the fresh record mapping, and its region its
        // own `shard_size` bytes of the reservation, starting on a 64 KiB
        // boundary; all are leaked for the process's life.
        let ok = unsafe {
            shard::build(
                i,
                base.add(i * shard_size),
                shard_size,
                tables.cast::<Slot>().add(i * descriptors),
                descriptors,
                g.config,
                if meta.is_null() {
                    meta
                } else {
                    meta.add(i * pages_per_shard)
                },
                g.slab,
            )
        };
        if !ok {
            return false;
        }
    }
    g.base = base as usize;
    g.shard_size = shard_size;
    g.shard_shift = shard_size.trailing_zeros();
    g.shards = shards;
    g.span = shard_size * shards;
    g.descriptors = descriptors;
    report::init();
    trace::init();
    true
}

/// Two shards per CPU this process may run on, capped.
fn default_shards() -> usize {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity writes at most
    // its size.
    let cpus = unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            libc::CPU_COUNT(&set) as usize
        } else {
            1
        }
    };
    (2 * cpus.max(1)).min(shard::MAX_SHARDS)
}

/// A size-valued variable, or `default` (with a warning if malformed).
fn env_size(name: &core::ffi::CStr, default: usize) -> usize {
    match sys::env(name) {
        None => default,
        Some(v) => sys::parse_size(v).unwrap_or_else(|| {
            warn_bad(name, v);
            default
        }),
    }
}

/// An on/off variable (`1`/`on`/`yes`/`true`, `0`/`off`/`no`/`false`), or
/// `default` (with a warning if malformed).
pub(crate) fn env_switch(name: &core::ffi::CStr, default: bool) -> bool {
    match sys::env(name) {
        None => default,
        Some(b"1" | b"on" | b"yes" | b"true") => true,
        Some(b"0" | b"off" | b"no" | b"false") => false,
        Some(v) => {
            warn_bad(name, v);
            default
        }
    }
}

fn warn_bad(name: &core::ffi::CStr, v: &[u8]) {
    let mut b = sys::Buf::<256>::new();
    b.push(b"sysarena-malloc: ignoring ");
    b.push(name.to_bytes());
    b.push(b"='");
    b.push(v);
    b.push(b"' (see crates/sysarena-malloc/README.md)\n");
    sys::eprint(b.as_bytes());
}

/// `SYSARENA_POLICY` and `SYSARENA_COALESCING` (default: the fast model).
fn config_from_env() -> Config {
    let mut c = Config::fast();
    if let Some(v) = sys::env(c"SYSARENA_POLICY") {
        match core::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<Policy>().ok())
        {
            Some(p) => c.policy = p,
            None => warn_bad(c"SYSARENA_POLICY", v),
        }
    }
    if let Some(v) = sys::env(c"SYSARENA_COALESCING") {
        match core::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<Coalescing>().ok())
        {
            Some(m) => c.coalescing = m,
            None => warn_bad(c"SYSARENA_COALESCING", v),
        }
    }
    c
}

// ----- fork ----------------------------------------------------------------------------

fn register_fork_handlers() {
    // SAFETY: the handlers are `extern "C" fn()` that live for the whole
    // process (this library is never unloaded: it is preloaded).
    unsafe {
        libc::pthread_atfork(
            Some(before_fork),
            Some(after_fork_parent),
            Some(after_fork_child),
        );
    }
}

/// Takes every lock (trace, big mappings, then the shards in order — the
/// order every other path takes them in), so that no lock is held
/// mid-operation by a thread that will not exist in the child.
extern "C" fn before_fork() {
    if let Some(g) = get_if_ready() {
        trace::lock_for_fork();
        big::lock_for_fork();
        shard::lock_all(g.shards);
    }
}

extern "C" fn after_fork_parent() {
    if let Some(g) = get_if_ready() {
        shard::unlock_all(g.shards);
        big::unlock_after_fork();
        trace::unlock_after_fork();
    }
}

extern "C" fn after_fork_child() {
    if let Some(g) = get_if_ready() {
        shard::reset_all_in_child(g.shards);
        big::reset_in_child();
        trace::reset_in_child();
    }
}
