//! The front ends as a library user sees them: allocator-api2 collections
//! over a `LockedHeap` and a `HeapCell`, the rescue handler, region limits,
//! and the C ABI called from Rust (the C example itself runs in the
//! `sysarena-capi` crate's tests).

mod frontends {
    mod regions;
}

use std::alloc::Layout;
use std::ptr::NonNull;

use allocator_api2::alloc::Allocator;
use allocator_api2::boxed::Box as ABox;
use allocator_api2::vec::Vec as AVec;
use sysarena::global::{ClaimError, HeapCell, LockedHeap, OomAction, Rescue};
use sysarena::{AllocError, Coalescing, Config, Policy, RegionError};

/// `len` bytes of 64-byte-aligned memory at the returned pointer, owned by
/// the returned buffer (keep it alive while the heap is used).
fn region(len: usize) -> (Vec<u64>, NonNull<u8>, usize) {
    let mut v = vec![0u64; len.div_ceil(8) + 8];
    let p = v.as_mut_ptr().cast::<u8>();
    let p = p.wrapping_add(p.align_offset(64));
    (v, NonNull::new(p).unwrap(), len)
}

#[test]
fn allocator_api2_collections_over_a_locked_heap() {
    let heap: LockedHeap<256> = LockedHeap::new();
    let (_mem, base, len) = region(1 << 20);
    // SAFETY: leaked memory, ours alone.
    unsafe { heap.claim(base, len).unwrap() };

    let mut v: AVec<u64, &LockedHeap<256>> = AVec::new_in(&heap);
    for i in 0..10_000 {
        v.push(i);
    }
    assert_eq!(v.iter().sum::<u64>(), 10_000 * 9_999 / 2);
    let mut words: AVec<AVec<u8, _>, _> = AVec::new_in(&heap);
    for i in 0..100u8 {
        let mut w = AVec::new_in(&heap);
        w.extend_from_slice(&[i; 37]);
        words.push(w);
    }
    assert!(
        words
            .iter()
            .enumerate()
            .all(|(i, w)| w.iter().all(|&b| b as usize == i))
    );
    let b = ABox::new_in([7u32; 100], &heap);
    assert_eq!(b.iter().sum::<u32>(), 700);
    heap.check_invariants().unwrap();
    assert!(heap.stats().used_arenas >= 102);
    drop((v, words, b));
    heap.check_invariants().unwrap();
    let s = heap.stats();
    assert_eq!((s.used_arenas, s.free_bytes), (0, len));
}

#[test]
fn allocator_grows_and_shrinks_in_place() {
    let heap: LockedHeap<64> = LockedHeap::new();
    let (_mem, base, len) = region(64 << 10);
    // SAFETY: leaked memory, ours alone.
    unsafe { heap.claim(base, len).unwrap() };
    let small = Layout::from_size_align(100, 8).unwrap();
    let big = Layout::from_size_align(5000, 8).unwrap();
    let p = heap.allocate(small).unwrap().cast::<u8>();
    // SAFETY: `p` is a live block of `small`; it is not used after a move.
    unsafe {
        p.as_ptr().write_bytes(0x5A, 100);
        let g = heap.grow_zeroed(p, small, big).unwrap();
        assert_eq!(g.cast::<u8>(), p, "grows into the free neighbour");
        assert_eq!(g.len(), 5000);
        let bytes = std::slice::from_raw_parts(g.cast::<u8>().as_ptr(), 5000);
        assert!(bytes[..100].iter().all(|&b| b == 0x5A));
        assert!(bytes[100..].iter().all(|&b| b == 0));
        let s = heap.shrink(p, big, small).unwrap();
        assert_eq!(s.cast::<u8>(), p, "shrinks in place");
        // Block the right neighbour: the next grow must move and copy.
        let wall = heap.allocate(small).unwrap();
        let m = heap.grow(p, small, big).unwrap().cast::<u8>();
        assert_ne!(m, p);
        assert!(
            std::slice::from_raw_parts(m.as_ptr(), 100)
                .iter()
                .all(|&b| b == 0x5A)
        );
        heap.deallocate(m, big);
        heap.deallocate(wall.cast(), small);
    }
    heap.check_invariants().unwrap();
    assert_eq!(heap.stats().free_bytes, len);
}

