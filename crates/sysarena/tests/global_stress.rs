//! Concurrency stress of [`LockedHeap`] (issue 8, "never corrupt, never
//! lose"): several threads share one heap for a bounded time and allocate
//! random sizes at random alignments, write a pattern that belongs to each
//! block into every byte, grow and shrink blocks with `realloc` (the kept
//! prefix must survive), free them, and pass blocks to other threads, which
//! verify and free them or keep them (cross-thread frees and reallocs). One
//! thread checks the heap's invariants and accounting while the others run.
//! At the end every live block is verified, checked not to overlap any
//! other, and freed; the heap must be whole again: no arena in use, all
//! bytes free in one arena, invariants intact, no invalid free.
//!
//! The run is bounded by time and by an operation count, and nothing is
//! asserted about timing. Environment (all optional):
//! `SYSARENA_STRESS_SECS` (seconds per configuration, default 1, fractions
//! allowed), `SYSARENA_STRESS_THREADS` (default 8),
//! `SYSARENA_STRESS_OPS` (most operations per thread, default unbounded).
//! Under Miri the run is a few hundred operations on two threads.
//!
//! The heap is not this binary's `#[global_allocator]` (`global_alloc.rs`
//! does that): calling it directly keeps the accounting exact — every byte
//! in use at the end is one of this test's blocks.

use std::alloc::{GlobalAlloc, Layout};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sysarena::global::{LockedHeap, SliceLockedHeap};
use sysarena::{ArenaManager, Coalescing, Config, Heap, Policy, Slot};

type Locked<'t> = SliceLockedHeap<'t>;

#[cfg(not(miri))]
const REGION: usize = 8 << 20;
#[cfg(miri)]
const REGION: usize = 256 << 10;
#[cfg(not(miri))]
const DESCRIPTORS: usize = 1 << 15;
#[cfg(miri)]
const DESCRIPTORS: usize = 512;
/// The most blocks one thread keeps at once.
#[cfg(not(miri))]
const MAX_LIVE: usize = 384;
#[cfg(miri)]
const MAX_LIVE: usize = 24;

/// One live block: where, how it was laid out, and the seed of its bytes.
struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
    seed: u64,
}

// SAFETY: a block is exclusively owned by whichever thread holds the
// `Block`; the heap it came from is `Sync`.
unsafe impl Send for Block {}

/// The byte at `i` of a block with `seed`: differs between blocks and
/// between neighbouring positions, so a stray write or a wrong copy shows.
fn pattern(seed: u64, i: usize) -> u8 {
    let x = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x ^ (x >> 29) ^ (x >> 47)) as u8
}

fn fill(b: &Block, from: usize, to: usize) {
    for i in from..to {
        // SAFETY: `i < layout.size()`, the block is live and ours.
        unsafe { b.ptr.as_ptr().add(i).write(pattern(b.seed, i)) };
    }
}

