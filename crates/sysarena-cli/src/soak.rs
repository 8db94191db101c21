//! `sysarena soak`: hours of random operations on a real [`Heap`], checked
//! as they go (issue 8, "never corrupt, never lose").
//!
//! The soak runs epochs of `--epoch-ops` operations, each on a fresh heap
//! over the same buffer, cycling round-robin through the chosen policies and
//! coalescing modes. Every operation is drawn from a seeded generator:
//! allocate (random size, log-uniform, and alignment up to 4 KiB; a deferred
//! heap that cannot serve a request defragments once and retries), free,
//! realloc, defragment, relocate. Every block carries a pattern of its own
//! in every byte. The checks:
//!
//! - after every operation, the O(1) ones: the accounting adds up
//!   (`in_use + free == capacity`, every descriptor counted once), the heap
//!   holds exactly the soak's live blocks and requested bytes, a new block is
//!   aligned, inside the region and at least as large as asked, a block is
//!   intact when freed or reallocated (every byte) and a realloc kept its
//!   prefix (a failed one changed nothing);
//! - when a request fails with no fitting arena, that no free arena could in
//!   fact hold it at its alignment (every policy promises this);
//! - every `--check-every` operations, after every defragment and relocate,
//!   and at the end of each epoch: `check_invariants()`, every live block's
//!   bytes, its arena (in use, with the requested size), and that no two
//!   blocks overlap;
//! - at the end of each epoch, after freeing everything: the heap is one
//!   free arena again.
//!
//! The first violation stops the soak with the seed, epoch, configuration
//! and operation, so that it can be replayed (`--seed`, `--ops`), and the
//! command exits non-zero.

use std::alloc::Layout;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sysarena::{
    AllocError, ArenaManager, Coalescing, Config, Heap, OomReason, Policy, ReallocError, Slot,
};

use crate::heapmap::fmt_bytes;
use crate::sim::format::{parse_size, thousands};

/// `sysarena soak`'s options.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// How long to run: `90s`, `30m`, `2h`, `1h30m` (default 30s, or
    /// unbounded when `--ops` is given).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many operations (`1000000`, `1M`); with
    /// `--duration`, whichever comes first.
    #[arg(long, value_parser = parse_ops)]
    pub ops: Option<u64>,
    /// Seed of the operation generator: the same seed and `--ops` replay
    /// the same operations.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A policy (`first-fit`, `next-fit`, `best-fit`, `worst-fit`,
    /// `segregated-fit`) or `all`, taken round-robin.
    #[arg(long, default_value = "all", value_parser = parse_policies)]
    pub policy: Policies,
    /// A coalescing mode (`deferred`, `immediate`) or `all`.
    #[arg(long, default_value = "all", value_parser = parse_coalescings)]
    pub coalescing: Coalescings,
    /// Bytes in the heap's region (`64KiB`, `4M`).
    #[arg(long, default_value = "4MiB", value_parser = parse_size)]
    pub capacity: usize,
    /// Descriptors in the arena table, 1 to 1,048,576.
    #[arg(long, default_value_t = 4096, value_parser = crate::step::parse_descriptors)]
    pub descriptors: usize,
    /// Operations per epoch (one configuration, one fresh heap).
    #[arg(long, default_value_t = 200_000, value_parser = parse_ops)]
    pub epoch_ops: u64,
    /// Run the full check (invariants, every block's bytes, overlaps) every
    /// this many operations.
    #[arg(long, default_value_t = 20_000, value_parser = parse_ops)]
    pub check_every: u64,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The policies to cycle through (clap value).
#[derive(Clone, Debug)]
pub struct Policies(Vec<Policy>);

/// The coalescing modes to cycle through (clap value).
#[derive(Clone, Debug)]
pub struct Coalescings(Vec<Coalescing>);

fn parse_policies(s: &str) -> Result<Policies, String> {
    if s == "all" {
        return Ok(Policies(Policy::ALL.to_vec()));
    }
    s.parse::<Policy>()
        .map(|p| Policies(vec![p]))
        .map_err(|e| format!("{e} (or `all`)"))
}

fn parse_coalescings(s: &str) -> Result<Coalescings, String> {
    if s == "all" {
        return Ok(Coalescings(Coalescing::ALL.to_vec()));
    }
    s.parse::<Coalescing>()
        .map(|c| Coalescings(vec![c]))
        .map_err(|e| format!("{e} (or `all`)"))
}

fn parse_ops(s: &str) -> Result<u64, String> {
    crate::sim::parse_events(s).map(|n| n as u64)
}

