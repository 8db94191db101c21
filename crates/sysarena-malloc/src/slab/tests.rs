use super::class::{GRANULE, RECIP, slots};
use super::*;
use crate::sys;
use sysarena::{Config, SliceManager};

/// A heap over a fresh 64 KiB-aligned mapping of `pages` pages, and a
/// layer over it.
pub(super) fn setup(pages: usize) -> (ShardHeap, Slab) {
    let (heap, meta, states) = parts(pages);
    // SAFETY: zeroed metadata and states for `pages` pages, leaked.
    let slab = unsafe { Slab::new(meta, states, pages, true) };
    (heap, slab)
}

/// A shard heap (fast model, 1,024 descriptors) over a fresh mapping of
/// `pages` slab pages, 64 KiB-aligned, leaked.
pub(crate) fn test_heap(pages: usize) -> ShardHeap {
    let len = pages * PAGE;
    let raw = sys::map_noreserve(len + PAGE).unwrap();
    let base = (raw as usize).next_multiple_of(PAGE) - raw as usize;
    let base = raw.wrapping_add(base);
    let table = sys::map_noreserve(1024 * core::mem::size_of::<Slot>()).unwrap();
    // SAFETY: a fresh zeroed mapping of 1024 slots, leaked.
    let table = unsafe { core::slice::from_raw_parts_mut(table.cast::<Slot>(), 1024) };
    // SAFETY: zeroed slots are valid empty slots.
    let m = unsafe { SliceManager::from_empty_slice(table, len, Config::fast()) }.unwrap();
    // SAFETY: `len` bytes of a leaked mapping, used by nothing else.
    unsafe { Heap::from_manager(NonNull::new(base).unwrap(), m) }
}

/// The heap, page records and slot states of [`setup`].
pub(super) fn parts(pages: usize) -> (ShardHeap, Meta, States) {
    let heap = test_heap(pages);
    let mem = sys::map_noreserve(pages * META_BYTES).unwrap();
    // SAFETY: zeroed records and pools for `pages` pages, leaked.
    let meta = unsafe { Meta::new(mem, pages) };
    let st = sys::map_noreserve(state::bytes_for(pages).unwrap()).unwrap();
    // SAFETY: zeroed states for `pages` pages, leaked.
    let states = unsafe { States::new(st, pages) };
    (heap, meta, states)
}

