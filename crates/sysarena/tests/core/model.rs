//! Model-based property tests: random op sequences against a shadow model
//! of live intervals, for every policy and coalescing mode.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sysarena::{AllocError, ArenaInfo, ArenaManager, Config, OomReason};

use super::common::{any_config, check, native_or_miri, proptest_config};

const CASES: u32 = native_or_miri(64, 2) as u32;
const MAX_OPS: usize = native_or_miri(200, 24);

const CAPACITY: usize = 4096;

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: usize, align_log2: u32 },
    Free { pick: usize },
    Realloc { pick: usize, size: usize },
    Defragment,
    Relocate,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1usize..600, 0u32..7).prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
        4 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        2 => (any::<usize>(), 1usize..800).prop_map(|(pick, size)| Op::Realloc { pick, size }),
        1 => Just(Op::Defragment),
        1 => Just(Op::Relocate),
    ]
}

/// Live allocations: offset -> (arena size, requested, align).
type Model = BTreeMap<usize, (usize, usize, usize)>;

fn assert_disjoint_and_inside(model: &Model) {
    let mut end = 0;
    for (&off, &(size, _, align)) in model {
        assert!(off >= end, "allocations overlap at {off}");
        assert_eq!(off % align, 0, "misaligned allocation at {off}");
        end = off + size;
    }
    assert!(end <= CAPACITY, "allocation past the region");
}

/// With `table_size` descriptors, so that descriptor exhaustion is exercised too.
fn run<const N: usize>(config: Config, ops: &[Op]) {
    let mut m = ArenaManager::<N>::with_config(CAPACITY, config);
    let mut model = Model::new();
    for op in ops {
        match *op {
            Op::Alloc { size, align_log2 } => {
                let align = 1 << align_log2;
                match m.alloc(size, align) {
                    Ok(a) => {
                        assert!(a.size() >= size);
                        assert!(model.insert(a.offset(), (a.size(), size, align)).is_none());
                    }
                    Err(AllocError::OutOfMemory(OomReason::NoFit { .. })) => {
                        // No fitting arena may exist.
                        let need = size.next_multiple_of(align);
                        let fits = m.arenas().any(|a| {
                            !a.in_use && {
                                let pad = a.offset.wrapping_neg() & (align - 1);
                                a.size >= need + pad
                            }
                        });
                        assert!(
                            !fits,
                            "{config:?}: out of memory while a free arena fits {size}@{align}"
                        );
                    }
                    Err(AllocError::OutOfMemory(OomReason::NoSpareDescriptor { .. })) => {
                        assert!(m.stats().spare_descriptors < 2);
                    }
                    Err(AllocError::TooLarge { .. }) => assert!(size > CAPACITY),
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            Op::Free { pick } => {
                if model.is_empty() {
                    continue;
                }
                let off = *model.keys().nth(pick % model.len()).unwrap();
                m.free(off).unwrap();
                model.remove(&off);
                assert!(m.free(off).is_err(), "a second free must fail");
            }
            Op::Realloc { pick, size } => {
                if model.is_empty() {
                    continue;
                }
                let off = *model.keys().nth(pick % model.len()).unwrap();
                let (_, _, align) = model[&off];
                let before: Vec<_> = m.arenas().collect();
                match m.realloc(off, size, align) {
                    Ok(r) => {
                        model.remove(&off);
                        assert!(r.size >= size);
                        model.insert(r.offset, (r.size, size, align));
                    }
                    Err(_) => {
                        let after: Vec<_> = m.arenas().collect();
                        if before != after {
                            // The failed allocation flushed the quick lists
                            // (cached arenas, free already, may merge): the
                            // in-use arenas must be unchanged.
                            let live = |v: &[ArenaInfo]| -> Vec<ArenaInfo> {
                                v.iter().filter(|a| a.in_use).copied().collect()
                            };
                            assert!(
                                before.iter().any(|a| a.cached),
                                "failed realloc changed the table"
                            );
                            assert!(after.iter().all(|a| !a.cached), "only a flush changes it");
                            assert_eq!(live(&before), live(&after), "failed realloc moved a block");
                        } else {
                            assert_eq!(before, after, "failed realloc changed the table");
                        }
                    }
                }
            }
            Op::Relocate => {
                let mut moves = Vec::new();
                if m.relocate(|mv| moves.push(mv)).is_ok() {
                    for mv in moves {
                        assert!(mv.to < mv.from);
                        let entry = model.remove(&mv.from).expect("a move names a live block");
                        assert_eq!(entry.0, mv.len);
                        model.insert(mv.to, entry);
                    }
                    let free: Vec<_> = m.arenas().filter(|a| !a.in_use).collect();
                    // What is left free is the tail and alignment padding.
                    for f in &free[..free.len().saturating_sub(1)] {
                        assert!(f.size < 64, "only padding stays free below the tail");
                    }
                }
            }
            Op::Defragment => {
                m.defragment();
                let arenas: Vec<_> = m.arenas().collect();
                for w in arenas.windows(2) {
                    assert!(
                        w[0].in_use || w[1].in_use,
                        "adjacent free arenas after defragment"
                    );
                }
                let seen_spare = m
                    .table()
                    .skip_while(|e| e.arena.is_some())
                    .all(|e| e.arena.is_none());
                assert!(seen_spare, "spares not at the end after defragment");
            }
        }
        check(&m);
        assert_disjoint_and_inside(&model);
        // The manager agrees with the model.
        let live: Vec<_> = m
            .arenas()
            .filter(|a| a.in_use)
            .map(|a| (a.offset, a.size, a.used))
            .collect();
        let want: Vec<_> = model.iter().map(|(&o, &(s, u, _))| (o, s, u)).collect();
        assert_eq!(live, want);
    }
}

proptest! {
    #![proptest_config(proptest_config(CASES))]

    #[test]
    fn every_policy_matches_the_model(config in any_config(), ops in prop::collection::vec(op(), 1..MAX_OPS)) {
        run::<64>(config, &ops);
    }

    #[test]
    fn small_tables_run_out_of_descriptors_cleanly(config in any_config(), ops in prop::collection::vec(op(), 1..MAX_OPS)) {
        run::<6>(config, &ops);
    }
}
