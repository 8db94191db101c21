//! The exit report (`SYSARENA_STATS=path`): each shard's [`sysarena::Stats`]
//! and fragmentation figures, appended to `path` (a `%p` in it becomes the
//! process id) when the process exits.

use core::fmt::Write;
use core::sync::atomic::Ordering;

use crate::counters::{self, BIG_ALLOCS, FAILED, INVALID, PEAK};
use crate::settings::Settings;
use crate::sys::{self, Buf, SyncCell};
use crate::{big, globals, info};

static PATH: SyncCell<Buf<4096>> = SyncCell::new(Buf::new());

/// Reads `SYSARENA_STATS`. Runs during initialisation.
pub(crate) fn init() {
    if let Some(p) = sys::env(c"SYSARENA_STATS")
        && !p.is_empty()
    {
        // SAFETY: initialisation has exclusive access.
        unsafe { (*PATH.get()).push(p) };
        counters::enable();
    }
}

/// Appends the report to the `SYSARENA_STATS` file.
pub(crate) fn write_at_exit() {
    let Some(g) = globals::get_if_ready() else {
        return;
    };
    if !counters::enabled() {
        return;
    }
    write_report(g);
}

/// [`write_at_exit`] once the report is on. Out of line: its buffers make
/// a frame of 30 KB, and a frame that large is probed page by page on
/// entry, so inlined into `at_exit` it made every program's main stack
/// 26 KB deeper at exit (40 KB resident against glibc's 16 under a program
/// that mallocs once), report or not.
#[cold]
#[inline(never)]
fn write_report(g: &Settings) {
    let mut path = Buf::<4200>::new();
    // SAFETY: PATH is written only during initialisation.
    let template = unsafe { (*PATH.get()).as_bytes() };
    if !sys::expand_path(template, sys::pid(), None, &mut path) {
        return;
    }
    let Some(c) = path.c_str() else { return };
    // SAFETY: `c` is a NUL-terminated path alive for the call.
    let fd = unsafe {
        libc::open(
            c,
            libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd < 0 {
        sys::eprint(b"sysarena-malloc: SYSARENA_STATS: cannot open the file\n");
        return;
    }
    report(g, fd);
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(fd) };
}

/// Totals over the shards.
#[derive(Default)]
struct Sum {
    in_use: usize,
    free_touched: usize,
    largest_touched: usize,
    requested: usize,
    used_arenas: usize,
    free_arenas: usize,
    descriptors_used: usize,
    touched: usize,
    allocs: u64,
    frees: u64,
    reallocs: u64,
    released: u64,
    withdrawn: u64,
    retired: u64,
    retired_now: usize,
    fallback: u64,
    slab: crate::slab::Counts,
    /// Empty slab pages pooled (`Slab::pooled_pages`).
    pooled: usize,
}

fn report(g: &Settings, fd: i32) {
    // One `write` of the whole report: reports of processes exiting at the
    // same time (O_APPEND) do not interleave.
    let mut out = Buf::<24576>::new();
    let mut b = Buf::<1024>::new();
    let shards = crate::shard::count();
    let mapped: usize = (0..shards).map(|i| crate::shard::length(g, i)).sum();
    let _ = writeln!(
        b,
        "sysarena-malloc report: pid {}\npolicy {}, coalescing {}, {} shards of {} bytes ({} bytes mapped in all: under an address-space limit a shard may be shorter, and one added or revived has tables of its own), up to {} descriptors each (a table starts with {} and doubles as splits need), slab layer {}",
        sys::pid(),
        g.config.policy,
        g.config.coalescing,
        shards,
        g.shard_size,
        mapped,
        g.descriptors,
        g.first_descriptors,
        if g.slab { "on" } else { "off" },
    );
    let _ = writeln!(
        b,
        "shard   in_use_bytes  requested_bytes  used_arenas  free_arenas  touched_bytes  free_in_touched  largest_free_in_touched  ext_frag  slab_pages  slab_used_slots  slab_free_slots"
    );
    out.push(b.as_bytes());
    let mut sum = Sum::default();
    for i in 0..crate::shard::count() {
        // A shard no thread ever used was never built: nothing to show.
        let Some(shard) = info::snapshot(i) else {
            continue;
        };
        let s = shard.stats;
        // Free bytes and the largest free arena below the high-water mark
        // (the untouched rest of the shard is one huge free arena that would
        // hide every hole).
        let (free_t, largest_t) = (shard.free_touched, shard.largest_touched);
        let sc = shard.slab;
        sum.in_use += s.in_use_bytes;
        sum.requested += s.requested_bytes;
        sum.used_arenas += s.used_arenas;
        sum.free_arenas += s.free_arenas;
        sum.touched += shard.touched;
        sum.allocs += shard.allocs;
        sum.frees += shard.frees;
        sum.reallocs += shard.reallocs;
        sum.released += shard.released;
        sum.withdrawn += shard.withdrawn;
        sum.retired += shard.retired;
        sum.retired_now += usize::from(crate::shard::length(g, i) == 0);
        sum.pooled += shard.pooled;
        sum.slab.pages += sc.pages;
        sum.slab.used_slots += sc.used_slots;
        sum.slab.used_bytes += sc.used_bytes;
        sum.slab.slots += sc.slots;
        sum.slab.slot_bytes += sc.slot_bytes;
        sum.slab.carved += sc.carved;
        sum.slab.returned += sc.returned;
        sum.slab.reused += sc.reused;
        sum.free_touched += free_t;
        sum.largest_touched = sum.largest_touched.max(largest_t);
        sum.descriptors_used += s.descriptors - s.spare_descriptors;
        sum.fallback += s.fallback_searches;
        let mut b = Buf::<256>::new();
        let _ = writeln!(
            b,
            "{i:>5} {:>14} {:>16} {:>12} {:>12} {:>14} {:>16} {:>24} {:>9} {:>11} {:>16} {:>16}",
            s.in_use_bytes,
            s.requested_bytes,
            s.used_arenas,
            s.free_arenas,
            shard.touched,
            free_t,
            largest_t,
            frag(largest_t, free_t),
            sc.pages,
            sc.used_slots,
            sc.slots - sc.used_slots,
        );
        out.push(b.as_bytes());
    }
    let peak = PEAK.load(Ordering::Relaxed);
    let big_peak = big::PEAK_MAPPED.load(Ordering::Relaxed);
    big::sample_touched();
    let big_touched = big::PEAK_TOUCHED.load(Ordering::Relaxed);
    let footprint = sum.touched + big_touched;
    let mut b = Buf::<2048>::new();
    let _ = writeln!(
        b,
        "calls: {} allocs, {} frees, {} reallocs in the shards; {} direct mappings; {} failed; {} invalid frees",
        sum.allocs,
        sum.frees,
        sum.reallocs,
        BIG_ALLOCS.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed),
        INVALID.load(Ordering::Relaxed),
    );
    // Slab pages, pooled ones included, are in-use arenas of the shards
    // (in the columns above); here they are taken out of the arena figures
    // and counted once, as slab blocks and empty pages.
    let slab_bytes = sum.slab.pages * crate::slab::PAGE;
    let pooled_bytes = sum.pooled * crate::slab::PAGE;
    let _ = writeln!(
        b,
        "live at exit: {} requested bytes in {} arenas ({} bytes reserved; internal fragmentation {} bytes), not counting slab pages",
        sum.requested - slab_bytes - pooled_bytes,
        sum.used_arenas - sum.slab.pages - sum.pooled,
        sum.in_use - slab_bytes - pooled_bytes,
        sum.in_use - sum.requested,
    );
    let _ = writeln!(
        b,
        "slab layer: {} pages of {} bytes ({} bytes, in-use arenas of the shards above), {} slots in use ({} bytes at their class sizes), {} free slots ({} bytes) and {} bytes of page tails: internal fragmentation of those arenas; {} pages carved ({} of them from the empty-page pool), {} given back; {} empty pages pooled ({} bytes)",
        sum.slab.pages,
        crate::slab::PAGE,
        slab_bytes,
        sum.slab.used_slots,
        sum.slab.used_bytes,
        sum.slab.slots - sum.slab.used_slots,
        sum.slab.slot_bytes - sum.slab.used_bytes,
        slab_bytes - sum.slab.slot_bytes,
        sum.slab.carved,
        sum.slab.reused,
        sum.slab.returned,
        sum.pooled,
        pooled_bytes,
    );
    let (caches, cached, cached_bytes, cache_allocs, cache_frees) = crate::tcache::totals();
    let _ = writeln!(
        b,
        "thread caches: {} blocks ({} bytes at their class sizes, counted in the slots in use above) in {} caches; {} allocs and {} frees served from them without a lock",
        cached, cached_bytes, caches, cache_allocs, cache_frees,
    );
    let _ = writeln!(
        b,
        "thread caches took a shard lock {} times to refill ({} slots) and {} times to give slots back ({} slots)",
        crate::shard::batch::REFILLS.load(Ordering::Relaxed),
        crate::shard::batch::REFILLED.load(Ordering::Relaxed),
        crate::shard::batch::FLUSHES.load(Ordering::Relaxed),
        crate::shard::batch::FLUSHED.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        b,
        "descriptors in use: {} ({} bytes of table)",
        sum.descriptors_used,
        sum.descriptors_used * core::mem::size_of::<sysarena::Slot>(),
    );
    let _ = writeln!(
        b,
        "direct mappings: {} bytes now, {} at peak, of which {} touched at peak (resident, sampled at each unmap and resize and at exit)",
        big::MAPPED.load(Ordering::Relaxed),
        big_peak,
        big_touched
    );
    let _ = writeln!(
        b,
        "external fragmentation (1 - largest free / free, touched part): {} ({} free bytes in {} free arenas)",
        frag(sum.largest_touched, sum.free_touched),
        sum.free_touched,
        sum.free_arenas,
    );
    let (extended, refused) = crate::shard::extensions();
    let (areas_grown, areas_refused) = crate::slab::area::growths();
    let _ = writeln!(
        b,
        "released to the kernel: {} bytes; address space withdrawn for direct mappings: {} bytes; memory of retired shards unmapped: {} bytes ({} shards retired now); shard mappings grown in place: {} times ({} refused); slot-state areas grown in place: {} times ({} refused); descriptor tables doubled: {} times; segregated-fit fallback searches: {}",
        sum.released,
        sum.withdrawn,
        sum.retired,
        sum.retired_now,
        extended,
        refused,
        areas_grown,
        areas_refused,
        crate::shard::tables_grown(),
        sum.fallback
    );
    let _ = writeln!(
        b,
        "footprint {} bytes (touched + peak touched direct), peak live {} requested bytes (slab blocks at their class sizes), footprint / peak live {}",
        footprint,
        peak,
        Decimal::ratio(footprint as u64, peak as u64, 3),
    );
    out.push(b.as_bytes());
    let _ = sys::write_all(fd, out.as_bytes());
}

