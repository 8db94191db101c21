//! Construction in place: `ArenaManager::init_empty_table` and
//! `Heap::init_empty_table` make the manager (or heap) that
//! `from_empty_table` (and `Heap::from_manager`) returns, written straight
//! into a caller's `MaybeUninit`.

use core::alloc::Layout;
use core::mem::MaybeUninit;

use proptest::prelude::*;
use sysarena::{ArenaInfo, ArenaManager, Config, Heap, Slot, TableError};
use sysarena_testkit::AlignedRegion;

use super::common::{any_config, check, native_or_miri, proptest_config};

const CASES: u32 = native_or_miri(64, 2) as u32;
const MAX_OPS: usize = native_or_miri(200, 16);
const CAPACITY: usize = 1 << 14;
const SLOTS: usize = 48;

fn table() -> Box<[Slot]> {
    vec![Slot::EMPTY; SLOTS].into_boxed_slice()
}

/// A place for a manager that held something before: every byte written
/// (a stale manager's bytes, as in a rebuilt static), so that a field the
/// constructor forgot would show.
fn dirty_place<T>() -> Box<MaybeUninit<T>> {
    let mut place = Box::new(MaybeUninit::<T>::uninit());
    // SAFETY: writing bytes into a `MaybeUninit` is always allowed.
    unsafe { core::ptr::write_bytes(place.as_mut_ptr().cast::<u8>(), 0xa5, size_of::<T>()) };
    place
}

fn arenas<S: sysarena::TableStorage>(m: &ArenaManager<0, S>) -> Vec<ArenaInfo> {
    m.arenas().collect()
}

proptest! {
    #![proptest_config(proptest_config(CASES))]

    /// The same operations on a manager made in place and one returned by
    /// value give the same results, arenas and statistics at every step.
    #[test]
    fn a_manager_made_in_place_is_the_one_made_by_value(
        config in any_config(),
        ops in prop::collection::vec((0usize..3, 1usize..600, 0u32..4), 1..MAX_OPS),
    ) {
        // SAFETY: every slot is `Slot::EMPTY`.
        let mut by_value = unsafe { ArenaManager::from_empty_table(table(), CAPACITY, config) }.unwrap();
        let mut place = dirty_place();
        // SAFETY: as above.
        let in_place = unsafe { ArenaManager::init_empty_table(&mut place, table(), CAPACITY, config) }.unwrap();
        let mut live = Vec::new();
        for (what, size, align) in ops {
            let align = 1 << (align * 2);
            match what {
                0 | 1 => {
                    let (a, b) = (by_value.alloc(size, align), in_place.alloc(size, align));
                    prop_assert_eq!(&a, &b);
                    if let Ok(a) = a {
                        live.push(a.offset());
                    }
                }
                _ if !live.is_empty() => {
                    let off = live.swap_remove(size % live.len());
                    prop_assert_eq!(by_value.free(off), in_place.free(off));
                }
                _ => {}
            }
            prop_assert_eq!(by_value.stats(), in_place.stats());
            prop_assert_eq!(arenas(&by_value), arenas(in_place));
            check(in_place);
        }
        // SAFETY: made above; a `MaybeUninit` never drops what it holds.
        unsafe { place.assume_init_drop() };
    }
}

#[test]
fn a_table_of_no_slots_is_refused_in_place_too() {
    let mut place = dirty_place::<ArenaManager<0, Box<[Slot]>>>();
    let empty: Box<[Slot]> = Box::new([]);
    // SAFETY: no slot at all.
    let r = unsafe { ArenaManager::init_empty_table(&mut place, empty, 64, Config::fast()) };
    assert_eq!(r.err(), Some(TableError::BadTableSize { len: 0 }));
}

#[test]
fn a_heap_made_in_place_serves_blocks_and_grows() {
    let len = 8192;
    let mem = AlignedRegion::new(2 * len, 16);
    let mut place = dirty_place::<Heap<0, Box<[Slot]>>>();
    // SAFETY: every slot is `Slot::EMPTY`; the region's first `len` bytes
    // (and, after `grow`, the next `len`) are the heap's alone, and `mem`
    // outlives it (dropped at the end of the test, after the last use).
    let heap =
        unsafe { Heap::init_empty_table(&mut place, mem.base(), len, table(), Config::fast()) }
            .unwrap();
    assert_eq!(heap.base(), mem.base());
    assert_eq!(heap.stats().capacity, len);
    let layout = Layout::from_size_align(3000, 16).unwrap();
    let blocks: Vec<_> = (0..2).map(|_| heap.alloc(layout).unwrap()).collect();
    assert!(
        heap.alloc(layout).is_err(),
        "8 KiB hold two blocks of 3000 bytes"
    );
    for (i, p) in blocks.iter().enumerate() {
        assert!(p.as_ptr().addr().is_multiple_of(16));
        // SAFETY: a live block of 3000 bytes.
        unsafe { p.as_ptr().write_bytes(i as u8 + 1, 3000) };
    }
    // SAFETY: the next `len` bytes of `mem` are ours and unused.
    unsafe { heap.grow(len) }.unwrap();
    let third = heap.alloc(layout).unwrap();
    for (i, p) in blocks.iter().enumerate() {
        // SAFETY: live blocks, written above.
        let bytes = unsafe { core::slice::from_raw_parts(p.as_ptr(), 3000) };
        assert!(bytes.iter().all(|&b| b == i as u8 + 1));
    }
    for p in blocks.into_iter().chain([third]) {
        // SAFETY: live blocks of this heap, not used again.
        unsafe { heap.free(p) }.unwrap();
    }
    assert_eq!(heap.stats().free_bytes, 2 * len);
    heap.manager().check_invariants().unwrap();
    // SAFETY: made above; a `MaybeUninit` never drops what it holds.
    unsafe { place.assume_init_drop() };
}

#[test]
fn a_heap_made_in_place_over_no_memory_takes_its_first_region_later() {
    let mem = AlignedRegion::new(4096, 16);
    let mut place = dirty_place::<Heap<0, Box<[Slot]>>>();
    // SAFETY: every slot is `Slot::EMPTY`; no memory yet, then `mem`'s
    // 4 KiB, the heap's alone, outliving it.
    let heap =
        unsafe { Heap::init_empty_table(&mut place, mem.base(), 0, table(), Config::fast()) }
            .unwrap();
    assert_eq!(heap.stats().capacity, 0);
    assert!(heap.alloc(Layout::from_size_align(8, 8).unwrap()).is_err());
    // SAFETY: as above.
    unsafe { heap.grow(4096) }.unwrap();
    let p = heap
        .alloc(Layout::from_size_align(4096, 8).unwrap())
        .unwrap();
    assert_eq!(p, mem.base());
    // SAFETY: a live block of this heap.
    unsafe { heap.free(p) }.unwrap();
    // SAFETY: made above; a `MaybeUninit` never drops what it holds.
    unsafe { place.assume_init_drop() };
}
