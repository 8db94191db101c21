//! Several regions in one `Heap`: property tests over 1–8 regions with
//! holes between them, added in any order, under several models. A shadow
//! model checks every block: inside exactly one region, aligned, not
//! overlapping another, its bytes intact; stats and the heap walk cover
//! every region and nothing else; a bad region is a typed error that
//! changes nothing.

use std::alloc::Layout;
use std::ptr::NonNull;

use proptest::prelude::*;
use sysarena::{
    AllocError, Coalescing, Config, Heap, MIN_REGION_LEN, Policy, REGION_ALIGN, ReallocError,
    RegionError,
};

/// A 64-aligned buffer that outlives the heap.
struct Memory {
    _buf: Vec<u128>,
    base: NonNull<u8>,
}

fn memory(len: usize) -> Memory {
    let mut buf = vec![0u128; len / 16 + 4];
    let p = buf.as_mut_ptr().cast::<u8>();
    let p = p.wrapping_add(p.align_offset(64));
    Memory {
        _buf: buf,
        base: NonNull::new(p).unwrap(),
    }
}

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: usize, align_log2: u32 },
    Free { pick: usize },
    Realloc { pick: usize, size: usize },
    BadRegion { kind: u8, pick: usize, n: usize },
    Defragment,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..700, 0u32..7).prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
        3 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        1 => (any::<usize>(), 1usize..900).prop_map(|(pick, size)| Op::Realloc { pick, size }),
        1 => (0u8..3, any::<usize>(), any::<usize>())
            .prop_map(|(kind, pick, n)| Op::BadRegion { kind, pick, n }),
        1 => Just(Op::Defragment),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    prop_oneof![
        Just(Config::fast()),
        Just(Config::classic()),
        Just(Config::new(Policy::BestFit, Coalescing::Immediate)),
        Just(Config::new(Policy::NextFit, Coalescing::Deferred)),
        Just(Config::new(Policy::WorstFit, Coalescing::Immediate)),
    ]
}

/// Regions as (offset in the buffer, length): 1–8 of them, in address
/// order, with holes (possibly none) between them, and the order in which
/// they are added.
fn layout() -> impl Strategy<Value = (Vec<(usize, usize)>, Vec<usize>)> {
    prop::collection::vec((0usize..4, 1usize..64), 1..=8).prop_flat_map(|parts| {
        let mut at = 0;
        let regions: Vec<(usize, usize)> = parts
            .iter()
            .map(|&(hole, len)| {
                at += hole * 16;
                let r = (at, len * 16);
                at += len * 16;
                r
            })
            .collect();
        let n = regions.len();
        (
            Just(regions),
            Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
        )
    })
}

#[derive(Clone, Copy, Debug)]
struct Block {
    /// The block (a pointer, not an address: Miri checks provenance).
    ptr: NonNull<u8>,
    size: usize,
    id: u8,
}

impl Block {
    fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }
}

fn fill(b: Block) {
    // SAFETY: a live block of `size` bytes.
    unsafe { std::ptr::write_bytes(b.ptr.as_ptr(), b.id, b.size) };
}

struct World {
    heap: Heap<128>,
    regions: Vec<(usize, usize)>,
    live: Vec<Block>,
    next: u8,
}

impl World {
    fn check(&self) {
        let h = &self.heap;
        h.manager().check_invariants().unwrap();
        let s = h.stats();
        let total: usize = self.regions.iter().map(|r| r.1).sum();
        assert_eq!(s.capacity, total);
        assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity);
        assert_eq!(
            s.free_arenas + s.used_arenas + s.spare_descriptors,
            s.descriptors
        );
        assert_eq!(s.used_arenas, self.live.len());
        assert_eq!(
            s.requested_bytes,
            self.live.iter().map(|b| b.size).sum::<usize>()
        );
        // The heap walk tiles every region exactly, and only the regions.
        let mut covered = vec![0usize; self.regions.len()];
        let mut in_use = 0;
        for a in h.arenas() {
            let p = a.ptr.as_ptr() as usize;
            let r = self
                .regions
                .iter()
                .position(|&(b, l)| p >= b && p + a.info.size <= b + l)
                .unwrap_or_else(|| panic!("arena {a:?} outside every region"));
            covered[r] += a.info.size;
            in_use += usize::from(a.info.in_use);
        }
        let lens: Vec<usize> = self.regions.iter().map(|r| r.1).collect();
        assert_eq!(covered, lens);
        assert_eq!(in_use, self.live.len());
        // Every block lies in one region, is live for the heap, and
        // keeps its bytes; no two overlap.
        let mut blocks = self.live.clone();
        blocks.sort_by_key(Block::addr);
        let mut end = 0;
        for b in &blocks {
            assert!(b.addr() >= end, "blocks overlap");
            end = b.addr() + b.size;
            assert!(
                self.regions
                    .iter()
                    .any(|&(r, l)| b.addr() >= r && b.addr() + b.size <= r + l),
                "{b:?} spans a boundary"
            );
            assert!(h.contains(b.ptr.as_ptr()));
            assert!(h.usable_size(b.ptr).unwrap() >= b.size);
            // SAFETY: a live block of `size` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(b.ptr.as_ptr(), b.size) };
            assert!(bytes.iter().all(|&x| x == b.id), "{b:?} lost its bytes");
        }
    }

    fn snapshot(&self) -> (sysarena::Stats, Vec<sysarena::Region>) {
        (self.heap.stats(), self.heap.regions().collect())
    }
}

