//! Random operations, mirroring the trace format (`a`, `f`, `r`) plus
//! `defragment`, `relocate`, `grow`, moves into a longer table and policy
//! switches, against every policy, coalescing mode and table size, with a
//! shadow model of the live
//! blocks. Hostile input is part of the mix: zero and near-`usize::MAX`
//! sizes and alignments, alignments that are not powers of two, wild
//! offsets, offsets inside a live arena, double frees. After every step the
//! manager's own `check_invariants()` runs, its accounting (`Stats`) must
//! balance, and its in-use arenas must be exactly the shadow's live blocks;
//! a failed operation must leave the manager exactly as it was — but for a
//! flush of the fast model's quick lists, which a refused allocation (or
//! a relocation) does first.
//!
//! Frees and reallocs name their block by offset alone or with a hint
//! (`free_with_hint`, `realloc_with_hint`): the block's own, another
//! block's, or a made-up number; every check holds whatever the hint.
//!
//! The fast model (`Config::fast()`) is drawn half of the time, with
//! requests of the exact sizes its quick lists cache, explicit flushes,
//! double frees of cached arenas, and requests for all the free bytes,
//! which fit only after a flush (or never): a cached arena must never be
//! handed out twice, a second free of it must be `DoubleFree`, and the
//! cached bytes must add up (see the fuzz crate's `quick` module).
//!
//! The offset map is dropped and kept again (`set_offset_map`) mid-run.
//! Without it a call that is not given its block's right hint must be
//! refused with `FreeError::NoOffsetMap` (or say `DoubleFree` of an arena
//! its hint names) and change nothing; it is then made again with the hint
//! a walk of the arenas finds.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sysarena::{
    AllocError, ArenaManager, FreeError, OomReason, ReallocError, Reallocation, Slot, TableError,
    quick_near_sizes,
};
use sysarena_fuzz::quick::{self, Snapshot};

/// A requested size: mostly small, sometimes hostile.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Size {
    Small(u16),
    Zero,
    /// `usize::MAX - n`.
    NearMax(u8),
    /// `1 << (n % usize::BITS)`.
    Pow2(u8),
    Raw(usize),
}

impl Size {
    fn get(self) -> usize {
        match self {
            Size::Small(n) => usize::from(n),
            Size::Zero => 0,
            Size::NearMax(n) => usize::MAX - usize::from(n),
            Size::Pow2(n) => 1 << (u32::from(n) % usize::BITS),
            Size::Raw(n) => n,
        }
    }
}

/// A requested alignment: mostly small powers of two, sometimes huge or
/// not a power of two at all.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Align {
    Log2(u8),
    /// `1 << (usize::BITS - 1 - n % 4)`.
    Huge(u8),
    Raw(usize),
}

impl Align {
    fn get(self) -> usize {
        match self {
            Align::Log2(n) => 1 << (n % 12),
            Align::Huge(n) => 1 << (usize::BITS - 1 - u32::from(n % 4)),
            Align::Raw(n) => n,
        }
    }
}

/// An offset that names no live allocation (or, by chance, one).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Wild {
    Raw(usize),
    Small(u16),
    /// Inside a live arena, past its first byte.
    Inside {
        pick: u16,
        delta: u16,
    },
    /// An offset freed earlier (a double free unless it was handed out again).
    Freed(u16),
    NearMax(u8),
}

/// How a free or realloc names its block: by offset alone (`free`,
/// `realloc`), or with a hint (`free_with_hint`, `realloc_with_hint`) that
/// is right, another block's, or made up. Whatever the hint, every check
/// below must hold as it does for the offset alone.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Hint {
    Offset,
    Right,
    Other(u16),
    Made(u32),
}

impl Hint {
    /// The hint to pass for the block at `off` (`None`: the plain call).
    fn get(self, off: usize, live: &BTreeMap<usize, Block>) -> Option<u32> {
        match self {
            Hint::Offset => None,
            Hint::Right => Some(live.get(&off).map_or(0, |b| b.hint)),
            Hint::Other(p) => Some(pick(live, p).map_or(0, |o| live[&o].hint)),
            Hint::Made(h) => Some(h),
        }
    }
}