/// Parses `90s`, `1.5m`, `2h`, `1h30m`, `500ms`, `1d`; a bare number is
/// seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("`{s}` is not a duration (try 30s, 10m, 2h or 1h30m)");
    if t.is_empty() {
        return Err(bad());
    }
    let mut total = 0.0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(n);
        let u = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(u);
        let value: f64 = num.parse().map_err(|_| bad())?;
        let scale = match unit.trim() {
            "" if next.is_empty() => 1.0,
            "ms" => 1e-3,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = next;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// One live block: where, its layout, and the seed of its bytes.
#[derive(Clone, Copy, Debug)]
struct Block {
    ptr: NonNull<u8>,
    size: usize,
    align: usize,
    seed: u64,
}

/// The 8 bytes of a block's pattern at word `k` (bytes `8k .. 8k + 8`,
/// little-endian): different for every block and every word, so a stray
/// write, a wrong copy or a shifted move shows.
fn word(seed: u64, k: usize) -> u64 {
    let x = seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 31)
}

/// The pattern's byte at `i`.
fn byte(seed: u64, i: usize) -> u8 {
    word(seed, i / 8).to_le_bytes()[i % 8]
}

impl Block {
    /// Writes the pattern into bytes `from .. to`.
    fn fill(&self, from: usize, to: usize) {
        // SAFETY: `to <= self.size` and the block is live and the soak's
        // alone; nothing else refers to these bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), to) };
        let head = from.next_multiple_of(8).min(to);
        for (i, b) in bytes.iter_mut().enumerate().take(head).skip(from) {
            *b = byte(self.seed, i);
        }
        let mut words = bytes[head..].chunks_exact_mut(8);
        for (k, chunk) in (&mut words).enumerate() {
            chunk.copy_from_slice(&word(self.seed, head / 8 + k).to_le_bytes());
        }
        let tail_at = to - words.into_remainder().len();
        for (i, b) in bytes.iter_mut().enumerate().skip(tail_at) {
            *b = byte(self.seed, i);
        }
    }

    /// The first byte of `0 .. len` that is not the pattern.
    fn first_bad(&self, len: usize) -> Option<usize> {
        // SAFETY: `len <= self.size`; the block is live and every byte of it
        // was written by `fill`.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), len) };
        let words = bytes.chunks_exact(8);
        let tail_at = len - words.remainder().len();
        let bad_word = words.enumerate().position(|(k, c)| {
            u64::from_le_bytes(c.try_into().expect("8 bytes")) != word(self.seed, k)
        });
        let from = bad_word.map_or(tail_at, |k| k * 8);
        (from..len).find(|&i| bytes[i] != byte(self.seed, i))
    }
}

/// The first thing found wrong.
#[derive(Debug)]
struct Violation(String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Violation(format!($($fmt)+)));
        }
    };
}

/// What one configuration did, over all its epochs.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    epochs: u64,
    ops: u64,
    allocs: u64,
    oom: u64,
    no_descriptor: u64,
    frees: u64,
    reallocs: u64,
    moved: u64,
    realloc_oom: u64,
    defrags: u64,
    defrag_retries: u64,
    relocates: u64,
    relocated_blocks: u64,
    full_checks: u64,
    peak_live_bytes: usize,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.epochs += o.epochs;
        self.ops += o.ops;
        self.allocs += o.allocs;
        self.oom += o.oom;
        self.no_descriptor += o.no_descriptor;
        self.frees += o.frees;
        self.reallocs += o.reallocs;
        self.moved += o.moved;
        self.realloc_oom += o.realloc_oom;
        self.defrags += o.defrags;
        self.defrag_retries += o.defrag_retries;
        self.relocates += o.relocates;
        self.relocated_blocks += o.relocated_blocks;
        self.full_checks += o.full_checks;
        self.peak_live_bytes = self.peak_live_bytes.max(o.peak_live_bytes);
    }
}

/// A splitmix64 generator: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The soak's buffer: zeroed, 4 KiB aligned, freed on drop.
struct Region {
    base: NonNull<u8>,
    layout: Layout,
}

impl Region {
    fn new(len: usize) -> io::Result<Region> {
        let layout = Layout::from_size_align(len.max(1), 4096)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: a non-zero-sized layout.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        let base = NonNull::new(p).ok_or_else(|| io::Error::other("cannot allocate the region"))?;
        Ok(Region { base, layout })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `Region::new` with this layout; every heap
        // over it is gone (the soak drops its heap first).
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) };
    }
}

