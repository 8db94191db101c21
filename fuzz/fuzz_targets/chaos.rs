//! Random operations, mirroring the trace format (`a`, `f`, `r`) plus
//! `defragment`, against every policy and coalescing mode, with a shadow set
//! of live blocks and the manager's own invariant check after every step.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sysarena::{AllocError, ArenaManager, Coalescing, Config, OomReason, Policy};

#[derive(Arbitrary, Debug)]
enum Op {
    /// `a <size> <align>`
    Alloc { size: u16, align_log2: u8 },
    /// `f <id>` (a live block picked by index, or a wild offset)
    Free { pick: u16, wild: bool },
    /// `r <id> <new_size>`
    Realloc { pick: u16, size: u16 },
    Defragment,
    Relocate,
}

#[derive(Arbitrary, Debug)]
struct Input {
    policy: u8,
    immediate: bool,
    capacity: u16,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let policy = Policy::ALL[usize::from(input.policy) % Policy::ALL.len()];
    let coalescing = if input.immediate { Coalescing::Immediate } else { Coalescing::Deferred };
    let capacity = usize::from(input.capacity) + 1;
    let mut m = ArenaManager::<48>::with_config(capacity, Config::new(policy, coalescing));
    // offset -> (arena size, align)
    let mut live: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for op in input.ops.iter().take(512) {
        match *op {
            Op::Alloc { size, align_log2 } => {
                let align = 1usize << (align_log2 % 12);
                match m.alloc(usize::from(size), align) {
                    Ok(a) => {
                        assert_eq!(a.offset() % align, 0);
                        assert!(live.insert(a.offset(), (a.size(), align)).is_none());
                    }
                    Err(AllocError::OutOfMemory(OomReason::NoFit { .. })) => {
                        let need = usize::from(size).next_multiple_of(align);
                        assert!(!m.arenas().any(|a| !a.in_use
                            && a.size >= need + (a.offset.wrapping_neg() & (align - 1))));
                    }
                    Err(_) => {}
                }
            }
            Op::Free { pick, wild } => {
                if wild || live.is_empty() {
                    let off = usize::from(pick);
                    if !live.contains_key(&off) {
                        assert!(m.free(off).is_err());
                    }
                } else {
                    let off = *live.keys().nth(usize::from(pick) % live.len()).unwrap();
                    m.free(off).unwrap();
                    live.remove(&off);
                }
            }
            Op::Realloc { pick, size } => {
                if live.is_empty() {
                    continue;
                }
                let off = *live.keys().nth(usize::from(pick) % live.len()).unwrap();
                let align = live[&off].1;
                if let Ok(r) = m.realloc(off, usize::from(size), align) {
                    live.remove(&off);
                    live.insert(r.offset, (r.size, align));
                }
            }
            Op::Defragment => {
                m.defragment();
            }
            Op::Relocate => {
                let mut moves = Vec::new();
                if m.relocate(|mv| moves.push(mv)).is_ok() {
                    for mv in moves {
                        assert!(mv.to < mv.from);
                        let entry = live.remove(&mv.from).expect("a move names a live block");
                        assert_eq!(entry.0, mv.len);
                        assert_eq!(mv.to % entry.1, 0, "relocation broke alignment");
                        live.insert(mv.to, entry);
                    }
                }
            }
        }
        m.check_invariants().unwrap();
        let s = m.stats();
        assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity);
        let mut end = 0;
        for (&off, &(size, _)) in &live {
            assert!(off >= end, "overlap");
            end = off + size;
        }
        assert!(end <= capacity);
    }
});
