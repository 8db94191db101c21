//! Liveness of the pass loop (issue 15, item 2): under every limit — a byte
//! limit smaller than every block, no moves, an empty buffer — the
//! README's loop of passes ends, and each plan says which of the three
//! things it is: more to do, done, or no progress possible under these
//! limits. The blocks are 256 B to 4 KiB, as `sysarena defrag` makes them.

use std::alloc::Layout;

use sysarena_testkit::{AlignedRegion, Rng, fill, first_wrong};

use sysarena::{
    Config, Handle, HandleHeap, Movable, MoveStatus, PassLimits, PassProgress, PassStop,
    PlannedMove,
};

/// The region: 64 KiB natively (about 30 blocks), 16 KiB under Miri.
const REGION: usize = if cfg!(miri) { 16 << 10 } else { 64 << 10 };

/// A region in blocks of 256 B – 4 KiB, every other one freed, so that
/// every block but the first has a hole in front of it.
fn fragmented(config: Config, seed: u64) -> (Movable<256, 256>, Vec<u8>, Vec<(Handle, u8)>) {
    let mut m = Movable::<256, 256>::with_config(REGION, config);
    let mut region = vec![0u8; REGION];
    let mut rng = Rng::new(seed);
    let mut blocks = Vec::new();
    loop {
        let size = 256 + rng.below(16) * 256;
        let Ok(h) = m.alloc(size, 8) else { break };
        let seed = blocks.len() as u8;
        let off = m.offset(h).unwrap();
        fill(&mut region[off..off + size], u64::from(seed));
        blocks.push((h, seed));
    }
    let mut live = Vec::new();
    for (k, (h, seed)) in blocks.into_iter().enumerate() {
        if k % 2 == 0 {
            m.free(h).unwrap();
        } else {
            live.push((h, seed));
        }
    }
    (m, region, live)
}

/// The README's loop, under `limits` with a buffer of `buf` entries: every
/// move carried out and marked done. Returns the last plan's progress, its
/// stop reason and how many passes ran. Panics if it does not end.
fn run_loop(
    m: &mut Movable<256, 256>,
    region: &mut [u8],
    limits: PassLimits,
    buf: usize,
) -> (PassProgress, PassStop, usize) {
    let mut moves = vec![PlannedMove::EMPTY; buf];
    for passes in 1..=10_000 {
        let plan = m.begin_pass(limits, &mut moves).unwrap();
        assert!(plan.moves <= limits.max_moves.min(buf));
        assert!(plan.bytes <= limits.max_bytes, "{plan:?} passes {limits:?}");
        for mv in &mut moves[..plan.moves] {
            region.copy_within(mv.from..mv.from + mv.len, mv.to);
            mv.status = MoveStatus::Done;
        }
        let report = m.end_pass(&moves[..plan.moves]).unwrap();
        assert_eq!(report.done, plan.moves);
        // Under Miri, where the invariant walk is slow, once per loop.
        if !cfg!(miri) {
            m.check_invariants().unwrap();
        }
        match plan.progress() {
            PassProgress::Moving => assert!(plan.moves > 0),
            PassProgress::Converged => {
                m.check_invariants().unwrap();
                assert!(plan.converged() && !plan.blocked());
                return (PassProgress::Converged, plan.stopped, passes);
            }
            PassProgress::Blocked => {
                m.check_invariants().unwrap();
                assert!(plan.blocked() && !plan.converged());
                assert_ne!(plan.stopped, PassStop::Walked);
                // No progress possible under these limits: the same pass
                // again plans nothing, for the same reason.
                let again = m.begin_pass(limits, &mut moves).unwrap();
                assert_eq!(again, plan);
                m.end_pass(&[]).unwrap();
                return (PassProgress::Blocked, plan.stopped, passes);
            }
        }
    }
    panic!("the loop of passes under {limits:?} (buffer {buf}) does not end");
}

fn assert_intact(m: &Movable<256, 256>, region: &[u8], live: &[(Handle, u8)]) {
    for &(h, seed) in live {
        let a = m.info(h).unwrap();
        let wrong = first_wrong(&region[a.offset..a.offset + a.used], u64::from(seed));
        assert_eq!(wrong, None, "{h} lost a byte");
    }
}