type SoakHeap = Heap<0, Vec<Slot>>;

/// One epoch: a fresh heap with one configuration, and the soak's model of
/// what is live in it.
struct Epoch<'a> {
    heap: SoakHeap,
    config: Config,
    capacity: usize,
    rng: Rng,
    live: Vec<Block>,
    requested: usize,
    serial: u64,
    /// The fill the generator steers towards, changed now and then.
    target: f64,
    counts: &'a mut Counts,
}

impl Epoch<'_> {
    /// A size, log-uniform between 1 byte and 1/16 of the region.
    fn size(&mut self) -> usize {
        let max_bits = (self.capacity / 16).max(2).ilog2() as u64;
        let bits = self.rng.below(max_bits + 1);
        1 + self.rng.below(1 << bits) as usize
    }

    /// An alignment from 1 to 4 KiB (at most 1/4 of the region), small ones
    /// most often.
    fn align(&mut self) -> usize {
        let a = match self.rng.below(10) {
            0..6 => 1 << self.rng.below(5),
            6..9 => 16 << self.rng.below(5),
            _ => 256 << self.rng.below(5),
        };
        a.min((self.capacity / 4).max(1).next_power_of_two() >> 1)
            .max(1)
    }

    fn step(&mut self, op: u64) -> Result<(), Violation> {
        if op.is_multiple_of(4096) {
            self.target = 0.1 + 0.85 * (self.rng.below(1000) as f64 / 1000.0);
        }
        let fill = self.heap.stats().in_use_bytes as f64 / self.capacity as f64;
        match self.rng.below(1000) {
            0..5 => self.defragment()?,
            5 => self.relocate()?,
            6..200 if !self.live.is_empty() => self.realloc()?,
            _ => {
                let p_alloc = if fill < self.target { 650 } else { 350 };
                if self.live.is_empty() || self.rng.below(1000) < p_alloc {
                    self.alloc()?;
                } else {
                    let i = self.rng.below(self.live.len() as u64) as usize;
                    self.free(i)?;
                }
            }
        }
        self.cheap_checks()
    }

    fn alloc(&mut self) -> Result<(), Violation> {
        let (size, align) = (self.size(), self.align());
        let layout = Layout::from_size_align(size, align).expect("a valid layout");
        let mut retried = false;
        let ptr = loop {
            match self.heap.alloc(layout) {
                Ok(p) => break p,
                Err(AllocError::OutOfMemory(OomReason::NoFit { needed, .. })) => {
                    self.no_fit_is_true(needed, align, "alloc")?;
                    if self.config.coalescing == Coalescing::Deferred && !retried {
                        // A program on the classic model defragments and
                        // retries.
                        self.heap.defragment();
                        self.counts.defrag_retries += 1;
                        retried = true;
                        continue;
                    }
                    self.counts.oom += 1;
                    return Ok(());
                }
                Err(AllocError::OutOfMemory(OomReason::NoSpareDescriptor { .. })) => {
                    self.counts.no_descriptor += 1;
                    return Ok(());
                }
                Err(e) => {
                    return Err(Violation(format!(
                        "alloc({size}, align {align}) of a valid request failed: {e:?}"
                    )));
                }
            }
        };
        let addr = ptr.as_ptr() as usize;
        let base = self.heap.base().as_ptr() as usize;
        ensure!(
            addr.is_multiple_of(align),
            "alloc({size}, align {align}) returned {addr:#x}, misaligned"
        );
        let usable = self.heap.usable_size(ptr);
        ensure!(
            addr >= base && usable.is_some_and(|u| addr - base + u <= self.capacity && u >= size),
            "alloc({size}, align {align}) returned offset {} with usable size {usable:?} in a region of {}",
            addr.wrapping_sub(base),
            self.capacity
        );
        self.serial += 1;
        let b = Block {
            ptr,
            size,
            align,
            seed: self.rng.next() ^ self.serial,
        };
        b.fill(0, size);
        self.live.push(b);
        self.requested += size;
        self.counts.allocs += 1;
        Ok(())
    }

    /// A request failed with "no free arena fits": check that none does.
    fn no_fit_is_true(&self, needed: usize, align: usize, what: &str) -> Result<(), Violation> {
        let m = self.heap.manager();
        if m.stats().spare_descriptors < 2 {
            // Padding and a tail may each need a descriptor: a policy may
            // then fairly report the arena as not fitting.
            return Ok(());
        }
        let origin = m.origin();
        let fitting = m.arenas().find(|a| {
            let start = (origin + a.offset).next_multiple_of(align) - origin;
            !a.in_use && start + needed <= a.offset + a.size
        });
        ensure!(
            fitting.is_none(),
            "{what}: {} found no arena for {needed} bytes at align {align}, but free arena \
             {fitting:?} holds it",
            self.config.policy
        );
        Ok(())
    }

    fn free(&mut self, i: usize) -> Result<(), Violation> {
        let b = self.live.swap_remove(i);
        if let Some(at) = b.first_bad(b.size) {
            return Err(corrupt(&b, at, "before free"));
        }
        // SAFETY: a live block of this heap, not used again.
        let r = unsafe { self.heap.free(b.ptr) };
        ensure!(r.is_ok(), "free of live block {b:?} failed: {r:?}");
        self.requested -= b.size;
        self.counts.frees += 1;
        Ok(())
    }

    fn realloc(&mut self) -> Result<(), Violation> {
        let i = self.rng.below(self.live.len() as u64) as usize;
        let new = match self.rng.below(4) {
            0 => (self.live[i].size / 2).max(1),
            1 => self.live[i].size + 1 + self.rng.below(64) as usize,
            _ => self.size(),
        };
        let b = self.live[i];
        if let Some(at) = b.first_bad(b.size) {
            return Err(corrupt(&b, at, "before realloc"));
        }
        let layout = Layout::from_size_align(new, b.align).expect("a valid layout");
        self.counts.reallocs += 1;
        // SAFETY: a live block of this heap; on success only the returned
        // pointer is used.
        match unsafe { self.heap.realloc(b.ptr, layout) } {
            Ok(p) => {
                if p != b.ptr {
                    self.counts.moved += 1;
                }
                let nb = Block {
                    ptr: p,
                    size: new,
                    ..b
                };
                let kept = b.size.min(new);
                ensure!(
                    (p.as_ptr() as usize).is_multiple_of(b.align),
                    "realloc to {new} lost the alignment {}",
                    b.align
                );
                ensure!(
                    self.heap.usable_size(p).is_some_and(|u| u >= new),
                    "realloc to {new}: usable size {:?}",
                    self.heap.usable_size(p)
                );
                if let Some(at) = nb.first_bad(kept) {
                    return Err(corrupt(&nb, at, "after realloc (the kept prefix)"));
                }
                nb.fill(kept, new);
                self.live[i] = nb;
                self.requested = self.requested - b.size + new;
            }
            Err(ReallocError::Alloc(AllocError::OutOfMemory(reason))) => {
                if let OomReason::NoFit { needed, .. } = reason {
                    // A failed realloc may still have been servable by
                    // moving; it must not have failed while a fitting arena
                    // existed elsewhere.
                    self.no_fit_is_true(needed, b.align, "realloc")?;
                }
                self.counts.realloc_oom += 1;
                if let Some(at) = b.first_bad(b.size) {
                    return Err(corrupt(&b, at, "after a failed realloc"));
                }
            }
            Err(e) => {
                return Err(Violation(format!(
                    "realloc of live block {b:?} to {new} failed: {e:?}"
                )));
            }
        }
        Ok(())
    }

    fn defragment(&mut self) -> Result<(), Violation> {
        let before = self.heap.stats();
        let r = self.heap.defragment();
        let after = self.heap.stats();
        self.counts.defrags += 1;
        ensure!(
            after.in_use_bytes == before.in_use_bytes && after.used_arenas == before.used_arenas,
            "defragment changed what is in use: {before:?} -> {after:?}"
        );
        ensure!(
            r.free_arenas_after <= r.free_arenas_before
                && r.largest_free_after >= r.largest_free_before,
            "defragment made things worse: {r:?}"
        );
        // Nothing moved: the bytes are checked at the next full check.
        self.full_check(false)
    }

    fn relocate(&mut self) -> Result<(), Violation> {
        let index: HashMap<usize, usize> = self
            .live
            .iter()
            .enumerate()
            .map(|(i, b)| (b.ptr.as_ptr() as usize, i))
            .collect();
        let live = &mut self.live;
        let mut unknown = None;
        let mut moved: Vec<usize> = Vec::new();
        // SAFETY: the soak holds no reference into the heap, and every
        // pointer it keeps is updated through `on_move`.
        let r = unsafe {
            self.heap
                .relocate(|from, to, len| match index.get(&(from.as_ptr() as usize)) {
                    Some(&i) if live[i].size <= len => {
                        live[i].ptr = to;
                        moved.push(i);
                    }
                    _ => unknown = Some((from, to, len)),
                })
        };
        self.counts.relocates += 1;
        self.counts.relocated_blocks += moved.len() as u64;
        ensure!(
            unknown.is_none(),
            "relocate moved something that is not a live block (or too short): {unknown:?}"
        );
        if let Ok(r) = r {
            ensure!(
                r.moved == moved.len(),
                "relocate reported {} moves and made {}",
                r.moved,
                moved.len()
            );
        }
        // The moved blocks' bytes now; the others' at the next full check.
        for &i in &moved {
            let b = self.live[i];
            if let Some(at) = b.first_bad(b.size) {
                return Err(corrupt(&b, at, "after relocate moved it"));
            }
        }
        self.full_check(false)
    }

    /// The O(1) checks, after every operation.
    fn cheap_checks(&mut self) -> Result<(), Violation> {
        let s = self.heap.stats();
        ensure!(
            s.in_use_bytes + s.free_bytes == s.capacity && s.capacity == self.capacity,
            "bytes do not add up: {s:?}"
        );
        ensure!(
            s.free_arenas + s.used_arenas + s.spare_descriptors == s.descriptors,
            "descriptors do not add up: {s:?}"
        );
        ensure!(
            s.used_arenas == self.live.len() && s.requested_bytes == self.requested,
            "the heap has {} arenas in use and {} requested bytes; the soak holds {} blocks of {} bytes",
            s.used_arenas,
            s.requested_bytes,
            self.live.len(),
            self.requested
        );
        ensure!(
            s.largest_free <= s.free_bytes && (s.free_bytes == 0) == (s.free_arenas == 0),
            "free arenas do not add up: {s:?}"
        );
        if self.config.coalescing == Coalescing::Immediate {
            ensure!(
                s.free_arenas <= s.used_arenas + 1,
                "immediate coalescing left more free arenas than gaps between blocks: {s:?}"
            );
        }
        self.counts.peak_live_bytes = self.counts.peak_live_bytes.max(self.requested);
        Ok(())
    }

    /// The full check: invariants, every arena, every block's arena and
    /// place, and (with `bytes`) every block's bytes.
    fn full_check(&mut self, bytes: bool) -> Result<(), Violation> {
        self.counts.full_checks += 1;
        let m = self.heap.manager();
        if let Err(e) = m.check_invariants() {
            return Err(Violation(format!("check_invariants: {e:?}")));
        }
        // The arenas tile the region, in address order.
        let mut end = 0;
        let mut in_use = 0;
        for a in m.arenas() {
            ensure!(
                a.offset == end,
                "arena {a:?} does not start where the last ended ({end})"
            );
            end = a.offset + a.size;
            in_use += usize::from(a.in_use);
        }
        ensure!(
            end == self.capacity,
            "the arenas end at {end}, not at {}",
            self.capacity
        );
        ensure!(
            in_use == self.live.len(),
            "{in_use} arenas in use, {} blocks",
            self.live.len()
        );
        // Every block: its arena, its bytes, no overlap.
        let base = self.heap.base().as_ptr() as usize;
        let mut by_addr: Vec<Block> = self.live.clone();
        by_addr.sort_unstable_by_key(|b| b.ptr.as_ptr() as usize);
        let mut prev_end = 0;
        for b in &by_addr {
            let offset = b.ptr.as_ptr() as usize - base;
            let a = m.arena_at(offset);
            ensure!(
                a.is_some_and(|a| a.in_use && a.used == b.size && a.size >= b.size),
                "block {b:?} (offset {offset}) has arena {a:?}"
            );
            ensure!(
                offset >= prev_end,
                "block at offset {offset} overlaps the one before"
            );
            prev_end = offset + b.size;
            if let Some(at) = b.first_bad(if bytes { b.size } else { 0 }) {
                return Err(corrupt(b, at, "in a full check"));
            }
        }
        Ok(())
    }

    /// Frees everything (checking each block) and checks the heap is whole.
    fn finish(&mut self) -> Result<(), Violation> {
        self.full_check(true)?;
        while !self.live.is_empty() {
            let i = self.rng.below(self.live.len() as u64) as usize;
            self.free(i)?;
        }
        self.cheap_checks()?;
        let s = self.heap.stats();
        if self.config.coalescing == Coalescing::Immediate {
            ensure!(
                s.free_arenas == 1,
                "everything freed under immediate coalescing, yet {} free arenas",
                s.free_arenas
            );
        }
        self.heap.defragment();
        let s = self.heap.stats();
        ensure!(
            s.free_arenas == 1 && s.largest_free == self.capacity && s.used_arenas == 0,
            "everything freed and defragmented, yet not one free arena: {s:?}"
        );
        self.full_check(true)
    }
}