fn free(m: &mut Manager, off: usize, hint: Option<u32>) -> Result<(), FreeError> {
    let before = Snapshot::of(m);
    let r = match hint {
        None => m.free(off),
        Some(h) => m.free_with_hint(off, h),
    };
    match (r, walked_hint(m, off)) {
        (Err(FreeError::NoOffsetMap { offset }), Some(right)) => {
            refused_for_the_map(m, &before, offset, off);
            m.free_with_hint(off, right)
        }
        (r, _) => r,
    }
}

/// Without the offset map: the descriptor of the in-use arena at `off`,
/// found by a walk (`None` with the map, or if no block starts there).
fn walked_hint(m: &Manager, off: usize) -> Option<u32> {
    if m.has_offset_map() {
        return None;
    }
    m.arena_at(off).filter(|a| a.in_use).map(|a| a.slot as u32)
}

/// A call that was refused for want of the offset map: only without one,
/// for the offset given, and nothing changed.
fn refused_for_the_map(m: &Manager, before: &Snapshot, offset: usize, off: usize) {
    assert!(!m.has_offset_map(), "NoOffsetMap with the map");
    assert_eq!(offset, off);
    quick::assert_same_or_flushed(before, &Snapshot::of(m), false, "refused for the map");
}

fn realloc(
    m: &mut Manager,
    off: usize,
    hint: Option<u32>,
    size: usize,
    align: usize,
) -> Result<Reallocation, ReallocError> {
    let before = Snapshot::of(m);
    let r = match hint {
        None => m.realloc(off, size, align),
        Some(h) => m.realloc_with_hint(off, h, size, align),
    };
    match (r, walked_hint(m, off)) {
        (Err(ReallocError::Free(FreeError::NoOffsetMap { offset })), Some(right)) => {
            refused_for_the_map(m, &before, offset, off);
            m.realloc_with_hint(off, right, size, align)
        }
        (r, _) => r,
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// `a <size> <align>`
    Alloc {
        size: Size,
        align: Align,
    },
    /// `f <id>`: a live block picked by index.
    Free {
        pick: u16,
        hint: Hint,
    },
    /// A free of something that is not a live block.
    FreeWild(Wild, Hint),
    /// `r <id> <new_size>`
    Realloc {
        pick: u16,
        size: Size,
        align: Align,
        hint: Hint,
    },
    /// A realloc of something that is not a live block.
    ReallocWild {
        at: Wild,
        size: u16,
        hint: Hint,
    },
    Defragment,
    Relocate,
    Grow(u16),
    SetConfig {
        policy: u8,
        immediate: bool,
    },
    /// An allocation of a size the quick lists cache (a multiple of
    /// `QUICK_GRANULE` below `QUICK_LIMIT`).
    AllocQuick {
        granules: u16,
        align_log2: u8,
    },
    /// Free a live block, then free it again at once: the second must be
    /// refused (`DoubleFree` while the arena is cached) and change nothing.
    FreeTwice {
        pick: u16,
        hint: Hint,
    },
    FlushQuickLists,
    /// `set_offset_map(keep)`.
    OffsetMap(bool),
    /// Ask for all the free bytes but `slack`: it fits only when they are
    /// one arena, so with arenas cached it forces a flush and a retry.
    AllocAllFree {
        slack: u8,
    },
    /// Move into a table `more + 1` descriptors longer, zeroed
    /// (`grow_empty_table`) or written (`grow_table`).
    GrowTable {
        more: u8,
        empty: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Policy index; with the top bit set, the fast model.
    policy: u8,
    immediate: bool,
    /// 0 starts with no region (then only `grow` adds memory).
    capacity: u16,
    /// 1..=64 descriptors.
    descriptors: u8,
    /// The address offset 0 stands for; alignment is honoured for
    /// `origin + offset`.
    origin: u8,
    ops: Vec<Op>,
}

/// One live block of the shadow model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Block {
    size: usize,
    used: usize,
    align: usize,
    /// The hint the block came with (stale once it moved or the table was
    /// compacted: kept on purpose).
    hint: u32,
}

type Manager = ArenaManager<0, Box<[Slot]>>;

fn pick(live: &BTreeMap<usize, Block>, pick: u16) -> Option<usize> {
    if live.is_empty() {
        return None;
    }
    live.keys().nth(usize::from(pick) % live.len()).copied()
}

fn wild(w: Wild, live: &BTreeMap<usize, Block>, freed: &[usize]) -> Option<usize> {
    let off = match w {
        Wild::Raw(n) => n,
        Wild::Small(n) => usize::from(n),
        Wild::Inside { pick: p, delta } => {
            let off = pick(live, p)?;
            let size = live[&off].size;
            if size < 2 {
                return None;
            }
            off + 1 + usize::from(delta) % (size - 1)
        }
        Wild::Freed(i) => *freed.get(usize::from(i) % freed.len().max(1))?,
        Wild::NearMax(n) => usize::MAX - usize::from(n),
    };
    // By chance a live block: not wild.
    (!live.contains_key(&off)).then_some(off)
}

/// Whether a free arena could hold `need` bytes at `align` (offsets
/// relative to `origin`).
fn some_arena_fits(m: &Manager, need: usize, align: usize) -> bool {
    let origin = m.origin();
    m.arenas().any(|a| {
        let pad = origin.wrapping_add(a.offset).wrapping_neg() & (align - 1);
        !a.in_use && need.checked_add(pad).is_some_and(|n| a.size >= n)
    })
}

fn check_alloc_error(m: &Manager, e: AllocError, size: usize, align: usize) {
    let need = size.checked_next_multiple_of(align);
    match e {
        AllocError::ZeroSize => assert_eq!(size, 0),
        AllocError::BadAlign { align: a } => {
            assert_eq!(a, align);
            assert!(!align.is_power_of_two());
        }
        AllocError::SizeOverflow { .. } => assert!(need.is_none()),
        AllocError::TooLarge { capacity, .. } => {
            assert_eq!(capacity, m.capacity());
            assert!(need.is_none_or(|n| n > capacity));
        }
        AllocError::OutOfMemory(OomReason::NoFit { needed, .. }) => {
            assert_eq!(Some(needed), need);
            assert!(
                !some_arena_fits(m, needed, align),
                "NoFit while an arena fits"
            );
        }
        AllocError::OutOfMemory(OomReason::NoSpareDescriptor { descriptors }) => {
            // A split can need two: one for the alignment padding in front,
            // one for the remainder behind.
            assert_eq!(descriptors, m.stats().descriptors);
            assert!(m.stats().spare_descriptors < 2);
        }
        // The error types are non-exhaustive: a refusal this harness does
        // not know is a finding.
        other => panic!("an unexpected refusal: {other:?}"),
    }
    if size > 0 && align.is_power_of_two() {
        assert!(!matches!(
            e,
            AllocError::ZeroSize | AllocError::BadAlign { .. }
        ));
    }
}

fn check(m: &Manager, live: &BTreeMap<usize, Block>) {
    m.check_invariants().unwrap();
    let s = m.stats();
    assert_eq!(s.capacity, m.capacity());
    assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity);
    assert_eq!(
        s.free_arenas + s.used_arenas + s.spare_descriptors,
        s.descriptors
    );
    assert_eq!(s.used_arenas, live.len());
    assert_eq!(s.in_use_bytes, live.values().map(|b| b.size).sum::<usize>());
    assert_eq!(
        s.requested_bytes,
        live.values().map(|b| b.used).sum::<usize>()
    );
    assert!(s.largest_free <= s.free_bytes);
    // The in-use arenas are exactly the shadow's live blocks, in order,
    // without overlap, inside the region, aligned.
    let in_use: Vec<_> = m
        .arenas()
        .filter(|a| a.in_use)
        .map(|a| (a.offset, a.size, a.used))
        .collect();
    let shadow: Vec<_> = live.iter().map(|(&o, b)| (o, b.size, b.used)).collect();
    assert_eq!(in_use, shadow);
    let mut end = 0;
    for (&off, b) in live {
        assert!(off >= end, "overlap");
        assert_eq!(m.origin().wrapping_add(off) % b.align, 0, "misaligned");
        assert!(b.size >= b.used);
        end = off + b.size;
    }
    assert!(end <= m.capacity());
    quick::check_quick_lists(m);
}