fn run(config: Config, layout: (Vec<(usize, usize)>, Vec<usize>), ops: Vec<Op>) {
    let (parts, order) = layout;
    let span = parts.last().map_or(0, |&(o, l)| o + l);
    let mem = memory(span + 256);
    let beyond = mem.base.as_ptr() as usize + span + 64;
    // A pointer to address `a`, with the buffer's provenance (never
    // dereferenced: only for regions that must be refused).
    let at = |a: usize| NonNull::new(mem.base.as_ptr().with_addr(a)).unwrap();
    let regions: Vec<(usize, usize)> = parts
        .iter()
        .map(|&(o, l)| (mem.base.as_ptr() as usize + o, l))
        .collect();
    let ptr = |i: usize| NonNull::new(mem.base.as_ptr().wrapping_add(parts[i].0)).unwrap();
    let first = order[0];
    // SAFETY: the buffer outlives the heap and is used by nothing else.
    let mut heap = unsafe { Heap::<128>::new(ptr(first), parts[first].1, config) };
    let mut added = vec![regions[first]];
    for &i in &order[1..] {
        // SAFETY: as above; regions do not overlap.
        let r = unsafe { heap.add_region(ptr(i), parts[i].1) };
        r.unwrap_or_else(|e| panic!("adding {:?}: {e}", parts[i]));
        // Memory that starts at the end of the last region added is a
        // region of its own too (it may be another allocation).
        added.push(regions[i]);
    }
    assert_eq!(heap.regions().count(), added.len());
    let mut w = World {
        heap,
        regions: added,
        live: Vec::new(),
        next: 0,
    };
    w.check();
    let largest_region = parts.iter().map(|p| p.1).max().unwrap();
    for op in ops {
        match op {
            Op::Alloc { size, align_log2 } => {
                let layout = Layout::from_size_align(size, 1 << align_log2).unwrap();
                match w.heap.alloc(layout) {
                    Ok(p) => {
                        assert_eq!(p.as_ptr() as usize % layout.align(), 0, "misaligned");
                        w.next = w.next.wrapping_add(1).max(1);
                        let b = Block {
                            ptr: p,
                            size,
                            id: w.next,
                        };
                        fill(b);
                        w.live.push(b);
                    }
                    Err(e) => {
                        assert!(
                            matches!(e, AllocError::OutOfMemory(_) | AllocError::TooLarge { .. }),
                            "{e}"
                        );
                        assert!(
                            size.next_multiple_of(layout.align()) > largest_region
                                || matches!(e, AllocError::OutOfMemory(_)),
                            "{e}"
                        );
                    }
                }
            }
            Op::Free { pick } if !w.live.is_empty() => {
                let b = w.live.swap_remove(pick % w.live.len());
                // SAFETY: a live block, not used again.
                unsafe { w.heap.free(b.ptr).unwrap() };
                // SAFETY: freed: refused, nothing changes.
                let again = unsafe { w.heap.free(b.ptr) };
                assert!(again.is_err());
            }
            Op::Free { .. } => {}
            Op::Realloc { pick, size } if !w.live.is_empty() => {
                let i = pick % w.live.len();
                let b = w.live[i];
                let layout = Layout::from_size_align(size, 1).unwrap();
                // SAFETY: a live block; dropped from the shadow if it moves.
                if let Ok(p) = unsafe { w.heap.realloc(b.ptr, layout) } {
                    // SAFETY: the block holds `min(old, new)` of its bytes.
                    let kept = unsafe { std::slice::from_raw_parts(p.as_ptr(), b.size.min(size)) };
                    assert!(kept.iter().all(|&x| x == b.id), "realloc lost bytes");
                    w.live[i] = Block {
                        ptr: p,
                        size,
                        id: b.id,
                    };
                    fill(w.live[i]);
                }
            }
            Op::Realloc { .. } => {}
            Op::BadRegion { kind, pick, n } => {
                let (b, l) = w.regions[pick % w.regions.len()];
                let before = w.snapshot();
                let (p, len) = match kind {
                    // Overlapping: any aligned part of an existing region.
                    0 => {
                        let at = (n % l) / REGION_ALIGN * REGION_ALIGN;
                        (b + at, MIN_REGION_LEN.max(16 + n % 64))
                    }
                    // Misaligned.
                    1 => (b + l + 1 + n % (REGION_ALIGN - 1), 1024),
                    // Too small, past every region (so not growing one).
                    _ => (beyond, n % MIN_REGION_LEN),
                };
                // SAFETY: each is refused before anything is kept.
                let r = unsafe { w.heap.add_region(at(p), len) };
                match (kind, r) {
                    (0, Err(RegionError::Overlaps { .. })) => {}
                    (1, Err(RegionError::Misaligned { .. })) => {}
                    (2, Err(RegionError::TooSmall { .. })) => {}
                    other => panic!("bad region {kind} at {p:#x}+{len}: {other:?}"),
                }
                assert_eq!(w.snapshot(), before, "a refused region changed the heap");
            }
            Op::Defragment => {
                w.heap.defragment();
            }
        }
        w.check();
    }
    // A block larger than every region never fits, however much is free.
    for b in w.live.drain(..) {
        // SAFETY: live blocks, not used again.
        unsafe { w.heap.free(b.ptr).unwrap() };
    }
    w.heap.defragment();
    let total: usize = w.regions.iter().map(|r| r.1).sum();
    if w.heap.regions().count() > 1 {
        let too_big = Layout::from_size_align(w.heap.stats().largest_free + 1, 1).unwrap();
        assert!(w.heap.alloc(too_big).is_err());
    }
    assert_eq!(w.heap.stats().free_bytes, total);
    w.check();
}