fn rng(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

pub(super) fn free(heap: &mut ShardHeap, slab: &mut Slab, p: *mut u8) -> Found {
    let f = slab.find(heap.base().as_ptr(), p);
    if let Found::Live { page, class, idx } = f {
        // SAFETY: `find` just reported it live.
        unsafe { slab.free(heap, page, class, idx) };
    }
    f
}

/// `count` slots of class `c`, allocated one after another.
pub(super) fn alloc_slots(
    heap: &mut ShardHeap,
    slab: &mut Slab,
    hwm: &mut usize,
    c: usize,
    count: usize,
) -> Vec<*mut u8> {
    (0..count)
        .map(|_| slab.alloc(heap, hwm, c).unwrap().ptr)
        .collect()
}

#[test]
fn classes_and_reciprocals() {
    assert_eq!(class_of(0), 0);
    assert_eq!(class_of(1), 0);
    assert_eq!(class_of(16), 0);
    assert_eq!(class_of(17), 1);
    assert_eq!(class_of(1024), 63);
    assert_eq!(class_of(512), 31);
    assert_eq!((class_of(1025), class_size(64)), (64, 1152));
    assert_eq!((class_of(2048), class_of(2049)), (71, 72));
    assert_eq!(class_of(MAX_SIZE), CLASSES - 1);
    assert_eq!(class_size(CLASSES - 1), MAX_SIZE);
    // Every request gets the smallest class that holds it; above 1 KiB a
    // slot wastes at most 1/9 of itself.
    for size in 1..=MAX_SIZE {
        let c = class_of(size);
        assert!(class_size(c) >= size, "{size}");
        assert!(c == 0 || class_size(c - 1) < size, "{size}");
        assert_eq!(class_size(c) % GRANULE, 0);
        if size > 1024 {
            assert!(9 * (class_size(c) - size) < class_size(c), "{size}");
        }
    }
    for (c, &r) in RECIP.iter().enumerate().take(CLASSES) {
        for off in 0..PAGE {
            let idx = ((off as u64 * r) >> 32) as usize;
            assert_eq!(idx, off / class_size(c), "class {c} offset {off}");
        }
    }
    // The README's figures: a 32-byte record, and one entry of each pool
    // (64, 256 and 512 bytes) of address space per page.
    assert_eq!(META_BYTES, 864);
    assert_eq!(core::mem::size_of::<page::PageMeta>(), 32);
    // Each class's bitmap is the smallest with a bit per slot.
    for c in 0..CLASSES {
        let k = page::kind(c);
        assert!(slots(c) <= page::KIND_WORDS[k] * 64, "class {c}");
        assert!(
            k == 0 || slots(c) > page::KIND_WORDS[k - 1] * 64,
            "class {c}"
        );
    }
}

#[test]
fn fills_every_slot_then_frees_in_random_order() {
    let (mut heap, mut slab) = setup(64);
    let mut hwm = 0;
    for (k, c) in [0, 1, 2, 6, 15, 20, 63, 64, 71, CLASSES - 1]
        .into_iter()
        .enumerate()
    {
        // The spares of the classes before.
        let spares = k.min(MAX_SPARES);
        let n = slots(c);
        let size = class_size(c);
        // Two pages and a bit.
        let mut ps = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 2 * n + 3);
        slab.check();
        assert_eq!(slab.counts.pages, spares + 3);
        assert_eq!(slab.counts.used_slots, 2 * n + 3);
        let mut sorted = ps.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ps.len(), "a slot handed out twice");
        for (k, &p) in ps.iter().enumerate() {
            assert_eq!(p as usize % GRANULE, 0);
            // Fill the slot: a neighbour's pattern must survive.
            // SAFETY: `size` bytes of a live slot.
            unsafe { core::ptr::write_bytes(p, k as u8, size) };
        }
        for (k, &p) in ps.iter().enumerate() {
            // SAFETY: as above.
            let s = unsafe { core::slice::from_raw_parts(p, size) };
            assert!(s.iter().all(|&b| b == k as u8));
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15 ^ c as u64;
        while !ps.is_empty() {
            let k = rng(&mut seed) as usize % ps.len();
            let p = ps.swap_remove(k);
            assert!(matches!(free(&mut heap, &mut slab, p), Found::Live { .. }));
            if ps.len().is_multiple_of(97) {
                slab.check();
            }
        }
        slab.check();
        // Every page emptied: one stays as the class's spare, while the
        // shard keeps fewer than `MAX_SPARES`.
        assert_eq!(slab.counts.pages, (k + 1).min(MAX_SPARES));
        assert_eq!(slab.counts.used_slots, 0);
        assert_eq!(heap.stats().used_arenas, slab.counts.pages);
    }
    heap.manager().check_invariants().unwrap();
}

#[test]
fn double_and_interior_frees_are_detected() {
    let (mut heap, mut slab) = setup(8);
    let mut hwm = 0;
    let a = slab.alloc(&mut heap, &mut hwm, 2).unwrap().ptr;
    let b = slab.alloc(&mut heap, &mut hwm, 2).unwrap().ptr;
    assert_eq!(b as usize - a as usize, 48);
    assert_eq!(
        free(&mut heap, &mut slab, a.wrapping_add(16)),
        Found::Invalid
    );
    assert!(matches!(free(&mut heap, &mut slab, a), Found::Live { .. }));
    assert_eq!(free(&mut heap, &mut slab, a), Found::Free);
    // Past the last slot of the page (48 * 1365 = 65520).
    let tail = a.wrapping_add(slots(2) * 48);
    assert_eq!(free(&mut heap, &mut slab, tail), Found::Invalid);
    // Outside any slab page.
    let out = heap.base().as_ptr().wrapping_add(5 * PAGE);
    assert_eq!(free(&mut heap, &mut slab, out), Found::NotSlab);
    slab.check();
    assert_eq!(slab.counts.used_slots, 1);
    // The freed slot comes back first (lowest free slot).
    assert_eq!(slab.alloc(&mut heap, &mut hwm, 2).unwrap().ptr, a);
    slab.check();
}

