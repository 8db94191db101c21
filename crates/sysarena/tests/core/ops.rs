//! Each operation and each error of the classic model.

use super::common::{check, layout};
use sysarena::{
    AllocError, ArenaManager, Coalescing, Config, FreeError, OomReason, Policy, ReallocError,
    SliceManager, Slot, TableError,
};

/// The seed's headline: an allocation fails although the free bytes exceed
/// it, because no single free arena is large enough; after `defragment` the
/// same allocation succeeds, because the freed arenas were adjacent.
#[test]
fn seed_scenario_fails_with_enough_free_bytes_then_defragment_rescues() {
    let mut m = ArenaManager::<32>::new(1024);
    let blocks: Vec<_> = (0..8).map(|_| m.alloc(128, 1).unwrap()).collect();
    check(&m);
    assert_eq!(m.stats().free_bytes, 0);
    // Free two neighbours: 256 bytes free, as two arenas of 128.
    m.free(blocks[2].offset()).unwrap();
    m.free(blocks[3].offset()).unwrap();
    check(&m);
    let err = m.alloc(256, 1).unwrap_err();
    assert_eq!(
        err,
        AllocError::OutOfMemory(OomReason::NoFit {
            needed: 256,
            free_bytes: 256,
            largest_free: 128
        })
    );
    assert!(err.to_string().contains("external fragmentation"));
    check(&m);
    let report = m.defragment();
    assert_eq!(report.merged, 1);
    assert_eq!(report.largest_free_before, 128);
    assert_eq!(report.largest_free_after, 256);
    check(&m);
    let a = m.alloc(256, 1).unwrap();
    assert_eq!(a.offset(), 256);
    check(&m);
}

#[test]
fn alloc_splits_the_first_free_arena() {
    let mut m = ArenaManager::<4>::new(100);
    let a = m.alloc(30, 1).unwrap();
    assert_eq!((a.offset(), a.size()), (0, 30));
    assert_eq!(layout(&m), vec![(0, 30, true), (30, 70, false)]);
    let s = m.stats();
    assert_eq!(
        (s.used_arenas, s.free_arenas, s.spare_descriptors),
        (1, 1, 2)
    );
    assert_eq!(s.requested_bytes, 30);
    check(&m);
}

#[test]
fn exact_fit_needs_no_spare_descriptor() {
    let mut m = ArenaManager::<1>::new(64);
    let a = m.alloc(64, 1).unwrap();
    assert_eq!(a.size(), 64);
    assert_eq!(m.stats().spare_descriptors, 0);
    check(&m);
}

#[test]
fn split_without_a_spare_descriptor_is_an_error_and_changes_nothing() {
    let mut m = ArenaManager::<2>::new(100);
    m.alloc(10, 1).unwrap();
    let before = layout(&m);
    assert_eq!(
        m.alloc(10, 1),
        Err(AllocError::OutOfMemory(OomReason::NoSpareDescriptor {
            descriptors: 2
        }))
    );
    assert_eq!(layout(&m), before);
    check(&m);
    // An exact fit still works.
    assert_eq!(m.alloc(90, 1).unwrap().offset(), 10);
    check(&m);
}

#[test]
fn size_is_rounded_up_to_alignment_and_used_is_kept() {
    let mut m = ArenaManager::<8>::new(256);
    let a = m.alloc(5, 8).unwrap();
    assert_eq!(a.size(), 8);
    let info = m.arena_at(a.offset()).unwrap();
    assert_eq!((info.size, info.used), (8, 5));
    assert_eq!(m.stats().internal_fragmentation(), 3);
    check(&m);
}

#[test]
fn alignment_padding_becomes_a_free_arena() {
    let mut m = ArenaManager::<8>::new(256);
    m.alloc(3, 1).unwrap();
    let b = m.alloc(16, 16).unwrap();
    assert_eq!(b.offset(), 16);
    assert_eq!(
        layout(&m),
        vec![
            (0, 3, true),
            (3, 13, false),
            (16, 16, true),
            (32, 224, false)
        ]
    );
    check(&m);
}

#[test]
fn padding_joins_a_free_left_neighbour() {
    let mut m = ArenaManager::<8>::new(256);
    let a = m.alloc(3, 1).unwrap();
    let b = m.alloc(5, 1).unwrap();
    m.free(a.offset()).unwrap();
    // Deferred: arena [0,3) free, [3,8) used, [8,256) free. Ask 16 @ 16: the
    // first fit at 16 pads [8,16), and [0,3) is not adjacent, so a new arena.
    m.free(b.offset()).unwrap();
    // Now [0,3) free, [3,8) free (not merged), [8,256) free.
    let c = m.alloc(16, 16).unwrap();
    assert_eq!(c.offset(), 16);
    // The 8 bytes of padding [8,16) joined the free arena [3,8).
    assert_eq!(
        layout(&m),
        vec![
            (0, 3, false),
            (3, 13, false),
            (16, 16, true),
            (32, 224, false)
        ]
    );
    check(&m);
}

