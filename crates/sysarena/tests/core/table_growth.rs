//! A table that grows: `grow_table` and `grow_empty_table` move the
//! descriptors into a longer table when splits run out of spares, for
//! every policy and coalescing mode, with the offset map on and off.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sysarena::{
    AllocError, ArenaManager, Config, FreeError, OomReason, ReallocError, SliceManager, Slot,
    TableError,
};

use super::common::{any_config, check, native_or_miri, proptest_config};

const CASES: u32 = native_or_miri(64, 2) as u32;
const MAX_OPS: usize = native_or_miri(300, 20);
const CAPACITY: usize = 1 << 14;

/// A table of `n` all-zero slots, as fresh `mmap`ed memory would be.
fn zeroed(n: usize) -> Box<[Slot]> {
    // SAFETY: all-zero bytes are a valid `Slot` (`from_empty_table`'s
    // documented contract).
    (0..n).map(|_| unsafe { core::mem::zeroed() }).collect()
}

fn no_spare(e: &AllocError) -> bool {
    matches!(
        e,
        AllocError::OutOfMemory(OomReason::NoSpareDescriptor { .. })
    )
}

/// Doubles `m`'s table: zeroed memory (`grow_empty_table`) or written
/// spares (`grow_table`), in turn. Returns the new length.
fn double(m: &mut ArenaManager<0, Box<[Slot]>>, empty: bool) -> usize {
    let len = m.stats().descriptors * 2;
    let old = if empty {
        // SAFETY: every slot is all zero bytes.
        unsafe { m.grow_empty_table(zeroed(len)) }
    } else {
        m.grow_table(vec![Slot::EMPTY; len].into_boxed_slice())
    }
    .unwrap();
    assert_eq!(old.len() * 2, len);
    check(m);
    len
}

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: usize, align_log2: u32 },
    Free { pick: usize, by_hint: bool },
    Realloc { pick: usize, size: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1usize..700, 0u32..6).prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(pick, by_hint)| Op::Free { pick, by_hint }),
        2 => (any::<usize>(), 1usize..900).prop_map(|(pick, size)| Op::Realloc { pick, size }),
    ]
}

proptest! {
    #![proptest_config(proptest_config(CASES))]

    /// Starting from a table of a few descriptors, a failed split doubles
    /// it and the request is retried: every allocation's bytes stay
    /// disjoint from the others', every hint stays right across the moves,
    /// and the invariants hold after each.
    #[test]
    fn a_table_doubled_whenever_splits_run_out(
        config in any_config(),
        first in 1usize..6,
        mapped in any::<bool>(),
        ops in prop::collection::vec(op(), 1..MAX_OPS),
    ) {
        let mut m = ArenaManager::from_table(vec![Slot::EMPTY; first].into_boxed_slice(), CAPACITY, config).unwrap();
        m.set_offset_map(mapped);
        // Live allocations: offset -> (size, hint).
        let mut live: BTreeMap<usize, (usize, u32)> = BTreeMap::new();
        let mut growths = 0;
        for op in ops {
            match op {
                Op::Alloc { size, align_log2 } => {
                    let align = 1 << align_log2;
                    let a = match m.alloc(size, align) {
                        Err(e) if no_spare(&e) => {
                            growths += 1;
                            double(&mut m, growths % 2 == 0);
                            m.alloc(size, align)
                        }
                        r => r,
                    };
                    if let Ok(a) = a {
                        prop_assert_eq!(a.offset() % align, 0);
                        let (lo, hi) = (a.offset(), a.offset() + a.size());
                        if let Some((&o, &(s, _))) = live.range(..hi).next_back() {
                            prop_assert!(o + s <= lo, "overlaps {o}+{s}");
                        }
                        live.insert(a.offset(), (a.size(), a.hint()));
                        // More arenas in use than the first table holds:
                        // it must have grown.
                        prop_assert!(live.len() < first || growths > 0);
                    }
                }
                Op::Free { pick, by_hint } if !live.is_empty() => {
                    let (&off, &(_, hint)) = live.iter().nth(pick % live.len()).unwrap();
                    if by_hint || !mapped {
                        m.free_with_hint(off, hint).unwrap();
                    } else {
                        m.free(off).unwrap();
                    }
                    live.remove(&off);
                }
                Op::Realloc { pick, size } if !live.is_empty() => {
                    let (&off, &(_, hint)) = live.iter().nth(pick % live.len()).unwrap();
                    let r = match m.realloc_with_hint(off, hint, size, 1) {
                        Err(ReallocError::Alloc(e)) if no_spare(&e) => {
                            growths += 1;
                            double(&mut m, growths % 2 == 0);
                            m.realloc_with_hint(off, hint, size, 1)
                        }
                        r => r,
                    };
                    if let Ok(r) = r {
                        live.remove(&off);
                        live.insert(r.offset, (r.size, r.hint()));
                    }
                }
                _ => {}
            }
            check(&m);
        }
        prop_assert_eq!(m.stats().used_arenas, live.len());
        for (off, (_, hint)) in live {
            m.free_with_hint(off, hint).unwrap();
        }
        m.defragment();
        check(&m);
        let s = m.stats();
        prop_assert_eq!((s.used_arenas, s.free_bytes), (0, CAPACITY));
    }
}