const BYTE_LIMITS: [usize; 9] = [0, 100, 255, 256, 1000, 4095, 4096, 10_000, usize::MAX];
const MOVE_LIMITS: [usize; 5] = [0, 1, 2, 7, usize::MAX];
const BUFFERS: [usize; 4] = [0, 1, 8, 64];

/// Every `(max_moves, max_bytes, buffer)` the tests run: natively every
/// combination; under Miri, which looks for undefined behaviour rather than
/// planning logic, one per outcome (each blocking limit, a byte limit
/// between the block sizes, convergence).
fn limits() -> Vec<(PassLimits, usize)> {
    if cfg!(miri) {
        return vec![
            (PassLimits::new(usize::MAX, 0), 8),
            (PassLimits::new(0, usize::MAX), 8),
            (PassLimits::UNLIMITED, 0),
            (PassLimits::new(1, 1000), 8),
            (PassLimits::new(2, usize::MAX), 8),
        ];
    }
    let mut all = Vec::new();
    for max_bytes in BYTE_LIMITS {
        for max_moves in MOVE_LIMITS {
            for buf in BUFFERS {
                all.push((PassLimits::new(max_moves, max_bytes), buf));
            }
        }
    }
    all
}

/// Configurations and seeds: natively both models, three layouts each.
fn layouts() -> Vec<(Config, u64)> {
    if cfg!(miri) {
        vec![(Config::classic(), 1)]
    } else {
        [Config::classic(), Config::fast()]
            .into_iter()
            .flat_map(|c| (1..=3).map(move |seed| (c, seed)))
            .collect()
    }
}

/// The largest live block.
fn largest(m: &Movable<256, 256>, live: &[(Handle, u8)]) -> usize {
    live.iter()
        .map(|&(h, _)| m.info(h).unwrap().size)
        .max()
        .unwrap()
}

#[test]
fn the_pass_loop_ends_under_every_limit_and_says_why() {
    for (config, seed) in layouts() {
        for (limits, buf) in limits() {
            let (mut m, mut region, live) = fragmented(config, seed);
            let largest = largest(&m, &live);
            let (progress, stopped, _) = run_loop(&mut m, &mut region, limits, buf);
            assert_intact(&m, &region, &live);
            let can_move = limits.max_moves > 0 && buf > 0;
            match progress {
                PassProgress::Converged => assert!(can_move && limits.max_bytes >= largest),
                PassProgress::Blocked => match stopped {
                    PassStop::ByteLimit => assert!(can_move && limits.max_bytes < largest),
                    PassStop::MoveLimit => assert_eq!(limits.max_moves, 0),
                    PassStop::BufferFull => assert_eq!(buf, 0),
                    other => panic!("blocked by {other:?}"),
                },
                PassProgress::Moving => unreachable!(),
            }
            // Whatever stopped the loop, unlimited passes finish the job:
            // the limits only bounded each step.
            let (progress, _, _) = run_loop(&mut m, &mut region, PassLimits::UNLIMITED, 64);
            assert_eq!(progress, PassProgress::Converged);
            assert_intact(&m, &region, &live);
            let s = m.stats();
            assert_eq!(s.free_arenas, 1, "{limits:?}, buffer {buf}");
        }
    }
}

#[test]
fn a_byte_limit_below_every_block_is_blocked_at_once_and_moves_nothing() {
    let byte_limits: &[usize] = if cfg!(miri) { &[255] } else { &[0, 100, 255] };
    for &max_bytes in byte_limits {
        let (mut m, mut region, live) = fragmented(Config::classic(), 7);
        let before: Vec<_> = live.iter().map(|&(h, _)| m.offset(h).unwrap()).collect();
        let limits = PassLimits::new(usize::MAX, max_bytes);
        let (progress, stopped, passes) = run_loop(&mut m, &mut region, limits, 64);
        assert_eq!(
            (progress, stopped, passes),
            (PassProgress::Blocked, PassStop::ByteLimit, 1)
        );
        let after: Vec<_> = live.iter().map(|&(h, _)| m.offset(h).unwrap()).collect();
        assert_eq!(before, after);
    }
}

