//! Defragmentation by moving: `Movable`'s passes and relocation over a
//! simulated device region, and `HandleHeap` over real memory. Every live
//! allocation carries a byte pattern; the oracle is that every pattern is
//! intact at the place its handle names after every step.

use std::alloc::Layout;
use std::collections::HashMap;
use std::ptr::NonNull;

use proptest::prelude::*;
use sysarena::{
    Coalescing, Config, Handle, HandleError, HandleHeap, Movable, MoveStatus, PassLimits, PassStop,
    PlannedMove, Policy,
};

use super::common::{check, native_or_miri, proptest_config};
use sysarena_testkit::{AlignedRegion, pattern};

const CASES: u32 = native_or_miri(64, 1) as u32;
const MAX_OPS: usize = native_or_miri(120, 16);

const CAPACITY: usize = 4096;

/// A `Movable` over a simulated device region (a byte vector the test
/// copies in, as a GPU driver would), with the pattern each block holds.
struct Device<const N: usize, const H: usize> {
    m: Movable<N, H>,
    region: Vec<u8>,
    /// handle -> (seed, requested size)
    live: HashMap<Handle, (u8, usize)>,
    pins: HashMap<Handle, u32>,
    next_seed: u8,
}

impl<const N: usize, const H: usize> Device<N, H> {
    fn new(config: Config) -> Self {
        Device {
            m: Movable::with_config(CAPACITY, config),
            region: vec![0; CAPACITY],
            live: HashMap::new(),
            pins: HashMap::new(),
            next_seed: 1,
        }
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<Handle> {
        let h = self.m.alloc(size, align).ok()?;
        let off = self.m.offset(h).unwrap();
        assert_eq!(off % align, 0);
        let seed = self.next_seed;
        self.next_seed = self.next_seed.wrapping_add(1);
        for i in 0..size {
            self.region[off + i] = pattern(u64::from(seed), i);
        }
        self.live.insert(h, (seed, size));
        Some(h)
    }

    fn free(&mut self, h: Handle) {
        if self.pins.contains_key(&h) {
            assert_eq!(self.m.free(h), Err(HandleError::Pinned { handle: h }));
            return;
        }
        self.m.free(h).unwrap();
        self.live.remove(&h);
        assert_eq!(self.m.offset(h), Err(HandleError::Stale { handle: h }));
    }

    fn resize(&mut self, h: Handle, size: usize) {
        let (seed, old) = self.live[&h];
        match self.m.resize(h, size) {
            Ok(r) => {
                if let Some(from) = r.moved_from {
                    self.region.copy_within(from..from + r.copy_len, r.offset);
                }
                let off = self.m.offset(h).unwrap();
                for i in 0..old.min(size) {
                    assert_eq!(
                        self.region[off + i],
                        pattern(u64::from(seed), i),
                        "resize lost a byte"
                    );
                }
                for i in old.min(size)..size {
                    self.region[off + i] = pattern(u64::from(seed), i);
                }
                self.live.insert(h, (seed, size));
            }
            Err(HandleError::Pinned { .. }) => assert!(self.pins.contains_key(&h)),
            Err(HandleError::Alloc(_)) => {}
            Err(e) => panic!("resize: {e}"),
        }
    }

    fn pin(&mut self, h: Handle) {
        self.m.pin(h).unwrap();
        *self.pins.entry(h).or_default() += 1;
    }

    fn unpin(&mut self, h: Handle) {
        match self.pins.get_mut(&h) {
            None => assert_eq!(self.m.unpin(h), Err(HandleError::NotPinned { handle: h })),
            Some(n) => {
                self.m.unpin(h).unwrap();
                *n -= 1;
                if *n == 0 {
                    self.pins.remove(&h);
                }
            }
        }
    }

    fn check(&self) {
        self.m.check_invariants().unwrap_or_else(|e| panic!("{e}"));
        check(self.m.manager());
        assert_eq!(self.m.live(), self.live.len());
        for (h, &(seed, size)) in &self.live {
            let off = self.m.offset(*h).unwrap();
            assert_eq!(self.m.info(*h).unwrap().used, size);
            for i in 0..size {
                assert_eq!(
                    self.region[off + i],
                    pattern(u64::from(seed), i),
                    "{h} lost byte {i}"
                );
            }
        }
    }

    /// One pass: plan, check the plan's promises, carry out the moves the
    /// statuses say (after `churn` runs in the middle of the pass), end it.
    fn pass(&mut self, limits: PassLimits, statuses: &[u8], churn: &[Op]) -> usize {
        let mut buf = [PlannedMove::EMPTY; 32];
        let plan = self.m.begin_pass(limits, &mut buf).unwrap();
        assert!(plan.moves <= limits.max_moves.min(buf.len()));
        assert!(plan.bytes <= limits.max_bytes);
        let moves = &mut buf[..plan.moves];
        // The plan's promises: each move goes down, keeps alignment, and its
        // destination touches no live block but its own and no other
        // destination.
        for (k, mv) in moves.iter().enumerate() {
            assert!(mv.to < mv.from);
            assert_eq!(self.m.offset(mv.handle).unwrap(), mv.from);
            assert!(!self.pins.contains_key(&mv.handle));
            for (h, _) in self.live.iter().filter(|(h, _)| **h != mv.handle) {
                let a = self.m.info(*h).unwrap();
                assert!(
                    mv.to + mv.len <= a.offset || a.offset + a.size <= mv.to,
                    "a destination overlaps a live block"
                );
            }
            for other in &moves[k + 1..] {
                assert!(mv.to + mv.len <= other.to || other.to + other.len <= mv.to);
            }
        }
        assert!(
            self.m.begin_pass(limits, &mut [PlannedMove::EMPTY; 4]) == Err(HandleError::PassActive)
        );
        // The manager stays usable during the pass, but for the blocks that
        // are moving.
        for op in churn {
            match *op {
                Op::Alloc { units, align_log2 } => {
                    self.alloc(units * 8, 1 << align_log2);
                }
                Op::Free { pick } => {
                    if let Some(h) = self.pick(pick) {
                        if moves.iter().any(|mv| mv.handle == h) {
                            assert_eq!(self.m.free(h), Err(HandleError::Moving { handle: h }));
                            assert!(matches!(
                                self.m.resize(h, 8),
                                Err(HandleError::Moving { .. } | HandleError::Pinned { .. })
                            ));
                        } else {
                            self.free(h);
                        }
                    }
                }
                _ => {}
            }
        }
        let mut want = [0usize; 4];
        for (k, mv) in moves.iter_mut().enumerate() {
            mv.status = match statuses.get(k).copied().unwrap_or(0) % 4 {
                0 => MoveStatus::Done,
                1 => MoveStatus::Skipped,
                2 => MoveStatus::Cancelled,
                _ => MoveStatus::Pending,
            };
            if mv.status == MoveStatus::Done {
                self.region.copy_within(mv.from..mv.from + mv.len, mv.to);
            }
            match mv.status {
                MoveStatus::Done => want[0] += 1,
                MoveStatus::Cancelled => {
                    want[2] += 1;
                    *self.pins.entry(mv.handle).or_default() += 1;
                }
                _ => want[1] += 1,
            }
        }
        let report = self.m.end_pass(moves).unwrap();
        assert_eq!(
            [
                report.done,
                report.skipped,
                report.cancelled,
                report.rejected
            ],
            want
        );
        assert_eq!(report.unreturned, 0);
        assert_eq!(self.m.end_pass(moves), Err(HandleError::NoPass));
        for (h, &n) in &self.pins {
            assert!(
                self.m.is_pinned(*h).unwrap(),
                "{h} should be pinned {n} times"
            );
        }
        self.check();
        report.done
    }

    fn pick(&self, pick: usize) -> Option<Handle> {
        let mut hs: Vec<_> = self.live.keys().copied().collect();
        hs.sort();
        (!hs.is_empty()).then(|| hs[pick % hs.len()])
    }

    /// Unpins everything and runs full passes until nothing moves.
    fn converge(&mut self) -> usize {
        let pinned: Vec<_> = self.pins.keys().copied().collect();
        for h in pinned {
            while self.pins.contains_key(&h) {
                self.unpin(h);
            }
        }
        let mut passes = 0;
        loop {
            passes += 1;
            assert!(passes < 10_000, "passes do not converge");
            let mut buf = [PlannedMove::EMPTY; 32];
            let plan = self.m.begin_pass(PassLimits::UNLIMITED, &mut buf).unwrap();
            for mv in &mut buf[..plan.moves] {
                self.region.copy_within(mv.from..mv.from + mv.len, mv.to);
                mv.status = MoveStatus::Done;
            }
            let r = self.m.end_pass(&buf[..plan.moves]).unwrap();
            assert_eq!(r.done, plan.moves);
            self.check();
            if plan.converged() {
                return passes;
            }
            assert!(plan.stopped != PassStop::NoSpareDescriptor || plan.moves > 0);
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Sizes are multiples of 8 and alignments at most 8: every layout can
    /// close all its holes.
    Alloc {
        units: usize,
        align_log2: u32,
    },
    Free {
        pick: usize,
    },
    Resize {
        pick: usize,
        units: usize,
    },
    Pin {
        pick: usize,
    },
    Unpin {
        pick: usize,
    },
    Pass {
        moves: usize,
        bytes: usize,
        statuses: Vec<u8>,
        churn: Vec<Op>,
    },
    Compact,
    Defragment,
}

fn simple_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1usize..40, 0u32..4).prop_map(|(units, align_log2)| Op::Alloc { units, align_log2 }),
        any::<usize>().prop_map(|pick| Op::Free { pick }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..40, 0u32..4).prop_map(|(units, align_log2)| Op::Alloc { units, align_log2 }),
        4 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        1 => (any::<usize>(), 1usize..60).prop_map(|(pick, units)| Op::Resize { pick, units }),
        1 => any::<usize>().prop_map(|pick| Op::Pin { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Unpin { pick }),
        3 => (1usize..6, 1usize..2000, prop::collection::vec(any::<u8>(), 0..8),
              prop::collection::vec(simple_op(), 0..3))
            .prop_map(|(moves, bytes, statuses, churn)| Op::Pass { moves, bytes, statuses, churn }),
        1 => Just(Op::Compact),
        1 => Just(Op::Defragment),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (0..Policy::ALL.len(), any::<bool>()).prop_map(|(p, immediate)| {
        let coalescing = if immediate {
            Coalescing::Immediate
        } else {
            Coalescing::Deferred
        };
        Config::new(Policy::ALL[p], coalescing)
    })
}

fn run<const N: usize>(config: Config, ops: &[Op]) {
    let mut d = Device::<N, 64>::new(config);
    for op in ops {
        match op {
            Op::Alloc { units, align_log2 } => {
                d.alloc(units * 8, 1 << align_log2);
            }
            Op::Free { pick } => {
                if let Some(h) = d.pick(*pick) {
                    d.free(h);
                }
            }
            Op::Resize { pick, units } => {
                if let Some(h) = d.pick(*pick) {
                    d.resize(h, units * 8);
                }
            }
            Op::Pin { pick } => {
                if let Some(h) = d.pick(*pick) {
                    d.pin(h);
                }
            }
            Op::Unpin { pick } => {
                if let Some(h) = d.pick(*pick) {
                    d.unpin(h);
                }
            }
            Op::Pass {
                moves,
                bytes,
                statuses,
                churn,
            } => {
                d.pass(PassLimits::new(*moves, *bytes), statuses, churn);
            }
            Op::Compact => {
                let before: HashMap<_, _> = d
                    .pins
                    .keys()
                    .map(|h| (*h, d.m.offset(*h).unwrap()))
                    .collect();
                let region = &mut d.region;
                match d
                    .m
                    .relocate(|_, mv| region.copy_within(mv.from..mv.from + mv.len, mv.to))
                {
                    Ok(_) | Err(HandleError::NoSpareDescriptor) => {}
                    Err(e) => panic!("relocate: {e}"),
                }
                for (h, off) in before {
                    assert_eq!(d.m.offset(h).unwrap(), off, "a pinned block moved");
                }
            }
            Op::Defragment => {
                d.m.defragment();
            }
        }
        d.check();
    }
    d.converge();
    // Nothing pinned, sizes and offsets multiples of 8: all free space is
    // one arena at the end.
    let s = d.m.stats();
    assert!(
        s.free_arenas <= 1,
        "{} free arenas after converging",
        s.free_arenas
    );
    assert_eq!(s.largest_free, s.free_bytes);
    if let Some(last) = d.m.manager().arenas().last()
        && !last.in_use
    {
        assert_eq!(last.offset + last.size, CAPACITY);
    }
}

proptest! {
    #![proptest_config(proptest_config(CASES))]

    #[test]
    fn passes_keep_every_pattern_and_converge_to_one_free_arena(
        config in config(), ops in prop::collection::vec(op(), 1..MAX_OPS)
    ) {
        run::<128>(config, &ops);
    }

    #[test]
    fn passes_with_a_tight_table_stay_consistent(
        config in config(), ops in prop::collection::vec(op(), 1..MAX_OPS)
    ) {
        // Few descriptors: planning stops on NoSpareDescriptor, relocation
        // may refuse; the layout must stay consistent either way.
        let mut d = Device::<10, 16>::new(config);
        for op in &ops {
            match op {
                Op::Alloc { units, align_log2 } => { d.alloc(units * 8, 1 << align_log2); }
                Op::Free { pick } => if let Some(h) = d.pick(*pick) { d.free(h) },
                Op::Pass { moves, bytes, statuses, churn } => {
                    d.pass(PassLimits::new(*moves, *bytes), statuses, churn);
                }
                _ => {}
            }
            d.check();
        }
    }

    #[test]
    fn the_handle_heap_relocates_real_memory(
        ops in prop::collection::vec(op(), 1..MAX_OPS), align_log2 in 0u32..5
    ) {
        heap_run(&ops, align_log2);
    }
}

/// `HandleHeap` over real memory: patterns written through `get_mut`,
/// checked through `get`, after relocation, steps and resizes; pinned
/// blocks keep their address.
fn heap_run(ops: &[Op], extra_align_log2: u32) {
    // 16-aligned, the largest alignment the ops ask for (a `Vec<u8>` is only
    // 1-aligned, and under Miri its address really is arbitrary).
    let mem = AlignedRegion::new(CAPACITY, 16);
    // SAFETY: `mem` outlives the heap and is used by nothing else.
    let mut heap = unsafe { HandleHeap::<64, 64>::new(mem.base(), CAPACITY, Config::fast()) };
    let mut live: Vec<(Handle, u8)> = Vec::new();
    let mut pinned: HashMap<Handle, NonNull<u8>> = HashMap::new();
    let mut seed = 0u8;
    let verify = |heap: &HandleHeap<64, 64>, live: &[(Handle, u8)]| {
        heap.check_invariants().unwrap_or_else(|e| panic!("{e}"));
        check(heap.manager());
        for &(h, s) in live {
            let bytes = heap.get(h).unwrap();
            for (i, b) in bytes.iter().enumerate() {
                assert_eq!(*b, pattern(u64::from(s), i), "{h} lost byte {i}");
            }
        }
    };
    for op in ops {
        match op {
            Op::Alloc { units, align_log2 } => {
                let align = 1usize << (*align_log2).max(extra_align_log2 % 5);
                let layout = Layout::from_size_align(units * 8, align).unwrap();
                if let Ok(h) = heap.alloc(layout) {
                    seed = seed.wrapping_add(1);
                    let block = heap.get_mut(h).unwrap();
                    assert!(block.iter().all(|&b| b == 0), "fresh bytes are zero");
                    for (i, b) in block.iter_mut().enumerate() {
                        *b = pattern(u64::from(seed), i);
                    }
                    live.push((h, seed));
                }
            }
            Op::Free { pick } if !live.is_empty() => {
                let k = pick % live.len();
                let h = live[k].0;
                if pinned.contains_key(&h) {
                    assert_eq!(heap.free(h), Err(HandleError::Pinned { handle: h }));
                } else {
                    heap.free(h).unwrap();
                    live.swap_remove(k);
                    assert!(heap.get(h).is_err());
                }
            }
            Op::Resize { pick, units } if !live.is_empty() => {
                let (h, s) = live[pick % live.len()];
                let old = heap.get(h).unwrap().len();
                match heap.resize(h, units * 8) {
                    Ok(()) => {
                        let block = heap.get_mut(h).unwrap();
                        for (i, b) in block.iter_mut().enumerate() {
                            if i < old {
                                assert_eq!(*b, pattern(u64::from(s), i));
                            } else {
                                assert_eq!(*b, 0, "grown bytes are zero");
                                *b = pattern(u64::from(s), i);
                            }
                        }
                    }
                    Err(HandleError::Pinned { .. }) => assert!(pinned.contains_key(&h)),
                    Err(HandleError::Alloc(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Pin { pick } if !live.is_empty() => {
                let h = live[pick % live.len()].0;
                if let std::collections::hash_map::Entry::Vacant(e) = pinned.entry(h) {
                    e.insert(heap.pin(h).unwrap());
                }
            }
            Op::Unpin { pick } if !live.is_empty() => {
                let h = live[pick % live.len()].0;
                if pinned.remove(&h).is_some() {
                    heap.unpin(h).unwrap();
                } else {
                    assert_eq!(heap.unpin(h), Err(HandleError::NotPinned { handle: h }));
                }
            }
            Op::Pass { moves, bytes, .. } => {
                let mut buf = [PlannedMove::EMPTY; 8];
                heap.relocate_step(PassLimits::new(*moves, *bytes), &mut buf)
                    .unwrap();
            }
            Op::Compact => {
                heap.relocate().unwrap();
            }
            Op::Defragment => {
                heap.defragment();
            }
            _ => {}
        }
        for (h, p) in &pinned {
            assert_eq!(heap.pin(*h).unwrap(), *p, "a pinned block moved");
            heap.unpin(*h).unwrap();
        }
        verify(&heap, &live);
    }
    for (h, _) in pinned.drain() {
        heap.unpin(h).unwrap();
    }
    heap.relocate().unwrap();
    verify(&heap, &live);
    if extra_align_log2 % 5 <= 3 {
        let s = heap.stats();
        assert!(
            s.free_arenas <= 1,
            "{} free arenas after relocation",
            s.free_arenas
        );
    }
    // `heap` is dropped before `mem` (reverse order of declaration).
}
