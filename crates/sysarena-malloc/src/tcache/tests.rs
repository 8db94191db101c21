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
        assert!(unsafe { (*k).bins[quiet].len } >= 8);
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
        assert_eq!(unsafe { (*k).bins[quiet].len }, 0);
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