#[test]
fn free_marks_and_does_not_merge_in_the_classic_model() {
    let mut m = ArenaManager::<8>::new(100);
    let a = m.alloc(10, 1).unwrap();
    let b = m.alloc(10, 1).unwrap();
    m.free(a.offset()).unwrap();
    m.free(b.offset()).unwrap();
    assert_eq!(
        layout(&m),
        vec![(0, 10, false), (10, 10, false), (20, 80, false)]
    );
    assert_eq!(m.arena_at(0).unwrap().used, 0);
    check(&m);
}

#[test]
fn immediate_coalescing_merges_both_neighbours() {
    let mut m =
        ArenaManager::<8>::with_config(100, Config::new(Policy::FirstFit, Coalescing::Immediate));
    let a = m.alloc(10, 1).unwrap();
    let b = m.alloc(10, 1).unwrap();
    let c = m.alloc(10, 1).unwrap();
    m.free(a.offset()).unwrap();
    m.free(c.offset()).unwrap();
    assert_eq!(
        layout(&m),
        vec![(0, 10, false), (10, 10, true), (20, 80, false)]
    );
    m.free(b.offset()).unwrap();
    assert_eq!(layout(&m), vec![(0, 100, false)]);
    assert_eq!(m.stats().spare_descriptors, 7);
    check(&m);
}

#[test]
fn free_errors_are_typed_and_change_nothing() {
    let mut m = ArenaManager::<8>::new(100);
    let a = m.alloc(10, 1).unwrap();
    m.alloc(10, 1).unwrap();
    assert_eq!(m.free(5), Err(FreeError::NotAllocated { offset: 5 }));
    assert_eq!(
        m.free(20),
        Err(FreeError::DoubleFree { offset: 20 }),
        "the free remainder"
    );
    assert_eq!(m.free(100), Err(FreeError::OutOfRegion { offset: 100 }));
    m.free(a.offset()).unwrap();
    let before = layout(&m);
    assert_eq!(m.free(a.offset()), Err(FreeError::DoubleFree { offset: 0 }));
    assert_eq!(layout(&m), before);
    check(&m);
}

