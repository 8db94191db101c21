//! The out-of-band proof: garbage over every byte of the region, free and
//! used, and the heap still frees, allocates, reallocates, defragments and
//! relocates correctly, with exact accounting.
//!
//! # Why an in-band allocator cannot pass this test
//!
//! An in-band allocator keeps its metadata in the memory it manages.
//! `linked_list_allocator` builds its free list out of the free blocks
//! themselves (its `HoleList` "uses the holes itself to store its nodes"):
//! every free block starts with a `Hole { size, next }` header. Write over
//! a free block — a use-after-free store, or an overflow off the end of the
//! block before it — and the list now holds whatever was written: after a
//! fill with `0xA5` the next allocation reads a `next` of
//! `0xA5A5_A5A5_A5A5_A5A5` and a size of the same, follows it, and writes a
//! new header wherever it points. Boundary-tag allocators (dlmalloc and its
//! kin) keep a size header in front of every *used* block too, so one
//! overflow rewrites the neighbour's header and the next `free` trusts it.
//! The same design is behind RUSTSEC-2022-0063 (CVE-2022-36086,
//! GHSA-xg8p-34w2-j49j): before 0.10.2, `linked_list_allocator` wrote its
//! hole headers past the end of a heap (or an extension) too small to hold
//! one — an out-of-bounds write that exists only because the allocator
//! writes its metadata into the region.
//!
//! sysarena keeps every descriptor in its table, outside the region; the
//! manager never reads or writes the region, and [`Heap`](sysarena::Heap)
//! touches it only to copy an allocation's bytes on `realloc` and
//! `relocate`. So garbage in the region is the caller's data, never the
//! allocator's state: this test overwrites all of it, three ways, and checks
//! that nothing the manager reports has changed and that every operation
//! still does exactly the right thing.

use core::alloc::Layout;
use core::ptr::NonNull;

use sysarena::{Config, FreeError};

use super::common::{Owned, Rng, Snapshot, check, check_after_call, test_configs};

/// Bytes in the region, and allocations made at the start.
const CAP: usize = if cfg!(miri) { 2048 } else { 64 * 1024 };
const BLOCKS: usize = if cfg!(miri) { 16 } else { 300 };
/// Descriptors: enough for every block and the free arenas between them.
const N: usize = 4 * BLOCKS;

/// One live allocation and the pattern the test last stamped into it.
#[derive(Clone, Copy, Debug)]
struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
    tag: u8,
}

impl Block {
    fn byte(&self, i: usize) -> u8 {
        self.tag ^ (i as u8).wrapping_mul(31)
    }

    fn stamp(&mut self, tag: u8) {
        self.tag = tag;
        for i in 0..self.layout.size() {
            // SAFETY: the block is live and `layout.size()` bytes long.
            unsafe { self.ptr.add(i).write(self.byte(i)) };
        }
    }

    /// Whether the first `len` bytes still hold the pattern.
    fn holds(&self, len: usize) -> bool {
        // SAFETY: the block is live and at least `len` bytes long; every byte
        // of the region was written before it is read.
        (0..len).all(|i| unsafe { self.ptr.add(i).read() } == self.byte(i))
    }
}

/// How the region is overwritten.
#[derive(Clone, Copy, Debug)]
enum Garbage {
    /// Every byte `0xA5` (sizes and `next` pointers of `0xA5A5…`).
    Fill(u8),
    /// Random bytes.
    Random(u64),
    /// Every word something a header could hold: a real pointer into the
    /// region (with its provenance), an offset, the capacity, a block size,
    /// 0, `usize::MAX`, a `u32::MAX` link.
    Plausible(u64),
}