#[test]
fn heap_cell_is_an_allocator_too() {
    // SAFETY: used from this test's thread only.
    let cell: HeapCell<128> = unsafe { HeapCell::with_config(Config::classic()) };
    let (_mem, base, len) = region(32 << 10);
    // SAFETY: leaked memory, ours alone.
    unsafe { cell.claim(base, len).unwrap() };
    let mut v = AVec::new_in(&cell);
    v.extend(0..1000u32);
    assert_eq!(v.len(), 1000);
    drop(v);
    cell.check_invariants().unwrap();
    // Classic deferred coalescing leaves free neighbours until defragment.
    cell.defragment();
    assert_eq!(cell.stats().free_arenas, 1);
}

/// The memory `extend_once` hands out: (address, length).
struct Spare(NonNull<u8>, usize);
// SAFETY: a plain address handed from the test to its own OOM handler.
unsafe impl Send for Spare {}
static RESCUE_MEMORY: std::sync::Mutex<Option<Spare>> = std::sync::Mutex::new(None);

fn extend_once(r: &mut Rescue<'_, 64>, _: Layout, _: AllocError) -> OomAction {
    let Some(Spare(extra, len)) = RESCUE_MEMORY.lock().unwrap().take() else {
        return OomAction::Fail;
    };
    assert_eq!(r.end(), Some(extra));
    // SAFETY: the memory right after the region, ours alone.
    unsafe { r.extend(extra, len) }.unwrap();
    OomAction::Retry
}

#[test]
fn oom_handler_extends_the_region() {
    let heap: LockedHeap<64> = LockedHeap::new();
    let (_mem, base, _) = region(16 << 10);
    // SAFETY: `region` leaked 16 KiB + 64 bytes: we use 8 KiB, and hand the
    // next 8 KiB to the handler.
    unsafe {
        heap.claim(base, 8 << 10).unwrap();
        *RESCUE_MEMORY.lock().unwrap() = Some(Spare(base.add(8 << 10), 8 << 10));
    }
    let big = Layout::from_size_align(12 << 10, 8).unwrap();
    assert!(matches!(
        heap.try_alloc(big),
        Err(AllocError::TooLarge { .. })
    ));
    heap.set_oom_handler(Some(extend_once));
    let p = heap.try_alloc(big).expect("rescued");
    assert_eq!(heap.rescues(), 1);
    assert_eq!(heap.stats().capacity, 16 << 10);
    // The handler has nothing left: the request fails with the heap's error.
    assert!(heap.try_alloc(big).is_err());
    // SAFETY: `p` is live and not used again.
    unsafe { heap.try_free(p).unwrap() };
    heap.check_invariants().unwrap();
}