fn corrupt(b: &Block, at: usize, when: &str) -> Violation {
    Violation(format!(
        "block {:p} (size {}, align {}) corrupt at byte {at} {when}",
        b.ptr, b.size, b.align
    ))
}

/// Where a violation happened, for replaying it.
struct Failure {
    epoch: u64,
    config: Config,
    op: u64,
    total_ops: u64,
    what: String,
}

/// Runs `sysarena soak`.
pub fn run(args: &SoakArgs, mut out: impl Write) -> io::Result<()> {
    let configs: Vec<Config> = args
        .policy
        .0
        .iter()
        .flat_map(|&p| args.coalescing.0.iter().map(move |&c| Config::new(p, c)))
        .collect();
    let duration = match (args.duration, args.ops) {
        (Some(d), _) => Some(d),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(30)),
    };
    let max_ops = args.ops.unwrap_or(u64::MAX);
    let epoch_ops = args.epoch_ops.max(1);
    let check_every = args.check_every.max(1);
    if args.capacity < 64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--capacity must be at least 64 bytes",
        ));
    }
    if args.descriptors == 0 || args.descriptors > crate::step::MAX_DESCRIPTORS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--descriptors {}: give 1 to {}",
                args.descriptors,
                crate::step::MAX_DESCRIPTORS
            ),
        ));
    }
    let region = Region::new(args.capacity)?;

    writeln!(
        out,
        "sysarena soak — seed {}, {}, capacity {}, {} descriptors, {} configuration(s) round-robin, {} operations per epoch",
        args.seed,
        match (duration, args.ops) {
            (Some(d), Some(n)) => format!("{d:.0?} or {} operations", thousands(n as usize)),
            (Some(d), None) => format!("{d:.0?}"),
            (None, Some(n)) => format!("{} operations", thousands(n as usize)),
            (None, None) => unreachable!("a duration is set when --ops is not"),
        },
        fmt_bytes(args.capacity),
        args.descriptors,
        configs.len(),
        thousands(epoch_ops as usize),
    )?;
    out.flush()?;

    let bar = progress_bar(args.quiet, duration);
    let started = Instant::now();
    let deadline = duration.map(|d| started + d);
    let mut per_config = vec![Counts::default(); configs.len()];
    let mut total_ops = 0u64;
    let mut epoch = 0u64;
    let mut failure: Option<Failure> = None;
    let mut last_draw = Instant::now();
    let mut done = false;

    while !done {
        if total_ops >= max_ops || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let ci = (epoch % configs.len() as u64) as usize;
        let config = configs[ci];
        let table = vec![Slot::EMPTY; args.descriptors];
        let manager = ArenaManager::from_table(table, args.capacity, config)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        // SAFETY: the region is `args.capacity` bytes the soak owns; one heap
        // at a time uses it (the previous epoch's is dropped, all its blocks
        // freed); it outlives the heap.
        let heap = unsafe { Heap::from_manager(region.base, manager) };
        let counts = &mut per_config[ci];
        counts.epochs += 1;
        let mut e = Epoch {
            heap,
            config,
            capacity: args.capacity,
            rng: Rng(args.seed ^ epoch.wrapping_mul(0xA076_1D64_78BD_642F)),
            live: Vec::new(),
            requested: 0,
            serial: 0,
            target: 0.5,
            counts,
        };
        let mut op = 0u64;
        let result = panic::catch_unwind(AssertUnwindSafe(|| -> Result<(), Violation> {
            while op < epoch_ops {
                if total_ops >= max_ops {
                    done = true;
                    break;
                }
                if op.is_multiple_of(1024) {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        done = true;
                        break;
                    }
                    if now - last_draw >= Duration::from_millis(200) {
                        last_draw = now;
                        draw(
                            &bar,
                            started,
                            duration,
                            config,
                            total_ops,
                            e.requested,
                            &per_config_snapshot(&e),
                        );
                    }
                }
                e.step(op)?;
                op += 1;
                total_ops += 1;
                e.counts.ops += 1;
                if op.is_multiple_of(check_every) {
                    e.full_check(true)?;
                }
            }
            e.finish()
        }));
        let what = match result {
            Ok(Ok(())) => None,
            Ok(Err(v)) => Some(v.0),
            Err(payload) => Some(format!(
                "panicked: {}",
                payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)")
            )),
        };
        if let Some(what) = what {
            failure = Some(Failure {
                epoch,
                config,
                op,
                total_ops,
                what,
            });
            // The heap may be broken: leak it with its blocks rather than
            // run anything more on it.
            std::mem::forget(e);
            break;
        }
        drop(e);
        epoch += 1;
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    summary(&mut out, &configs, &per_config, total_ops, elapsed)?;
    match failure {
        None => {
            // A short run may not reach every configuration: say which it
            // covered, so `ok` never claims more than was tested.
            let covered = per_config.iter().filter(|c| c.ops > 0).count();
            let missed: Vec<String> = configs
                .iter()
                .zip(&per_config)
                .filter(|(_, c)| c.ops == 0)
                .map(|(c, _)| format!("{}/{}", c.policy, c.coalescing))
                .collect();
            writeln!(
                out,
                "soak: ok — {} operations in {}, covering {} of {} configuration{}, every check passed",
                thousands(total_ops as usize),
                crate::heapmap::count(epoch as usize, "epoch"),
                covered,
                configs.len(),
                if configs.len() == 1 { "" } else { "s" },
            )?;
            if !missed.is_empty() {
                writeln!(
                    out,
                    "soak: not reached: {} (each configuration runs --epoch-ops {} operations in turn; raise --duration or --ops, or lower --epoch-ops, to cover them)",
                    missed.join(", "),
                    thousands(epoch_ops as usize)
                )?;
            }
            Ok(())
        }
        Some(f) => {
            writeln!(
                out,
                "soak: VIOLATION in epoch {} ({}/{}), operation {} of the epoch ({} overall): {}\n\
                 replay: sysarena soak --seed {} --ops {} --policy {} --coalescing {} --capacity {} --descriptors {} --epoch-ops {} --check-every {}",
                f.epoch,
                f.config.policy,
                f.config.coalescing,
                f.op,
                f.total_ops,
                f.what,
                args.seed,
                f.total_ops + 1,
                args.policy_arg(),
                args.coalescing_arg(),
                args.capacity,
                args.descriptors,
                epoch_ops,
                check_every,
            )?;
            out.flush()?;
            Err(io::Error::other("soak found a violation"))
        }
    }
}

