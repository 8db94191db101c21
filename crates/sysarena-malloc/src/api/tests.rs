//! The C functions' semantics, called in process.

use super::*;

fn errno() -> i32 {
    // SAFETY: reading this thread's errno.
    unsafe { *libc::__errno_location() }
}

#[test]
fn malloc_free_usable() {
    let p = malloc(100);
    assert!(!p.is_null());
    assert_eq!(p as usize % 16, 0);
    // SAFETY: `p` is ours.
    unsafe {
        assert!(malloc_usable_size(p) >= 100);
        ptr::write_bytes(p.cast::<u8>(), 0xab, 100);
        free(p);
        free(ptr::null_mut());
    }
    let z = malloc(0);
    assert!(!z.is_null());
    // SAFETY: ours.
    unsafe { free(z) };
}

#[test]
fn calloc_zeroes_reused_memory() {
    for _ in 0..50 {
        let p = malloc(4096).cast::<u8>();
        // SAFETY: 4096 bytes of ours.
        unsafe {
            ptr::write_bytes(p, 0xff, 4096);
            free(p.cast());
        }
        let q = calloc(64, 64).cast::<u8>();
        // SAFETY: 4096 bytes of ours.
        let s = unsafe { core::slice::from_raw_parts(q, 4096) };
        assert!(s.iter().all(|&b| b == 0));
        // SAFETY: ours.
        unsafe { free(q.cast()) };
    }
    set_errno(0);
    assert!(calloc(usize::MAX / 2, 3).is_null());
    assert_eq!(errno(), libc::ENOMEM);
}

#[test]
fn small_blocks_use_the_slab_layer() {
    let g = init::get().unwrap();
    assert!(g.slab);
    // calloc zeroes a reused slot.
    for size in [1usize, 16, 17, 100, 512, 1000, 1024] {
        let p = malloc(size).cast::<u8>();
        // SAFETY: `size` bytes of ours; then freed.
        unsafe {
            ptr::write_bytes(p, 0xee, malloc_usable_size(p.cast()));
            free(p.cast());
        }
        let q = calloc(1, size).cast::<u8>();
        // SAFETY: the whole usable size is ours.
        let s = unsafe { core::slice::from_raw_parts(q, malloc_usable_size(q.cast())) };
        assert!(
            s.iter().all(|&b| b == 0),
            "calloc({size}) reused dirty bytes"
        );
        assert_eq!(s.len(), size.max(1).next_multiple_of(16));
        // SAFETY: ours.
        unsafe { free(q.cast()) };
    }
    // SAFETY: every pointer below is ours and used within its size.
    unsafe {
        // realloc within a class stays; across classes it moves and keeps
        // the bytes; up into the heap and back down too.
        let p = malloc(20).cast::<u8>();
        for i in 0..20 {
            *p.add(i) = i as u8;
        }
        assert_eq!(realloc(p.cast(), 30).cast::<u8>(), p);
        let q = realloc(p.cast(), 200).cast::<u8>();
        assert_eq!(malloc_usable_size(q.cast()), 208);
        let r = realloc(q.cast(), 5000).cast::<u8>();
        let s = realloc(r.cast(), 10).cast::<u8>();
        for i in 0..10 {
            assert_eq!(*s.add(i), i as u8);
        }
        assert_eq!(malloc_usable_size(s.cast()), 16);
        free(s.cast());
        // A double free of a slot is reported and ignored. (A size no
        // other test uses: tests run in parallel, and another thread
        // could be handed the slot between the two frees.)
        let d = malloc(470);
        let before = counters::INVALID.load(Ordering::Relaxed);
        free(d);
        free(d);
        assert_eq!(malloc_usable_size(d), 0);
        assert!(counters::INVALID.load(Ordering::Relaxed) > before);
        // Alignment above 16 takes a slot of a class that is a multiple of
        // it.
        let a = memalign(64, 48);
        assert_eq!(a as usize % 64, 0);
        assert_eq!(malloc_usable_size(a), 64);
        free(a);
    }
}

/// Whether `p` is a slot of a slab page.
fn is_slot(g: &Settings, p: *mut c_void) -> bool {
    matches!(
        slab::state::locate((p as usize).wrapping_sub(g.base)),
        slab::state::Lookup::Slot(_)
    )
}

/// A small block at an alignment above 16 is a slab slot of the class of
/// its size rounded up to the alignment (up to 4 KiB); past that, an arena
/// of the heap. Each is aligned, holds its bytes through a `realloc`, and
/// is freed once.
#[test]
fn small_aligned_blocks_are_slots_of_a_class_that_is_a_multiple_of_the_alignment() {
    let g = init::get().unwrap();
    for align in [32usize, 64, 128, 256, 512, 1024, 2048, 4096, 8192] {
        for size in [1usize, 17, 100, 1000, 1500, 4000, 4096, 5000] {
            let mut p = ptr::null_mut();
            // SAFETY: `p` is a valid out-pointer; the block is ours, used
            // within its size, then reallocated and freed once.
            unsafe {
                assert_eq!(posix_memalign(&mut p, align, size), 0);
                assert_eq!(p as usize % align, 0, "{size} at {align}");
                let rounded = size.next_multiple_of(align);
                let slot = rounded <= slab::MAX_SIZE;
                assert_eq!(is_slot(g, p), slot, "{size} at {align}");
                if slot {
                    assert_eq!(
                        malloc_usable_size(p),
                        slab::class_size(slab::class_of(rounded))
                    );
                    assert_eq!(slab::aligned_request(size, align), Some(rounded));
                } else {
                    assert_eq!(slab::aligned_request(size, align), None);
                }
                ptr::write_bytes(p.cast::<u8>(), 0x5a, size);
                let q = realloc(p, size + 1).cast::<u8>();
                assert!((0..size).all(|i| *q.add(i) == 0x5a), "{size} at {align}");
                free(q.cast());
            }
        }
    }
}