#[test]
fn claims_elsewhere_add_regions_and_bad_ones_are_refused() {
    let heap: LockedHeap<16> = LockedHeap::new();
    let (_mem, base, _) = region(8 << 10);
    // SAFETY: leaked memory; refused claims touch nothing.
    unsafe {
        assert_eq!(heap.extend(base, 100), Err(ClaimError::NoRegion));
        heap.claim(base, 4 << 10).unwrap();
        // Overlapping, misaligned and too small: typed errors, no change.
        let before = heap.stats();
        assert!(matches!(
            heap.claim(base.add(1 << 10), 1 << 10),
            Err(ClaimError::Region(RegionError::Overlaps { .. }))
        ));
        assert!(matches!(
            heap.claim(base.add((5 << 10) + 1), 1 << 10),
            Err(ClaimError::Region(RegionError::Misaligned { .. }))
        ));
        assert!(matches!(
            heap.claim(base.add(6 << 10), 8),
            Err(ClaimError::Region(RegionError::TooSmall { .. }))
        ));
        assert_eq!(heap.stats(), before);
        // A hole of 1 KiB, then a second region; memory right after it is
        // a third (it may be another allocation: a claim never joins two).
        heap.claim(base.add(5 << 10), 1 << 10).unwrap();
        heap.claim(base.add(6 << 10), 1 << 10).unwrap();
    }
    let s = heap.stats();
    assert_eq!(
        (s.capacity, s.free_bytes, s.used_arenas),
        (6 << 10, 6 << 10, 0)
    );
    heap.with_heap(|h| assert_eq!(h.unwrap().regions().count(), 3));
    // With the first region full, no block spans the second and third.
    let first = heap
        .try_alloc(Layout::from_size_align(4 << 10, 8).unwrap())
        .unwrap();
    assert!(
        heap.try_alloc(Layout::from_size_align(2 << 10, 8).unwrap())
            .is_err()
    );
    // `extend` at the last region's end grows it: more of the same buffer.
    // SAFETY: the buffer's next 1 KiB, used by nothing else.
    unsafe { heap.extend(base.add(7 << 10), 1 << 10).unwrap() };
    heap.with_heap(|h| {
        let h = h.unwrap();
        assert_eq!(h.regions().count(), 3);
        assert_eq!(h.regions().last().unwrap().len, 2 << 10);
    });
    let p = heap
        .try_alloc(Layout::from_size_align(2 << 10, 8).unwrap())
        .expect("the grown region holds it");
    // SAFETY: `p` and `first` are live and not used again.
    unsafe {
        heap.try_free(p).unwrap();
        heap.try_free(first).unwrap();
    }
    heap.check_invariants().unwrap();
}

/// A panic in a `with_heap` closure leaves a `HeapCell` usable: it was
/// left busy, every later request refused and every free leaked.
#[test]
fn a_panic_in_with_heap_leaves_the_cell_usable() {
    let (_mem, base, _) = region(4 << 10);
    // SAFETY: used from this thread only.
    let cell: HeapCell<16> = unsafe { HeapCell::new() };
    // SAFETY: leaked memory, used by nothing else.
    unsafe { cell.claim(base, 4 << 10).unwrap() };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cell.with_heap(|_| panic!("a reader's bug"))
    }));
    assert!(r.is_err());
    let p = cell
        .try_alloc(Layout::from_size_align(64, 8).unwrap())
        .expect("the cell is free again");
    // SAFETY: `p` is live and not used again.
    unsafe { cell.try_free(p).unwrap() };
    assert_eq!(cell.stats().used_arenas, 0);
}

#[test]
fn before_claim_requests_fail_cleanly() {
    let heap: LockedHeap<16> =
        LockedHeap::with_config(Config::new(Policy::BestFit, Coalescing::Immediate));
    let l = Layout::from_size_align(8, 8).unwrap();
    assert!(matches!(heap.try_alloc(l), Err(AllocError::OutOfMemory(_))));
    assert_eq!(heap.stats(), sysarena::Stats::default());
    heap.check_invariants().unwrap();
    assert!(heap.allocate(l).is_err());
}

/// The C heap's memory: reachable from a static, so never freed.
static C_REGION: std::sync::Mutex<Vec<Vec<u64>>> = std::sync::Mutex::new(Vec::new());

