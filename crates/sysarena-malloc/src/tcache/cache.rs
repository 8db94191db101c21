//! One thread's cache: a bounded stack of slots per size class, the
//! bounds, and the scan that gives back the stacks a thread stopped using.

use crate::counters;
use crate::settings::Settings;
use crate::shard;
use crate::slab::{CLASSES, class_size};
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicU64, AtomicUsize};

/// The fewest calls served between two scans for stale stacks
/// ([`Cache::tick`]); more when the thread uses many classes
/// ([`SCAN_PER_CLASS`]).
pub(super) const SCAN_EVERY: u64 = 128;
/// Calls between two scans per class the thread used between the last two:
/// a thread that spreads its calls over many classes calls each less
/// often, and a fixed interval short enough to catch the classes
/// `git log --stat` stops using took back classes that one-thread larson
/// up to 4 KiB (80 classes) was still using. Callgrind, larson `1 MAX
/// 200000 1000` up to 512 B / 1 KiB / 4 KiB, and `git log --stat`'s peak
/// RSS (glibc 15.4–15.8 MB): every 128 calls 45.2 / 45.5 / 87.6 M
/// instructions, 16.2–16.4 MB; every 256: 45.2 / 45.5 / 70.5 M,
/// 16.5–16.7 MB; every 512: 45.2 / 45.4 / 57.8 M, 17.5 MB; 8 calls a class
/// (at least 128): 45.2 / 45.4 / 56.5 M, 16.3–16.5 MB (6 and 4 calls:
/// 62.2 and 74.8 M up to 4 KiB, the same RSS).
pub(super) const SCAN_PER_CLASS: u64 = 8;

/// The most slots a refill takes for a class whose stack a scan gave back
/// (`gcc -O2`'s cc1 on 1,200 lines, callgrind: 4.157 G instructions,
/// 4.218 G with full refills, 4.106 G without scans; one-thread larson up
/// to 4 KiB: 64.0 M, 73.4 M, 52.3 M).
pub(super) const SPARSE_REFILL: usize = 4;

/// The most slots a class's stack holds.
pub(crate) const MAX_BIN: usize = 64;
/// The most bytes a thread's cache holds (a bound of 256 KiB made a
/// stress over all 64 classes flush and refill: 1.55 × the instructions).
pub(crate) const MAX_BYTES: usize = 1 << 20;
/// The most bytes a class's stack holds.
pub(super) const CLASS_BYTES: usize = 32 << 10;

/// Slots class `c`'s stack holds: 32 KiB of them, between 8 and
/// [`MAX_BIN`] (looked up, not divided: this is on every free).
#[inline]
pub(crate) fn cap(c: usize) -> usize {
    CAPS[c.min(CLASSES - 1)] as usize
}

/// [`cap`] per class.
static CAPS: [u8; CLASSES] = {
    let mut r = [0u8; CLASSES];
    let mut c = 0;
    while c < CLASSES {
        let n = CLASS_BYTES / class_size(c);
        r[c] = if n < 8 {
            8
        } else if n > MAX_BIN {
            MAX_BIN as u8
        } else {
            n as u8
        };
        c += 1;
    }
    r
};

/// Not registered yet: the first call registers the cache.
pub(super) const UNREGISTERED: u8 = 0;
/// In use.
pub(super) const ACTIVE: u8 = 1;
/// Registering, exiting or off: calls bypass the cache.
pub(super) const BYPASS: u8 = 2;

