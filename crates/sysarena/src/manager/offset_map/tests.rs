//! Unit tests of the offset map ([`offset_map`](super)).

extern crate std;
use std::vec;
use std::vec::Vec;

use super::super::state::ArenaManager;
use crate::config::Config;
use crate::error::{AllocError, FreeError, OomReason};
use crate::table::Slot;

/// Table sizes (Miri interprets: keep it small). Both go dense, and
/// fill up to the dense slots, for the second test's after leaving.
const LEN: usize = if cfg!(miri) { 48 } else { 700 };
const LEN2: usize = if cfg!(miri) { 96 } else { 700 };

/// Fills a table with one-arena-per-allocation until the descriptors run
/// out, checking the map at every step: the heads go dense once the map
/// grows, come back into the slots when only the dense slots are left,
/// and every descriptor of the table is used in the end.
#[test]
fn dense_heads_come_and_go_and_cost_no_descriptor() {
    for config in [Config::fast(), Config::default()] {
        let mut table = vec![Slot::EMPTY; LEN];
        let mut m = ArenaManager::from_slice(&mut table, 1 << 20, config).unwrap();
        let (mut offsets, mut was_dense) = (Vec::new(), false);
        loop {
            match m.alloc(24, 8) {
                Ok(a) => offsets.push(a.offset()),
                Err(AllocError::OutOfMemory(OomReason::NoSpareDescriptor { .. })) => break,
                Err(e) => panic!("{e:?}"),
            }
            was_dense |= m.dense();
            m.check_invariants().unwrap();
        }
        assert!(was_dense, "the map never went dense");
        assert!(!m.dense(), "the last descriptors were not taken back");
        // Every descriptor describes an arena: the allocations and the
        // free rest of the region.
        assert_eq!(offsets.len() + 1, LEN);
        assert_eq!(m.stats().spare_descriptors, 0);
        // Every allocation is found by its offset, once.
        for (k, &off) in offsets.iter().enumerate() {
            if k % 2 == 0 {
                m.free(off).unwrap();
                assert!(matches!(
                    m.free(off),
                    Err(FreeError::DoubleFree { .. } | FreeError::NotAllocated { .. })
                ));
            }
        }
        m.check_invariants().unwrap();
        for (k, &off) in offsets.iter().enumerate() {
            if k % 2 == 1 {
                m.free(off).unwrap();
            }
        }
        m.defragment();
        m.check_invariants().unwrap();
        assert_eq!(m.stats().used_arenas, 0);
    }
}

/// Allocates 40-byte blocks until the map's heads go dense: their
/// offsets and hints.
fn fill_until_dense(m: &mut ArenaManager<0, &mut [Slot]>) -> Vec<(usize, u32)> {
    let mut live = Vec::new();
    while !m.dense() {
        let a = m.alloc(40, 8).unwrap();
        live.push((a.offset(), a.hint()));
    }
    live
}

/// The map dropped in the middle of use (dense heads and all) and kept
/// again later: without it hinted calls work, lookups by offset are
/// refused with nothing changed, and it grows nowhere; kept again, it is
/// rebuilt at the size the descriptors taken call for, and every offset
/// is found.
#[test]
fn the_map_dropped_and_kept_again() {
    let mut table = vec![Slot::EMPTY; LEN];
    let mut m = ArenaManager::from_slice(&mut table, 1 << 20, Config::fast()).unwrap();
    let mut live = fill_until_dense(&mut m);
    m.set_offset_map(false);
    assert!(!m.has_offset_map() && !m.dense());
    m.check_invariants().unwrap();
    let (hash_len, before) = (m.hash_len, m.stats());
    let (off, hint) = live[0];
    assert_eq!(m.free(off), Err(FreeError::NoOffsetMap { offset: off }));
    assert_eq!(
        m.free_with_hint(off, hint ^ 1),
        Err(FreeError::NoOffsetMap { offset: off })
    );
    assert_eq!(
        m.free_with_hint(1 << 20, hint),
        Err(FreeError::OutOfRegion { offset: 1 << 20 })
    );
    assert_eq!(m.stats(), before, "a refused free changed nothing");
    assert!(
        m.arena_at(off)
            .is_some_and(|a| a.in_use && a.slot == hint as usize)
    );
    // Grow well past the map's size: it stays as it was.
    for k in 0..LEN / 2 {
        match m.alloc(24 + k % 5 * 8, 8) {
            Ok(a) => live.push((a.offset(), a.hint())),
            Err(_) => break,
        }
        if k % 3 == 0 {
            let (off, hint) = live.swap_remove(k % live.len());
            m.free_with_hint(off, hint).unwrap();
            // A second free with the same hint: the descriptor still
            // describes the freed arena (cached or free), or has moved on.
            assert!(matches!(
                m.free_with_hint(off, hint),
                Err(FreeError::DoubleFree { .. } | FreeError::NoOffsetMap { .. })
            ));
        }
        m.check_invariants().unwrap();
    }
    assert_eq!(m.hash_len, hash_len, "a map-less manager grew its map");
    m.set_offset_map(true);
    assert!(m.has_offset_map());
    assert!(m.fresh < m.hash_grow_at, "the map is sized for the table");
    m.check_invariants().unwrap();
    for &(off, _) in &live {
        m.free(off).unwrap();
    }
    m.check_invariants().unwrap();
    assert_eq!(m.stats().used_arenas, 0);
}

/// The heads leave the dense slots in the middle of use (what
/// `spare_pop` does if only those slots are left) without changing a
/// lookup, and the next growth of the map makes them dense again.
#[test]
fn leaving_dense_keeps_every_lookup() {
    let mut table = vec![Slot::EMPTY; LEN2];
    let mut m = ArenaManager::from_slice(&mut table, 1 << 20, Config::fast()).unwrap();
    let mut offsets: Vec<_> = fill_until_dense(&mut m)
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    let hash_len = m.hash_len;
    m.leave_dense();
    assert!(!m.dense());
    assert_eq!(m.fresh_end as usize, LEN2);
    m.check_invariants().unwrap();
    for &off in &offsets {
        assert!(m.arena_at(off).is_some_and(|a| a.in_use));
    }
    while m.hash_len == hash_len {
        offsets.push(m.alloc(40, 8).unwrap().offset());
        m.check_invariants().unwrap();
    }
    assert!(m.dense(), "the map grew without going dense again");
    for &off in &offsets {
        m.free(off).unwrap();
    }
    m.check_invariants().unwrap();
    assert_eq!(m.stats().used_arenas, 0);
}