/// The C ABI, called from Rust: one process-wide heap, so one test.
#[test]
fn c_abi_reports_error_codes() {
    use std::ffi::CStr;
    use sysarena::capi::*;
    let mut st = SysarenaStats::default();
    // SAFETY: every pointer passed is either null (tested), a block of the
    // C heap, or a deliberately bad one the heap must reject unchanged.
    unsafe {
        assert!(sysarena_alloc(8).is_null());
        assert_eq!(sysarena_last_error(), SYSARENA_E_NOT_INITIALIZED);
        assert_eq!(
            sysarena_free(NonNull::<u8>::dangling().as_ptr().cast()),
            SYSARENA_E_NOT_INITIALIZED
        );
        assert_eq!(sysarena_stats(&mut st), SYSARENA_E_NOT_INITIALIZED);
        assert_eq!(sysarena_init(std::ptr::null_mut(), 10), SYSARENA_E_NULL);
        let (mem, base, len) = region(1 << 20);
        // The process-wide C heap keeps its region for ever.
        C_REGION.lock().unwrap().push(mem);
        assert_eq!(
            sysarena_init(base.as_ptr().cast(), 0),
            SYSARENA_E_BAD_REGION
        );
        assert_eq!(sysarena_init(base.as_ptr().cast(), len / 2), SYSARENA_OK);
        assert_eq!(
            sysarena_init(base.as_ptr().cast(), len / 2),
            SYSARENA_E_ALREADY_INITIALIZED
        );
        assert_eq!(
            sysarena_extend(base.as_ptr().add(len / 2 + 64).cast(), 1024),
            SYSARENA_E_BAD_REGION
        );
        assert_eq!(
            sysarena_extend(base.as_ptr().add(len / 2).cast(), len / 2),
            SYSARENA_OK
        );

        let p = sysarena_alloc(100);
        assert!(!p.is_null() && (p as usize).is_multiple_of(SYSARENA_MIN_ALIGN));
        let a = sysarena_alloc_aligned(10, 4096);
        assert_eq!(a as usize % 4096, 0);
        assert!(sysarena_alloc_aligned(10, 3).is_null());
        assert_eq!(sysarena_last_error(), SYSARENA_E_BAD_ALIGN);
        assert!(sysarena_alloc(usize::MAX / 2).is_null());
        assert_eq!(sysarena_last_error(), SYSARENA_E_TOO_LARGE);
        assert!(sysarena_alloc(len - 1000).is_null());
        assert_eq!(sysarena_last_error(), SYSARENA_E_OUT_OF_MEMORY);

        p.cast::<u8>().write_bytes(0x11, 100);
        let q = sysarena_realloc(p, 50);
        assert_eq!(q, p);
        let r = sysarena_realloc(q, 70_000);
        assert!((0..50).all(|i| *r.cast::<u8>().add(i) == 0x11));

        assert_eq!(
            sysarena_free(r.cast::<u8>().add(1).cast()),
            SYSARENA_E_INVALID_FREE
        );
        assert_eq!(sysarena_free(r), SYSARENA_OK);
        let err = sysarena_free(r);
        assert!(
            err == SYSARENA_E_DOUBLE_FREE || err == SYSARENA_E_INVALID_FREE,
            "{err}"
        );
        assert!(sysarena_realloc(r, 10).is_null());
        assert_eq!(sysarena_free(std::ptr::null_mut()), SYSARENA_OK);
        assert_eq!(sysarena_free(a), SYSARENA_OK);
        assert!(sysarena_defragment() >= 0);
        assert_eq!(sysarena_stats(std::ptr::null_mut()), SYSARENA_E_NULL);
        assert_eq!(sysarena_stats(&mut st), SYSARENA_OK);
        assert_eq!(sysarena_check(), SYSARENA_OK);
        let msg = CStr::from_ptr(sysarena_strerror(SYSARENA_E_DOUBLE_FREE));
        assert!(msg.to_str().unwrap().contains("double free"));
    }
    assert_eq!(
        (st.capacity, st.free_bytes, st.used_arenas),
        (1 << 20, 1 << 20, 0)
    );
    assert_eq!(st.descriptors, SYSARENA_DESCRIPTORS);
}

