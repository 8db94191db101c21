//! Relocation, case by case: the demonstration, slides, skipped,
//! cancelled and rejected moves, a block frozen while it moves, stale
//! handles, the old names, and a tight table. The property tests over
//! random operations are in `defrag`.

use std::alloc::Layout;

use sysarena::{
    AllocError, ArenaManager, Config, Handle, HandleError, HandleHeap, Movable, MoveStatus,
    OomReason, PassLimits, PlannedMove, TableError,
};
use sysarena_testkit::AlignedRegion;

use super::common::check;

/// The demonstration: the classic defragment cannot serve the
/// request (no two holes touch), relocating passes can.
#[test]
fn classic_defragment_fails_where_passes_succeed() {
    let mut m = Movable::<32, 32>::new(1000);
    let hs: Vec<_> = (0..10).map(|_| m.alloc(100, 1).unwrap()).collect();
    for h in hs.iter().step_by(2) {
        m.free(*h).unwrap();
    }
    m.defragment();
    assert!(matches!(
        m.alloc(300, 1),
        Err(HandleError::Alloc(AllocError::OutOfMemory(
            OomReason::NoFit {
                free_bytes: 500,
                largest_free: 100,
                ..
            }
        )))
    ));
    let mut buf = [PlannedMove::EMPTY; 16];
    let mut passes = 0;
    loop {
        let plan = m
            .begin_pass(PassLimits::new(2, usize::MAX), &mut buf)
            .unwrap();
        for mv in &mut buf[..plan.moves] {
            mv.status = MoveStatus::Done;
        }
        let r = m.end_pass(&buf[..plan.moves]).unwrap();
        assert!(r.largest_free_after >= r.largest_free_before);
        passes += 1;
        if plan.converged() {
            break;
        }
    }
    assert!(passes >= 2, "two moves per pass cannot do it at once");
    assert_eq!(m.move_stats().passes, passes);
    // The top blocks fill the lowest holes: three moves close four holes
    // (a slide would have taken five).
    assert_eq!(m.move_stats().moves, 3);
    assert_eq!(m.move_stats().bytes_moved, 300);
    assert_eq!(m.stats().largest_free, 500);
    let big = m.alloc(300, 1).unwrap();
    assert_eq!(m.offset(big).unwrap(), 500);
}

/// `overlaps` answers for any move, a made-up one too (its fields are
/// public): no overflow.
#[test]
fn overlaps_answers_for_a_made_up_move() {
    let mv = |from, to, len| PlannedMove {
        handle: Handle::from_bits(0),
        from,
        to,
        len,
        status: MoveStatus::Done,
    };
    assert!(mv(10, usize::MAX, 5).overlaps());
    assert!(mv(usize::MAX, usize::MAX - 1, 2).overlaps());
    assert!(!mv(100, 0, 100).overlaps());
    assert!(mv(100, 0, 101).overlaps());
}

#[test]
fn a_slide_overlaps_its_own_source_only() {
    // [free 40][A 100]: A cannot fit the hole, so it slides down by 40.
    let mut m = Movable::<8, 8>::new(200);
    let pad = m.alloc(40, 1).unwrap();
    let a = m.alloc(100, 1).unwrap();
    m.free(pad).unwrap();
    let mut buf = [PlannedMove::EMPTY; 4];
    let plan = m.begin_pass(PassLimits::UNLIMITED, &mut buf).unwrap();
    assert_eq!(plan.moves, 1);
    let mv = buf[0];
    assert_eq!((mv.handle, mv.from, mv.to, mv.len), (a, 40, 0, 100));
    assert!(mv.overlaps());
    // The reservation is the 40 bytes in front: they count as in use now.
    assert_eq!(m.stats().in_use_bytes, 140);
    buf[0].status = MoveStatus::Done;
    let r = m.end_pass(&buf[..1]).unwrap();
    assert_eq!((r.done, r.bytes_moved), (1, 100));
    assert_eq!(m.offset(a).unwrap(), 0);
    assert_eq!(m.stats().in_use_bytes, 100);
    assert_eq!(m.stats().largest_free, 100);
    m.check_invariants().unwrap();
}