/// `m.alloc(size, align)` checked against the shadow: a new block must be
/// aligned, large enough, and overlap no live block (a cached arena handed
/// out twice would); a refusal must be the right one.
fn alloc(m: &mut Manager, live: &mut BTreeMap<usize, Block>, size: usize, align: usize) -> bool {
    let cached = quick::check_quick_lists(m);
    let cached_before = cached.len();
    match m.alloc(size, align) {
        Ok(a) => {
            assert_eq!(m.origin().wrapping_add(a.offset()) % align, 0);
            assert!(a.size() >= size);
            if let Some(&was) = cached.get(&a.offset()) {
                // Taken back from a quick list: exactly the cached arena,
                // the others still cached, and the arena is the request's
                // size or (near sizes) at most a 64th larger. (After a
                // flush, the arena may have merged into a larger one
                // first.)
                let now = m.stats().cached_arenas;
                if now > 0 {
                    assert_eq!(was, a.size(), "a cached arena of another size");
                    assert_eq!(now, cached.len() - 1, "one cached arena taken");
                    let need = size.next_multiple_of(align);
                    assert!(
                        a.size() == need
                            || quick_near_sizes(need).is_some_and(|r| r.contains(&a.size())),
                        "a cached arena of {} bytes for a request of {need}",
                        a.size()
                    );
                }
            }
            let end = a.offset() + a.size();
            if let Some((&o, b)) = live.range(..end).next_back() {
                assert!(o + b.size <= a.offset(), "handed out over a live block");
            }
            let b = Block {
                size: a.size(),
                used: size,
                align,
                hint: a.hint(),
            };
            assert!(live.insert(a.offset(), b).is_none());
            true
        }
        Err(e) => {
            if matches!(e, AllocError::OutOfMemory(_)) {
                quick::assert_flushed_before_oom(cached_before, m.stats().cached_arenas, "alloc");
            }
            check_alloc_error(m, e, size, align);
            false
        }
    }
}