/// The counts an epoch in progress has added to its configuration (the
/// bar's live-bytes and failure figures).
fn per_config_snapshot(e: &Epoch<'_>) -> Counts {
    *e.counts
}

impl SoakArgs {
    fn policy_arg(&self) -> String {
        match self.policy.0.as_slice() {
            [p] => p.to_string(),
            _ => "all".into(),
        }
    }
    fn coalescing_arg(&self) -> String {
        match self.coalescing.0.as_slice() {
            [c] => c.to_string(),
            _ => "all".into(),
        }
    }
}

fn progress_bar(quiet: bool, duration: Option<Duration>) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        duration.map(|d| d.as_millis() as u64),
        ProgressDrawTarget::stderr(),
    );
    let template = if duration.is_some() {
        "{spinner} [{elapsed_precise}/{duration_precise}] {bar:20} {wide_msg}"
    } else {
        "{spinner} [{elapsed_precise}] {wide_msg}"
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("█▉▊▋▌▍▎▏ "),
    );
    bar
}

fn draw(
    bar: &ProgressBar,
    started: Instant,
    duration: Option<Duration>,
    config: Config,
    ops: u64,
    live: usize,
    c: &Counts,
) {
    let secs = started.elapsed().as_secs_f64();
    if duration.is_some() {
        bar.set_position(started.elapsed().as_millis() as u64);
    } else {
        bar.tick();
    }
    bar.set_message(format!(
        "{}/{} · {} ops · {}/s · live {} · failed requests {} · violations 0",
        config.policy,
        config.coalescing,
        thousands(ops as usize),
        thousands((ops as f64 / secs.max(1e-9)) as usize),
        fmt_bytes(live),
        thousands((c.oom + c.no_descriptor + c.realloc_oom) as usize),
    ));
}