#[test]
fn skipping_everything_changes_nothing() {
    let mut m = Movable::<32, 32>::new(1000);
    let hs: Vec<_> = (0..10).map(|_| m.alloc(100, 1).unwrap()).collect();
    for h in hs.iter().step_by(2) {
        m.free(*h).unwrap();
    }
    m.defragment();
    let before: Vec<_> = m.manager().arenas().collect();
    let stats = m.stats();
    let mut buf = [PlannedMove::EMPTY; 16];
    let plan = m.begin_pass(PassLimits::UNLIMITED, &mut buf).unwrap();
    assert!(plan.moves > 0);
    // Pending moves count as skipped; leaving moves out of the list too.
    let r = m.end_pass(&buf[..1]).unwrap();
    assert_eq!(r.skipped, plan.moves);
    assert_eq!(r.unreturned, plan.moves - 1);
    assert_eq!(m.manager().arenas().collect::<Vec<_>>(), before);
    assert_eq!(m.stats(), stats);
    m.check_invariants().unwrap();
}

/// A move handed back with a handle of another generation than the one
/// planned (a stale or forged entry) is rejected and changes nothing: it
/// neither cancels the planned move of the same index nor frees its
/// reservation, and the planned move, handed back after it, commits.
#[test]
fn a_move_with_a_stale_generation_is_rejected_and_changes_nothing() {
    let mut m = Movable::<16, 16>::new(1000);
    let hs: Vec<_> = (0..6).map(|_| m.alloc(100, 1).unwrap()).collect();
    for h in hs.iter().step_by(2) {
        m.free(*h).unwrap();
    }
    let mut buf = [PlannedMove::EMPTY; 8];
    let plan = m.begin_pass(PassLimits::UNLIMITED, &mut buf).unwrap();
    assert!(plan.moves >= 1);
    let mut forged = buf[0];
    forged.handle = Handle::from_bits(buf[0].handle.to_bits() ^ (1 << 32));
    forged.status = MoveStatus::Cancelled;
    let mut back = vec![forged];
    for mv in &mut buf[..plan.moves] {
        mv.status = MoveStatus::Done;
        back.push(*mv);
    }
    let r = m.end_pass(&back).unwrap();
    assert_eq!((r.done, r.cancelled, r.rejected), (plan.moves, 0, 1));
    m.check_invariants().unwrap();
    // Nothing was pinned: every block can be freed.
    for h in hs.iter().skip(1).step_by(2) {
        m.free(*h).unwrap();
    }
    assert_eq!(m.stats().in_use_bytes, 0);
}

#[test]
fn cancelled_moves_pin_and_later_passes_work_around_them() {
    let mut m = Movable::<32, 32>::new(600);
    let hs: Vec<_> = (0..6).map(|_| m.alloc(100, 1).unwrap()).collect();
    m.free(hs[0]).unwrap();
    let mut buf = [PlannedMove::EMPTY; 16];
    // The top block is planned into the hole at 0; cancel it.
    let plan = m
        .begin_pass(PassLimits::new(1, usize::MAX), &mut buf)
        .unwrap();
    assert_eq!((buf[0].handle, buf[0].to), (hs[5], 0));
    buf[0].status = MoveStatus::Cancelled;
    let r = m.end_pass(&buf[..plan.moves]).unwrap();
    assert_eq!(r.cancelled, 1);
    assert!(m.is_pinned(hs[5]).unwrap());
    assert_eq!(m.free(hs[5]), Err(HandleError::Pinned { handle: hs[5] }));
    // The next block down takes the hole instead; hs[5] stays at 500.
    let plan = m.begin_pass(PassLimits::UNLIMITED, &mut buf).unwrap();
    assert_eq!(plan.moves, 1);
    assert_eq!((buf[0].handle, buf[0].to), (hs[4], 0));
    buf[0].status = MoveStatus::Done;
    m.end_pass(&buf[..1]).unwrap();
    let plan = m.begin_pass(PassLimits::UNLIMITED, &mut buf).unwrap();
    assert!(plan.converged());
    m.end_pass(&[]).unwrap();
    assert_eq!(m.offset(hs[5]).unwrap(), 500);
    assert_eq!(m.stats().largest_free, 100);
    m.unpin(hs[5]).unwrap();
    assert_eq!(
        m.unpin(hs[5]),
        Err(HandleError::NotPinned { handle: hs[5] })
    );
    let plan = m.begin_pass(PassLimits::UNLIMITED, &mut buf).unwrap();
    assert_eq!(plan.moves, 1);
}