/// Overwrites the region's bytes in `[from, to)` with `garbage`.
fn scribble(h: &mut Owned<N>, from: usize, to: usize, garbage: Garbage) {
    let base = h.base();
    let at = |i: usize| {
        // SAFETY: `i < CAP`: inside the region the heap was made over.
        unsafe { base.add(i) }
    };
    match garbage {
        Garbage::Fill(b) => {
            // SAFETY: `[from, to)` lies in the region; nothing else is
            // accessing it while this runs.
            unsafe { at(from).write_bytes(b, to - from) };
        }
        Garbage::Random(seed) => {
            let mut rng = Rng::new(seed);
            for i in from..to {
                // SAFETY: as above.
                unsafe { at(i).write(rng.next() as u8) };
            }
        }
        Garbage::Plausible(seed) => {
            let mut rng = Rng::new(seed);
            let word = size_of::<usize>();
            let mut i = from;
            while i + word <= to {
                let p = at(i);
                if rng.below(7) == 0 {
                    // A real pointer into the region, provenance and all.
                    let target = at(rng.below(CAP)).as_ptr();
                    // SAFETY: `word` bytes at `i` lie in the region; an
                    // unaligned write, so any start is fine.
                    unsafe { p.cast::<*mut u8>().write_unaligned(target) };
                } else {
                    let value = match rng.below(6) {
                        0 => rng.below(CAP),     // an offset
                        1 => CAP,                // the capacity
                        2 => 16 << rng.below(8), // a block size
                        3 => 0,                  // a null / end of list
                        4 => usize::MAX,         // all ones
                        _ => u32::MAX as usize,  // a NIL link
                    };
                    // SAFETY: as above.
                    unsafe { p.cast::<usize>().write_unaligned(value) };
                }
                i += word;
            }
            for j in i..to {
                // SAFETY: as above.
                unsafe { at(j).write(0xFF) };
            }
        }
    }
}

/// Checks the manager and that its accounting matches the blocks the test
/// holds: the same count, the same bytes, no overlaps, all aligned.
fn audit(h: &Owned<N>, live: &[Block]) {
    check(h.manager());
    let s = h.stats();
    assert_eq!(s.used_arenas, live.len());
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let (mut reserved, mut requested) = (0, 0);
    for b in live {
        let usable = h.usable_size(b.ptr).expect("a live block is known");
        assert!(usable >= b.layout.size());
        assert_eq!(b.ptr.as_ptr() as usize % b.layout.align(), 0);
        reserved += usable;
        requested += b.layout.size();
        let start = b.ptr.as_ptr() as usize - h.base().as_ptr() as usize;
        spans.push((start, start + usable));
    }
    assert_eq!(s.in_use_bytes, reserved);
    assert_eq!(s.requested_bytes, requested);
    assert_eq!(s.in_use_bytes + s.free_bytes, CAP);
    spans.sort_unstable();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "allocations overlap: {w:?}");
    }
}

fn random_layout(rng: &mut Rng) -> Layout {
    let max = if rng.below(8) == 0 { 700 } else { 90 };
    let size = 1 + rng.below(max);
    Layout::from_size_align(size, 1 << rng.below(7)).unwrap()
}

/// Allocates until `count` blocks are live or the region is full; stamps
/// each new block.
fn fill(h: &mut Owned<N>, live: &mut Vec<Block>, count: usize, rng: &mut Rng) {
    while live.len() < count {
        let layout = random_layout(rng);
        let Ok(ptr) = h.alloc(layout) else { break };
        let mut b = Block {
            ptr,
            layout,
            tag: 0,
        };
        b.stamp(rng.next() as u8);
        live.push(b);
    }
}

/// Overwrites the whole region with every kind of garbage in turn; after
/// each, the manager must look exactly as before.
fn scribble_everything(h: &mut Owned<N>, seed: u64) {
    let before = Snapshot::of(h.manager());
    for garbage in [
        Garbage::Fill(0xA5),
        Garbage::Random(seed),
        Garbage::Plausible(seed ^ 0x5EED),
    ] {
        scribble(h, 0, CAP, garbage);
        assert_eq!(
            Snapshot::of(h.manager()),
            before,
            "{garbage:?} changed the manager"
        );
        check_after_call(h.manager());
    }
}