fuzz_target!(|input: Input| {
    let descriptors = usize::from(input.descriptors % 64) + 1;
    let table = vec![Slot::EMPTY; descriptors].into_boxed_slice();
    let capacity = usize::from(input.capacity);
    let mut m =
        Manager::from_table(table, 0, quick::config_from(input.policy, input.immediate)).unwrap();
    m.set_origin(usize::from(input.origin)).unwrap();
    m.grow(capacity).unwrap();
    let mut live: BTreeMap<usize, Block> = BTreeMap::new();
    // Offsets freed since the last relocation (double-free candidates).
    let mut freed: Vec<usize> = Vec::new();
    check(&m, &live);
    for op in input.ops.iter().take(512) {
        let before = Snapshot::of(&m);
        let mut failed = false;
        // Whether a failure may have flushed the quick lists (allocations
        // and relocations; a refused free or a bad request may not).
        let mut may_flush = false;
        match *op {
            Op::Alloc { size, align } => {
                let (size, align) = (size.get(), align.get());
                failed = !alloc(&mut m, &mut live, size, align);
                may_flush = true;
            }
            Op::AllocQuick {
                granules,
                align_log2,
            } => {
                let size = quick::quick_size(granules);
                failed = !alloc(&mut m, &mut live, size, 1 << (align_log2 % 5));
                may_flush = true;
            }
            Op::AllocAllFree { slack } => {
                let size = before.stats.free_bytes.saturating_sub(usize::from(slack));
                if size > 0 {
                    failed = !alloc(&mut m, &mut live, size, 1);
                    may_flush = true;
                }
            }
            Op::FreeTwice { pick: p, hint } => {
                if let Some(off) = pick(&live, p) {
                    let h = hint.get(off, &live);
                    free(&mut m, off, h).unwrap();
                    live.remove(&off);
                    freed.push(off);
                    let once = Snapshot::of(&m);
                    let cached = m.arena_at(off).is_some_and(|a| a.cached);
                    match free(&mut m, off, h) {
                        Err(FreeError::DoubleFree { offset }) => assert_eq!(offset, off),
                        // Merged into a free neighbour below it: no arena
                        // starts there any more (never while cached).
                        Err(FreeError::NotAllocated { offset }) if !cached => {
                            assert_eq!(offset, off)
                        }
                        // Without the map, a hint that does not name the
                        // freed arena.
                        Err(FreeError::NoOffsetMap { offset }) if !m.has_offset_map() => {
                            assert_eq!(offset, off)
                        }
                        other => panic!("a second free: {other:?} (cached: {cached})"),
                    }
                    quick::assert_same_or_flushed(&once, &Snapshot::of(&m), false, "double free");
                }
            }
            Op::OffsetMap(keep) => {
                m.set_offset_map(keep);
                assert_eq!(m.has_offset_map(), keep);
                // Nothing a caller sees changes.
                quick::assert_same_or_flushed(&before, &Snapshot::of(&m), false, "offset map");
            }
            Op::FlushQuickLists => {
                m.flush_quick_lists();
                assert_eq!(m.stats().cached_arenas, 0);
                // A flush is a change no caller can see but in the free
                // arenas: the same checks as a failed allocation's.
                quick::assert_same_or_flushed(&before, &Snapshot::of(&m), true, "flush");
            }
            Op::Free { pick: p, hint } => {
                if let Some(off) = pick(&live, p) {
                    free(&mut m, off, hint.get(off, &live)).unwrap();
                    live.remove(&off);
                    freed.push(off);
                }
            }
            Op::FreeWild(w, hint) => {
                if let Some(off) = wild(w, &live, &freed) {
                    let cached = m.arena_at(off).is_some_and(|a| a.cached);
                    let e = free(&mut m, off, hint.get(off, &live)).unwrap_err();
                    if cached && m.has_offset_map() {
                        assert_eq!(e, FreeError::DoubleFree { offset: off }, "a cached arena");
                    }
                    match e {
                        FreeError::OutOfRegion { offset } => {
                            assert_eq!(offset, off);
                            assert!(off >= m.capacity());
                        }
                        FreeError::DoubleFree { offset } | FreeError::NotAllocated { offset } => {
                            assert_eq!(offset, off);
                            assert!(off < m.capacity());
                        }
                        FreeError::NoOffsetMap { offset } => {
                            assert!(!m.has_offset_map(), "NoOffsetMap with the map");
                            assert_eq!(offset, off);
                            assert!(off < m.capacity());
                        }
                        other => panic!("an unexpected refusal: {other:?}"),
                    }
                    if matches!(e, FreeError::DoubleFree { .. }) {
                        assert!(m.arena_at(off).is_some_and(|a| !a.in_use));
                    }
                    failed = true;
                }
            }
            Op::Realloc {
                pick: p,
                size,
                align,
                hint,
            } => {
                let Some(off) = pick(&live, p) else { continue };
                let (size, align) = (size.get(), align.get());
                let old = live[&off];
                match realloc(&mut m, off, hint.get(off, &live), size, align) {
                    Ok(r) => {
                        assert_eq!(m.origin().wrapping_add(r.offset) % align, 0);
                        assert!(r.size >= size);
                        if r.moved_from.is_none() {
                            assert_eq!(r.offset, off);
                        } else {
                            assert_eq!(r.moved_from, Some(off));
                            assert_eq!(r.copy_len, size.min(old.size));
                        }
                        live.remove(&off);
                        live.insert(
                            r.offset,
                            Block {
                                size: r.size,
                                used: size,
                                align,
                                hint: r.hint(),
                            },
                        );
                    }
                    Err(ReallocError::Alloc(e)) => {
                        may_flush = true;
                        if matches!(e, AllocError::OutOfMemory(_)) {
                            quick::assert_flushed_before_oom(
                                before.stats.cached_arenas,
                                m.stats().cached_arenas,
                                "realloc",
                            );
                        }
                        // Not `check_alloc_error`'s NoFit test: realloc may
                        // also use the old arena, which is still in use.
                        if let AllocError::OutOfMemory(OomReason::NoFit { needed, .. }) = e {
                            assert!(
                                !some_arena_fits(&m, needed, align),
                                "NoFit while an arena fits"
                            );
                        } else {
                            check_alloc_error(&m, e, size, align);
                        }
                        failed = true;
                    }
                    Err(ReallocError::Free(e)) => panic!("realloc of a live block: {e:?}"),
                }
            }
            Op::ReallocWild { at, size, hint } => {
                if let Some(off) = wild(at, &live, &freed) {
                    let cached = m.arena_at(off).is_some_and(|a| a.cached);
                    let r = realloc(&mut m, off, hint.get(off, &live), usize::from(size), 1);
                    assert!(matches!(r, Err(ReallocError::Free(_))), "{r:?}");
                    if cached && m.has_offset_map() {
                        let e = FreeError::DoubleFree { offset: off };
                        assert_eq!(r, Err(ReallocError::Free(e)), "a cached arena");
                    }
                    failed = true;
                }
            }
            Op::Defragment => {
                let r = m.defragment();
                assert_eq!(m.stats().cached_arenas, 0, "defragment flushes first");
                assert!(r.free_arenas_after <= r.free_arenas_before);
                assert!(r.largest_free_after >= r.largest_free_before);
            }
            Op::Relocate => {
                let mut moves = Vec::new();
                match m.relocate(|mv| moves.push(mv)) {
                    Ok(report) => {
                        assert_eq!(m.stats().cached_arenas, 0, "relocate flushes first");
                        assert_eq!(report.moved, moves.len());
                        let mut moved = BTreeMap::new();
                        for mv in moves {
                            assert!(mv.to < mv.from);
                            let b = live.remove(&mv.from).expect("a move names a live block");
                            assert_eq!(b.size, mv.len);
                            assert_eq!(m.origin().wrapping_add(mv.to) % b.align, 0);
                            assert!(moved.insert(mv.to, b).is_none());
                        }
                        live.append(&mut moved);
                        freed.clear();
                    }
                    Err(_) => {
                        assert_eq!(before.stats.spare_descriptors, 0);
                        failed = true;
                        may_flush = true;
                    }
                }
            }
            Op::Grow(n) => {
                if m.grow(usize::from(n)).is_err() {
                    assert_eq!(before.stats.spare_descriptors, 0);
                    // Only a tail in use needs a new arena: a free or
                    // cached one (flushed first) grows in place.
                    let tail = before.arenas.last();
                    assert!(
                        tail.is_some_and(|a| a.in_use && !a.cached),
                        "grow refused with a free or cached tail: {tail:?}"
                    );
                    failed = true;
                }
            }
            Op::GrowTable { more, empty } => {
                let current = before.stats.descriptors;
                if current < 4096 {
                    let len = current + 1 + usize::from(more);
                    let old = if empty {
                        // SAFETY: all-zero bytes are a valid `Slot`.
                        let zeroed = (0..len).map(|_| unsafe { core::mem::zeroed() }).collect();
                        // SAFETY: every slot is all zero bytes.
                        unsafe { m.grow_empty_table(zeroed) }
                    } else {
                        m.grow_table(vec![Slot::EMPTY; len].into_boxed_slice())
                    }
                    .expect("a longer table is taken");
                    assert_eq!(old.len(), current);
                    // Every arena where it was, under the same descriptor;
                    // only the spares grew.
                    let after = Snapshot::of(&m);
                    assert_eq!(
                        after.arenas, before.arenas,
                        "moving the table changed an arena"
                    );
                    let mut want = before.stats;
                    want.descriptors = len;
                    want.spare_descriptors += len - current;
                    assert_eq!(after.stats, want);
                    let same = m.grow_table(vec![Slot::EMPTY; len].into_boxed_slice());
                    assert_eq!(
                        same.err(),
                        Some(TableError::NotLarger { len, current: len })
                    );
                }
            }
            Op::SetConfig { policy, immediate } => {
                m.set_config(quick::config_from(policy, immediate));
                assert_eq!(m.stats().cached_arenas, 0, "set_config flushes");
            }
        }
        if failed {
            quick::assert_same_or_flushed(&before, &Snapshot::of(&m), may_flush, "failed op");
        }
        check(&m, &live);
        if freed.len() > 64 {
            freed.drain(..32);
        }
    }
});