#[test]
fn verify_names_a_corrupt_page_record() {
    let (mut heap, mut slab) = setup(8);
    let mut hwm = 0;
    let a = slab.alloc(&mut heap, &mut hwm, 2).unwrap().ptr;
    assert_eq!(slab.verify(hwm.div_ceil(PAGE)), Ok(()));
    let page = (a as usize - heap.base().as_ptr() as usize) >> PAGE_SHIFT;
    // A slot marked free behind the layer's back.
    slab.page_mut(page, 2).1[0] ^= 1;
    assert_eq!(
        slab.verify(slab.pages),
        Err("a page's free count differs from its bitmap")
    );
    slab.page_mut(page, 2).1[0] ^= 1;
    // A free count off by one, bitmap and all.
    slab.meta_mut(page).free -= 1;
    assert!(slab.verify(slab.pages).is_err());
    slab.meta_mut(page).free += 1;
    assert_eq!(slab.verify(slab.pages), Ok(()));
}

#[test]
fn empty_pages_go_back_but_one_spare_stays() {
    let (mut heap, mut slab) = setup(16);
    let mut hwm = 0;
    let c = CLASSES - 1;
    let n = slots(c);
    let ps = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 4 * n);
    assert_eq!(heap.stats().used_arenas, 4);
    for &p in &ps {
        free(&mut heap, &mut slab, p);
    }
    slab.check();
    assert_eq!(slab.counts.pages, 1);
    assert_eq!(slab.counts.returned, 3);
    assert_eq!(heap.stats().used_arenas, 1);
    // Alloc/free around the spare does not thrash.
    for _ in 0..1000 {
        let p = slab.alloc(&mut heap, &mut hwm, c).unwrap().ptr;
        free(&mut heap, &mut slab, p);
    }
    assert_eq!(slab.counts.carved, 4);
    // A page given back was cleared and is usable by the heap again.
    let big = heap
        .alloc(Layout::from_size_align(8 * PAGE, 16).unwrap())
        .unwrap();
    // SAFETY: ours.
    unsafe { heap.free(big).unwrap() };
    heap.manager().check_invariants().unwrap();
}

#[test]
fn recently_freed_slots_come_back_first_and_stale_hints_are_skipped() {
    let (mut heap, mut slab) = setup(16);
    let mut hwm = 0;
    let c = class_of(1024);
    let n = slots(c);
    let ps = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 3 * n);
    // LIFO: the slot freed last is handed out next.
    free(&mut heap, &mut slab, ps[5]);
    free(&mut heap, &mut slab, ps[100]);
    assert_eq!(slab.alloc(&mut heap, &mut hwm, c).unwrap().ptr, ps[100]);
    assert_eq!(slab.alloc(&mut heap, &mut hwm, c).unwrap().ptr, ps[5]);
    // Free everything: two pages go back to the heap while the class
    // still remembers slots in them.
    for &p in ps.iter().rev() {
        free(&mut heap, &mut slab, p);
    }
    assert_eq!(slab.counts.pages, 1);
    // Another class takes the pages back from the heap.
    let small: Vec<*mut u8> = (0..3 * slots(0))
        .map(|_| slab.alloc(&mut heap, &mut hwm, 0).unwrap().ptr)
        .collect();
    slab.check();
    // The old hints now point into pages of class 0 (or nowhere):
    // they are skipped, and nothing is handed out twice.
    let big = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 2 * n);
    slab.check();
    let mut all: Vec<usize> = small.iter().chain(&big).map(|&p| p as usize).collect();
    all.sort();
    for w in all.windows(2) {
        assert!(w[1] - w[0] >= 16, "overlapping slots");
    }
    for &p in &big {
        let f = slab.find(heap.base().as_ptr(), p);
        assert!(
            matches!(f, Found::Live { class, .. } if class == c),
            "{f:?}"
        );
    }
}