const CASES: u32 = if cfg!(miri) { 3 } else { 200 };
/// The most operations in one case (fewer under Miri, which is slow).
const OPS: usize = if cfg!(miri) { 30 } else { 120 };

proptest! {
    #![proptest_config(ProptestConfig {
        cases: CASES,
        // Miri's isolation forbids the regression file's `getcwd`.
        failure_persistence: if cfg!(miri) { None } else { ProptestConfig::default().failure_persistence },
        ..ProptestConfig::default()
    })]

    #[test]
    fn several_regions_serve_free_and_account_like_one(
        config in config(),
        layout in layout(),
        ops in prop::collection::vec(op(), 1..OPS),
    ) {
        run(config, layout, ops);
    }
}

#[test]
fn a_block_never_spans_two_regions_and_free_finds_each_owner() {
    let mem = memory(8192);
    let base = mem.base;
    // SAFETY: the buffer outlives the heap; the regions do not overlap:
    // [0, 1024) and [1040, 2064), 16 bytes apart.
    let mut heap = unsafe { Heap::<32>::new(base, 1024, Config::fast()) };
    // SAFETY: as above.
    unsafe { heap.add_region(base.add(1040), 1024).unwrap() };
    assert_eq!(heap.regions().count(), 2);
    assert_eq!(heap.stats().capacity, 2048);
    assert_eq!(heap.stats().largest_free, 1024);
    // 1025 bytes are free twice over but in no single region.
    assert!(
        heap.alloc(Layout::from_size_align(1025, 1).unwrap())
            .is_err()
    );
    let a = heap
        .alloc(Layout::from_size_align(1024, 16).unwrap())
        .unwrap();
    let b = heap
        .alloc(Layout::from_size_align(1024, 16).unwrap())
        .unwrap();
    assert_ne!(heap.region_of(a.as_ptr()), heap.region_of(b.as_ptr()));
    assert!(heap.alloc(Layout::from_size_align(1, 1).unwrap()).is_err());
    // SAFETY: a pointer into the hole between the regions: refused.
    assert!(unsafe { heap.free(base.add(1030)) }.is_err());
    // SAFETY: live blocks, not used again.
    unsafe {
        heap.free(b).unwrap();
        heap.free(a).unwrap();
    }
    assert_eq!(heap.stats().free_bytes, 2048);
    // SAFETY: a heap of two regions refuses to relocate, changing nothing.
    let r = unsafe { heap.relocate(|_, _, _| unreachable!()) };
    assert_eq!(r.unwrap_err(), RegionError::SeveralRegions);
    heap.manager().check_invariants().unwrap();
}

