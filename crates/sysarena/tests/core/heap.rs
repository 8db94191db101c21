//! The pointer layer.

use core::alloc::Layout;
use core::ptr::NonNull;
use sysarena::{Config, FreeError, Heap};
use sysarena_testkit::AlignedRegion;

/// A heap over memory the test owns and frees (Miri checks for leaks).
struct Owned {
    heap: Heap<64>,
    /// Declared after the heap, so that it drops after it.
    _mem: AlignedRegion,
}

impl std::ops::Deref for Owned {
    type Target = Heap<64>;
    fn deref(&self) -> &Heap<64> {
        &self.heap
    }
}

impl std::ops::DerefMut for Owned {
    fn deref_mut(&mut self) -> &mut Heap<64> {
        &mut self.heap
    }
}

fn heap(len: usize, config: Config) -> Owned {
    let mem = AlignedRegion::new(len, 8);
    // SAFETY: the region is `len` bytes, exclusively the heap's, and freed
    // only when `Owned` drops, after the heap.
    let heap = unsafe { Heap::new(mem.base(), len, config) };
    Owned { heap, _mem: mem }
}

#[test]
fn addresses_are_aligned_whatever_the_base() {
    let mut h = heap(4096, Config::fast());
    for align in [1, 2, 8, 64, 256] {
        let p = h
            .alloc(Layout::from_size_align(24, align).unwrap())
            .unwrap();
        assert_eq!(p.as_ptr() as usize % align, 0);
    }
    h.manager().check_invariants().unwrap();
}

#[test]
fn realloc_keeps_the_bytes() {
    let mut h = heap(4096, Config::fast());
    let p = h.alloc(Layout::from_size_align(16, 8).unwrap()).unwrap();
    let blocker = h.alloc(Layout::from_size_align(16, 8).unwrap()).unwrap();
    // SAFETY: p is a live 16-byte allocation.
    unsafe { core::ptr::copy_nonoverlapping(b"sixteen bytes!!!".as_ptr(), p.as_ptr(), 16) };
    // SAFETY: p is live; it is not used again after the move.
    let q = unsafe { h.realloc(p, Layout::from_size_align(200, 8).unwrap()) }.unwrap();
    assert_ne!(p, q, "the blocker forces a move");
    // SAFETY: q is a live allocation of at least 16 bytes.
    let got = unsafe { core::slice::from_raw_parts(q.as_ptr(), 16) };
    assert_eq!(got, b"sixteen bytes!!!");
    assert_eq!(h.usable_size(q), Some(200));
    // SAFETY: both are live and not used again.
    unsafe {
        h.free(q).unwrap();
        h.free(blocker).unwrap();
    }
    assert_eq!(h.stats().free_bytes, 4096);
}

#[test]
fn foreign_pointers_are_rejected() {
    let mut h = heap(256, Config::classic());
    let mut outside = 0u8;
    let p = NonNull::from(&mut outside);
    // SAFETY: the heap rejects pointers outside its region without touching them.
    let err = unsafe { h.free(p) }.unwrap_err();
    assert!(matches!(err, FreeError::OutOfRegion { .. }));
    assert!(!h.contains(p.as_ptr()));
    h.manager().check_invariants().unwrap();
}

#[test]
fn a_moving_realloc_keeps_the_slack_the_caller_may_have_used() {
    let mut h = heap(4096, Config::fast());
    let p = h.alloc(Layout::from_size_align(10, 8).unwrap()).unwrap();
    let usable = h.usable_size(p).unwrap();
    assert_eq!(usable, 16);
    // SAFETY: usable_size bytes at p belong to the allocation.
    unsafe { p.as_ptr().write_bytes(0xEE, usable) };
    let _wall = h.alloc(Layout::from_size_align(8, 8).unwrap()).unwrap();
    // SAFETY: p is live and not used after the move.
    let q = unsafe { h.realloc(p, Layout::from_size_align(100, 8).unwrap()) }.unwrap();
    assert_ne!(p, q);
    // SAFETY: q holds at least 16 bytes.
    let got = unsafe { core::slice::from_raw_parts(q.as_ptr(), usable) };
    assert!(got.iter().all(|&b| b == 0xEE));
}

#[test]
fn relocation_moves_the_bytes() {
    let mut h = heap(1024, Config::classic());
    let layout = Layout::from_size_align(64, 8).unwrap();
    let ptrs: Vec<_> = (0..8).map(|_| h.alloc(layout).unwrap()).collect();
    for (i, p) in ptrs.iter().enumerate() {
        // SAFETY: each is a live 64-byte allocation.
        unsafe { p.as_ptr().write_bytes(i as u8, 64) };
    }
    for p in ptrs.iter().step_by(2) {
        // SAFETY: live, not used again.
        unsafe { h.free(*p).unwrap() };
    }
    let mut now: Vec<_> = ptrs.iter().skip(1).step_by(2).copied().collect();
    // SAFETY: no references into the heap are held; `now` is updated below.
    let report = unsafe {
        h.relocate(|from, to, _| {
            for p in now.iter_mut() {
                if *p == from {
                    *p = to;
                }
            }
        })
    }
    .unwrap();
    assert_eq!(report.moved, 4);
    for (k, p) in now.iter().enumerate() {
        let want = (2 * k + 1) as u8;
        // SAFETY: a live 64-byte allocation at its new place.
        let bytes = unsafe { core::slice::from_raw_parts(p.as_ptr(), 64) };
        assert!(bytes.iter().all(|&b| b == want), "block {k} lost its bytes");
    }
    assert_eq!(h.stats().largest_free, 1024 - 4 * 64);
    h.manager().check_invariants().unwrap();
}

#[test]
fn realloc_grows_into_a_free_left_neighbour_when_nothing_else_fits() {
    let mut h = heap(256, Config::fast());
    let l64 = Layout::from_size_align(64, 8).unwrap();
    let a = h.alloc(l64).unwrap();
    let b = h.alloc(l64).unwrap();
    let c = h.alloc(l64).unwrap();
    let _d = h.alloc(l64).unwrap();
    // SAFETY: b is a live 64-byte allocation.
    unsafe { b.as_ptr().write_bytes(0xB0, 64) };
    // SAFETY: live, not used again.
    unsafe {
        h.free(a).unwrap();
        h.free(c).unwrap();
    }
    // 128 free, in two holes of 64 around b: 192 bytes fit only in a + b + c.
    // SAFETY: b is live and not used after the move.
    let q = unsafe { h.realloc(b, Layout::from_size_align(192, 8).unwrap()) }.unwrap();
    assert_eq!(q, a, "the allocation moved down into its left neighbour");
    // SAFETY: q holds 192 bytes; its first 64 are b's.
    let bytes = unsafe { core::slice::from_raw_parts(q.as_ptr(), 64) };
    assert!(bytes.iter().all(|&x| x == 0xB0));
    assert_eq!(h.stats().free_bytes, 0);
    h.manager().check_invariants().unwrap();
}