/// Panics naming the first byte of `b[..len]` that is not its pattern.
fn verify(b: &Block, len: usize, what: &str) {
    for i in 0..len {
        // SAFETY: `i < layout.size()`, the block is live and ours.
        let got = unsafe { b.ptr.as_ptr().add(i).read() };
        assert_eq!(
            got,
            pattern(b.seed, i),
            "{what}: block {:p} (size {}, align {}) corrupt at byte {i}",
            b.ptr,
            b.layout.size(),
            b.layout.align()
        );
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Mostly small blocks, some pages, a few large ones.
    fn size(&mut self) -> usize {
        let r = self.below(100);
        let max = if cfg!(miri) {
            [64, 512, 2048]
        } else {
            [256, 4096, 64 << 10]
        };
        1 + self.below(match r {
            0..70 => max[0],
            70..95 => max[1],
            _ => max[2],
        }) as usize
    }
    /// Alignments from 1 to 4096, small ones most often.
    fn align(&mut self) -> usize {
        let r = self.below(100);
        match r {
            0..60 => 1 << self.below(5),        // 1..16
            60..90 => 1 << (4 + self.below(3)), // 16..64
            _ => 1 << (6 + self.below(7)),      // 64..4096
        }
    }
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the threads did, summed.
#[derive(Default)]
struct Counts {
    ops: AtomicU64,
    allocs: AtomicU64,
    failed_allocs: AtomicU64,
    frees: AtomicU64,
    reallocs: AtomicU64,
    moved_reallocs: AtomicU64,
    failed_reallocs: AtomicU64,
    passed: AtomicU64,
    foreign_frees: AtomicU64,
    checks: AtomicU64,
    defrags: AtomicU64,
}

struct Run<'h, 't> {
    heap: &'h Locked<'t>,
    config: Config,
    mailboxes: Vec<Mutex<Vec<Block>>>,
    deadline: Instant,
    max_ops: u64,
    stop: AtomicBool,
    counts: Counts,
}

impl Run<'_, '_> {
    fn alloc(&self, layout: Layout, zeroed: bool) -> Option<NonNull<u8>> {
        for attempt in 0..2 {
            // SAFETY: `layout` has a non-zero size.
            let p = unsafe {
                if zeroed {
                    self.heap.alloc_zeroed(layout)
                } else {
                    self.heap.alloc(layout)
                }
            };
            if let Some(p) = NonNull::new(p) {
                return Some(p);
            }
            // The classic model merges only in `defragment`: run it once
            // and retry, as a program on deferred coalescing would.
            if attempt == 0 && self.config.coalescing == Coalescing::Deferred {
                self.heap.defragment();
                self.counts.defrags.fetch_add(1, Ordering::Relaxed);
            }
        }
        None
    }

    fn free(&self, b: Block, what: &str) {
        verify(&b, b.layout.size(), what);
        // SAFETY: a live block of this heap, with its layout; not used again.
        unsafe { self.heap.dealloc(b.ptr.as_ptr(), b.layout) };
        self.counts.frees.fetch_add(1, Ordering::Relaxed);
    }

    /// Checks the heap while other threads use it.
    fn check_heap(&self) {
        self.heap
            .check_invariants()
            .expect("invariants during the run");
        let s = self.heap.stats();
        assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity, "{s:?}");
        assert_eq!(
            s.free_arenas + s.used_arenas + s.spare_descriptors,
            s.descriptors,
            "{s:?}"
        );
        assert!(s.requested_bytes <= s.in_use_bytes, "{s:?}");
        self.counts.checks.fetch_add(1, Ordering::Relaxed);
    }

    fn worker(&self, t: usize) -> Vec<Block> {
        let threads = self.mailboxes.len();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) << 32) | 1);
        let mut live: Vec<Block> = Vec::with_capacity(MAX_LIVE);
        let mut serial = 0u64;
        let mut ops = 0u64;
        loop {
            if ops.is_multiple_of(64)
                && (self.stop.load(Ordering::Relaxed) || Instant::now() >= self.deadline)
            {
                self.stop.store(true, Ordering::Relaxed);
                break;
            }
            if ops >= self.max_ops {
                break;
            }
            ops += 1;
            match rng.below(100) {
                // Allocate (sometimes zeroed) and fill.
                0..35 if live.len() < MAX_LIVE => {
                    let layout = Layout::from_size_align(rng.size(), rng.align()).unwrap();
                    let zeroed = rng.below(8) == 0;
                    let Some(ptr) = self.alloc(layout, zeroed) else {
                        self.counts.failed_allocs.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    assert_eq!(ptr.as_ptr() as usize % layout.align(), 0, "{layout:?}");
                    let usable = self.heap.usable_size(ptr).expect("a live block");
                    assert!(usable >= layout.size(), "{usable} < {layout:?}");
                    if zeroed {
                        // SAFETY: a fresh block of `layout.size()` bytes.
                        let bytes =
                            unsafe { std::slice::from_raw_parts(ptr.as_ptr(), layout.size()) };
                        assert!(bytes.iter().all(|&b| b == 0), "alloc_zeroed not zero");
                    }
                    serial += 1;
                    let b = Block {
                        ptr,
                        layout,
                        seed: rng.next() ^ ((t as u64) << 56) ^ serial,
                    };
                    fill(&b, 0, layout.size());
                    live.push(b);
                    self.counts.allocs.fetch_add(1, Ordering::Relaxed);
                }
                // Free one (verified first).
                35..60 if !live.is_empty() => {
                    let i = rng.below(live.len() as u64) as usize;
                    self.free(live.swap_remove(i), "free");
                }
                // Realloc: the kept prefix must survive, the new tail is filled.
                60..80 if !live.is_empty() => {
                    let i = rng.below(live.len() as u64) as usize;
                    let b = &mut live[i];
                    let old = b.layout.size();
                    let new = if rng.below(2) == 0 {
                        (old / 2).max(1)
                    } else {
                        rng.size()
                    };
                    verify(b, old, "before realloc");
                    // SAFETY: a live block of this heap with its layout; on
                    // success the old pointer is not used again.
                    let p = unsafe { self.heap.realloc(b.ptr.as_ptr(), b.layout, new) };
                    self.counts.reallocs.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = NonNull::new(p) else {
                        // A failed realloc leaves the block untouched.
                        self.counts.failed_reallocs.fetch_add(1, Ordering::Relaxed);
                        verify(b, old, "after a failed realloc");
                        continue;
                    };
                    if p != b.ptr {
                        self.counts.moved_reallocs.fetch_add(1, Ordering::Relaxed);
                    }
                    assert_eq!(p.as_ptr() as usize % b.layout.align(), 0);
                    b.ptr = p;
                    b.layout = Layout::from_size_align(new, b.layout.align()).unwrap();
                    verify(b, old.min(new), "after realloc");
                    fill(b, old.min(new), new);
                }
                // Pass one to another thread.
                80..90 if !live.is_empty() && threads > 1 => {
                    let i = rng.below(live.len() as u64) as usize;
                    let to = (t + 1 + rng.below(threads as u64 - 1) as usize) % threads;
                    let b = live.swap_remove(i);
                    self.mailboxes[to].lock().unwrap().push(b);
                    self.counts.passed.fetch_add(1, Ordering::Relaxed);
                }
                // Take what others passed: free half, keep the rest.
                90..95 => {
                    let got = std::mem::take(&mut *self.mailboxes[t].lock().unwrap());
                    for b in got {
                        if live.len() >= MAX_LIVE || rng.below(2) == 0 {
                            self.free(b, "cross-thread free");
                            self.counts.foreign_frees.fetch_add(1, Ordering::Relaxed);
                        } else {
                            live.push(b);
                        }
                    }
                }
                // Verify one block in full.
                95..99 if !live.is_empty() => {
                    let b = &live[rng.below(live.len() as u64) as usize];
                    verify(b, b.layout.size(), "spot check");
                }
                // The heap's own checks, now and then, while others run.
                99 if t == 0 => self.check_heap(),
                _ => {}
            }
        }
        self.counts.ops.fetch_add(ops, Ordering::Relaxed);
        live
    }
}

