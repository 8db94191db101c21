//! Tests of the relocating heap-efficiency workload, and of the placement
//! its "first refusal" column relies on: a `Movable` places exactly as the
//! plain `ArenaManager` (the plain workload's subject) does, and a moving
//! `realloc` places its new arena where `alloc` would.

use sysarena::{QUICK_DEPTH, QUICK_GRANULE, QUICK_LIMIT, QUICK_MAX_BYTES};
use sysarena_sim::subject::{Block, Subject};
use sysarena_sim::sysarena_subject::SysarenaSubject;

use super::*;

/// On a small region (the stream's requests are up to 100 KB, so a
/// 4 MiB region refuses within a few hundred steps): both ways gather
/// at least once, never score below the same manager's first refusal,
/// and end with the manager's invariants and requested bytes right
/// (checked inside `round`).
#[test]
fn gathering_never_scores_below_the_first_refusal() {
    for how in [Gather::Relocate, Gather::Passes] {
        for seed in 0..3 {
            let r = round(how, seed, manager(4 << 20, 1 << 12, 1 << 12)).unwrap();
            assert!(r.gathers >= 1, "{how:?} seed {seed}: {r:?}");
            assert!(r.passes >= r.gathers, "{how:?} seed {seed}: {r:?}");
            assert!(r.efficiency >= r.first, "{how:?} seed {seed}: {r:?}");
            assert_ne!(r.failed_op, "none", "{how:?} seed {seed}: {r:?}");
        }
    }
}

/// The moving round sees the plain round's stream: with no refusal yet,
/// both have drawn the same steps (checked on the stream itself: the
/// plain workload's draws, in its order).
#[test]
fn the_stream_is_the_plain_workloads() {
    let (mut a, mut b) = (Rng::new(9), Rng::new(9));
    let mut live = 0usize;
    for _ in 0..10_000 {
        let step = heap_efficiency::next_step(&mut a, live);
        let draw = b.below(10);
        match step {
            Step::Alloc { size, align } => {
                assert!(draw <= 4);
                let cap = b.range(16, heap_efficiency::MAX_ALLOC);
                assert_eq!(size, b.range(4, cap));
                assert_eq!(align, b.align());
                live += 1;
            }
            Step::Nothing => assert!(draw > 4 && live == 0),
            Step::Free { index } => {
                assert_eq!(draw, 5);
                assert_eq!(index, b.below(live));
                live -= 1;
            }
            Step::Realloc { index, size } => {
                assert!(draw > 5);
                assert_eq!(index, b.below(live));
                assert_eq!(size, b.range(1, heap_efficiency::MAX_REALLOC));
            }
        }
    }
}

/// The plain workload's subject (`sysarena/segregated-fit/immediate`,
/// offsets) and a `Movable` (handles), both `Config::fast()` over 128 MiB,
/// fed the same stream: every step must hand out the same offset, and both
/// must refuse first at the same step. Handles are names, not placement:
/// if a path of the handle API skips a rule of the offset API (a flush of
/// the quick lists, say), the two part here.
#[test]
fn a_movable_places_as_the_offset_api_does() {
    let mut plain = SysarenaSubject::with_config(Config::fast(), CAPACITY).unwrap();
    let mut movable = manager(CAPACITY, DESCRIPTORS, 1 << 16);
    let mut rng = Rng::new(0x5eed_a7e4a);
    let mut live: Vec<(Block, Handle)> = Vec::new();
    for step in 0..STEP_LIMIT {
        match heap_efficiency::next_step(&mut rng, live.len()) {
            Step::Nothing => {}
            Step::Alloc { size, align } => {
                let a = plain.alloc(size, align);
                let b = movable.alloc(size, align).ok();
                let b = b.map(|h| (movable.offset(h).unwrap(), h));
                assert_eq!(a, b.map(|(o, _)| o), "step {step}: alloc({size}, {align})");
                let (Some(offset), Some((_, h))) = (a, b) else {
                    return;
                };
                live.push((
                    Block {
                        offset,
                        size,
                        align,
                    },
                    h,
                ));
            }
            Step::Free { index } => {
                let (block, h) = live.swap_remove(index);
                // SAFETY: `block` is live in `plain` until now.
                unsafe { plain.free(block) };
                movable.free(h).unwrap();
            }
            Step::Realloc { index, size } => {
                let (block, h) = live[index];
                // SAFETY: `block` is live in `plain`; replaced on success.
                let a = unsafe { plain.realloc(block, size) };
                let b = movable.resize(h, size).ok().map(|r| r.offset);
                assert_eq!(a, b, "step {step}: realloc({block:?}, {size})");
                let Some(offset) = a else {
                    return;
                };
                live[index].0 = Block {
                    offset,
                    size,
                    align: block.align,
                };
            }
        }
    }
    panic!("no refusal in {STEP_LIMIT} steps");
}

