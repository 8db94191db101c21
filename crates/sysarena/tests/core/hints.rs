//! Hints (`Allocation::hint`, `free_with_hint`, `realloc_with_hint`): two
//! managers take the same operations, one through the hinted calls with
//! right, stale and made-up hints, the other through `free` and `realloc`
//! by offset. Whatever the hint, every result must be the same and the two
//! tables must stay identical — a hint may only save the offset map's
//! lookup, never change what happens — for every policy, coalescing mode
//! and a table small enough to run out of descriptors.
//!
//! A third manager keeps no offset map (`set_offset_map(false)`) and takes
//! the hinted calls too: a right hint must do what the offset alone does;
//! any other may instead be refused with `FreeError::NoOffsetMap`, changing
//! nothing — it then retries with the right hint, found by a walk — and an
//! offset past the region is `OutOfRegion` with any hint.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sysarena::{ArenaManager, Config, FreeError, ReallocError};

use super::common::{any_config, check, layout, native_or_miri, proptest_config};

const CASES: u32 = native_or_miri(64, 1) as u32;
const MAX_OPS: usize = native_or_miri(300, 16);

const CAPACITY: usize = 8192;

/// Which hint a hinted call gets.
#[derive(Clone, Copy, Debug)]
enum Hint {
    /// The one the allocation came with.
    Right,
    /// The hint of another live allocation (or of a freed one).
    Other(usize),
    /// Any number at all.
    Wild(u32),
}

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        size: usize,
        align_log2: u32,
    },
    Free {
        pick: usize,
        hint: Hint,
    },
    /// A second free of a freed allocation (a double free, unless its
    /// offset was handed out again), with the hint it had.
    FreeAgain {
        pick: usize,
    },
    /// Any offset, inside or past the region.
    FreeWild {
        offset: usize,
        hint: Hint,
    },
    Realloc {
        pick: usize,
        size: usize,
        hint: Hint,
    },
    Defragment,
    Relocate,
}

fn hint() -> impl Strategy<Value = Hint> {
    prop_oneof![
        6 => Just(Hint::Right),
        2 => any::<usize>().prop_map(Hint::Other),
        2 => any::<u32>().prop_map(Hint::Wild),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..700, 0u32..7).prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
        4 => (any::<usize>(), hint()).prop_map(|(pick, hint)| Op::Free { pick, hint }),
        1 => any::<usize>().prop_map(|pick| Op::FreeAgain { pick }),
        1 => (0usize..CAPACITY + 64, hint()).prop_map(|(offset, hint)| Op::FreeWild { offset, hint }),
        3 => (any::<usize>(), 1usize..900, hint())
            .prop_map(|(pick, size, hint)| Op::Realloc { pick, size, hint }),
        1 => Just(Op::Defragment),
        1 => Just(Op::Relocate),
    ]
}

/// Live allocations: offset -> (hint, align).
type Live = BTreeMap<usize, (u32, usize)>;

/// The hint a call gets under `kind`.
fn pick_hint(kind: Hint, own: u32, live: &Live, freed: &[(usize, u32)]) -> u32 {
    match kind {
        Hint::Right => own,
        Hint::Other(k) => {
            let n = live.len() + freed.len();
            if n == 0 {
                return own;
            }
            match live.values().nth(k % n) {
                Some(&(h, _)) => h,
                None => freed[k % n - live.len()].1,
            }
        }
        Hint::Wild(h) => h,
    }
}

/// The descriptor of the in-use arena at `offset` in a manager without an
/// offset map, found by a walk (`arena_at`); `u32::MAX` if there is none.
fn walked_hint<const N: usize>(m: &ArenaManager<N>, offset: usize) -> u32 {
    m.arena_at(offset)
        .filter(|a| a.in_use)
        .map_or(u32::MAX, |a| a.slot as u32)
}

/// Whether `got`, a map-less manager's answer to a free of `offset` with
/// `hint`, agrees with `want`, the answer by offset: the same, or (with a
/// hint that is not `right`, for an offset in the region) a refusal for
/// want of the map.
fn nomap_agrees(
    got: Result<(), FreeError>,
    want: Result<(), FreeError>,
    offset: usize,
    hint: u32,
    right: u32,
) -> bool {
    got == want
        || (hint != right
            && got == Err(FreeError::NoOffsetMap { offset })
            && !matches!(want, Err(FreeError::OutOfRegion { .. })))
}