/// One thread's cache.
#[repr(C)]
pub(crate) struct Cache {
    /// How many slots each class's stack holds: all the lengths together,
    /// eight to a cache line, where each used to head its own stack's
    /// 520 bytes (a line of its own for each class: a malloc or free of a
    /// class not used for a while missed on it before reading the stack).
    /// One-thread larson (`larson 1 MAX 200000 1000`, callgrind's cache
    /// simulation) up to 512 B / 1 KiB / 4 KiB: D1 read misses 443.9 k /
    /// 594.0 k / 700.0 k before, 438.8 k / 533.9 k / 630.5 k so; nine
    /// interleaved runs of a million replacements: 43.2 / 42.0 / 29.4 M
    /// ops/s (medians) before, 44.9 / 44.2 / 30.9 M so.
    pub(super) lens: [usize; CLASSES],
    /// Bytes in the stacks (at class sizes).
    pub(super) bytes: usize,
    /// Whether each stack was popped or pushed since the last scan for
    /// stale stacks (a byte store on the fast paths, beside the counts
    /// they write anyway).
    pub(super) used: [bool; CLASSES],
    /// Calls served before the last publication (`allocs` and `frees`
    /// count those since), and that count at the last scan.
    pub(super) calls: u64,
    pub(super) scanned: u64,
    /// Calls between two scans: [`SCAN_PER_CLASS`] per class the thread
    /// used between the last two, at least [`SCAN_EVERY`].
    pub(super) scan_every: u64,
    /// Classes whose stack was refilled or flushed since the last scan.
    pub(super) active: u128,
    /// Classes found unchanged at the last scan.
    pub(super) quiet: u128,
    /// Classes whose stack the last scans gave back: their next refill
    /// takes at most [`SPARSE_REFILL`] slots (a class used once in a
    /// while needs no half stack).
    pub(super) sparse: u128,
    pub(super) mode: u8,
    /// Calls served from the cache since the last publication.
    pub(super) allocs: u64,
    pub(super) frees: u64,
    /// What the stats report reads: the bytes and blocks held as of the
    /// cache's last refill or flush (stored by the owner, the only writer,
    /// read by the reporting thread; not on the fast paths).
    pub(super) shown_bytes: AtomicUsize,
    pub(super) shown_blocks: AtomicUsize,
    /// Links in the list of caches (under `registry`'s lock).
    pub(super) next: *mut Cache,
    pub(super) prev: *mut Cache,
    /// The shards' drain epoch this cache last saw (`tick`): when it
    /// changes, a shard wants its last slots back (`shard/retire.rs`).
    pub(super) seen_drain: u64,
    /// Each class's stack, bottom first.
    pub(super) stacks: [[*mut u8; MAX_BIN]; CLASSES],
}

impl Cache {
    pub(super) const fn empty() -> Cache {
        Cache {
            lens: [0; CLASSES],
            stacks: [[core::ptr::null_mut(); MAX_BIN]; CLASSES],
            bytes: 0,
            used: [false; CLASSES],
            calls: 0,
            scanned: 0,
            scan_every: 0,
            active: 0,
            quiet: 0,
            sparse: 0,
            mode: UNREGISTERED,
            allocs: 0,
            frees: 0,
            shown_bytes: AtomicUsize::new(0),
            shown_blocks: AtomicUsize::new(0),
            next: core::ptr::null_mut(),
            prev: core::ptr::null_mut(),
            seen_drain: 0,
        }
    }

    /// Pushes freed slot `p` of class `c` (`size` bytes) on its stack, which
    /// has room (`len < cap(c) <= MAX_BIN`; the mask only spares a bounds
    /// check), and counts it. O(1): both of `free`'s paths end here.
    #[inline(always)]
    pub(super) fn push(&mut self, c: usize, p: *mut u8, size: usize) {
        let len = self.lens[c];
        debug_assert!(len < MAX_BIN);
        self.stacks[c][len & (MAX_BIN - 1)] = p;
        self.lens[c] = len + 1;
        self.used[c] = true;
        self.bytes += size;
        self.frees += 1;
        if crate::counters::enabled() {
            crate::counters::live_changed(size, 0);
        }
    }

    pub(super) fn blocks(&self) -> usize {
        self.lens.iter().sum()
    }

    /// Publishes the figures the stats report reads; nothing when there is
    /// no report (`SYSARENA_STATS` unset): it runs at every refill and
    /// flush, and its sum over the stacks' lengths was 0.9 % of one-thread
    /// larson's instructions up to 4 KiB (callgrind, `larson 1 4096 200000
    /// 1000`: 55.64 M with it, 55.15 M without).
    pub(super) fn show(&mut self) {
        if !counters::enabled() {
            return;
        }
        self.shown_bytes.store(self.bytes, Relaxed);
        self.shown_blocks.store(self.blocks(), Relaxed);
        if self.allocs | self.frees != 0 {
            self.calls += self.allocs + self.frees;
            ALLOCS.fetch_add(self.allocs, Relaxed);
            FREES.fetch_add(self.frees, Relaxed);
            self.allocs = 0;
            self.frees = 0;
        }
    }