#[test]
fn dirty_slots_are_reported_for_calloc() {
    let (mut heap, mut slab) = setup(8);
    let mut hwm = 0;
    let f = slab.alloc(&mut heap, &mut hwm, 0).unwrap();
    assert_eq!(f.dirty, 0, "fresh memory");
    assert_eq!(hwm, PAGE);
    free(&mut heap, &mut slab, f.ptr);
    let g = slab.alloc(&mut heap, &mut hwm, 0).unwrap();
    assert_eq!(g.ptr, f.ptr);
    assert_eq!(g.dirty, 16, "a reused slot");
    // A page carved below the high-water mark is dirty throughout.
    let mut hwm2 = 8 * PAGE;
    let h = slab.alloc(&mut heap, &mut hwm2, 3).unwrap();
    assert_eq!(h.dirty, 64);
}

/// Leaves `pages` pages of old data (0xAB) at the start of `heap`: heap
/// blocks written all over, then freed. Returns where each page starts.
fn leave_old_data(heap: &mut ShardHeap, pages: usize) -> Vec<*mut u8> {
    let layout = Layout::from_size_align(PAGE, PAGE).unwrap();
    let olds: Vec<_> = (0..pages).map(|_| heap.alloc(layout).unwrap()).collect();
    let at = olds.iter().map(|p| p.as_ptr()).collect();
    for p in olds {
        // SAFETY: a live block of PAGE bytes, then given up.
        unsafe { p.as_ptr().write_bytes(0xAB, PAGE) };
        // SAFETY: live, given up.
        unsafe { heap.free(p) }.unwrap();
    }
    at
}

#[test]
fn a_class_first_page_gives_back_old_data_past_its_first_bytes() {
    let (mut heap, mut slab) = setup(8);
    leave_old_data(&mut heap, 2);
    let mut hwm = 2 * PAGE;
    let c = class_of(1024);
    let size = class_size(c);
    let first: Vec<Fresh> = (0..slots(c))
        .map(|_| slab.alloc(&mut heap, &mut hwm, c).unwrap())
        .collect();
    for (k, f) in first.iter().enumerate() {
        let at = k * size;
        if at + size <= FIRST_KEEP {
            assert_eq!(f.dirty, size, "slot {k}: old data kept");
        } else {
            assert_eq!(f.dirty, 0, "slot {k}: past the first {FIRST_KEEP} bytes");
            // SAFETY: a live slot of `size` bytes.
            let bytes = unsafe { core::slice::from_raw_parts(f.ptr, size) };
            assert!(bytes.iter().all(|&b| b == 0), "slot {k} reads as zero");
        }
    }
    // The class's second page is not its first: old data throughout.
    let second = slab.alloc(&mut heap, &mut hwm, c).unwrap();
    assert_eq!(second.dirty, size);
    // SAFETY: a live slot of `size` bytes.
    assert_eq!(unsafe { *second.ptr.add(size - 1) }, 0xAB);
    assert_eq!(slab.verify(2), Ok(()));
}

#[test]
fn a_slot_reported_clean_reads_as_zero_even_when_the_give_back_fails() {
    // As the test above, with the old data locked in memory (`mlock`):
    // MADV_DONTNEED then fails (EINVAL), as it does on a kernel whose
    // pages are larger than FIRST_KEEP, and the old data stays. No slot
    // may then be reported clean (`calloc` would skip clearing it). Where
    // `mlock` is refused, the give-back works and the same property is
    // checked on the slots it cleared.
    let (mut heap, mut slab) = setup(8);
    let at = leave_old_data(&mut heap, 2);
    // Both pages locked, or neither (a memlock limit may allow one).
    // SAFETY: locking pages of a mapping changes no byte.
    let lock = |p: *mut u8| unsafe { libc::mlock(p.cast(), PAGE) } == 0;
    // SAFETY: unlocking pages changes no byte.
    let unlock = |p: *mut u8| unsafe { libc::munlock(p.cast(), PAGE) };
    let locked = at.iter().all(|&p| lock(p));
    if !locked {
        at.iter().for_each(|&p| {
            unlock(p);
        });
    }
    let mut hwm = 2 * PAGE;
    let c = class_of(1024);
    let size = class_size(c);
    let mut clean = 0;
    for k in 0..slots(c) {
        let f = slab.alloc(&mut heap, &mut hwm, c).unwrap();
        if f.dirty == 0 {
            clean += 1;
            // SAFETY: a live slot of `size` bytes.
            let bytes = unsafe { core::slice::from_raw_parts(f.ptr, size) };
            assert!(
                bytes.iter().all(|&b| b == 0),
                "slot {k}: reported clean, holds old data"
            );
        }
    }
    if locked {
        assert_eq!(clean, 0, "nothing was given back, so every slot is dirty");
    } else {
        assert_eq!(
            clean,
            (PAGE - FIRST_KEEP) / size,
            "past the first FIRST_KEEP bytes"
        );
    }
    at.iter().for_each(|&p| {
        unlock(p);
    });
    assert_eq!(slab.verify(2), Ok(()));
}