/// Runs the stress on a fresh heap with `config` and checks the heap is
/// whole afterwards.
fn stress(config: Config) {
    let secs: f64 = env("SYSARENA_STRESS_SECS", 1.0);
    let threads: usize = env("SYSARENA_STRESS_THREADS", if cfg!(miri) { 2 } else { 8 });
    let max_ops: u64 = env(
        "SYSARENA_STRESS_OPS",
        if cfg!(miri) { 150 } else { u64::MAX },
    );
    let threads = threads.max(1);

    let region_layout = Layout::from_size_align(REGION, 4096).unwrap();
    // SAFETY: a non-zero-sized layout; freed at the end, after the heap.
    let region = NonNull::new(unsafe { std::alloc::alloc(region_layout) }).expect("region");
    let mut table = vec![Slot::EMPTY; DESCRIPTORS];
    let manager = ArenaManager::from_slice(&mut table, REGION, config).unwrap();
    let heap: Locked<'_> = LockedHeap::with_config(config);
    // SAFETY: the region is ours, used by nothing else, and outlives the
    // heap (freed below, after every block and the heap are gone).
    heap.init_heap(unsafe { Heap::from_manager(region, manager) })
        .unwrap();

    let run = Run {
        heap: &heap,
        config,
        mailboxes: (0..threads).map(|_| Mutex::new(Vec::new())).collect(),
        deadline: Instant::now() + Duration::from_secs_f64(secs),
        max_ops,
        stop: AtomicBool::new(false),
        counts: Counts::default(),
    };
    let started = Instant::now();
    let mut left: Vec<Block> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let run = &run;
                s.spawn(move || run.worker(t))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker panicked"))
            .collect()
    });
    let elapsed = started.elapsed();
    for m in &run.mailboxes {
        left.append(&mut m.lock().unwrap());
    }

    // Every block still live: intact, inside the region, disjoint.
    run.check_heap();
    let s = heap.stats();
    assert_eq!(s.used_arenas, left.len(), "one arena per live block");
    let requested: usize = left.iter().map(|b| b.layout.size()).sum();
    assert_eq!(s.requested_bytes, requested, "{s:?}");
    left.sort_by_key(|b| b.ptr.as_ptr() as usize);
    for w in left.windows(2) {
        let end = w[0].ptr.as_ptr() as usize + heap.usable_size(w[0].ptr).unwrap();
        assert!(end <= w[1].ptr.as_ptr() as usize, "blocks overlap");
    }
    for b in &left {
        assert!(heap.contains(b.ptr.as_ptr()));
        verify(b, b.layout.size(), "at the end");
    }
    let live_at_end = left.len();
    for b in left {
        run.free(b, "final free");
    }

    // Every byte is free again (the fast model's quick lists count as free)…
    let s = heap.stats();
    assert_eq!((s.used_arenas, s.free_bytes), (0, REGION));
    // …and the heap is whole once free neighbours merge: at once under
    // immediate coalescing, except for the small arenas the fast model's
    // quick lists hold until a flush (defragment flushes them).
    if config.coalescing == Coalescing::Deferred || s.cached_arenas > 0 {
        heap.defragment();
    }
    heap.check_invariants().expect("invariants at the end");
    let s = heap.stats();
    assert_eq!(s.capacity, REGION);
    assert_eq!(
        (s.used_arenas, s.in_use_bytes, s.requested_bytes),
        (0, 0, 0)
    );
    assert_eq!(
        (s.free_arenas, s.free_bytes, s.largest_free),
        (1, REGION, REGION)
    );
    assert_eq!(heap.invalid_frees(), 0);

    let c = &run.counts;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "{}/{}: {threads} threads, {:.2?}: {} ops ({} allocs, {} failed; {} frees, {} of them \
         cross-thread; {} reallocs, {} moved, {} failed; {} passed; {} heap checks; \
         {} defragments; {} live at the end)",
        config.policy,
        config.coalescing,
        elapsed,
        get(&c.ops),
        get(&c.allocs),
        get(&c.failed_allocs),
        get(&c.frees),
        get(&c.foreign_frees),
        get(&c.reallocs),
        get(&c.moved_reallocs),
        get(&c.failed_reallocs),
        get(&c.passed),
        get(&c.checks),
        get(&c.defrags),
        live_at_end,
    );
    assert!(get(&c.allocs) > 0 && get(&c.frees) > 0);
    // SAFETY: allocated above with this layout; every block is freed and
    // the heap (which has no destructor) is not used again.
    unsafe { std::alloc::dealloc(region.as_ptr(), region_layout) };
}

#[test]
fn threads_on_the_fast_model_never_corrupt_or_lose() {
    stress(Config::fast());
}

#[test]
fn threads_on_the_classic_model_with_defragment() {
    stress(Config::classic());
}

#[test]
fn threads_on_best_fit_immediate() {
    stress(Config::new(Policy::BestFit, Coalescing::Immediate));
}