fn summary(
    out: &mut impl Write,
    configs: &[Config],
    per: &[Counts],
    total_ops: u64,
    elapsed: Duration,
) -> io::Result<()> {
    writeln!(
        out,
        "{:<26} {:>6} {:>13} {:>11} {:>11} {:>11} {:>9} {:>9} {:>8} {:>8} {:>9} {:>7} {:>10}",
        "configuration",
        "epochs",
        "ops",
        "allocs",
        "frees",
        "reallocs",
        "moved",
        "oom",
        "no-desc",
        "defrags",
        "relocates",
        "checks",
        "peak live"
    )?;
    let mut total = Counts::default();
    for (c, n) in configs.iter().zip(per) {
        total.add(n);
        row(out, &format!("{}/{}", c.policy, c.coalescing), n)?;
    }
    if configs.len() > 1 {
        row(out, "all", &total)?;
    }
    let secs = elapsed.as_secs_f64();
    writeln!(
        out,
        "{} operations in {:.1?} ({}/s); {} defragment-and-retry on a failed request, {} blocks moved by relocate, {} failed reallocs (block intact)",
        thousands(total_ops as usize),
        elapsed,
        thousands((total_ops as f64 / secs.max(1e-9)) as usize),
        thousands(total.defrag_retries as usize),
        thousands(total.relocated_blocks as usize),
        thousands(total.realloc_oom as usize),
    )
}