/// External fragmentation, 1 − largest / free, to 4 decimals.
fn frag(largest: usize, free: usize) -> Decimal {
    Decimal::ratio(free.saturating_sub(largest) as u64, free as u64, 4)
}

/// `num / den` (0 when `den` is 0) written with `digits` decimals, rounded
/// half up. Integers only: formatting an `f64` linked 25 KB of core's
/// float printing into a library whose every byte of code a small
/// program maps.
struct Decimal {
    num: u64,
    den: u64,
    digits: u32,
}

impl Decimal {
    fn ratio(num: u64, den: u64, digits: u32) -> Decimal {
        Decimal { num, den, digits }
    }
}

impl core::fmt::Display for Decimal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let scale = 10u128.pow(self.digits);
        let scaled = if self.den == 0 {
            0
        } else {
            (u128::from(self.num) * scale * 2 + u128::from(self.den)) / (2 * u128::from(self.den))
        };
        let mut text = Buf::<64>::new();
        // The whole part is at most `num` and the fraction below `scale`:
        // both fit a u64 (and a u128 would link its own printing).
        let _ = write!(
            text,
            "{}.{:0width$}",
            (scaled / scale) as u64,
            (scaled % scale) as u64,
            width = self.digits as usize
        );
        // The buffer holds ASCII digits and a point only.
        f.pad(core::str::from_utf8(text.as_bytes()).unwrap_or("?"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_rounded_half_up() {
        let s = |n, d, digits| format!("{:>9}", Decimal::ratio(n, d, digits));
        assert_eq!(s(0, 0, 4), "   0.0000");
        assert_eq!(s(1, 3, 4), "   0.3333");
        assert_eq!(s(2, 3, 3), "    0.667");
        assert_eq!(s(1622, 1000, 3), "    1.622");
        assert_eq!(s(u64::MAX, 1, 3), format!("{}.000", u64::MAX));
        assert_eq!(format!("{}", Decimal::ratio(1, 8, 2)), "0.13");
        for (n, d) in [(1u64, 7u64), (5, 9), (1_259_000, 1_000_000), (123_456, 7)] {
            assert_eq!(
                format!("{}", Decimal::ratio(n, d, 4)),
                format!("{:.4}", n as f64 / d as f64)
            );
        }
    }

    #[test]
    fn report_names_every_figure() {
        let g = crate::init::get().unwrap();
        let p = crate::api::malloc(1000);
        let mut fds = [0i32; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        report(g, fds[1]);
        let mut out = vec![0u8; 1 << 16];
        // SAFETY: `out` is writable for its length; the report fits the pipe.
        let n = unsafe { libc::read(fds[0], out.as_mut_ptr().cast(), out.len()) };
        let text = String::from_utf8_lossy(&out[..n as usize]).into_owned();
        // SAFETY: ours; the descriptors are ours.
        unsafe {
            crate::api::free(p);
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        for what in [
            "policy segregated-fit",
            "slab layer on",
            "slab_used_slots",
            "footprint",
            "external fragmentation",
            "slab layer: ",
            "shard ",
        ] {
            assert!(text.contains(what), "{what} missing from:\n{text}");
        }
    }
}