#[test]
fn disabled_layer_serves_nothing() {
    let (mut heap, meta, states) = parts(4);
    // SAFETY: fresh zeroed metadata and states, leaked.
    let mut slab = unsafe { Slab::new(meta, states, 4, false) };
    let mut hwm = 0;
    assert!(slab.alloc(&mut heap, &mut hwm, 0).is_none());
    assert_eq!(
        slab.find(heap.base().as_ptr(), heap.base().as_ptr()),
        Found::NotSlab
    );
}

/// The slot states of the layer's slab pages: each a chunk of its own,
/// as long as the page has slots, and all zero (free) but for live slots.
fn check_chunks(slab: &Slab) {
    let mut ranges = Vec::new();
    for page in 0..slab.pages {
        let cls = slab.states.class(page) as usize;
        if cls == 0 {
            continue;
        }
        let c = cls - 1;
        let first = slab.states.slot(page, 0) as *const _ as usize;
        let last = slab.states.slot(page, slots(c) - 1) as *const _ as usize;
        assert_eq!(last - first, slots(c) - 1, "a chunk is not contiguous");
        ranges.push((first, last + 1));
    }
    ranges.sort();
    for w in ranges.windows(2) {
        assert!(w[0].1 <= w[1].0, "two pages share slot states");
    }
}

#[test]
fn slot_states_of_live_pages_never_overlap() {
    let (mut heap, mut slab) = setup(64);
    let mut hwm = 0;
    let mut s = 0x9e37_79b9_u64;
    let mut live: Vec<(*mut u8, usize)> = Vec::new();
    // Fill, then drain in random order, again and again: pages of every
    // chunk size are carved and given back, and their chunks reused.
    for cycle in 0..30u32 {
        while live.len() < 600 {
            let r = rng(&mut s) as usize;
            let c = if r.is_multiple_of(2) {
                CLASSES - 1
            } else {
                [0, 1, 2, 3, 7, 15, 31, 63][(r >> 8) % 8]
            };
            let f = slab.alloc(&mut heap, &mut hwm, c).unwrap();
            // SAFETY: a live slot of class `c`.
            unsafe { core::ptr::write_bytes(f.ptr, 0xa5, class_size(c)) };
            live.push((f.ptr, c));
        }
        slab.check();
        check_chunks(&slab);
        let keep = if cycle.is_multiple_of(3) { 0 } else { 200 };
        while live.len() > keep {
            let i = rng(&mut s) as usize % live.len();
            let (p, c) = live.swap_remove(i);
            let f = free(&mut heap, &mut slab, p);
            assert!(
                matches!(f, Found::Live { class, .. } if class == c),
                "{f:?}"
            );
        }
        slab.check();
        check_chunks(&slab);
    }
    assert_eq!(slab.chunks.used, slab.counts.pages);
    // Pages changed hands often enough for chunks to be reused.
    assert!(slab.counts.returned > 100, "{}", slab.counts.returned);
}