fn row(out: &mut impl Write, name: &str, n: &Counts) -> io::Result<()> {
    writeln!(
        out,
        "{:<26} {:>6} {:>13} {:>11} {:>11} {:>11} {:>9} {:>9} {:>8} {:>8} {:>9} {:>7} {:>10}",
        name,
        n.epochs,
        thousands(n.ops as usize),
        thousands(n.allocs as usize),
        thousands(n.frees as usize),
        thousands(n.reallocs as usize),
        thousands(n.moved as usize),
        thousands(n.oom as usize),
        thousands(n.no_descriptor as usize),
        thousands(n.defrags as usize),
        thousands(n.relocates as usize),
        thousands(n.full_checks as usize),
        fmt_bytes(n.peak_live_bytes),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 fortnights").is_err());
    }

    #[test]
    fn patterns_catch_a_flipped_byte_and_a_shift() {
        let mut buf = vec![0u8; 300];
        let b = Block {
            ptr: NonNull::new(buf.as_mut_ptr()).unwrap(),
            size: 300,
            align: 1,
            seed: 42,
        };
        b.fill(0, 100);
        b.fill(100, 300);
        assert_eq!(b.first_bad(300), None);
        buf[157] ^= 1;
        assert_eq!(b.first_bad(300), Some(157));
        buf[157] ^= 1;
        buf.copy_within(0..200, 8);
        assert_eq!(b.first_bad(300), Some(8));
    }

    #[test]
    fn a_short_soak_of_every_configuration_passes() {
        let args = SoakArgs {
            duration: None,
            ops: Some(20_000),
            seed: 7,
            policy: Policies(Policy::ALL.to_vec()),
            coalescing: Coalescings(Coalescing::ALL.to_vec()),
            capacity: 256 << 10,
            descriptors: 512,
            epoch_ops: 2_000,
            check_every: 500,
            quiet: true,
        };
        let mut out = Vec::new();
        run(&args, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "soak: ok — 20,000 operations in 10 epochs, covering 10 of 10 configurations"
            ),
            "{text}"
        );
        assert!(!text.contains("not reached"), "{text}");
    }

    #[test]
    fn a_short_soak_says_how_many_configurations_it_covered() {
        let args = SoakArgs {
            duration: None,
            ops: Some(3_000),
            seed: 7,
            policy: Policies(Policy::ALL.to_vec()),
            coalescing: Coalescings(Coalescing::ALL.to_vec()),
            capacity: 256 << 10,
            descriptors: 512,
            epoch_ops: 1_000,
            check_every: 500,
            quiet: true,
        };
        let mut out = Vec::new();
        run(&args, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "soak: ok — 3,000 operations in 3 epochs, covering 3 of 10 configurations"
            ),
            "{text}"
        );
        assert!(
            text.contains("soak: not reached: next-fit/immediate"),
            "{text}"
        );
    }

    #[test]
    fn a_table_of_zero_or_too_many_descriptors_is_refused() {
        let mut args = SoakArgs {
            duration: None,
            ops: Some(100),
            seed: 7,
            policy: Policies(vec![Policy::FirstFit]),
            coalescing: Coalescings(vec![Coalescing::Deferred]),
            capacity: 64 << 10,
            descriptors: 0,
            epoch_ops: 100,
            check_every: 50,
            quiet: true,
        };
        assert!(run(&args, Vec::new()).is_err());
        args.descriptors = 100_000_000_000;
        assert!(run(&args, Vec::new()).is_err());
    }
}