/// Memory that starts exactly where the last region ends may be another
/// allocation (two `static`s side by side): `add_region` makes it a region
/// of its own behind a fence, so no block spans the two (it used to grow
/// the last region, and a block could cross from one allocation into the
/// other). `grow` is the way to add more of the same allocation.
#[test]
fn memory_right_after_the_last_region_is_a_region_of_its_own() {
    let mem = memory(4096);
    let base = mem.base;
    // SAFETY: the buffer outlives the heap; [0, 1024) and [1024, 2048) do
    // not overlap.
    let mut heap = unsafe { Heap::<32>::new(base, 1024, Config::classic()) };
    // SAFETY: as above.
    unsafe { heap.add_region(base.add(1024), 1024).unwrap() };
    assert_eq!(heap.regions().count(), 2);
    assert_eq!(heap.stats().free_bytes, 2048);
    // 2048 bytes lie side by side, but no block may take both halves.
    assert!(
        heap.alloc(Layout::from_size_align(1025, 1).unwrap())
            .is_err()
    );
    let a = heap
        .alloc(Layout::from_size_align(1024, 16).unwrap())
        .unwrap();
    let b = heap
        .alloc(Layout::from_size_align(1024, 16).unwrap())
        .unwrap();
    assert_eq!(
        [a, b].map(|p| heap.region_of(p.as_ptr())),
        [Some(0), Some(1)]
    );
    // SAFETY: the 1024 bytes after the second region are of the same
    // buffer: `grow` adds them to it.
    unsafe { heap.grow(1024).unwrap() };
    assert_eq!(heap.regions().count(), 2);
    assert_eq!(heap.regions().nth(1).unwrap().len, 2048);
    heap.manager().check_invariants().unwrap();
}

/// `grow` into another region of the heap is refused as `add_region`
/// refuses the same bytes (it made two live blocks overlap).
#[test]
fn grow_into_another_region_is_refused_and_changes_nothing() {
    let mem = memory(16384);
    let base = mem.base;
    // SAFETY: the buffer outlives the heap; [8192, 12288) and [0, 4096) do
    // not overlap.
    let mut heap = unsafe { Heap::<32>::new(base.add(8192), 4096, Config::classic()) };
    // SAFETY: as above.
    unsafe { heap.add_region(base, 4096).unwrap() };
    let before = heap.stats();
    // SAFETY: refused before anything is touched: [4096, 12288) would
    // overlap the first region.
    let e = unsafe { heap.grow(8192) }.unwrap_err();
    assert!(matches!(e, RegionError::Overlaps { .. }), "{e:?}");
    assert_eq!(heap.stats(), before);
    // Up to the first region is fine.
    // SAFETY: [4096, 8192) is the buffer's, used by nothing else.
    unsafe { heap.grow(4096).unwrap() };
    assert_eq!(heap.stats().capacity, before.capacity + 4096);
    heap.manager().check_invariants().unwrap();
}

/// A request no region could hold is `TooLarge`, never `NoFit` (which says
/// that freeing or defragmenting could help): the manager's capacity counts
/// the fences' offsets, so it took 6 KiB over two 4 KiB regions for
/// fragmentation. The same for a `realloc`.
#[test]
fn a_request_larger_than_every_region_is_too_large() {
    let mem = memory(16384);
    let base = mem.base;
    // SAFETY: the buffer outlives the heap; [0, 4096) and [8192, 12288) do
    // not overlap.
    let mut heap = unsafe { Heap::<32>::new(base, 4096, Config::fast()) };
    // SAFETY: as above.
    unsafe { heap.add_region(base.add(8192), 4096).unwrap() };
    let big = Layout::from_size_align(6144, 16).unwrap();
    assert!(
        matches!(
            heap.alloc(big),
            Err(AllocError::TooLarge {
                size: 6144,
                capacity: 8192
            })
        ),
        "{:?}",
        heap.alloc(big)
    );
    // Past the manager's capacity too (fences counted), the error gives
    // the heap's capacity, as `stats()` does.
    assert_eq!(
        heap.alloc(Layout::from_size_align(1 << 20, 16).unwrap()),
        Err(AllocError::TooLarge {
            size: 1 << 20,
            capacity: 8192
        })
    );
    // What one region holds is served.
    let p = heap
        .alloc(Layout::from_size_align(4096, 16).unwrap())
        .unwrap();
    let before = heap.stats();
    // SAFETY: a live block; on error it stays live and untouched.
    let r = unsafe { heap.realloc(p, big) };
    assert!(
        matches!(r, Err(ReallocError::Alloc(AllocError::TooLarge { .. }))),
        "{r:?}"
    );
    // Nothing changed but the count of searches made.
    let state = |s: sysarena::Stats| sysarena::Stats {
        fallback_searches: 0,
        ..s
    };
    assert_eq!(state(heap.stats()), state(before));
    // A request that fits a region but finds it taken is still `NoFit`.
    let e = heap
        .alloc(Layout::from_size_align(4096, 16).unwrap())
        .unwrap();
    let e2 = heap
        .alloc(Layout::from_size_align(16, 16).unwrap())
        .unwrap_err();
    assert!(matches!(e2, AllocError::OutOfMemory(_)), "{e2:?}");
    // SAFETY: live blocks, not used again.
    unsafe {
        heap.free(e).unwrap();
        heap.free(p).unwrap();
    }
    heap.manager().check_invariants().unwrap();
}
