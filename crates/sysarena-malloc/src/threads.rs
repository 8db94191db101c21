//! Concurrency stress of the library's functions, in process (issue 8).
//!
//! The same code the `LD_PRELOAD` build exports, called directly from
//! several threads: `malloc`, `calloc`, `posix_memalign`, `aligned_alloc`,
//! `memalign`, `realloc` and `free`, with a pattern in every byte of every
//! block, blocks passed to other threads to be reallocated and freed there,
//! for a bounded time. At the end every block is verified and freed, and
//! every shard is checked under its lock (`check::check_all`: invariants,
//! accounting, slab records).
//!
//! Because nothing here is exported (the test binary keeps the system
//! allocator), this test can run under ThreadSanitizer, which intercepts
//! `malloc` itself and so cannot be combined with `LD_PRELOAD`:
//! `.ci/tsan.sh` runs it built with `-Zsanitizer=thread`, which checks
//! that the shard locks (futex locks built on atomics), the home shards
//! (moved on contention) and the slab layer order every access.
//!
//! Environment: `SYSARENA_STRESS_SECS` (default 1), `SYSARENA_STRESS_THREADS`
//! (default 8).

use core::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{api, check};

/// A block: its address, size and pattern seed.
struct Block {
    p: usize,
    size: usize,
    seed: u64,
}

fn pattern(seed: u64, i: usize) -> u8 {
    let x = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x ^ (x >> 29) ^ (x >> 47)) as u8
}

impl Block {
    fn bytes(&self) -> &[u8] {
        // SAFETY: a live block of `size` bytes that this thread owns, every
        // byte written (by `fill`, or zeroed by calloc).
        unsafe { std::slice::from_raw_parts(self.p as *const u8, self.size) }
    }
    fn fill(&self, from: usize) {
        for i in from..self.size {
            // SAFETY: `i < size`, inside the live block this thread owns.
            unsafe { (self.p as *mut u8).add(i).write(pattern(self.seed, i)) };
        }
    }
    fn verify(&self, len: usize, what: &str) {
        let bytes = &self.bytes()[..len];
        if let Some(i) = (0..len).find(|&i| bytes[i] != pattern(self.seed, i)) {
            panic!(
                "{what}: block {:#x} of {} bytes corrupt at {i}",
                self.p, self.size
            );
        }
    }
    fn free(self) {
        self.verify(self.size, "before free");
        // SAFETY: a live block of this allocator, not used again.
        unsafe { api::free(self.p as *mut c_void) };
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn size(&mut self) -> usize {
        let size = 1 + match self.below(16) {
            0 => self.below(32 << 10),
            1..4 => self.below(4096),
            _ => self.below(512),
        } as usize;
        // The 2,304-byte class is left to
        // `tcache::tests::a_refill_pops_its_lowest_slot_first`, which needs
        // a fresh page of it: the pages this stress leaves behind hand out
        // their free slots in no address order (it failed 24 times in 100
        // runs of the two tests together).
        if size <= crate::slab::MAX_SIZE
            && crate::slab::class_of(size) == crate::slab::class_of(2200)
        {
            size + 256
        } else {
            size
        }
    }
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn threads_share_the_shards_without_corruption() {
    let secs: f64 = env("SYSARENA_STRESS_SECS", 1.0);
    let threads: usize = env("SYSARENA_STRESS_THREADS", 8usize).max(2);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let stop = AtomicBool::new(false);
    let ops = AtomicU64::new(0);
    let boxes: Vec<Mutex<Vec<Block>>> = (0..threads).map(|_| Mutex::new(Vec::new())).collect();

    let left: Vec<Block> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (stop, ops, boxes) = (&stop, &ops, &boxes);
                s.spawn(move || {
                    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ ((t as u64 + 1) << 24));
                    let mut live: Vec<Block> = Vec::new();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        if n.is_multiple_of(128) && Instant::now() >= deadline {
                            stop.store(true, Ordering::Relaxed);
                        }
                        match rng.below(100) {
                            0..40 if live.len() < 256 => {
                                let size = rng.size();
                                let align = 16usize << rng.below(6);
                                let (p, zeroed, align) = match rng.below(10) {
                                    0 => (api::calloc(1, size), true, 16),
                                    1 => {
                                        let mut out = core::ptr::null_mut();
                                        // SAFETY: `out` is a valid place for the pointer.
                                        let r =
                                            unsafe { api::posix_memalign(&mut out, align, size) };
                                        assert_eq!(r, 0);
                                        (out, false, align)
                                    }
                                    2 => (
                                        api::aligned_alloc(align, size.next_multiple_of(align)),
                                        false,
                                        align,
                                    ),
                                    3 => (api::memalign(align, size), false, align),
                                    _ => (api::malloc(size), false, 16),
                                };
                                assert!(!p.is_null(), "allocation of {size} failed");
                                assert_eq!(p as usize % align, 0, "misaligned");
                                // SAFETY: a live block.
                                assert!(unsafe { api::malloc_usable_size(p) } >= size);
                                let b = Block {
                                    p: p as usize,
                                    size,
                                    seed: rng.next(),
                                };
                                if zeroed {
                                    assert!(b.bytes().iter().all(|&x| x == 0), "calloc not zero");
                                }
                                b.fill(0);
                                live.push(b);
                            }
                            0..65 if !live.is_empty() => {
                                let i = rng.below(live.len() as u64) as usize;
                                live.swap_remove(i).free();
                            }
                            65..85 if !live.is_empty() => {
                                let i = rng.below(live.len() as u64) as usize;
                                let new = rng.size();
                                let b = &mut live[i];
                                b.verify(b.size, "before realloc");
                                // SAFETY: a live block; on success the old
                                // pointer is not used again.
                                let q = unsafe { api::realloc(b.p as *mut c_void, new) };
                                assert!(!q.is_null(), "realloc to {new} failed");
                                let kept = b.size.min(new);
                                b.p = q as usize;
                                b.size = new;
                                b.verify(kept, "after realloc");
                                b.fill(kept);
                            }
                            85..95 if !live.is_empty() => {
                                let i = rng.below(live.len() as u64) as usize;
                                let to = (t + 1 + rng.below(threads as u64 - 1) as usize) % threads;
                                let b = live.swap_remove(i);
                                boxes[to].lock().unwrap().push(b);
                            }
                            _ => {
                                let got = std::mem::take(&mut *boxes[t].lock().unwrap());
                                for b in got {
                                    if rng.below(2) == 0 {
                                        b.free();
                                    } else {
                                        live.push(b);
                                    }
                                }
                            }
                        }
                    }
                    ops.fetch_add(n, Ordering::Relaxed);
                    live
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let left: Vec<Block> = left
        .into_iter()
        .chain(
            boxes
                .iter()
                .flat_map(|b| std::mem::take(&mut *b.lock().unwrap())),
        )
        .collect();
    for b in left {
        b.free();
    }
    let g = crate::init::get().expect("the library initialised");
    if let Err((shard, what)) = check::check_all(g) {
        panic!("shard {shard}: {what}");
    }
    println!(
        "{} operations on {threads} threads in {secs} s, every shard consistent",
        ops.load(Ordering::Relaxed)
    );
}
