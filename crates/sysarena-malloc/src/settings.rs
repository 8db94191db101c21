//! The settings: what the environment asks for (`SYSARENA_*`), read once at
//! the first call, and the defaults. A leaf: it knows nothing of shards,
//! slabs or reports — they are handed a [`Settings`].

use sysarena::{Coalescing, Config, Policy};

use crate::sys;

/// Default size of the address-space reservation (`SYSARENA_RESERVE`).
pub(crate) const DEFAULT_RESERVE: usize = 64 << 30;
/// The smallest reservation tried before giving up.
pub(crate) const MIN_RESERVE: usize = 4 << 20;
/// Under an address-space limit, the reservation is at most the space left
/// divided by this (what a direct mapping later needs is withdrawn from the
/// shards' free space).
pub(crate) const RESERVE_SHARE_OF_LIMIT: usize = 2;
/// Under an address-space limit, one descriptor per this many bytes of
/// shard (unless `SYSARENA_DESCRIPTORS` says otherwise).
pub(crate) const DESCRIPTOR_EVERY: usize = 2048;
/// Under an address-space limit (and `SYSARENA_DESCRIPTORS` unset), a
/// shard's table starts with this share of its descriptors (at least 256)
/// and doubles as it runs out. `enomem fill 100000` (blocks of 100 KB until
/// `malloc` fails) at `ulimit -v 500000`: each of the 8 shards it used
/// mapped 1.75 MiB of table for about 1,300 descriptors in use.
pub(crate) const FIRST_TABLE_SHARE: usize = 16;
/// Default descriptors per shard (`SYSARENA_DESCRIPTORS`).
pub(crate) const DEFAULT_DESCRIPTORS: usize = 1 << 22;
/// Default direct-mapping threshold (`SYSARENA_MMAP_THRESHOLD`).
pub(crate) const DEFAULT_MMAP_THRESHOLD: usize = 64 << 20;
/// Default release threshold (`SYSARENA_RELEASE` unset): a freed heap
/// block of at least 128 KiB (glibc's first mmap threshold) gives its whole
/// pages back to the kernel — unless it overlaps a block given back in the
/// shard's last 1,024 heap frees (one of the last four; `shard/release.rs`):
/// a program that frees and allocates buffers in one place again and again
/// would pay a system call and a page fault per page each time (a loop of
/// 200 KB buffers ran 85 times slower), so it pays once. (glibc raises its
/// threshold to each freed mapped chunk's size instead; a threshold that
/// rose so, or a fixed 1 MiB, held `git log --stat`'s freed 430–670 KB
/// buffers resident: 0.5–0.9 MB over this.) The rule holds up to
/// [`MAX_KEEP`] (it stopped at 1 MiB: a 2 MiB buffer freed and allocated
/// 2,000 times took 2.0 s against glibc's 0.04 s).
pub(crate) const DEFAULT_RELEASE: usize = 128 << 10;
/// Freed heap blocks of this size or more always give their pages back,
/// as glibc maps blocks of 32 MiB and more on their own whatever its
/// threshold: kept, four freed 48 MiB buffers stayed resident for good
/// (146 MiB after every block was freed, against glibc's 2 MiB).
pub(crate) const MAX_KEEP: usize = 32 << 20;
/// The most shards (`SYSARENA_SHARDS` is capped here).
pub(crate) const MAX_SHARDS: usize = 64;
/// malloc's alignment guarantee on x86_64 (glibc's `MALLOC_ALIGNMENT`).
pub(crate) const MIN_ALIGN: usize = 16;

/// Everything fixed at initialisation. Written once by the initialising
/// thread before it is published (`globals`), read-only
/// afterwards.
#[derive(Debug)]
pub(crate) struct Settings {
    /// First byte of the reservation.
    pub(crate) base: usize,
    /// Bytes per shard (a power of two, at least 64 KiB).
    pub(crate) shard_size: usize,
    /// log2 of `shard_size`: the owner of an address is a shift away.
    pub(crate) shard_shift: u32,
    /// The most shards: how many the slot-state lookup has words for. Under
    /// an address-space limit the shards with memory start fewer and grow,
    /// each added one with tables of its own (`shard::count`,
    /// `shard/grow.rs`); otherwise all have memory, and tables, from the
    /// start.
    pub(crate) max_shards: usize,
    /// Descriptors per shard: the most a shard's table holds.
    pub(crate) descriptors: usize,
    /// Descriptors a shard's table starts with: [`descriptors`](Self::descriptors),
    /// but under an address-space limit a [`FIRST_TABLE_SHARE`]-th of it;
    /// the table doubles as splits run out of spares
    /// (`shard/build.rs`, `grow_table`).
    pub(crate) first_descriptors: usize,
    /// Requests of at least this many bytes get their own mapping.
    pub(crate) mmap_threshold: usize,
    /// Freed arenas of at least this many bytes give their pages back
    /// (0: never).
    pub(crate) release: usize,
    /// Whether a block overlapping one released recently is kept
    /// (`SYSARENA_RELEASE` unset; see [`DEFAULT_RELEASE`]).
    pub(crate) release_adapts: bool,
    /// The page size.
    pub(crate) page: usize,
    /// Policy and coalescing of every shard.
    pub(crate) config: Config,
    /// Whether small blocks go to the slab layer (`SYSARENA_SLAB`).
    pub(crate) slab: bool,
    /// Whether threads cache small blocks (`SYSARENA_TCACHE`, and the slab
    /// layer on).
    pub(crate) tcache: bool,
    /// Whether the process has an address-space limit (`ulimit -v`): then
    /// the shards withdraw free address space for a direct mapping the
    /// kernel refuses.
    pub(crate) limited: bool,
}

impl Settings {
    /// The settings before initialisation: nothing reserved.
    pub(crate) const UNSET: Settings = Settings {
        base: 0,
        shard_size: 0,
        shard_shift: 0,
        max_shards: 0,
        descriptors: 0,
        first_descriptors: 0,
        mmap_threshold: DEFAULT_MMAP_THRESHOLD,
        release: DEFAULT_RELEASE,
        release_adapts: true,
        page: 4096,
        config: Config::fast(),
        slab: true,
        tcache: true,
        limited: false,
    };
}

/// One shard per CPU this process may run on, capped. (Two per CPU, before
/// thread caches took most calls off the shard locks, made a 4-thread
/// stress on 2 CPUs hold 1.4 x glibc's peak RSS — each shard's partly used
/// pages per class — against 1.1 x with one per CPU, at the same speed.)
pub(crate) fn default_shards() -> usize {
    let cpus = crate::syscall::cpus_allowed().unwrap_or(1);
    cpus.clamp(1, MAX_SHARDS)
}

/// A size-valued variable, or `default` (with a warning if malformed).
pub(crate) fn env_size(name: &core::ffi::CStr, default: usize) -> usize {
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
pub(crate) fn config_from_env() -> Config {
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