/// A table of one slot has one bucket; the table it grows into starts
/// with the buckets a table of its length starts with, map on or off (the
/// fuzzer's `chaos` found a growth point below zero).
#[test]
fn a_one_slot_table_grows_past_its_single_bucket() {
    for mapped in [true, false] {
        let one = vec![Slot::EMPTY; 1].into_boxed_slice();
        let mut m = ArenaManager::from_table(one, 1 << 12, Config::fast()).unwrap();
        m.set_offset_map(mapped);
        m.grow_table(vec![Slot::EMPTY; 256].into_boxed_slice())
            .unwrap();
        m.set_offset_map(true);
        let blocks: Vec<_> = (0..40).map(|_| m.alloc(64, 16).unwrap()).collect();
        check(&m);
        for a in blocks {
            m.free(a.offset()).unwrap();
        }
        check(&m);
    }
}

#[test]
fn a_table_no_longer_is_refused_and_nothing_changes() {
    let mut m = ArenaManager::from_table(
        vec![Slot::EMPTY; 8].into_boxed_slice(),
        1000,
        Config::fast(),
    )
    .unwrap();
    let a = m.alloc(100, 8).unwrap();
    let before = m.stats();
    for len in [4, 8] {
        let r = m.grow_table(vec![Slot::EMPTY; len].into_boxed_slice());
        assert_eq!(r.err(), Some(TableError::NotLarger { len, current: 8 }));
    }
    assert_eq!(m.stats(), before);
    m.free(a.offset()).unwrap();
    check(&m);
}

#[test]
fn a_slice_table_moves_to_a_longer_slice() {
    let mut small = zeroed(4);
    let mut large = zeroed(64);
    // SAFETY: every slot is all zero bytes.
    let mut m =
        unsafe { SliceManager::from_empty_slice(&mut small, 4096, Config::fast()) }.unwrap();
    let mut blocks = Vec::new();
    let failed = loop {
        match m.alloc(48, 16) {
            Ok(a) => blocks.push(a),
            Err(e) => break e,
        }
    };
    assert!(no_spare(&failed), "{failed:?}");
    // SAFETY: every slot of `large` is all zero bytes.
    let old = unsafe { m.grow_empty_table(&mut large) }.unwrap();
    assert_eq!(old.len(), 4);
    check(&m);
    // Freed by offset (the map was filed again in the new table) and by
    // hint (the descriptors kept their indices); a second free is caught.
    m.free(blocks[0].offset()).unwrap();
    m.free_with_hint(blocks[1].offset(), blocks[1].hint())
        .unwrap();
    assert!(matches!(
        m.free(blocks[1].offset()),
        Err(FreeError::DoubleFree { .. })
    ));
    while m.alloc(48, 16).is_ok() {}
    check(&m);
    assert!(m.stats().used_arenas > blocks.len());
}
