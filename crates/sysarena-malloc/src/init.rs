//! Initialisation and `fork`: on the first call, reads the settings,
//! reserves the region, the descriptor tables and the page records, builds
//! every shard and publishes the settings; and the `pthread_atfork`
//! handlers that take and release every lock around a `fork`. The one
//! module that orchestrates the others (nothing below imports it).

use core::mem::size_of;

use sysarena::Slot;

use crate::settings::{
    DEFAULT_DESCRIPTORS, DEFAULT_MMAP_THRESHOLD, DEFAULT_RELEASE, DEFAULT_RESERVE, MAX_SHARDS,
    MIN_RESERVE, Settings, config_from_env, default_shards, env_size, env_switch,
};
use crate::{big, check, globals, report, shard, slab, sys, tcache, trace};

/// The settings, initialising the allocator on the first call; `None` if
/// no memory could be reserved.
#[inline]
pub(crate) fn get() -> Option<&'static Settings> {
    globals::get_if_ready().or_else(init_slow)
}

#[cold]
fn init_slow() -> Option<&'static Settings> {
    // SAFETY: `init_once` runs `init` once, with exclusive access.
    let (g, ran) = globals::init_once(|g| unsafe { init(g) });
    if ran {
        match g {
            // Now that malloc works, register what may itself allocate.
            Some(_) => register_fork_handlers(),
            None => sys::eprint(b"sysarena-malloc: cannot reserve memory; malloc will fail\n"),
        }
    }
    g
}

/// Reads the environment, reserves the region and the descriptor tables
/// and builds every shard. Calls nothing that allocates.
///
/// # Safety
/// Runs once, with exclusive access to `g` and the shards.
unsafe fn init(g: &mut Settings) -> bool {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    g.page = if page > 0 { page as usize } else { 4096 };

    let shards = env_size(c"SYSARENA_SHARDS", default_shards()).clamp(1, MAX_SHARDS);
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
    // The pages' classes and slot states, read by thread caches without a
    // lock (one byte per page and per 16 bytes).
    let states_mem = sys::map_noreserve(shards * pages_per_shard * slab::state::BYTES_PER_PAGE)
        .unwrap_or(core::ptr::null_mut());
    if meta.is_null() || states_mem.is_null() {
        g.slab = false;
    }
    // SAFETY: a fresh zeroed mapping of that many pages' states, leaked.
    let states = unsafe { slab::state::States::new(states_mem, shards * pages_per_shard) };
    // SAFETY: initialisation, before any lookup.
    unsafe { slab::state::install(states) };
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
                states.part(i * pages_per_shard, pages_per_shard),
                g.slab,
            )
        };
        if !ok {
            return false;
        }
    }
    g.tcache = g.slab && env_switch(c"SYSARENA_TCACHE", true) && tcache::init();
    tcache::enable(g.tcache);
    g.base = base as usize;
    g.shard_size = shard_size;
    g.shard_shift = shard_size.trailing_zeros();
    g.shards = shards;
    g.span = shard_size * shards;
    g.descriptors = descriptors;
    report::init();
    check::init();
    trace::init();
    true
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
    if let Some(g) = globals::get_if_ready() {
        trace::lock_for_fork();
        big::lock_for_fork();
        tcache::lock_for_fork();
        shard::lock_all(g.shards);
    }
}

extern "C" fn after_fork_parent() {
    if let Some(g) = globals::get_if_ready() {
        shard::unlock_all(g.shards);
        tcache::unlock_after_fork();
        big::unlock_after_fork();
        trace::unlock_after_fork();
    }
}

extern "C" fn after_fork_child() {
    if let Some(g) = globals::get_if_ready() {
        shard::reset_all_in_child(g.shards);
        big::reset_in_child();
        trace::reset_in_child();
        // The shard locks are free again: the caches of the threads that
        // did not come along go back to their pages.
        tcache::reset_in_child(g);
    }
}