/// The default bad-free handler: in a debug build it stops the process
/// with a message (checked in a child process), in release it counts and
/// ignores.
#[test]
#[cfg_attr(miri, ignore = "spawns a child process")]
fn default_bad_free_handler_aborts_in_debug() {
    use std::alloc::GlobalAlloc;
    const CHILD: &str = "SYSARENA_BAD_FREE_CHILD";
    let heap: LockedHeap<16> = LockedHeap::new();
    let (_mem, base, len) = region(4096);
    // SAFETY: leaked memory, ours alone.
    unsafe { heap.claim(base, len).unwrap() };
    let l = Layout::from_size_align(64, 8).unwrap();
    if std::env::var_os(CHILD).is_some() || !cfg!(debug_assertions) {
        // SAFETY: the bad free under test is rejected before any change.
        unsafe {
            let p = heap.alloc(l);
            heap.dealloc(p.add(8), l);
        }
        assert_eq!(heap.invalid_frees(), 1);
        heap.check_invariants().unwrap();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "default_bad_free_handler_aborts_in_debug",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child should have aborted");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        // SIGABRT: it stopped without unwinding out of `dealloc`.
        assert_eq!(out.status.signal(), Some(6), "{stderr}");
    }
    assert!(
        stderr.contains("sysarena: invalid free: no arena starts at offset"),
        "{stderr}"
    );
}

/// The C ABI's blocks, called from Rust (so Miri checks their unsafe code):
/// a block over a simulated device buffer, fragmented, then passes whose
/// moves are carried out with `copy_within`; bad calls get their codes.
#[test]
fn c_abi_blocks_defragment_a_device_buffer() {
    use std::ffi::c_void;
    use sysarena::capi::*;

    const CAP: usize = 8 << 10;
    let need = sysarena_block_size_for(64, 32, 8);
    assert_eq!(sysarena_block_size_for(0, 32, 8), 0);
    let mut mem = vec![0u64; need / 8 + 1];
    let mut dev = vec![0u8; CAP];
    let mut b = std::ptr::null_mut();
    let p = mem.as_mut_ptr().cast::<c_void>();
    // SAFETY: `mem` outlives the block; bad calls are refused first.
    unsafe {
        assert_eq!(
            sysarena_block_init(p, 16, CAP, 64, 32, 8, &mut b),
            SYSARENA_E_BAD_ARGUMENT
        );
        assert_eq!(
            sysarena_block_init(p, need, CAP, 64, 32, 8, &mut b),
            SYSARENA_OK
        );
    }
    let mut live: Vec<(u64, usize, u8)> = Vec::new();
    for i in 0..24u8 {
        let (mut h, mut off) = (0, 0);
        let size = 100 + usize::from(i) * 13;
        // SAFETY: a live block; out pointers writable.
        let rc = unsafe { sysarena_block_alloc(b, size, 16, &mut h, &mut off) };
        assert_eq!(rc, SYSARENA_OK);
        dev[off..off + size].fill(i);
        live.push((h, size, i));
    }
    // SAFETY: every call below gets a live block or a bad argument.
    unsafe {
        let (mut h, mut off) = (0, 0);
        assert_eq!(
            sysarena_block_alloc(b, 8, 3, &mut h, &mut off),
            SYSARENA_E_BAD_ALIGN
        );
        assert_eq!(
            sysarena_block_alloc(std::ptr::null_mut(), 8, 8, &mut h, &mut off),
            SYSARENA_E_NULL
        );
        assert_eq!(sysarena_block_free(b, 0xbad), SYSARENA_E_STALE_HANDLE);
        let mut a = SysarenaArena::default();
        assert_eq!(
            sysarena_block_arena_at(b, CAP, &mut a),
            SYSARENA_E_BAD_ARGUMENT
        );
        assert_eq!(
            sysarena_block_end_pass(b, std::ptr::null(), 0, std::ptr::null_mut()),
            SYSARENA_E_NO_PASS
        );
    }
    // Fragment.
    for (h, ..) in live.iter().step_by(2) {
        // SAFETY: a live block and handle.
        assert_eq!(unsafe { sysarena_block_free(b, *h) }, SYSARENA_OK);
    }
    live = live.into_iter().skip(1).step_by(2).collect();
    let stats = |b| {
        let mut s = SysarenaStats::default();
        // SAFETY: a live block; `s` writable.
        assert_eq!(unsafe { sysarena_block_stats(b, &mut s) }, SYSARENA_OK);
        s
    };
    let before = stats(b);
    let mut passes = 0;
    loop {
        let mut moves = [SysarenaMove::default(); 8];
        let mut plan = SysarenaPassPlan::default();
        // SAFETY: a live block; 8 writable moves.
        let rc = unsafe { sysarena_block_begin_pass(b, 0, 0, moves.as_mut_ptr(), 8, &mut plan) };
        assert_eq!(rc, SYSARENA_OK);
        for m in &mut moves[..plan.moves] {
            dev.copy_within(m.from..m.from + m.len, m.to);
            m.status = SYSARENA_MOVE_DONE;
        }
        let mut r = SysarenaPassReport::default();
        // SAFETY: the moves as planned and marked.
        let rc = unsafe { sysarena_block_end_pass(b, moves.as_ptr(), plan.moves, &mut r) };
        assert_eq!((rc, r.done, r.rejected), (SYSARENA_OK, plan.moves, 0));
        // SAFETY: a live block.
        assert_eq!(unsafe { sysarena_block_check(b) }, SYSARENA_OK);
        for &(h, size, id) in &live {
            let mut off = 0;
            // SAFETY: a live block and handle.
            let rc = unsafe { sysarena_block_offset(b, h, &mut off) };
            assert_eq!(rc, SYSARENA_OK);
            assert!(dev[off..off + size].iter().all(|&x| x == id), "bytes lost");
        }
        if plan.converged != 0 {
            break;
        }
        passes += 1;
        assert!(passes < 100, "passes never converged");
    }
    let after = stats(b);
    assert!(passes > 0 && after.largest_free > before.largest_free);
    let mut walk = [SysarenaArena::default(); 64];
    let mut n = 0;
    // SAFETY: a live block; 64 writable entries.
    let rc = unsafe { sysarena_block_walk(b, walk.as_mut_ptr(), 64, &mut n) };
    assert_eq!(rc, SYSARENA_OK);
    assert_eq!(walk[..n].iter().map(|a| a.size).sum::<usize>(), CAP);
    assert_eq!(
        walk[..n].iter().filter(|a| a.in_use == 1).count(),
        live.len()
    );
}

