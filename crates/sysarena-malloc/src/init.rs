//! Initialisation and `fork`: on the first call, reads the settings,
//! reserves the region, the descriptor tables and the page records, plans
//! the shards (building the first; the others are built on first use) and
//! publishes the settings; and the `pthread_atfork`
//! handlers that take and release every lock around a `fork`. The one
//! module that orchestrates the others (nothing below imports it).

use core::mem::size_of;

use sysarena::Slot;

use crate::settings::{
    DEFAULT_DESCRIPTORS, DEFAULT_MMAP_THRESHOLD, DEFAULT_RELEASE, DEFAULT_RESERVE,
    DESCRIPTOR_EVERY, FIRST_TABLE_SHARE, MAX_SHARDS, MIN_RESERVE, RESERVE_SHARE_OF_LIMIT, Settings,
    config_from_env, default_shards, env_size, env_switch,
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
    // Start-up reads its settings and limits through libc (`getenv`,
    // `getrlimit`, `sysconf`, `/proc`), whose calls may write errno (the
    // system calls of `syscall` write none): a malloc that works must leave
    // the program's errno as it was.
    let saved = crate::sys::errno();
    // SAFETY: `init_once` runs `init` once, with exclusive access.
    let (g, ran) = globals::init_once(|g| unsafe { init(g) });
    crate::sys::set_errno(saved);
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
/// and plans the shards (see [`shard::plan`]). Calls nothing that
/// allocates.
///
/// # Safety
/// Runs once, with exclusive access to `g` and the shards.
unsafe fn init(g: &mut Settings) -> bool {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    g.page = if page > 0 { page as usize } else { 4096 };

    let shards_asked = sys::env(c"SYSARENA_SHARDS").is_some();
    let mut shards = env_size(c"SYSARENA_SHARDS", default_shards()).clamp(1, MAX_SHARDS);
    let reserve_asked = sys::env(c"SYSARENA_RESERVE").is_some();
    let mut reserve = env_size(c"SYSARENA_RESERVE", DEFAULT_RESERVE).max(MIN_RESERVE);
    let descriptors_asked = sys::env(c"SYSARENA_DESCRIPTORS").is_some();
    let descriptors_env = env_size(c"SYSARENA_DESCRIPTORS", DEFAULT_DESCRIPTORS).clamp(16, 1 << 30);
    g.mmap_threshold = env_size(c"SYSARENA_MMAP_THRESHOLD", DEFAULT_MMAP_THRESHOLD).max(g.page);
    g.release_adapts = sys::env(c"SYSARENA_RELEASE").is_none();
    g.release = env_size(c"SYSARENA_RELEASE", DEFAULT_RELEASE);
    g.config = config_from_env();
    g.slab = env_switch(c"SYSARENA_SLAB", true);

    // Under an address-space limit (`ulimit -v`), everything below is
    // mapped at once and counts against it: start with half of what is
    // left, so that the program keeps the rest for its own mappings until
    // the heap needs more (then the shards grow: `shard/grow.rs`); a large
    // block (its own mapping, as with glibc) that the kernel then refuses
    // gets free address space withdrawn from the shards
    // (`shard::withdraw`).
    let limited = sys::address_space_left();
    if let Some(left) = limited
        && !reserve_asked
    {
        reserve = reserve.min((left / RESERVE_SHARE_OF_LIMIT).max(MIN_RESERVE));
    }
    let mut descriptors_wanted = descriptors_env;
    // The reservation, the descriptor tables, the page records and the slot
    // states, sized together; halved together until the kernel grants them.
    // Under a limit (and neither a reservation nor a number of shards asked
    // for), the reservation is placed where it can grow, up to as many
    // shards as the whole address space left could hold (`shard/grow.rs`).
    let growable = limited.is_some() && !reserve_asked && !shards_asked;
    // Whether the reservation lies where it was placed to grow (else, in
    // the kernel's own area, the space after shard 0 is where the
    // program's next mappings go).
    // Under a limit, shard 0's bitmap pools start short too, and grow as
    // slab pages are carved (`slab/page.rs`); a run of several shards'
    // pools is split between them, so each holds them whole.
    let pool_entries = |tabled: usize, pages: usize| {
        if limited.is_some() && tabled == 1 {
            slab::FIRST_ENTRIES
        } else {
            pages
        }
    };
    let at_hint;
    let (
        raw,
        raw_len,
        tables,
        meta,
        states_mem,
        shard_size,
        shards,
        max_shards,
        descriptors,
        first_descriptors,
        tabled,
    ) = loop {
        // Shards are a power of two of bytes (whole slab pages), so that the
        // owner of an address is a shift away; more of them (unless asked
        // for a number) use what the rounding would leave unused.
        let per_shard = reserve / shards;
        if per_shard < slab::PAGE {
            return false;
        }
        let shard_size = 1usize << per_shard.ilog2();
        if !shards_asked {
            shards = (reserve / shard_size).clamp(shards, MAX_SHARDS);
        }
        // Under a limit, as many as the space left could hold, and one more
        // for a part of one (`shard/grow.rs`, `grow`): with the tables a
        // fraction of their shards, the last whole shard leaves room.
        let max_shards = match limited {
            Some(left) if growable => (left / shard_size + 1).clamp(shards, MAX_SHARDS),
            _ => shards,
        };
        // Unless asked: under a limit, one descriptor per 2 KiB of shard
        // (with the slab layer, every heap block is over 4 KiB), else the
        // default.
        let descriptors = if descriptors_asked || limited.is_none() {
            descriptors_wanted
        } else {
            (shard_size / DESCRIPTOR_EVERY).clamp(256, DEFAULT_DESCRIPTORS)
        };
        // Under a limit (unless asked for a number) each shard's table
        // starts at a fraction of that, and doubles as splits run out of
        // spares (`shard/build.rs`, `grow_table`): most programs' blocks
        // are far larger than the bound assumes, and every byte of table
        // mapped counts against the limit.
        let first_descriptors = if descriptors_asked || limited.is_none() {
            descriptors
        } else {
            (descriptors / FIRST_TABLE_SHARE).clamp(descriptors.min(256), descriptors)
        };
        // Tables for the start-up shards, but under a limit where the shards
        // can grow, for shard 0 alone: the others start retired, and get
        // tables of their own when they are mapped (`shard/grow.rs`).
        let tabled = if growable { 1 } else { shards };
        let pages = tabled * (shard_size / slab::PAGE);
        let entries = pool_entries(tabled, pages);
        let sizes = [
            // One slab page more: the shards start at the first 64 KiB
            // boundary (slab pages are 64 KiB-aligned arenas of the shards).
            shards
                .checked_mul(shard_size)
                .and_then(|n| n.checked_add(slab::PAGE)),
            // Tables for the shards planned with them (a shard added later
            // maps its own), but a slot-state word for every page of every
            // shard that may be: the lock-free lookup finds them by address.
            tabled
                .checked_mul(first_descriptors)
                .and_then(|n| n.checked_mul(size_of::<Slot>())),
            // Checked at the most the records and pools can take (an
            // entry per page); short pools take less.
            pages
                .checked_mul(slab::META_BYTES)
                .map(|_| slab::Meta::bytes(pages, entries)),
            slab::state::bytes_for_backed(max_shards * (shard_size / slab::PAGE), pages),
        ];
        let mut maps = [core::ptr::null_mut::<u8>(); 4];
        let mut ok = true;
        let hint = if growable { sys::growable_at() } else { 0 };
        for (k, (m, len)) in maps.iter_mut().zip(sizes).enumerate() {
            let map = |len| {
                if k == 0 && growable {
                    sys::map_noreserve_near(hint, len)
                } else {
                    sys::map_noreserve(len)
                }
            };
            match len.and_then(map) {
                Some(p) => *m = p,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            at_hint = growable && maps[0] as usize == hint;
            break (
                maps[0],
                sizes[0].unwrap_or(0),
                maps[1],
                maps[2],
                maps[3],
                shard_size,
                shards,
                max_shards,
                descriptors,
                first_descriptors,
                tabled,
            );
        }
        for (m, len) in maps.iter().zip(sizes) {
            if !m.is_null() {
                // SAFETY: a mapping just made here, never used.
                unsafe { crate::syscall::munmap(m.cast(), len.unwrap_or(0)) };
            }
        }
        if reserve / 2 < MIN_RESERVE {
            return false;
        }
        reserve /= 2;
        // A count asked for is halved with the rest (at least 16 a shard):
        // under a limit, tables too large for it would refuse every start.
        if limited.is_some() {
            descriptors_wanted = (descriptors_wanted / 2).max(16);
        }
    };
    let base = raw.wrapping_add((raw as usize).next_multiple_of(slab::PAGE) - raw as usize);
    // The reservation is exactly the shards: the rounding's spare bytes go
    // back, so that the next shard's place after the last is free.
    let end = base as usize + shards * shard_size;
    // SAFETY: the parts of the fresh reservation before the first shard and
    // after the last, never used.
    unsafe {
        if base > raw {
            crate::syscall::munmap(raw.cast(), base as usize - raw as usize);
        }
        if raw as usize + raw_len > end {
            crate::syscall::munmap(end as *mut _, raw as usize + raw_len - end);
        }
    }
    if at_hint && shard_size > shard::START_LEN {
        // Shard 0 keeps only its first bytes mapped; the rest of its place
        // is mapped as its heap fills (`shard/grow.rs`, `extend`). Not
        // where the kernel put the reservation elsewhere (a smaller
        // address space than the hint's 16–32 TiB, or the range taken):
        // there the program's own next mappings would fill shard 0's
        // place, and shard 0 would stay at a few MiB.
        // SAFETY: the tail of shard 0's place in the fresh reservation,
        // never used.
        if unsafe {
            crate::syscall::munmap(
                base.add(shard::START_LEN).cast(),
                shard_size - shard::START_LEN,
            )
        } {
            shard::start_short(0, base, shard::START_LEN);
        }
    }
    let pages_per_shard = shard_size / slab::PAGE;
    // Where the reservation may grow, shard 0's slot-state blocks are mapped
    // as they are taken (`slab/area.rs`): the states move to their place
    // beyond the shards, with the first blocks only.
    let states_mem = if at_hint && !states_mem.is_null() {
        let words = max_shards * pages_per_shard;
        let backed = tabled * pages_per_shard;
        let first = slab::area::FIRST_BLOCKS.min(backed);
        let short = slab::state::blocks_at_backed(words, backed) + first * slab::state::BLOCK;
        let whole = slab::state::bytes_for_backed(words, backed).unwrap_or(0);
        match (short < whole)
            .then(|| shard::map_at_place(base as usize, shard_size, descriptors, 0, short, first))
            .flatten()
        {
            Some(p) => {
                // SAFETY: the states' first mapping, made above, never used.
                unsafe { crate::syscall::munmap(states_mem.cast(), whole) };
                p
            }
            None => states_mem,
        }
    } else {
        states_mem
    };
    // SAFETY: a fresh zeroed mapping of the records of every page of every
    // start-up shard planned with tables and their pools
    // (`Meta::bytes(pages, pool_entries(tabled, pages))`, as mapped above),
    // page-aligned, leaked.
    let meta = unsafe {
        let pages = tabled * pages_per_shard;
        slab::Meta::with_entries(meta, pages, pool_entries(tabled, pages))
    };
    // SAFETY: a fresh zeroed mapping of the words of every page of every
    // shard that may be, and the rest of the states of the pages of the
    // start-up shards planned with tables, leaked.
    let states = unsafe {
        slab::state::States::with_backing(
            states_mem,
            max_shards * pages_per_shard,
            tabled * pages_per_shard,
        )
    };
    // SAFETY: initialisation, before any lookup.
    unsafe { slab::state::install(states) };
    // SAFETY: initialisation, before any other access to the shards: each
    // of the first `tabled` shards' table is its own `descriptors` slots in
    // the fresh (zeroed) table mapping, its page records its own
    // `pages_per_shard` in the fresh record mapping (the others start
    // retired: `start_retired` below), and each region its own `shard_size` bytes of
    // the reservation, starting on a 64 KiB boundary; all are leaked for
    // the process's life.
    let ok = unsafe {
        shard::plan(shard::Plan {
            base,
            shard_size,
            tables: tables.cast::<Slot>(),
            descriptors,
            first_descriptors,
            tabled,
            config: g.config,
            meta,
            pages_per_shard,
            states,
            slab_on: g.slab,
            placed: at_hint,
        })
    };
    if !ok {
        return false;
    }
    g.tcache = g.slab && env_switch(c"SYSARENA_TCACHE", true) && tcache::init();
    tcache::enable(g.tcache);
    g.limited = limited.is_some();
    g.base = base as usize;
    g.shard_size = shard_size;
    g.shard_shift = shard_size.trailing_zeros();
    g.max_shards = max_shards;
    shard::init_count(shards);
    if growable {
        // SAFETY: initialisation: only shard 0 is built; the others' memory
        // is the start-up reservation's, unused.
        unsafe { shard::start_retired(base as usize, shard_size, shards) };
    }
    g.descriptors = descriptors;
    g.first_descriptors = first_descriptors;
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
    if globals::get_if_ready().is_some() {
        trace::lock_for_fork();
        big::lock_for_fork();
        tcache::lock_for_fork();
        shard::lock_all();
    }
}

extern "C" fn after_fork_parent() {
    if globals::get_if_ready().is_some() {
        shard::unlock_all();
        tcache::unlock_after_fork();
        big::unlock_after_fork();
        trace::unlock_after_fork();
    }
}

extern "C" fn after_fork_child() {
    if let Some(g) = globals::get_if_ready() {
        shard::reset_all_in_child();
        big::reset_in_child();
        trace::reset_in_child();
        // The shard locks are free again: the caches of the threads that
        // did not come along go back to their pages.
        tcache::reset_in_child(g);
    }
}