fn run<const N: usize>(config: Config, ops: &[Op]) {
    // `hinted` takes the hinted calls, `plain` the same calls by offset,
    // `nomap` the hinted calls without an offset map.
    let mut hinted = ArenaManager::<N>::with_config(CAPACITY, config);
    let mut plain = ArenaManager::<N>::with_config(CAPACITY, config);
    let mut nomap = ArenaManager::<N>::with_config(CAPACITY, config);
    nomap.set_offset_map(false);
    let mut live = Live::new();
    let mut freed: Vec<(usize, u32)> = Vec::new();
    for op in ops {
        match *op {
            Op::Alloc { size, align_log2 } => {
                let align = 1 << align_log2;
                let (a, b) = (hinted.alloc(size, align), plain.alloc(size, align));
                assert_eq!(a, b, "alloc({size}, {align})");
                assert_eq!(
                    nomap.alloc(size, align),
                    b,
                    "alloc({size}, {align}), no map"
                );
                if let Ok(a) = a {
                    live.insert(a.offset(), (a.hint(), align));
                }
            }
            Op::Free { pick, hint } => {
                let Some((&off, &(own, _))) = live.iter().nth(pick % live.len().max(1)) else {
                    continue;
                };
                let h = pick_hint(hint, own, &live, &freed);
                let (a, b) = (hinted.free_with_hint(off, h), plain.free(off));
                assert_eq!(a, b, "free({off}) hinted {h}");
                assert!(a.is_ok(), "a live allocation frees: {a:?}");
                let right = walked_hint(&nomap, off);
                let c = nomap.free_with_hint(off, h);
                assert!(
                    nomap_agrees(c, b, off, h, right),
                    "free({off}) hinted {h}, no map: {c:?}"
                );
                if c.is_err() {
                    assert_eq!(nomap.free_with_hint(off, right), b);
                }
                live.remove(&off);
                freed.push((off, own));
            }
            Op::FreeAgain { pick } => {
                let Some(&(off, own)) = freed.get(pick % freed.len().max(1)) else {
                    continue;
                };
                if live.contains_key(&off) {
                    // Handed out again since: not a double free.
                    continue;
                }
                let (a, b) = (hinted.free_with_hint(off, own), plain.free(off));
                assert_eq!(a, b, "second free({off}) hinted {own}");
                assert!(a.is_err(), "a second free must fail");
                let c = nomap.free_with_hint(off, own);
                assert!(
                    nomap_agrees(c, b, off, own, u32::MAX),
                    "second free({off}), no map: {c:?}"
                );
            }
            Op::FreeWild { offset, hint } => {
                if live.contains_key(&offset) {
                    continue;
                }
                let h = pick_hint(hint, 0, &live, &freed);
                let (a, b) = (hinted.free_with_hint(offset, h), plain.free(offset));
                assert_eq!(a, b, "free({offset}) of no allocation, hinted {h}");
                assert!(a.is_err(), "no allocation starts at {offset}");
                let c = nomap.free_with_hint(offset, h);
                assert!(
                    nomap_agrees(c, b, offset, h, u32::MAX),
                    "free({offset}), no map: {c:?}"
                );
                // By offset alone: refused, or out of the region.
                let d = nomap.free(offset);
                assert!(nomap_agrees(d, b, offset, u32::MAX - 1, u32::MAX), "{d:?}");
            }
            Op::Realloc { pick, size, hint } => {
                let Some((&off, &(own, align))) = live.iter().nth(pick % live.len().max(1)) else {
                    continue;
                };
                let h = pick_hint(hint, own, &live, &freed);
                let a = hinted.realloc_with_hint(off, h, size, align);
                let b = plain.realloc(off, size, align);
                assert_eq!(a, b, "realloc({off}, {size}) hinted {h}");
                let right = walked_hint(&nomap, off);
                let c = match nomap.realloc_with_hint(off, h, size, align) {
                    Err(ReallocError::Free(FreeError::NoOffsetMap { offset })) => {
                        assert!(h != right && offset == off, "refused a right hint");
                        nomap.realloc_with_hint(off, right, size, align)
                    }
                    c => c,
                };
                assert_eq!(c, b, "realloc({off}, {size}) hinted {h}, no map");
                if let Ok(r) = a {
                    live.remove(&off);
                    live.insert(r.offset, (r.hint(), align));
                }
            }
            Op::Defragment => {
                let b = plain.defragment();
                assert_eq!(hinted.defragment(), b);
                assert_eq!(nomap.defragment(), b);
            }
            Op::Relocate => {
                let (mut ma, mut mb) = (Vec::new(), Vec::new());
                let a = hinted.relocate(|mv| ma.push(mv));
                let b = plain.relocate(|mv| mb.push(mv));
                assert_eq!(a.is_ok(), b.is_ok());
                assert_eq!(ma, mb);
                let mut mc = Vec::new();
                assert_eq!(nomap.relocate(|mv| mc.push(mv)).is_ok(), b.is_ok());
                assert_eq!(mc, mb);
                // The moved allocations' hints are stale now (kept on
                // purpose: a stale hint must still work).
                for mv in ma {
                    let entry = live.remove(&mv.from).expect("a move names a live block");
                    live.insert(mv.to, entry);
                }
            }
        }
        assert_eq!(
            layout(&hinted),
            layout(&plain),
            "the tables differ after {op:?}"
        );
        assert_eq!(hinted.stats(), plain.stats());
        check(&hinted);
        assert_eq!(layout(&nomap), layout(&plain), "no map: after {op:?}");
        assert_eq!(nomap.stats(), plain.stats());
        check(&nomap);
    }
    // Everything still live frees with its (possibly stale) hint.
    for (&off, &(h, _)) in &live {
        let b = plain.free(off);
        assert_eq!(hinted.free_with_hint(off, h), b);
        let right = walked_hint(&nomap, off);
        let c = nomap.free_with_hint(off, h);
        assert!(nomap_agrees(c, b, off, h, right), "{c:?}");
        if c.is_err() {
            assert_eq!(nomap.free_with_hint(off, right), b);
        }
    }
    assert_eq!(layout(&hinted), layout(&plain));
    assert_eq!(layout(&nomap), layout(&plain));
    check(&nomap);
    assert_eq!(hinted.stats().used_arenas, 0);
}