#[test]
fn emptied_pages_wait_in_the_pool_for_any_class_and_a_purge_gives_them_back() {
    let (mut heap, mut slab) = setup(64);
    let mut hwm = 0;
    let c = 20;
    let n = slots(c);
    // Twelve full pages of class `c`.
    let ps = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 12 * n);
    assert_eq!(slab.counts.pages, 12);
    // Empty four of them: the first stays as the class's spare, the next
    // ones go to the pool while it holds fewer than a quarter of the pages
    // left, the rest back to the heap.
    for &p in &ps[..4 * n] {
        assert!(matches!(free(&mut heap, &mut slab, p), Found::Live { .. }));
    }
    slab.check();
    assert_eq!(slab.counts.pages, 9, "eight full pages and the spare");
    assert_eq!(
        slab.pooled_pages(),
        2,
        "a quarter of nine pages, rounded down"
    );
    assert_eq!(slab.counts.returned, 1);
    assert_eq!(
        heap.stats().used_arenas,
        slab.counts.pages + slab.pooled_pages(),
        "pooled pages stay arenas of the heap"
    );
    // A page of another class comes from the pool, not from the heap.
    let arenas = heap.stats().used_arenas;
    let other = CLASSES - 1;
    let q = slab.alloc(&mut heap, &mut hwm, other).unwrap();
    slab.check();
    assert_eq!(slab.counts.reused, 1);
    assert_eq!(slab.pooled_pages(), 1);
    assert_eq!(heap.stats().used_arenas, arenas);
    // Its bytes may hold the old class's data: the whole slot is dirty.
    assert_eq!(q.dirty, class_size(other));
    // A purge gives the rest back.
    slab.purge(&mut heap);
    slab.check();
    assert_eq!(slab.pooled_pages(), 0);
    assert_eq!(slab.counts.returned, 2);
    assert_eq!(heap.stats().used_arenas, slab.counts.pages);
    for &p in &ps[4 * n..] {
        assert!(matches!(free(&mut heap, &mut slab, p), Found::Live { .. }));
    }
    assert!(matches!(
        free(&mut heap, &mut slab, q.ptr),
        Found::Live { .. }
    ));
    slab.check();
    assert_eq!(slab.counts.used_slots, 0);
    assert_eq!(
        heap.stats().used_arenas,
        slab.counts.pages + slab.pooled_pages()
    );
    heap.manager().check_invariants().unwrap();
}

#[test]
fn a_purge_hands_pooled_pages_to_the_heap_with_their_bytes() {
    let (mut heap, mut slab) = setup(64);
    let mut hwm = 0;
    let c = class_of(1024);
    let size = class_size(c);
    let n = slots(c);
    // Twelve full pages of class `c`, every byte written.
    let ps = alloc_slots(&mut heap, &mut slab, &mut hwm, c, 12 * n);
    for &p in &ps {
        // SAFETY: a live slot of `size` bytes.
        unsafe { p.write_bytes(0xAB, size) };
    }
    // Empty four: a spare, two pooled, one back to the heap (the test
    // above).
    for &p in &ps[..4 * n] {
        assert!(matches!(free(&mut heap, &mut slab, p), Found::Live { .. }));
    }
    let pooled: Vec<*mut u8> = slab
        .pool
        .pages()
        .iter()
        .map(|&page| {
            heap.base()
                .as_ptr()
                .wrapping_add((page as usize) << PAGE_SHIFT)
        })
        .collect();
    assert_eq!(pooled.len(), 2);
    // A purge hands them to the heap as they are: their old bytes still
    // there (after MADV_DONTNEED they would read as zero; free arenas of
    // the heap now, read through the test's own mapping).
    slab.purge(&mut heap);
    slab.check();
    assert_eq!(slab.pooled_pages(), 0);
    for &page in &pooled {
        for at in [0, PAGE / 2, PAGE - 1] {
            // SAFETY: inside the test's mapping; no one else uses the bytes.
            let b = unsafe { *page.add(at) };
            assert_eq!(b, 0xAB, "byte {at} of a purged page kept");
        }
    }
    heap.manager().check_invariants().unwrap();
    // The heap's next block there is reported dirty by its callers (the
    // shard's high-water mark covers it): nothing assumes zeros.
    for &page in &pooled {
        assert!(hwm >= (page as usize - heap.base().as_ptr() as usize) + PAGE);
    }
}
