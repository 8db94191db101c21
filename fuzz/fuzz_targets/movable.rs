//! `Movable` over a simulated device region: random alloc / free / resize /
//! pin / unpin, defragmentation passes with arbitrary limits, statuses,
//! churn during the pass, dropped and forged entries, and `relocate`. The
//! target carries out the moves it is told to on the region's bytes (as a
//! GPU driver would), and every live block's pattern is verified at the
//! place its handle names after every step, with the invariants and the
//! accounting.
//!
//! The fast model (`Config::fast()`, drawn half of the time) runs its quick
//! lists under all of that: requests of the exact sizes they cache, and
//! requests for all the free bytes, which force a flush; a refused request
//! may flush the lists and change nothing else; a freed block waiting in a
//! list is never handed out twice nor overlapped, and the cached bytes add
//! up (`sysarena_fuzz::quick`, the fuzz crate's library).
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sysarena::{
    AllocError, ArenaManager, Handle, HandleError, HandleSlot, Movable, MoveStatus, PassLimits,
    PlannedMove, Slot,
};
use sysarena_fuzz::quick::{self, Snapshot};

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc {
        size: u16,
        align_log2: u8,
    },
    Free {
        pick: u8,
    },
    Resize {
        pick: u8,
        size: u16,
    },
    Pin {
        pick: u8,
    },
    Unpin {
        pick: u8,
    },
    /// A forged handle: every operation must answer `Stale` (or name a live
    /// block by chance, then behave as for it).
    Forged {
        bits: u64,
    },
    Pass {
        moves: u8,
        bytes: u16,
        statuses: Vec<u8>,
        churn: Vec<Churn>,
        /// Hand back only the first `keep` entries (the rest are dropped).
        keep: u8,
        /// Append an entry the pass did not plan.
        forge: Option<(u8, u16, u16)>,
    },
    Compact,
    Defragment,
    /// An allocation of a size the quick lists cache.
    AllocQuick {
        granules: u16,
    },
    /// All the free bytes but `slack`: fits only as one arena, so with
    /// arenas cached it forces a flush (and maybe still fails).
    AllocAllFree {
        slack: u8,
    },
}

#[derive(Arbitrary, Debug)]
enum Churn {
    Alloc { size: u16 },
    Free { pick: u8 },
    Pin { pick: u8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Policy index; with the top bit set, the fast model.
    policy: u8,
    immediate: bool,
    capacity: u16,
    descriptors: u8,
    handles: u8,
    ops: Vec<Op>,
}

fn pat(seed: u32, i: usize) -> u8 {
    (seed.wrapping_mul(0x9E37_79B9) >> 24) as u8 ^ (i as u8).wrapping_mul(31)
}

type M = Movable<0, 0, Box<[Slot]>, Box<[HandleSlot]>>;

struct World {
    m: M,
    region: Vec<u8>,
    /// handle -> (pattern seed, requested size, pins)
    live: BTreeMap<Handle, (u32, usize, u32)>,
    seed: u32,
}

impl World {
    fn pick(&self, pick: u8) -> Option<Handle> {
        (!self.live.is_empty()).then(|| {
            *self
                .live
                .keys()
                .nth(usize::from(pick) % self.live.len())
                .unwrap()
        })
    }

    fn alloc(&mut self, size: usize, align: usize) {
        let before = Snapshot::of(self.m.manager());
        let r = self.m.alloc(size, align);
        if let Err(e) = &r {
            let now = Snapshot::of(self.m.manager());
            quick::assert_same_or_flushed(&before, &now, true, "refused alloc");
            if matches!(e, HandleError::Alloc(AllocError::OutOfMemory(_))) {
                let (b, a) = (before.stats.cached_arenas, now.stats.cached_arenas);
                quick::assert_flushed_before_oom(b, a, "alloc");
            }
        }
        if let Ok(h) = r {
            let off = self.m.offset(h).unwrap();
            assert_eq!(off % align, 0);
            // Clear of every live block (a cached arena handed out twice
            // would overlap its first owner).
            for (l, &(_, lsize, _)) in &self.live {
                let lo = self.m.offset(*l).unwrap();
                assert!(lo + lsize <= off || off + size <= lo, "{h} over {l}");
            }
            self.seed += 1;
            for i in 0..size {
                self.region[off + i] = pat(self.seed, i);
            }
            assert!(self.live.insert(h, (self.seed, size, 0)).is_none());
        }
    }