fn survive_garbage(config: Config) {
    let mut rng = Rng::new(0x0BAD_5EED ^ config.policy as u64 ^ (config.coalescing as u64) << 8);
    let mut h = Owned::<N>::new(CAP, config);
    let mut live = Vec::new();
    fill(&mut h, &mut live, BLOCKS, &mut rng);
    assert!(
        live.len() > BLOCKS / 2,
        "{config:?}: the region filled early"
    );
    // Free every third block: free arenas between used ones.
    let mut k = 0;
    live.retain(|b| {
        k += 1;
        if k % 3 != 0 {
            return true;
        }
        // SAFETY: b is live and dropped from `live`.
        unsafe { h.free(b.ptr).unwrap() };
        false
    });
    audit(&h, &live);

    // 1. Garbage over every byte, free and used.
    scribble_everything(&mut h, rng.next());
    audit(&h, &live);

    // 2. free still finds every block, and still rejects bad frees.
    let freed = live.swap_remove(0);
    // SAFETY: live, not used again.
    unsafe { h.free(freed.ptr).unwrap() };
    // SAFETY: the heap rejects a freed pointer without touching memory.
    let again = unsafe { h.free(freed.ptr) }.unwrap_err();
    assert!(matches!(
        again,
        FreeError::DoubleFree { .. } | FreeError::NotAllocated { .. }
    ));
    for _ in 0..live.len() / 2 {
        let b = live.swap_remove(rng.below(live.len()));
        // SAFETY: live, not used again.
        unsafe { h.free(b.ptr).unwrap() };
    }
    audit(&h, &live);

    // 3. alloc: new blocks are in the region, aligned, disjoint.
    scribble(&mut h, 0, CAP, Garbage::Plausible(rng.next()));
    for b in &mut live {
        b.stamp(rng.next() as u8); // the caller's data was the garbage's
    }
    let want = live.len() + BLOCKS / 3;
    fill(&mut h, &mut live, want, &mut rng);
    audit(&h, &live);
    assert!(live.iter().all(|b| b.holds(b.layout.size())));

    // 4. Garbage in the free arenas only (use-after-free stores): the live
    // blocks keep their bytes.
    let free: Vec<_> = h
        .manager()
        .arenas()
        .filter(|a| !a.in_use)
        .map(|a| (a.offset, a.offset + a.size))
        .collect();
    for (from, to) in free {
        scribble(&mut h, from, to, Garbage::Fill(0xA5));
    }
    assert!(live.iter().all(|b| b.holds(b.layout.size())));

    // 5. realloc, growing and shrinking: the bytes that fit come along.
    scribble_everything(&mut h, rng.next());
    for b in &mut live {
        b.stamp(rng.next() as u8);
    }
    for _ in 0..live.len() / 2 {
        let i = rng.below(live.len());
        let old = live[i];
        let new = Layout::from_size_align(1 + rng.below(200), old.layout.align()).unwrap();
        // SAFETY: old is live; on success it is replaced by the result.
        match unsafe { h.realloc(old.ptr, new) } {
            Ok(ptr) => {
                let moved = Block { ptr, ..old };
                assert!(moved.holds(old.layout.size().min(new.size())));
                live[i] = Block {
                    layout: new,
                    ..moved
                };
                live[i].stamp(rng.next() as u8);
            }
            Err(_) => assert!(old.holds(old.layout.size())),
        }
    }
    audit(&h, &live);

    // 6. defragment after garbage: merges, and changes nothing else.
    scribble_everything(&mut h, rng.next());
    for b in &mut live {
        b.stamp(rng.next() as u8);
    }
    let before = h.stats();
    let report = h.defragment();
    let after = h.stats();
    assert_eq!(report.free_arenas_before - report.merged, after.free_arenas);
    assert_eq!(
        (after.free_bytes, after.in_use_bytes),
        (before.free_bytes, before.in_use_bytes)
    );
    audit(&h, &live);
    assert!(live.iter().all(|b| b.holds(b.layout.size())));

    // 7. relocate after garbage: every block slides down with its bytes.
    scribble_everything(&mut h, rng.next());
    for b in &mut live {
        b.stamp(rng.next() as u8);
    }
    // SAFETY: no reference into the heap is alive; `live` is updated
    // through `on_move`.
    let report = unsafe {
        h.relocate(|from, to, _| {
            let b = live.iter_mut().find(|b| b.ptr == from).expect("a block");
            b.ptr = to;
        })
    }
    .unwrap();
    audit(&h, &live);
    assert!(live.iter().all(|b| b.holds(b.layout.size())));
    assert!(report.free_arenas_after <= report.free_arenas_before.max(1) + live.len());
    // After relocation the free space ends the region.
    let last = h.manager().arenas().last().unwrap();
    assert!(!last.in_use || h.stats().free_bytes == 0);

    // 8. Free everything over garbage: the whole region comes back as one
    // arena, and can be handed out whole.
    scribble_everything(&mut h, rng.next());
    for b in live.drain(..) {
        // SAFETY: live, not used again.
        unsafe { h.free(b.ptr).unwrap() };
    }
    h.defragment();
    let s = h.stats();
    assert_eq!((s.free_bytes, s.largest_free, s.free_arenas), (CAP, CAP, 1));
    let all = h.alloc(Layout::from_size_align(CAP, 1).unwrap()).unwrap();
    assert_eq!(all, h.base());
    // SAFETY: live, not used again.
    unsafe { h.free(all).unwrap() };
    audit(&h, &[]);
}

#[test]
fn garbage_over_the_whole_region_changes_nothing_the_manager_knows() {
    for config in test_configs() {
        survive_garbage(config);
    }
}