/// A right hint is used as is: an allocation's hint names the descriptor
/// the table shows for it, through a split, a quick-list round trip, an
/// in-place and a moving realloc, and alignment padding of either kind.
#[test]
fn a_hint_names_the_allocations_descriptor() {
    for config in [Config::fast(), Config::default()] {
        let mut m = ArenaManager::<64>::with_config(1 << 16, config);
        let at = |m: &ArenaManager<64>, offset: usize| {
            m.table()
                .position(|e| e.arena.is_some_and(|a| a.offset == offset && a.in_use))
                .expect("a live allocation has a descriptor") as u32
        };
        let a = m.alloc(100, 8).unwrap();
        let b = m.alloc(200, 16).unwrap();
        assert_eq!(a.hint(), at(&m, a.offset()));
        assert_eq!(b.hint(), at(&m, b.offset()));
        m.free_with_hint(a.offset(), a.hint()).unwrap();
        // Back from a quick list (fast model) or carved again.
        let c = m.alloc(100, 8).unwrap();
        assert_eq!(c.hint(), at(&m, c.offset()));
        let r = m.realloc_with_hint(c.offset(), c.hint(), 40, 8).unwrap();
        assert_eq!(r.moved_from, None);
        assert_eq!(r.hint(), at(&m, r.offset));
        let r = m.realloc_with_hint(b.offset(), b.hint(), 4000, 16).unwrap();
        assert_eq!(r.hint(), at(&m, r.offset));
        m.free_with_hint(r.offset, r.hint()).unwrap();
        // An over-aligned request whose padding stays a free arena of its
        // own: the allocation takes another descriptor.
        let d = m.alloc(20_000, 8).unwrap();
        let e = m.alloc(64, 1024).unwrap();
        assert!(
            free_ends_at(&m, e.offset()),
            "the request was padded: a free arena ends where it starts"
        );
        assert_eq!(e.hint(), at(&m, e.offset()));
        m.free_with_hint(e.offset(), e.hint()).unwrap();
        m.free_with_hint(d.offset(), d.hint()).unwrap();
        check(&m);
    }
    // Padding that joins a free left neighbour (two free neighbours stay
    // apart under the classic model's deferred coalescing): the allocation
    // keeps the descriptor it split.
    let mut m = ArenaManager::<64>::with_config(1 << 16, Config::classic());
    let p = m.alloc(104, 8).unwrap();
    let q = m.alloc(2000, 8).unwrap();
    m.alloc(100, 8).unwrap();
    m.free(p.offset()).unwrap();
    m.free(q.offset()).unwrap();
    let f = m.alloc(1000, 1024).unwrap();
    assert_eq!(f.offset(), 1024, "carved from the second free arena");
    assert_eq!(
        m.arena_at(0).map(|a| (a.size, a.in_use)),
        Some((1024, false))
    );
    assert_eq!(f.hint(), q.hint(), "the split descriptor");
    check(&m);
}

/// Whether a free arena of `m` ends at `end`.
fn free_ends_at(m: &ArenaManager<64>, end: usize) -> bool {
    m.table().any(|e| {
        e.arena
            .is_some_and(|a| !a.in_use && a.offset + a.size == end)
    })
}

proptest! {
    #![proptest_config(proptest_config(CASES))]

    // Miri interprets: it runs the small table only (the same paths, and
    // descriptors run out).
    #[test]
    #[cfg_attr(miri, ignore = "96 descriptors: minutes under Miri; the small-table property runs")]
    fn any_hint_does_what_the_offset_alone_does(config in any_config(), ops in prop::collection::vec(op(), 1..MAX_OPS)) {
        run::<96>(config, &ops);
    }

    #[test]
    fn any_hint_does_what_the_offset_alone_does_in_a_small_table(config in any_config(), ops in prop::collection::vec(op(), 1..MAX_OPS)) {
        run::<6>(config, &ops);
    }
}