    fn free(&mut self, h: Handle) {
        let off = self.m.offset(h).unwrap();
        match self.m.free(h) {
            Ok(()) => {
                assert_eq!(self.live.remove(&h).map(|l| l.2), Some(0));
                if self.m.manager().arena_at(off).is_some_and(|a| a.cached) {
                    // Waiting in a quick list: the handle is stale, and a
                    // second free changes nothing.
                    let once = Snapshot::of(self.m.manager());
                    assert_eq!(self.m.free(h), Err(HandleError::Stale { handle: h }));
                    let now = Snapshot::of(self.m.manager());
                    quick::assert_same_or_flushed(&once, &now, false, "double free");
                }
            }
            Err(HandleError::Pinned { .. }) => assert!(self.live[&h].2 > 0),
            Err(HandleError::Moving { .. }) => assert!(self.m.pass_active()),
            Err(e) => panic!("free: {e}"),
        }
    }

    fn pin(&mut self, h: Handle) {
        match self.m.pin(h) {
            Ok(_) => self.live.get_mut(&h).unwrap().2 += 1,
            Err(HandleError::Moving { .. }) => assert!(self.m.pass_active()),
            Err(e) => panic!("pin: {e}"),
        }
    }

    fn verify(&self) {
        self.m.check_invariants().unwrap();
        let s = self.m.stats();
        assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity);
        let cached = quick::check_quick_lists(self.m.manager());
        assert_eq!(self.m.live(), self.live.len());
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for (h, &(seed, size, pins)) in &self.live {
            let off = self.m.offset(*h).unwrap();
            assert_eq!(self.m.is_pinned(*h).unwrap(), pins > 0);
            for i in 0..size {
                assert_eq!(self.region[off + i], pat(seed, i), "{h} lost byte {i}");
            }
            spans.push((off, off + size));
        }
        for (&off, &size) in &cached {
            // A cached arena is not a block's: no live span reaches into it.
            spans.push((off, off + size));
        }
        spans.sort();
        for w in spans.windows(2) {
            assert!(
                w[0].1 <= w[1].0,
                "blocks (or a block and a cached arena) overlap"
            );
        }
    }
}

