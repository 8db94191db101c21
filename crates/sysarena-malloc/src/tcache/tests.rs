//! Tests of the thread caches.

use super::*;
use crate::api::{free, malloc};

#[test]
fn a_stack_left_alone_goes_back() {
    std::thread::spawn(|| {
        let g = crate::init::get().expect("the allocator initialises");
        assert!(g.tcache, "thread caches are on by default");
        let quiet = slab::class_of(100);
        let blocks: Vec<_> = (0..8).map(|_| malloc(100)).collect();
        for p in blocks {
            // SAFETY: ours, freed once.
            unsafe { free(p) };
        }
        let k = cache();
        assert!(!k.is_null());
        // SAFETY: this thread's cache, read between calls.
        assert!(unsafe { (*k).lens[quiet] } >= 8);
        // Thousands of calls in another class, with refills and
        // flushes: the untouched stack goes back whole.
        let mut v = Vec::new();
        for _ in 0..4 {
            v.extend((0..2000).map(|_| malloc(200)));
            for p in v.drain(..) {
                // SAFETY: ours, freed once.
                unsafe { free(p) };
            }
        }
        // SAFETY: as above.
        assert_eq!(unsafe { (*k).lens[quiet] }, 0);
    })
    .join()
    .unwrap();
    // A thread after it (its cache flushed and kept for reuse) gets a
    // cache at its first small call.
    let next = std::thread::spawn(|| {
        let p = malloc(100);
        // SAFETY: ours.
        unsafe { free(p) };
        cache() as usize
    })
    .join()
    .unwrap();
    assert_ne!(next, 0);
}

/// A refill's slots come off the stack in the order the shard handed them
/// out: lowest first. A class no other test uses (2,200 bytes: the 2,304
/// class; the threads' stress skips it, `threads.rs`), in a new thread, so
/// its first refill takes the lowest slots of a fresh page, in address
/// order.
#[test]
fn a_refill_pops_its_lowest_slot_first() {
    std::thread::spawn(|| {
        let c = slab::class_of(2200);
        assert_eq!(class_size(c), 2304);
        let first = malloc(2200).cast::<u8>();
        assert!(!first.is_null());
        let k = cache();
        assert!(!k.is_null());
        // SAFETY: this thread's cache, read between calls.
        let (len, stack) = unsafe { ((*k).lens[c], &(*k).stacks[c]) };
        assert!(len >= 2, "the refill took {} slots", len + 1);
        // The rest wait above `first`, and the next pop is the next slot
        // up: the stack runs from the highest (bottom) to the lowest (top).
        let waiting = &stack[..len];
        assert!(waiting.iter().all(|&p| p > first));
        assert!(waiting.windows(2).all(|w| w[0] > w[1]));
        let next = malloc(2200).cast::<u8>();
        assert_eq!(next as usize, first as usize + 2304);
        for p in [first, next] {
            let p = p.cast();
            // SAFETY: ours, freed once.
            unsafe { free(p) };
        }
    })
    .join()
    .unwrap();
}