#[test]
fn end_pass_rejects_entries_it_did_not_plan() {
    let mut m = Movable::<16, 16>::new(400);
    let a = m.alloc(100, 1).unwrap();
    let b = m.alloc(100, 1).unwrap();
    m.free(a).unwrap();
    let mut buf = [PlannedMove::EMPTY; 4];
    let plan = m.begin_pass(PassLimits::UNLIMITED, &mut buf).unwrap();
    assert_eq!(plan.moves, 1);
    let mut forged = buf[0];
    forged.to = 50;
    forged.status = MoveStatus::Done;
    let mut other = buf[0];
    other.handle = Handle::from_bits(0xdead_beef_0000_0007);
    other.status = MoveStatus::Done;
    let r = m.end_pass(&[forged, other, PlannedMove::EMPTY]).unwrap();
    assert_eq!(r.rejected, 3);
    assert_eq!(r.done, 0);
    assert_eq!(r.unreturned, 1);
    assert_eq!(m.offset(b).unwrap(), 100);
    m.check_invariants().unwrap();
    let s = m.stats();
    assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity);
    assert_eq!(s.in_use_bytes, 100);
}

#[test]
fn a_moving_block_is_frozen_until_the_pass_ends() {
    let mut m = Movable::<16, 16>::new(400);
    let a = m.alloc(100, 1).unwrap();
    let b = m.alloc(100, 1).unwrap();
    let c = m.alloc(50, 1).unwrap();
    m.free(a).unwrap();
    let mut buf = [PlannedMove::EMPTY; 4];
    let plan = m
        .begin_pass(PassLimits::new(1, usize::MAX), &mut buf)
        .unwrap();
    assert_eq!((plan.moves, buf[0].handle), (1, c));
    let stats = m.stats();
    assert_eq!(m.free(c), Err(HandleError::Moving { handle: c }));
    assert_eq!(m.resize(c, 60), Err(HandleError::Moving { handle: c }));
    assert_eq!(m.stats(), stats);
    assert_eq!(m.pin(c), Err(HandleError::Moving { handle: c }));
    assert_eq!(m.stats(), stats);
    // Others are free to change.
    m.resize(b, 120).unwrap();
    m.pin(b).unwrap();
    buf[0].status = MoveStatus::Done;
    let r = m.end_pass(&buf[..1]).unwrap();
    assert_eq!((r.done, r.rejected), (1, 0));
    assert_eq!(m.offset(c).unwrap(), 0);
    m.free(c).unwrap();
    m.check_invariants().unwrap();
}

#[test]
fn handles_go_stale_and_tables_fill_cleanly() {
    let mut m = Movable::<16, 2>::new(400);
    let a = m.alloc(10, 1).unwrap();
    let _b = m.alloc(10, 1).unwrap();
    assert_eq!(
        m.alloc(10, 1),
        Err(HandleError::NoSpareHandle { handles: 2 })
    );
    let stats = m.stats();
    m.free(a).unwrap();
    assert_eq!(m.free(a), Err(HandleError::Stale { handle: a }));
    // The entry is reused with a new generation: the old handle stays stale.
    let c = m.alloc(10, 1).unwrap();
    assert_eq!(c.index(), a.index());
    assert_ne!(c, a);
    assert_eq!(m.offset(a), Err(HandleError::Stale { handle: a }));
    assert_eq!(Handle::from_bits(c.to_bits()), c);
    assert_eq!(m.stats(), stats);
    assert_eq!(
        m.alloc(0, 1),
        Err(HandleError::NoSpareHandle { handles: 2 })
    );
    m.free(c).unwrap();
    assert!(matches!(
        m.alloc(0, 1),
        Err(HandleError::Alloc(AllocError::ZeroSize))
    ));
    m.alloc(10, 1).unwrap();
    assert_eq!(m.live(), 2);
    assert_eq!(m.handles().count(), 2);
    let forged = Handle::from_bits(u64::MAX);
    assert_eq!(m.pin(forged), Err(HandleError::Stale { handle: forged }));
    assert_eq!(m.end_pass(&[]), Err(HandleError::NoPass));
    assert!(matches!(
        Movable::<4, 0>::from_parts(ArenaManager::new(10), []),
        Err(HandleError::BadTableSize { len: 0 })
    ));
    m.check_invariants().unwrap();
}

