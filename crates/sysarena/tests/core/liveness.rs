//! Liveness of the pass loop (issue 15, item 2): under every limit — a byte
//! limit smaller than every block, no moves, an empty buffer — the
//! README's loop of passes ends, and each plan says which of the three
//! things it is: more to do, done, or no progress possible under these
//! limits. The blocks are 256 B to 4 KiB, as `sysarena defrag` makes them.

use sysarena_testkit::{Rng, fill, first_wrong};

use sysarena::{
    Config, Handle, Movable, MoveStatus, PassLimits, PassProgress, PassStop, PlannedMove,
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

const BYTE_LIMITS: &[usize] = if cfg!(miri) {
    &[0, 255, 1000, usize::MAX]
} else {
    &[0, 100, 255, 256, 1000, 4095, 4096, 10_000, usize::MAX]
};
const MOVE_LIMITS: &[usize] = if cfg!(miri) {
    &[0, 1, usize::MAX]
} else {
    &[0, 1, 2, 7, usize::MAX]
};
const BUFFERS: &[usize] = if cfg!(miri) { &[0, 8] } else { &[0, 1, 8, 64] };
const SEEDS: u64 = if cfg!(miri) { 1 } else { 3 };

/// The largest live block.
fn largest(m: &Movable<256, 256>, live: &[(Handle, u8)]) -> usize {
    live.iter()
        .map(|&(h, _)| m.info(h).unwrap().size)
        .max()
        .unwrap()
}

#[test]
fn the_pass_loop_ends_under_every_limit_and_says_why() {
    for config in [Config::classic(), Config::fast()] {
        for seed in 1..=SEEDS {
            for &max_bytes in BYTE_LIMITS {
                for &max_moves in MOVE_LIMITS {
                    for &buf in BUFFERS {
                        let (mut m, mut region, live) = fragmented(config, seed);
                        let largest = largest(&m, &live);
                        let limits = PassLimits::new(max_moves, max_bytes);
                        let (progress, stopped, _) = run_loop(&mut m, &mut region, limits, buf);
                        assert_intact(&m, &region, &live);
                        let can_move = max_moves > 0 && buf > 0;
                        match progress {
                            PassProgress::Converged => {
                                assert!(can_move && max_bytes >= largest)
                            }
                            PassProgress::Blocked => match stopped {
                                PassStop::ByteLimit => {
                                    assert!(can_move && max_bytes < largest)
                                }
                                PassStop::MoveLimit => assert_eq!(max_moves, 0),
                                PassStop::BufferFull => assert_eq!(buf, 0),
                                other => panic!("blocked by {other:?}"),
                            },
                            PassProgress::Moving => unreachable!(),
                        }
                        // Whatever stopped the loop, unlimited passes finish
                        // the job: the limits only bounded each step.
                        let (progress, _, _) =
                            run_loop(&mut m, &mut region, PassLimits::UNLIMITED, 64);
                        assert_eq!(progress, PassProgress::Converged);
                        assert_intact(&m, &region, &live);
                        let s = m.stats();
                        assert_eq!(s.free_arenas, 1, "{limits:?}, buffer {buf}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_byte_limit_below_every_block_is_blocked_at_once_and_moves_nothing() {
    for max_bytes in [0, 100, 255] {
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
    for &max_bytes in BYTE_LIMITS {
        for &max_moves in MOVE_LIMITS {
            for &buf in BUFFERS {
                let limits = PassLimits::new(max_moves, max_bytes);
                let (progress, stopped, passes) = run_loop(&mut m, &mut region, limits, buf);
                assert_eq!(
                    (progress, stopped, passes),
                    (PassProgress::Converged, PassStop::Walked, 1)
                );
            }
        }
    }
    assert_intact(&m, &region, &live);
}