/// A manager whose quick lists hold pairs of adjacent cached arenas (each
/// pair, merged, holds `QUICK_LIMIT` bytes), kept apart by small live
/// arenas, and a small live arena `x` that cannot grow in place; the
/// cached bytes are more than 16 × `QUICK_LIMIT` and within the lists'
/// budget, so every freed arena is cached. Returns the manager and `x`.
fn cached_pairs() -> (ArenaManager<0, Box<[Slot]>>, usize) {
    let capacity = 8 << 20;
    let mut m = ArenaManager::from_table(
        vec![Slot::EMPTY; 1 << 14].into_boxed_slice(),
        capacity,
        Config::fast(),
    )
    .unwrap();
    let x = m.alloc(8, 8).unwrap().offset();
    m.alloc(8, 8).unwrap(); // x's right neighbour stays in use
    let target = QUICK_MAX_BYTES.min(capacity / 16) / 2;
    let mut pairs = Vec::new();
    let mut total = 0;
    let mut size = QUICK_LIMIT - QUICK_GRANULE;
    'sizes: while size >= QUICK_LIMIT / 2 {
        for _ in 0..QUICK_DEPTH / 2 {
            if total + 2 * size > target {
                break 'sizes;
            }
            let a = m.alloc(size, 8).unwrap().offset();
            let b = m.alloc(size, 8).unwrap().offset();
            assert_eq!(b, a + size, "a pair is adjacent");
            m.alloc(8, 8).unwrap(); // keeps pairs apart
            pairs.push((a, b));
            total += 2 * size;
        }
        size -= QUICK_GRANULE;
    }
    for &(a, b) in &pairs {
        m.free(a).unwrap();
        m.free(b).unwrap();
    }
    let s = m.stats();
    assert_eq!(s.cached_bytes, total, "every freed arena is cached");
    assert!(total >= 16 * QUICK_LIMIT, "{total} cached bytes");
    (m, x)
}

/// A large new allocation flushes the quick lists (when they hold 16 times
/// its size) before it is placed; a moving `realloc` of the same size keeps
/// them (documented in the core's `quick_lists`: a growing vector would
/// otherwise flush them at every doubling). Both place without overlap.
#[test]
fn a_large_alloc_flushes_and_a_moving_realloc_keeps_the_lists() {
    let (mut by_alloc, _) = cached_pairs();
    let (mut by_realloc, x) = cached_pairs();
    let cached = by_realloc.stats().cached_bytes;
    assert!(
        cached / 16 >= QUICK_LIMIT,
        "the lists hold 16 × the request"
    );
    by_alloc.alloc(QUICK_LIMIT, 8).unwrap();
    assert_eq!(by_alloc.stats().cached_bytes, 0, "alloc flushed first");
    let r = by_realloc.realloc(x, QUICK_LIMIT, 8).unwrap();
    assert_eq!(r.moved_from, Some(x));
    // The old 8-byte arena joined the lists; nothing was flushed.
    assert_eq!(by_realloc.stats().cached_bytes, cached + 8);
    by_alloc.check_invariants().unwrap();
    by_realloc.check_invariants().unwrap();
}