/// A move marked cancelled pins its allocation; `sysarena_block_unpin`
/// releases it, so it can be freed (and moved) again. Pins nest, and an
/// unpin of an allocation that is not pinned is refused.
#[test]
fn c_abi_blocks_unpin_what_a_cancelled_move_pinned() {
    use std::ffi::c_void;
    use sysarena::capi::*;

    const CAP: usize = 4 << 10;
    let need = sysarena_block_size_for(16, 16, 4);
    let mut mem = vec![0u64; need / 8 + 1];
    let mut b = std::ptr::null_mut();
    let p = mem.as_mut_ptr().cast::<c_void>();
    // SAFETY: `mem` outlives the block.
    let rc = unsafe { sysarena_block_init(p, need, CAP, 16, 16, 4, &mut b) };
    assert_eq!(rc, SYSARENA_OK);
    let mut hs = Vec::new();
    for _ in 0..4 {
        let (mut h, mut off) = (0, 0);
        // SAFETY: a live block; out pointers writable.
        let rc = unsafe { sysarena_block_alloc(b, 100, 16, &mut h, &mut off) };
        assert_eq!(rc, SYSARENA_OK);
        hs.push(h);
    }
    // SAFETY: a live block and handles, bogus ones refused.
    unsafe {
        assert_eq!(sysarena_block_free(b, hs[0]), SYSARENA_OK);
        assert_eq!(sysarena_block_unpin(b, hs[1]), SYSARENA_E_BAD_ARGUMENT);
        assert_eq!(sysarena_block_unpin(b, hs[0]), SYSARENA_E_STALE_HANDLE);
        assert_eq!(
            sysarena_block_unpin(std::ptr::null_mut(), hs[1]),
            SYSARENA_E_NULL
        );
        let mut off = 0;
        assert_eq!(sysarena_block_pin(b, hs[1], &mut off), SYSARENA_OK);
        assert_eq!(off, 112);
        assert_eq!(
            sysarena_block_pin(b, hs[1], std::ptr::null_mut()),
            SYSARENA_OK
        );
        assert_eq!(sysarena_block_free(b, hs[1]), SYSARENA_E_PINNED);
        assert_eq!(sysarena_block_unpin(b, hs[1]), SYSARENA_OK);
        assert_eq!(sysarena_block_free(b, hs[1]), SYSARENA_E_PINNED);
        assert_eq!(sysarena_block_unpin(b, hs[1]), SYSARENA_OK);
    }
    // A pass plans moving the blocks down; every move is cancelled.
    let mut moves = [SysarenaMove::default(); 4];
    let mut plan = SysarenaPassPlan::default();
    // SAFETY: a live block; 4 writable moves.
    let rc = unsafe { sysarena_block_begin_pass(b, 0, 0, moves.as_mut_ptr(), 4, &mut plan) };
    assert_eq!(rc, SYSARENA_OK);
    assert!(plan.moves > 0);
    for m in &mut moves[..plan.moves] {
        m.status = SYSARENA_MOVE_CANCELLED;
    }
    let mut r = SysarenaPassReport::default();
    // SAFETY: the moves as planned and marked.
    let rc = unsafe { sysarena_block_end_pass(b, moves.as_ptr(), plan.moves, &mut r) };
    assert_eq!((rc, r.cancelled), (SYSARENA_OK, plan.moves));
    for m in &moves[..plan.moves] {
        // SAFETY: a live block and handle.
        unsafe {
            assert_eq!(sysarena_block_free(b, m.handle), SYSARENA_E_PINNED);
            assert_eq!(sysarena_block_unpin(b, m.handle), SYSARENA_OK);
            assert_eq!(sysarena_block_free(b, m.handle), SYSARENA_OK);
        }
    }
    // SAFETY: a live block.
    assert_eq!(unsafe { sysarena_block_check(b) }, SYSARENA_OK);
}