    /// Gives the oldest `k` slots of class `c` back to their pages.
    pub(super) fn flush_bin(&mut self, g: &Settings, c: usize, k: usize) {
        let len = self.lens[c];
        let k = k.min(len);
        if k == 0 {
            return;
        }
        self.active |= 1 << c;
        let mut batch = [core::ptr::null_mut(); MAX_BIN];
        let stack = &mut self.stacks[c];
        batch[..k].copy_from_slice(&stack[..k]);
        stack.copy_within(k..len, 0);
        self.lens[c] = len - k;
        self.bytes -= k * class_size(c);
        if shard::flush_cached(g, &mut batch[..k]) == shard::Drain::FlushCache {
            // A shard would give its memory back but for slots in use,
            // perhaps in this cache (`shard/retire.rs`): give them back now,
            // not at the next scan. (Once per shard that starts draining:
            // the flushes below ask nothing more of this one.)
            self.drained(g, shard::drain_epoch());
        }
    }

    /// At a refill or flush, once [`SCAN_EVERY`] calls (or
    /// [`SCAN_PER_CLASS`] per class used between the last two scans) were
    /// served since the last scan: gives back every stack that was neither refilled,
    /// flushed, popped nor pushed since the last two scans (a class the
    /// thread has stopped using: its slots would keep their pages from
    /// emptying and going back to the kernel; `git log --stat` held 1 MB
    /// in such stacks at exit). The fast paths mark a stack used with one
    /// byte store; before, a stack whose length was the same at two scans
    /// counted as unused, which took back classes in use whose pops and
    /// pushes happened to balance (at a scan every 128 calls, one-thread
    /// larson up to 1 KiB took 78.6 M instructions against 45.5 M so; the
    /// length test every 512 calls, the version before this one: 44.9 M,
    /// and up to 4 KiB 63.4 M against 56.5 M now, but `git log --stat`
    /// 16.9 MB).
    #[inline]
    pub(super) fn tick(&mut self, g: &Settings) {
        // A shard started draining since the last look (only under an
        // address-space limit): every slot goes back, as it may be one of
        // that shard's last.
        let drain = shard::drain_epoch();
        if drain != self.seen_drain {
            self.drained(g, drain);
        }
        let now = self.calls + self.allocs + self.frees;
        if now - self.scanned < self.scan_every.max(SCAN_EVERY) {
            return;
        }
        self.scanned = now;
        let mut in_use = 0;
        for c in 0..CLASSES {
            let len = self.lens[c];
            let bit = 1u128 << c;
            let used = core::mem::take(&mut self.used[c]);
            in_use += u64::from(used);
            if len != 0 && !used && self.active & bit == 0 {
                if self.quiet & bit != 0 {
                    self.flush_bin(g, c, len);
                    self.quiet &= !bit;
                    self.sparse |= bit;
                } else {
                    self.quiet |= bit;
                }
            } else {
                self.quiet &= !bit;
            }
        }
        self.active = 0;
        self.scan_every = in_use * SCAN_PER_CLASS;
    }

    /// A shard started draining (epoch `drain`, which this cache has now
    /// answered): every slot goes back. Out of line: `tick`, which runs at
    /// every refill, stays small.
    #[cold]
    #[inline(never)]
    fn drained(&mut self, g: &Settings, drain: u64) {
        self.seen_drain = drain;
        self.flush_all(g);
    }

    /// Gives every slot back.
    pub(super) fn flush_all(&mut self, g: &Settings) {
        for c in 0..CLASSES {
            self.flush_bin(g, c, MAX_BIN);
        }
        self.show();
    }
}

// `Cache::empty()` is what a fresh (zero) mapping holds: its lengths and
// counts are 0, its pointers null, and its mode `UNREGISTERED`, 0
// (checked at compile time).
const _: () = {
    let e = Cache::empty();
    assert!(UNREGISTERED == 0 && e.mode == 0 && e.bytes == 0 && e.lens[0] == 0);
    assert!(e.next.is_null() && e.prev.is_null() && e.allocs == 0 && e.frees == 0);
    assert!(e.seen_drain == 0);
};

/// Calls served from caches, as of each cache's last publication.
pub(super) static ALLOCS: AtomicU64 = AtomicU64::new(0);
pub(super) static FREES: AtomicU64 = AtomicU64::new(0);