#[test]
fn realloc_semantics() {
    // SAFETY: every pointer below is ours and used within its size.
    unsafe {
        let p = realloc(ptr::null_mut(), 10).cast::<u8>();
        assert!(!p.is_null());
        for i in 0..10 {
            *p.add(i) = i as u8;
        }
        let q = realloc(p.cast(), 100_000).cast::<u8>();
        assert!(!q.is_null());
        for i in 0..10 {
            assert_eq!(*q.add(i), i as u8);
        }
        let r = realloc(q.cast(), 5).cast::<u8>();
        assert_eq!(*r.add(4), 4);
        assert!(realloc(r.cast(), 0).is_null());
        set_errno(0);
        let s = malloc(16);
        assert!(reallocarray(s, usize::MAX, 2).is_null());
        assert_eq!(errno(), libc::ENOMEM);
        free(s);
    }
}

#[test]
fn big_blocks_map_and_remap() {
    let g = init::get().unwrap();
    let n = g.mmap_threshold;
    let p = malloc(n).cast::<u8>();
    assert!(!p.is_null());
    assert!(owner(g, p.cast()).is_none());
    // SAFETY: `n` bytes of ours; then resized and freed.
    unsafe {
        *p = 7;
        *p.add(n - 1) = 9;
        assert!(malloc_usable_size(p.cast()) >= n);
        let q = realloc(p.cast(), 2 * n).cast::<u8>();
        assert_eq!((*q, *q.add(n - 1)), (7, 9));
        let r = realloc(q.cast(), 1000).cast::<u8>();
        assert!(shard::owner(g, r as usize).is_some());
        assert_eq!(*r, 7);
        let s = realloc(r.cast(), n + 1).cast::<u8>();
        assert_eq!(*s, 7);
        free(s.cast());
    }
}

#[test]
fn aligned_family() {
    for align in [16usize, 32, 64, 4096, 1 << 16] {
        let p = memalign(align, 100);
        assert_eq!(p as usize % align, 0);
        let q = aligned_alloc(align, 3 * align);
        assert_eq!(q as usize % align, 0);
        let mut r = ptr::null_mut();
        // SAFETY: `r` is a valid out-pointer; the blocks are ours.
        unsafe {
            assert_eq!(posix_memalign(&mut r, align, 1), 0);
            assert_eq!(r as usize % align, 0);
            free(p);
            free(q);
            free(r);
        }
    }
    let mut r = ptr::null_mut();
    // SAFETY: `r` is a valid out-pointer.
    unsafe {
        assert_eq!(posix_memalign(&mut r, 24, 8), libc::EINVAL);
        assert_eq!(posix_memalign(&mut r, 4, 8), libc::EINVAL);
    }
    set_errno(0);
    assert!(aligned_alloc(24, 48).is_null());
    assert_eq!(errno(), libc::EINVAL);
    // memalign rounds a non-power of two up.
    let p = memalign(24, 10);
    assert_eq!(p as usize % 32, 0);
    let v = valloc(10);
    let pv = pvalloc(10);
    assert_eq!(v as usize % 4096, 0);
    assert_eq!(pv as usize % 4096, 0);
    // SAFETY: ours.
    unsafe {
        assert!(malloc_usable_size(pv) >= 4096);
        free(p);
        free(v);
        free(pv);
    }
}

#[test]
fn foreign_and_double_frees_are_ignored() {
    let mut local = [0u64; 4];
    let before = counters::INVALID.load(Ordering::Relaxed);
    // A size no other test uses (see `small_blocks_use_the_slab_layer`).
    let p = malloc(440);
    // SAFETY: invalid frees are reported and ignored; `p` is ours.
    unsafe {
        free(local.as_mut_ptr().cast());
        free(p.cast::<u8>().add(16).cast());
        free(p);
        free(p);
        assert_eq!(malloc_usable_size(local.as_mut_ptr().cast()), 0);
        assert!(realloc(local.as_mut_ptr().cast(), 10).is_null());
    }
    assert!(counters::INVALID.load(Ordering::Relaxed) >= before + 4);
    assert_eq!(local, [0; 4]);
}

#[test]
fn threads_free_each_others_blocks() {
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let producer = std::thread::spawn(move || {
        for i in 0..20_000usize {
            let p = malloc(16 + i % 300).cast::<u8>();
            // SAFETY: at least 16 bytes of ours.
            unsafe { *p = (i % 251) as u8 };
            tx.send(p as usize).unwrap();
        }
    });
    let mut n = 0usize;
    for p in rx {
        // SAFETY: the producer handed us the block.
        unsafe {
            assert_eq!(*(p as *const u8), (n % 251) as u8);
            free(p as *mut c_void);
        }
        n += 1;
    }
    producer.join().unwrap();
    assert_eq!(n, 20_000);
}