fn panicking_handler(_: &mut Rescue<'_, 16>, _: Layout, _: AllocError) -> OomAction {
    panic!("a handler's bug");
}

/// An OOM handler that panics ends the program (SIGABRT) rather than
/// unwind out of the allocator (undefined behaviour through `GlobalAlloc`)
/// or leave the heap locked (a hang: the panic machinery allocates).
#[test]
#[cfg(all(feature = "std", unix))]
#[cfg_attr(miri, ignore = "spawns a child process")]
fn a_panicking_oom_handler_aborts() {
    use std::os::unix::process::ExitStatusExt;
    const CHILD: &str = "SYSARENA_PANICKING_HANDLER_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let heap: LockedHeap<16> = LockedHeap::new();
        let (_mem, base, _) = region(4 << 10);
        // SAFETY: leaked memory, used by nothing else.
        unsafe { heap.claim(base, 4 << 10).unwrap() };
        heap.set_oom_handler(Some(panicking_handler));
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            heap.try_alloc(Layout::from_size_align(8 << 10, 8).unwrap())
        }));
        unreachable!("the handler's panic unwound out of the allocator");
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_panicking_oom_handler_aborts", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(6), "{stderr}");
    assert!(stderr.contains("a handler's bug"), "{stderr}");
    assert!(!stderr.contains("unwound out"), "{stderr}");
}