#[test]
fn a_byte_limit_between_the_block_sizes_moves_the_blocks_that_fit_it() {
    // 1000 bytes: blocks of 256, 512 and 768 B move, larger ones stay; the
    // loop ends blocked, not spinning, with every small block settled.
    let (mut m, mut region, live) = fragmented(Config::classic(), 11);
    assert!(largest(&m, &live) > 1000);
    let limits = PassLimits::new(usize::MAX, 1000);
    let (progress, stopped, passes) = run_loop(&mut m, &mut region, limits, 64);
    assert_eq!(
        (progress, stopped),
        (PassProgress::Blocked, PassStop::ByteLimit)
    );
    assert!(passes > 1, "the blocks that fit the limit moved first");
    assert!(m.move_stats().moves > 0);
    assert_intact(&m, &region, &live);
    // Every block that could move with 1000 bytes has: the same limit again
    // plans nothing.
    let mut moves = [PlannedMove::EMPTY; 64];
    let plan = m.begin_pass(limits, &mut moves).unwrap();
    assert_eq!(plan.moves, 0);
    m.end_pass(&[]).unwrap();
}

#[test]
fn a_converged_layout_reports_done_under_any_limit() {
    let (mut m, mut region, live) = fragmented(Config::classic(), 5);
    run_loop(&mut m, &mut region, PassLimits::UNLIMITED, 64);
    for (limits, buf) in limits() {
        let (progress, stopped, passes) = run_loop(&mut m, &mut region, limits, buf);
        assert_eq!(
            (progress, stopped, passes),
            (PassProgress::Converged, PassStop::Walked, 1)
        );
    }
    assert_intact(&m, &region, &live);
}

/// `HandleHeap::relocate_step`'s loop — "until `done` is 0" — ends under
/// every byte limit too, with every block's bytes intact.
#[test]
fn the_handle_heap_step_loop_ends_under_every_byte_limit() {
    let byte_limits: &[usize] = if cfg!(miri) {
        &[0, 1000]
    } else {
        &[0, 255, 1000, 4096, usize::MAX]
    };
    for &max_bytes in byte_limits {
        // 16 KiB in blocks of 256 B – 4 KiB; the survivors (odd positions)
        // are 256, 512, 4096 and 768 bytes: on both sides of 1000 B.
        const SIZES: [usize; 8] = [1024, 256, 2048, 512, 512, 4096, 3072, 768];
        let len = 16 << 10;
        let mem = AlignedRegion::new(len, 16);
        // SAFETY: `mem` outlives the heap and nothing else uses it.
        let mut heap = unsafe { HandleHeap::<64, 64>::new(mem.base(), len, Config::classic()) };
        let mut blocks = Vec::new();
        for size in SIZES.into_iter().cycle() {
            let Ok(h) = heap.alloc(Layout::from_size_align(size, 8).unwrap()) else {
                break;
            };
            let seed = blocks.len() as u64;
            fill(heap.get_mut(h).unwrap(), seed);
            blocks.push((h, seed));
        }
        // Every other block freed: each survivor has a hole in front.
        let mut live = Vec::new();
        for (h, seed) in blocks {
            if seed % 2 == 0 {
                heap.free(h).unwrap();
            } else {
                live.push((h, seed));
            }
        }
        let small = live
            .iter()
            .filter(|&&(h, _)| heap.movable().info(h).unwrap().size <= 1000)
            .count();
        assert!(
            small > 0,
            "the layout has blocks a 1000-byte limit lets move"
        );
        let mut buf = [PlannedMove::EMPTY; 8];
        let mut steps = 0;
        while heap
            .relocate_step(PassLimits::new(usize::MAX, max_bytes), &mut buf)
            .unwrap()
            .done
            > 0
        {
            steps += 1;
            assert!(
                steps < 10_000,
                "relocate_step under {max_bytes} B does not end"
            );
        }
        heap.check_invariants().unwrap();
        for &(h, seed) in &live {
            assert_eq!(first_wrong(heap.get(h).unwrap(), seed), None, "{h}");
        }
        if max_bytes == 0 {
            assert_eq!(steps, 0);
        } else if max_bytes >= 1000 {
            assert!(steps > 0, "blocks of 1000 B or less had holes in front");
        }
        if max_bytes == usize::MAX {
            assert_eq!(heap.stats().free_arenas, 1);
        }
    }
}