fuzz_target!(|input: Input| {
    let config = quick::config_from(input.policy, input.immediate);
    let capacity = usize::from(input.capacity) % (16 << 10) + 1;
    let table = vec![Slot::EMPTY; usize::from(input.descriptors % 48) + 1].into_boxed_slice();
    let handles = vec![HandleSlot::EMPTY; usize::from(input.handles % 48) + 1].into_boxed_slice();
    let manager = ArenaManager::from_table(table, capacity, config).unwrap();
    let mut w = World {
        m: Movable::from_parts(manager, handles).unwrap(),
        region: vec![0; capacity],
        live: BTreeMap::new(),
        seed: 0,
    };
    for op in input.ops.iter().take(128) {
        match op {
            Op::Alloc { size, align_log2 } => {
                w.alloc(usize::from(*size).max(1), 1 << (align_log2 % 8));
            }
            Op::Free { pick } => {
                if let Some(h) = w.pick(*pick) {
                    w.free(h);
                }
            }
            Op::Resize { pick, size } => {
                let Some(h) = w.pick(*pick) else { continue };
                let size = usize::from(*size).max(1);
                let (seed, old, _) = w.live[&h];
                let before = Snapshot::of(w.m.manager());
                match w.m.resize(h, size) {
                    Ok(r) => {
                        if let Some(from) = r.moved_from {
                            w.region.copy_within(from..from + r.copy_len, r.offset);
                        }
                        for i in old.min(size)..size {
                            w.region[r.offset + i] = pat(seed, i);
                        }
                        w.live.get_mut(&h).unwrap().1 = size;
                    }
                    Err(HandleError::Pinned { .. }) => assert!(w.live[&h].2 > 0),
                    Err(HandleError::Alloc(e)) => {
                        let now = Snapshot::of(w.m.manager());
                        quick::assert_same_or_flushed(&before, &now, true, "refused resize");
                        if matches!(e, AllocError::OutOfMemory(_)) {
                            let (b, a) = (before.stats.cached_arenas, now.stats.cached_arenas);
                            quick::assert_flushed_before_oom(b, a, "resize");
                        }
                    }
                    Err(e) => panic!("resize: {e}"),
                }
            }
            Op::Pin { pick } => {
                if let Some(h) = w.pick(*pick) {
                    w.pin(h);
                }
            }
            Op::Unpin { pick } => {
                let Some(h) = w.pick(*pick) else { continue };
                let pins = &mut w.live.get_mut(&h).unwrap().2;
                if *pins > 0 {
                    w.m.unpin(h).unwrap();
                    *pins -= 1;
                } else {
                    assert_eq!(w.m.unpin(h), Err(HandleError::NotPinned { handle: h }));
                }
            }
            Op::Forged { bits } => {
                let h = Handle::from_bits(*bits);
                if !w.live.contains_key(&h) {
                    let stale = Err(HandleError::Stale { handle: h });
                    assert_eq!(w.m.offset(h), stale);
                    assert_eq!(w.m.free(h), Err(HandleError::Stale { handle: h }));
                    assert_eq!(
                        w.m.pin(h).map(|_| ()),
                        Err(HandleError::Stale { handle: h })
                    );
                }
            }
            Op::Pass {
                moves,
                bytes,
                statuses,
                churn,
                keep,
                forge,
            } => {
                let mut buf = [PlannedMove::EMPTY; 16];
                let limits = PassLimits::new(usize::from(*moves), usize::from(*bytes) * 4);
                let plan = w.m.begin_pass(limits, &mut buf).unwrap();
                assert_eq!(w.m.stats().cached_arenas, 0, "a pass plan flushes first");
                assert!(plan.moves <= usize::from(*moves));
                for c in churn.iter().take(4) {
                    match *c {
                        Churn::Alloc { size } => w.alloc(usize::from(size).max(1), 8),
                        Churn::Free { pick } => {
                            if let Some(h) = w.pick(pick) {
                                w.free(h);
                            }
                        }
                        Churn::Pin { pick } => {
                            if let Some(h) = w.pick(pick) {
                                w.pin(h);
                            }
                        }
                    }
                }
                let kept = usize::from(*keep).min(plan.moves);
                for (k, mv) in buf[..plan.moves].iter_mut().enumerate() {
                    mv.status = match statuses.get(k).copied().unwrap_or(0) % 4 {
                        0 => MoveStatus::Done,
                        1 => MoveStatus::Skipped,
                        2 => MoveStatus::Cancelled,
                        _ => MoveStatus::Pending,
                    };
                    // Only moves handed back as done may be carried out.
                    if k < kept && mv.status == MoveStatus::Done {
                        w.region.copy_within(mv.from..mv.from + mv.len, mv.to);
                    }
                }
                let mut back: Vec<PlannedMove> = buf[..kept].to_vec();
                if let Some((i, from, to)) = forge {
                    let mut f = buf[usize::from(*i) % buf.len()];
                    f.from = usize::from(*from);
                    f.to = usize::from(*to);
                    f.status = MoveStatus::Done;
                    // Handing back a real move as done without copying it
                    // would be the caller's lie, not the manager's bug.
                    if !buf[..plan.moves].iter().any(|m| m.to == f.to) {
                        back.push(f);
                    }
                }
                let r = w.m.end_pass(&back).unwrap();
                for mv in &buf[..kept] {
                    if mv.status == MoveStatus::Cancelled
                        && let Some(l) = w.live.get_mut(&mv.handle)
                        && w.m.is_pinned(mv.handle).unwrap()
                        && l.2 == 0
                    {
                        l.2 = 1;
                    }
                }
                assert!(r.done <= kept);
                assert!(!w.m.pass_active());
            }
            Op::Compact => {
                let pinned: Vec<_> = w
                    .live
                    .iter()
                    .filter(|(_, l)| l.2 > 0)
                    .map(|(h, _)| (*h, w.m.offset(*h).unwrap()))
                    .collect();
                let region = &mut w.region;
                match w
                    .m
                    .relocate(|_, mv| region.copy_within(mv.from..mv.from + mv.len, mv.to))
                {
                    Ok(_) => assert_eq!(w.m.stats().cached_arenas, 0, "relocate flushes first"),
                    Err(HandleError::NoSpareDescriptor) => {}
                    Err(e) => panic!("relocate: {e}"),
                }
                for (h, off) in pinned {
                    assert_eq!(w.m.offset(h).unwrap(), off, "a pinned block moved");
                }
            }
            Op::Defragment => {
                w.m.defragment();
                assert_eq!(w.m.stats().cached_arenas, 0, "defragment flushes");
            }
            Op::AllocQuick { granules } => {
                w.alloc(quick::quick_size(*granules), 8);
            }
            Op::AllocAllFree { slack } => {
                let size = w.m.stats().free_bytes.saturating_sub(usize::from(*slack));
                if size > 0 {
                    w.alloc(size, 1);
                }
            }
        }
        w.verify();
    }
});