#[test]
fn bad_requests_are_typed_errors() {
    let mut m = ArenaManager::<8>::new(100);
    assert_eq!(m.alloc(0, 1), Err(AllocError::ZeroSize));
    assert_eq!(m.alloc(8, 3), Err(AllocError::BadAlign { align: 3 }));
    assert_eq!(m.alloc(8, 0), Err(AllocError::BadAlign { align: 0 }));
    assert_eq!(
        m.alloc(usize::MAX, 16),
        Err(AllocError::SizeOverflow {
            size: usize::MAX,
            align: 16
        })
    );
    assert_eq!(
        m.alloc(101, 1),
        Err(AllocError::TooLarge {
            size: 101,
            capacity: 100
        })
    );
    for e in [AllocError::ZeroSize, AllocError::BadAlign { align: 3 }] {
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(m.stats().free_bytes, 100);
    check(&m);
}

#[test]
fn defragment_compacts_the_table() {
    let mut m = ArenaManager::<16>::new(160);
    let blocks: Vec<_> = (0..10).map(|_| m.alloc(16, 1).unwrap()).collect();
    for b in &blocks[1..6] {
        m.free(b.offset()).unwrap();
    }
    check(&m);
    let r = m.defragment();
    assert_eq!(r.merged, 4);
    assert_eq!((r.free_arenas_before, r.free_arenas_after), (5, 1));
    assert!(r.compacted > 0);
    check(&m);
    // Spares sit at the end of the table.
    let states: Vec<bool> = m.table().map(|e| e.arena.is_some()).collect();
    let first_spare = states.iter().position(|&a| !a).unwrap();
    assert!(states[first_spare..].iter().all(|&a| !a), "{states:?}");
    // A second defragment has nothing to do.
    let r = m.defragment();
    assert_eq!((r.merged, r.compacted), (0, 0));
}

#[test]
fn realloc_grows_and_shrinks_in_place_and_moves_otherwise() {
    let mut m = ArenaManager::<8>::with_config(256, Config::fast());
    let a = m.alloc(32, 8).unwrap();
    let r = m.realloc(a.offset(), 64, 8).unwrap();
    assert_eq!((r.offset, r.size, r.moved_from), (0, 64, None));
    let r = m.realloc(0, 16, 8).unwrap();
    assert_eq!(
        (r.offset, r.size, r.moved_from, r.copy_len),
        (0, 16, None, 16)
    );
    check(&m);
    let b = m.alloc(16, 8).unwrap();
    let r = m.realloc(0, 100, 8).unwrap();
    assert_eq!(r.moved_from, Some(0));
    assert_eq!(r.copy_len, 16);
    assert!(r.offset >= b.offset() + 16);
    check(&m);
    assert_eq!(
        m.realloc(7, 10, 8),
        Err(ReallocError::Free(FreeError::NotAllocated { offset: 7 }))
    );
    let before = layout(&m);
    assert!(matches!(
        m.realloc(r.offset, 1000, 8),
        Err(ReallocError::Alloc(AllocError::TooLarge { .. }))
    ));
    assert_eq!(layout(&m), before);
    check(&m);
}

#[test]
#[cfg_attr(miri, ignore = "large: covered natively")]
fn slice_table_runs_the_same_code() {
    let mut table = vec![Slot::EMPTY; 100_000];
    let mut m = SliceManager::from_slice(&mut table, 1 << 20, Config::fast()).unwrap();
    let offs: Vec<_> = (0..50_000)
        .map(|_| m.alloc(16, 16).unwrap().offset())
        .collect();
    check(&m);
    for o in offs.iter().step_by(2) {
        m.free(*o).unwrap();
    }
    check(&m);
    assert_eq!(m.stats().used_arenas, 25_000);
    assert_eq!(
        SliceManager::from_slice(&mut [], 10, Config::default()).unwrap_err(),
        TableError::BadTableSize { len: 0 }
    );
}

#[test]
fn grow_extends_the_last_free_arena_or_adds_one() {
    let mut m = ArenaManager::<4>::empty(Config::classic());
    assert_eq!(
        m.alloc(1, 1),
        Err(AllocError::TooLarge {
            size: 1,
            capacity: 0
        })
    );
    m.grow(100).unwrap();
    check(&m);
    m.alloc(100, 1).unwrap();
    m.grow(50).unwrap();
    assert_eq!(layout(&m), vec![(0, 100, true), (100, 50, false)]);
    m.grow(50).unwrap();
    assert_eq!(layout(&m), vec![(0, 100, true), (100, 100, false)]);
    assert_eq!(m.grow(usize::MAX), Err(TableError::CapacityOverflow));
    check(&m);
}

/// A last arena waiting in the fast model's quick lists is free: `grow`
/// flushes the lists and extends it, and needs no spare descriptor (it
/// refused with `NoSpareDescriptor` on a full table, and on a roomier one
/// left the cached arena beside a separate new free one).
#[test]
fn grow_extends_a_cached_last_arena() {
    let mut m = ArenaManager::<2>::empty(Config::fast());
    m.grow(4096).unwrap();
    m.alloc(3840, 8).unwrap();
    let last = m.alloc(256, 8).unwrap().offset();
    m.free(last).unwrap();
    assert_eq!(m.stats().cached_arenas, 1);
    m.grow(1024).unwrap();
    assert_eq!(layout(&m), vec![(0, 3840, true), (3840, 1280, false)]);
    assert_eq!(m.stats().cached_arenas, 0);
    assert_eq!(m.stats().largest_free, 1280);
    check(&m);
}

/// Changing the origin under live allocations is refused and changes
/// nothing: they were aligned for the old one, and `relocate` planned
/// moves upwards from them (a panic in debug builds).
#[test]
fn the_origin_changes_only_while_nothing_is_allocated() {
    let mut m = ArenaManager::<16>::new(1024);
    let a = m.alloc(64, 64).unwrap().offset();
    m.alloc(64, 1).unwrap();
    assert_eq!(
        m.set_origin(1),
        Err(sysarena::TableError::InUse { allocations: 2 })
    );
    assert_eq!(m.origin(), 0);
    assert_eq!(m.set_origin(0), Ok(()));
    m.free(a).unwrap();
    let mut moves = Vec::new();
    m.relocate(|mv| moves.push(mv)).unwrap();
    assert!(moves.iter().all(|mv| mv.to < mv.from), "{moves:?}");
    check(&m);
    m.free(m.arenas().find(|x| x.in_use).unwrap().offset)
        .unwrap();
    assert_eq!(m.set_origin(1), Ok(()));
    // Aligned for the new origin (offset 63 is address 64).
    assert_eq!((1 + m.alloc(64, 64).unwrap().offset()) % 64, 0);
    check(&m);
}

#[test]
fn origin_aligns_addresses_not_offsets() {
    let mut m = ArenaManager::<4>::new(256);
    m.set_origin(8).unwrap();
    let a = m.alloc(16, 16).unwrap();
    assert_eq!((8 + a.offset()) % 16, 0);
    assert_eq!(a.offset(), 8);
    check(&m);
}

#[test]
fn a_zeroed_table_is_used_lazily() {
    // Every invariant walk checks each slot's links: a smaller table keeps
    // the test to seconds under Miri (a minute at 10,000).
    let n = if cfg!(miri) { 1_000 } else { 10_000 };
    // SAFETY: all-zero bytes are a valid `Slot` (documented by `from_empty_slice`).
    let mut table: Vec<Slot> = (0..n).map(|_| unsafe { core::mem::zeroed() }).collect();
    // SAFETY: every slot is all zero bytes.
    let mut m =
        unsafe { SliceManager::from_empty_slice(&mut table, 1 << 16, Config::fast()) }.unwrap();
    assert_eq!(m.stats().spare_descriptors, n - 1);
    let offs: Vec<_> = (0..100)
        .map(|_| m.alloc(64, 16).unwrap().offset())
        .collect();
    check(&m);
    for o in offs.iter().step_by(2) {
        m.free(*o).unwrap();
    }
    m.defragment();
    check(&m);
    // Only the descriptors that were needed were ever touched.
    assert!(m.table().filter(|e| e.arena.is_some()).count() <= 101);
}

#[test]
fn an_owned_table_works_too() {
    let table: Box<[Slot]> = vec![Slot::EMPTY; 64].into_boxed_slice();
    let mut m = ArenaManager::from_table(table, 4096, Config::fast()).unwrap();
    let a = m.alloc(100, 8).unwrap();
    m.free(a.offset()).unwrap();
    check(&m);
    // The O(1) constructor over an owned table of spares (zeroed tables:
    // `a_zeroed_table_is_used_lazily`).
    let spares: Vec<Slot> = vec![Slot::EMPTY; 1000];
    // SAFETY: every slot is `Slot::EMPTY`.
    let mut m =
        unsafe { ArenaManager::from_empty_table(spares, 1 << 16, Config::classic()) }.unwrap();
    m.alloc(10, 1).unwrap();
    check(&m);
}

#[test]
fn relocation_gathers_the_free_space_that_defragment_cannot() {
    let mut m = ArenaManager::<32>::new(1024);
    let blocks: Vec<_> = (0..8).map(|_| m.alloc(128, 1).unwrap()).collect();
    for b in blocks.iter().skip(1).step_by(2) {
        m.free(b.offset()).unwrap();
    }
    // Four holes of 128, none adjacent: merging cannot help.
    assert_eq!(m.defragment().merged, 0);
    assert!(m.alloc(256, 1).is_err());
    let mut moves = Vec::new();
    let r = m.relocate(|mv| moves.push(mv)).unwrap();
    check(&m);
    assert_eq!(
        moves,
        vec![
            sysarena::Move {
                from: 256,
                to: 128,
                len: 128
            },
            sysarena::Move {
                from: 512,
                to: 256,
                len: 128
            },
            sysarena::Move {
                from: 768,
                to: 384,
                len: 128
            },
        ]
    );
    assert_eq!((r.moved, r.bytes_moved), (3, 384));
    assert_eq!((r.free_arenas_before, r.free_arenas_after), (4, 1));
    assert_eq!((r.largest_free_before, r.largest_free_after), (128, 512));
    assert_eq!(layout(&m)[4], (512, 512, false));
    assert_eq!(m.alloc(512, 1).unwrap().offset(), 512);
    check(&m);
}

#[test]
fn relocation_keeps_every_allocation_aligned() {
    let mut m = ArenaManager::<256>::with_config(1 << 16, Config::fast());
    let mut live = Vec::new();
    for i in 0..40 {
        let align = 1 << (i % 8);
        live.push((m.alloc(1 + i * 37, align).unwrap().offset(), align));
    }
    for (off, _) in live.iter().step_by(3) {
        m.free(*off).unwrap();
    }
    let mut moved = std::collections::HashMap::new();
    m.relocate(|mv| {
        moved.insert(mv.from, mv.to);
    })
    .unwrap();
    check(&m);
    for (i, (off, align)) in live.iter().enumerate() {
        if i % 3 != 0 {
            let now = moved.get(off).copied().unwrap_or(*off);
            assert_eq!(now % align, 0, "block {i} lost its alignment");
            assert!(m.arena_at(now).is_some_and(|a| a.in_use));
        }
    }
}