#[test]
fn relocate_refuses_during_a_pass() {
    let mut m = Movable::<16, 16>::new(400);
    let mut buf = [PlannedMove::EMPTY; 4];
    m.begin_pass(PassLimits::UNLIMITED, &mut buf).unwrap();
    assert_eq!(m.relocate(|_, _| {}).unwrap_err(), HandleError::PassActive);
    m.end_pass(&[]).unwrap();
    assert!(m.relocate(|_, _| {}).is_ok());
}

/// `compact` and `compact_step` were renamed `relocate` and
/// `relocate_step` (compaction is the arena table's); the old names still
/// work, as deprecated aliases.
#[test]
#[allow(deprecated)]
fn the_old_relocation_names_still_work() {
    let mut m = Movable::<16, 16>::new(400);
    let hs: Vec<_> = (0..4).map(|_| m.alloc(100, 1).unwrap()).collect();
    m.free(hs[0]).unwrap();
    let mut moved = 0;
    let report = m.compact(|_, _| moved += 1).unwrap();
    assert_eq!((report.moved, moved), (3, 3));
    assert_eq!(m.move_stats().relocations, 1);

    let mem = AlignedRegion::new(512, 16);
    // SAFETY: `mem` outlives the heap and nothing else uses it.
    let mut heap = unsafe { HandleHeap::<16, 16>::new(mem.base(), 512, Config::default()) };
    let hs: Vec<_> = (0..4)
        .map(|_| heap.alloc(Layout::from_size_align(64, 8).unwrap()).unwrap())
        .collect();
    heap.free(hs[0]).unwrap();
    let mut buf = [PlannedMove::EMPTY; 4];
    assert!(
        heap.compact_step(PassLimits::new(1, usize::MAX), &mut buf)
            .unwrap()
            .done
            > 0
    );
    heap.compact().unwrap();
    assert_eq!(heap.stats().largest_free, 512 - 3 * 64);
}

/// Regression: every gap relocation leaves (alignment padding that cannot
/// be closed, the tail) takes a descriptor. A tight table with one spare
/// passed the old up-front check and then ran out in the middle of the walk
/// (a panic); now a dry run refuses before anything moves.
#[test]
fn relocate_refuses_up_front_when_gaps_need_more_descriptors_than_spare() {
    // [f 7][b 1][a1 2, align 2][c 2][a2 4, align 4][a3 8, align 8], 24 bytes
    // in six arenas, one spare descriptor. Sliding down by 7 leaves padding
    // in front of a1, a2 and a3: three gaps, one removed free arena.
    let mut m = ArenaManager::<7>::new(24);
    let f = m.alloc(7, 1).unwrap();
    let offsets: Vec<_> = [(1, 1), (2, 2), (2, 1), (4, 4), (8, 8)]
        .iter()
        .map(|&(size, align)| m.alloc(size, align).unwrap().offset())
        .collect();
    assert_eq!(offsets, [7, 8, 10, 12, 16]);
    m.free(f.offset()).unwrap();
    assert_eq!(m.stats().spare_descriptors, 1);
    let before: Vec<_> = m.arenas().collect();
    assert_eq!(m.relocate(|_| {}), Err(TableError::NoSpareDescriptor));
    assert_eq!(m.arenas().collect::<Vec<_>>(), before);
    check(&m);
    // One more descriptor and it goes through.
    let mut m = ArenaManager::<8>::new(24);
    let f = m.alloc(7, 1).unwrap();
    for (size, align) in [(1, 1), (2, 2), (2, 1), (4, 4), (8, 8)] {
        m.alloc(size, align).unwrap();
    }
    m.free(f.offset()).unwrap();
    let r = m.relocate(|_| {}).unwrap();
    assert_eq!(r.moved, 4);
    check(&m);
}
