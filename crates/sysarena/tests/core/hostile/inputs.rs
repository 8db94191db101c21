//! Hostile input, one test per kind, for [`ArenaManager`] (every policy ×
//! coalescing mode) and for [`Heap`]. Each call must fail with exactly the
//! documented error and leave the manager as it was: the same stats, the
//! same arenas, the same table slots, and every invariant intact.
//!
//! Every hostile call goes through [`Log`], which checks all of that and
//! records the call; `hostile_inputs_table` turns the records into the
//! table in `docs/HARDENING.md`.

use core::alloc::Layout;
use core::fmt::Debug;
use core::ptr::NonNull;
use std::collections::BTreeMap;

use sysarena::{
    AllocError, ArenaManager, Coalescing, Config, FreeError, Heap, OomReason, Policy, ReallocError,
    TableError,
};

use super::common::{Owned, Snapshot, check, configs, test_configs};

/// The region most cases use.
const CAP: usize = 4096;

/// One hostile call and what it produced.
#[derive(Clone, Debug)]
struct Row {
    input: &'static str,
    call: String,
    result: String,
}

/// The hostile calls a case made, for the table.
#[derive(Debug, Default)]
struct Log {
    rows: Vec<Row>,
}

impl Log {
    /// Runs `op` on `m`: it must fail with exactly `want`, and `m` must be
    /// unchanged afterwards.
    fn manager<const N: usize, T: Debug, E: Debug + PartialEq>(
        &mut self,
        input: &'static str,
        call: &str,
        m: &mut ArenaManager<N>,
        want: E,
        op: impl FnOnce(&mut ArenaManager<N>) -> Result<T, E>,
    ) {
        let before = Snapshot::of(m);
        match op(m) {
            Ok(v) => panic!("{input}: {call}: want Err({want:?}), got Ok({v:?})"),
            Err(e) => assert_eq!(e, want, "{input}: {call}"),
        }
        before.assert_same(m, call);
        self.record(input, call, format!("`{want:?}`"));
    }

    /// As [`Log::manager`], for a heap.
    fn heap<const N: usize, T: Debug, E: Debug + PartialEq>(
        &mut self,
        input: &'static str,
        call: &str,
        h: &mut Heap<N>,
        want: E,
        op: impl FnOnce(&mut Heap<N>) -> Result<T, E>,
    ) {
        let before = Snapshot::of(h.manager());
        match op(h) {
            Ok(v) => panic!("{input}: {call}: want Err({want:?}), got Ok({v:?})"),
            Err(e) => assert_eq!(e, want, "{input}: {call}"),
        }
        before.assert_same(h.manager(), call);
        self.record(input, call, format!("`{want:?}`"));
    }

    /// Records a result the case checked itself.
    fn record(&mut self, input: &'static str, call: &str, result: String) {
        self.rows.push(Row {
            input,
            call: call.to_owned(),
            result,
        });
    }

    /// Replaces the last result (for errors that carry an address, which
    /// changes from run to run).
    fn redact_last(&mut self, result: &str) {
        self.rows.last_mut().expect("a row").result = result.to_owned();
    }
}

/// A manager over [`CAP`] bytes with one live allocation `a` of 64 bytes at
/// offset 0 and another after it, so that `a` cannot grow in place.
fn with_live(config: Config) -> (ArenaManager<16>, usize) {
    let mut m = ArenaManager::<16>::with_config(CAP, config);
    let a = m.alloc(64, 8).unwrap().offset();
    m.alloc(64, 8).unwrap();
    check(&m);
    (m, a)
}

/// A heap over [`CAP`] bytes with one live allocation of 64 bytes and
/// another after it.
fn heap_with_live(config: Config) -> (Owned<16>, NonNull<u8>) {
    let mut h = Owned::<16>::new(CAP, config);
    let l = Layout::from_size_align(64, 8).unwrap();
    let p = h.alloc(l).unwrap();
    h.alloc(l).unwrap();
    (h, p)
}

/// [`Heap::free`] of a pointer the heap is expected to reject.
fn try_free<const N: usize>(h: &mut Heap<N>, p: NonNull<u8>) -> Result<(), FreeError> {
    // SAFETY: `free`'s contract is that the memory at `p` is not used after
    // the call; the tests never use the memory of the pointers they pass here
    // (outside the region, interior, freed, or another heap's, which that
    // heap keeps), and the heap rejects them without touching any memory.
    unsafe { h.free(p) }
}

/// [`Heap::realloc`] that the heap is expected to refuse.
fn try_realloc<const N: usize>(
    h: &mut Heap<N>,
    p: NonNull<u8>,
    layout: Layout,
) -> Result<NonNull<u8>, ReallocError> {
    // SAFETY: `p` is either a live allocation of `h` whose new layout is
    // refused — the old allocation then stays live and untouched — or a
    // pointer `h` rejects before touching any memory (`Heap::realloc`
    // validates it as `free` does; see the report on its `# Safety`).
    unsafe { h.realloc(p, layout) }
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

// ----- the cases ------------------------------------------------------------------

fn zero_size(config: Config, log: &mut Log) {
    const WHAT: &str = "zero size";
    let (mut m, a) = with_live(config);
    log.manager(WHAT, "alloc(0, 8)", &mut m, AllocError::ZeroSize, |m| {
        m.alloc(0, 8)
    });
    log.manager(
        WHAT,
        "realloc(live, 0, 8)",
        &mut m,
        ReallocError::Alloc(AllocError::ZeroSize),
        |m| m.realloc(a, 0, 8),
    );
    // The pointer layer rounds a zero-sized layout up to one byte (documented
    // on `Heap::alloc`): not an error, and freeable like any other.
    let mut h = Owned::<16>::new(CAP, config);
    let p = h.alloc(layout(0, 8)).unwrap();
    assert_eq!(h.usable_size(p), Some(8));
    // SAFETY: p is live and not used again.
    unsafe { h.free(p).unwrap() };
    check(h.manager());
    log.record(
        WHAT,
        "Heap::alloc(Layout 0 B, align 8)",
        "Ok: one byte, rounded to the alignment (documented)".into(),
    );
}

fn alignment_zero(config: Config, log: &mut Log) {
    const WHAT: &str = "alignment 0";
    let (mut m, a) = with_live(config);
    log.manager(
        WHAT,
        "alloc(8, 0)",
        &mut m,
        AllocError::BadAlign { align: 0 },
        |m| m.alloc(8, 0),
    );
    log.manager(
        WHAT,
        "realloc(live, 8, 0)",
        &mut m,
        ReallocError::Alloc(AllocError::BadAlign { align: 0 }),
        |m| m.realloc(a, 8, 0),
    );
    assert!(Layout::from_size_align(8, 0).is_err());
    log.record(
        WHAT,
        "Heap: Layout::from_size_align(8, 0)",
        "unrepresentable: `Layout` rejects it, `Heap` never sees it".into(),
    );
}

fn alignment_not_a_power_of_two(config: Config, log: &mut Log) {
    const WHAT: &str = "alignment not a power of two";
    let (mut m, a) = with_live(config);
    for align in [3, 12, 48, usize::MAX] {
        let call = if align == usize::MAX {
            "alloc(8, usize::MAX)".to_owned()
        } else {
            format!("alloc(8, {align})")
        };
        log.manager(WHAT, &call, &mut m, AllocError::BadAlign { align }, |m| {
            m.alloc(8, align)
        });
    }
    log.manager(
        WHAT,
        "realloc(live, 8, 24)",
        &mut m,
        ReallocError::Alloc(AllocError::BadAlign { align: 24 }),
        |m| m.realloc(a, 8, 24),
    );
}

fn alignment_larger_than_the_region(config: Config, log: &mut Log) {
    const WHAT: &str = "alignment larger than the region";
    let (mut m, a) = with_live(config);
    // A request is rounded up to its alignment: 1 byte at 8192 needs 8192.
    let too_large = |size| AllocError::TooLarge {
        size,
        capacity: CAP,
    };
    log.manager(WHAT, "alloc(1, 8192)", &mut m, too_large(1), |m| {
        m.alloc(1, 8192)
    });
    log.manager(WHAT, "alloc(1, 2^63)", &mut m, too_large(1), |m| {
        m.alloc(1, usize::MAX / 2 + 1)
    });
    log.manager(
        WHAT,
        "realloc(live, 8, 8192)",
        &mut m,
        ReallocError::Alloc(too_large(8)),
        |m| m.realloc(a, 8, 8192),
    );
    let (mut h, p) = heap_with_live(config);
    log.heap(
        WHAT,
        "Heap::alloc(Layout 1 B, align 8192)",
        &mut h,
        too_large(1),
        |h| h.alloc(layout(1, 8192)),
    );
    log.heap(
        WHAT,
        "Heap::alloc(Layout 0 B, align 1 << 20)",
        &mut h,
        too_large(1),
        |h| h.alloc(layout(0, 1 << 20)),
    );
    log.heap(
        WHAT,
        "Heap::realloc(live, Layout 8 B, align 8192)",
        &mut h,
        ReallocError::Alloc(too_large(8)),
        |h| try_realloc(h, p, layout(8, 8192)),
    );
}

fn size_near_usize_max(config: Config, log: &mut Log) {
    const WHAT: &str = "size near usize::MAX";
    let (mut m, a) = with_live(config);
    let max = usize::MAX;
    let overflow = |size, align| AllocError::SizeOverflow { size, align };
    let too_large = |size| AllocError::TooLarge {
        size,
        capacity: CAP,
    };
    log.manager(WHAT, "alloc(usize::MAX, 1)", &mut m, too_large(max), |m| {
        m.alloc(max, 1)
    });
    log.manager(
        WHAT,
        "alloc(usize::MAX, 2)",
        &mut m,
        overflow(max, 2),
        |m| m.alloc(max, 2),
    );
    log.manager(
        WHAT,
        "alloc(usize::MAX - 6, 8)",
        &mut m,
        overflow(max - 6, 8),
        |m| m.alloc(max - 6, 8),
    );
    // The largest multiple of 8: rounding does not overflow, the region is
    // simply too small.
    log.manager(
        WHAT,
        "alloc(usize::MAX - 7, 8)",
        &mut m,
        too_large(max - 7),
        |m| m.alloc(max - 7, 8),
    );
    let top = usize::MAX / 2 + 1; // the largest power of two
    log.manager(
        WHAT,
        "alloc(2^63 + 1, 2^63)",
        &mut m,
        overflow(top + 1, top),
        |m| m.alloc(top + 1, top),
    );
    log.manager(
        WHAT,
        "alloc(capacity + 1, 1)",
        &mut m,
        too_large(CAP + 1),
        |m| m.alloc(CAP + 1, 1),
    );
    log.manager(
        WHAT,
        "realloc(live, usize::MAX, 16)",
        &mut m,
        ReallocError::Alloc(overflow(max, 16)),
        |m| m.realloc(a, max, 16),
    );
    log.manager(
        WHAT,
        "grow(usize::MAX)",
        &mut m,
        TableError::CapacityOverflow,
        |m| m.grow(max),
    );
    // The largest size a `Layout` allows.
    let (mut h, p) = heap_with_live(config);
    let big = isize::MAX as usize - 7;
    log.heap(
        WHAT,
        "Heap::alloc(Layout isize::MAX - 7 B, align 8)",
        &mut h,
        too_large(big),
        |h| h.alloc(layout(big, 8)),
    );
    log.heap(
        WHAT,
        "Heap::realloc(live, Layout isize::MAX - 7 B, align 8)",
        &mut h,
        ReallocError::Alloc(too_large(big)),
        |h| try_realloc(h, p, layout(big, 8)),
    );
}

/// A region of `usize::MAX` bytes (offsets only: the manager never touches
/// memory): sizes near the top are legal, and the arithmetic at the end of
/// the address space must not wrap.
fn region_of_usize_max_bytes(config: Config, log: &mut Log) {
    const WHAT: &str = "size near usize::MAX, region of usize::MAX bytes";
    let max = usize::MAX;
    let mut m = ArenaManager::<8>::with_config(max, config);
    let a = m.alloc(max - 7, 8).unwrap();
    assert_eq!((a.offset(), a.size()), (0, max - 7));
    check(&m);
    log.manager(
        WHAT,
        "alloc(usize::MAX, 2)",
        &mut m,
        AllocError::SizeOverflow {
            size: max,
            align: 2,
        },
        |m| m.alloc(max, 2),
    );
    log.manager(
        WHAT,
        "alloc(8, 8) — 7 bytes left",
        &mut m,
        AllocError::OutOfMemory(OomReason::NoFit {
            needed: 8,
            free_bytes: 7,
            largest_free: 7,
        }),
        |m| m.alloc(8, 8),
    );
    log.manager(
        WHAT,
        "realloc(a, usize::MAX, 2)",
        &mut m,
        ReallocError::Alloc(AllocError::SizeOverflow {
            size: max,
            align: 2,
        }),
        |m| m.realloc(0, max, 2),
    );
    log.manager(WHAT, "grow(1)", &mut m, TableError::CapacityOverflow, |m| {
        m.grow(1)
    });
    // The last 7 bytes are still there: `a` grows into them in place, to
    // end exactly at usize::MAX.
    let r = m.realloc(0, max, 1).unwrap();
    assert_eq!((r.offset, r.size, r.moved_from), (0, max, None));
    assert_eq!(m.stats().free_bytes, 0);
    check(&m);
    m.free(0).unwrap();
    assert_eq!(m.stats().largest_free, max);
    check(&m);
}

fn outside_the_region(config: Config, log: &mut Log) {
    const WHAT: &str = "offset or pointer outside the region";
    let (mut m, _) = with_live(config);
    let out = |offset| FreeError::OutOfRegion { offset };
    log.manager(WHAT, "free(capacity)", &mut m, out(CAP), |m| m.free(CAP));
    log.manager(WHAT, "free(usize::MAX)", &mut m, out(usize::MAX), |m| {
        m.free(usize::MAX)
    });
    log.manager(
        WHAT,
        "realloc(capacity, 8, 8)",
        &mut m,
        ReallocError::Free(out(CAP)),
        |m| m.realloc(CAP, 8, 8),
    );

    let (mut h, _) = heap_with_live(config);
    let base = h.base();
    // Pointers that are never dereferenced: one past the end, one before the
    // start (wrapping, so no out-of-bounds `add`), and a local variable.
    let end = base.as_ptr().wrapping_add(CAP);
    let end = NonNull::new(end).unwrap();
    let before = NonNull::new(base.as_ptr().wrapping_sub(1)).unwrap();
    let mut local = 0u8;
    let local = NonNull::from(&mut local);
    log.heap(WHAT, "Heap::free(base + capacity)", &mut h, out(CAP), |h| {
        try_free(h, end)
    });
    log.heap(WHAT, "Heap::free(base - 1)", &mut h, out(usize::MAX), |h| {
        try_free(h, before)
    });
    let distance = (local.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
    log.heap(
        WHAT,
        "Heap::free(&local) — a stack variable",
        &mut h,
        out(distance),
        |h| try_free(h, local),
    );
    log.redact_last("`OutOfRegion { offset: <its distance from the base, wrapping> }`");
    log.heap(
        WHAT,
        "Heap::realloc(base + capacity, Layout 8 B)",
        &mut h,
        ReallocError::Free(out(CAP)),
        |h| try_realloc(h, end, layout(8, 8)),
    );
    assert_eq!(h.usable_size(end), None);
    assert!(!h.contains(end.as_ptr()) && !h.contains(before.as_ptr()));
}

fn inside_an_arena_not_at_its_start(config: Config, log: &mut Log) {
    const WHAT: &str = "inside an arena, not at its start";
    let (mut m, a) = with_live(config);
    let not = |offset| FreeError::NotAllocated { offset };
    log.manager(WHAT, "free(live + 1)", &mut m, not(a + 1), |m| {
        m.free(a + 1)
    });
    log.manager(WHAT, "free(live + 63)", &mut m, not(a + 63), |m| {
        m.free(a + 63)
    });
    // The tail of the region is one free arena starting at 128.
    log.manager(
        WHAT,
        "free(1000) — inside the free tail",
        &mut m,
        not(1000),
        |m| m.free(1000),
    );
    log.manager(
        WHAT,
        "realloc(live + 1, 8, 8)",
        &mut m,
        ReallocError::Free(not(a + 1)),
        |m| m.realloc(a + 1, 8, 8),
    );

    let (mut h, p) = heap_with_live(config);
    // SAFETY: p + 1 lies inside p's allocation.
    let inner = unsafe { p.add(1) };
    log.heap(WHAT, "Heap::free(live + 1)", &mut h, not(1), |h| {
        try_free(h, inner)
    });
    log.heap(
        WHAT,
        "Heap::realloc(live + 1, Layout 8 B)",
        &mut h,
        ReallocError::Free(not(1)),
        |h| try_realloc(h, inner, layout(8, 8)),
    );
    assert_eq!(h.usable_size(inner), None);
}

fn already_freed(config: Config, log: &mut Log) {
    const WHAT: &str = "already freed";
    let mut m = ArenaManager::<16>::with_config(CAP, config);
    let a = m.alloc(64, 8).unwrap().offset();
    let b = m.alloc(64, 8).unwrap().offset();
    let _c = m.alloc(64, 8).unwrap().offset();
    assert_eq!(
        (a, b),
        (0, 64),
        "every policy fills a fresh region in order"
    );
    m.free(a).unwrap();
    // The fast model caches small freed arenas (quick lists): a second free
    // of one is caught all the same.
    if m.stats().cached_arenas > 0 {
        log.manager(
            WHAT,
            "free(a) — again, a waiting in a quick list",
            &mut m,
            FreeError::DoubleFree { offset: a },
            |m| m.free(a),
        );
        m.flush_quick_lists();
    }
    // `a` has no left neighbour and its right one is live: it stays an
    // arena of its own under either coalescing mode.
    log.manager(
        WHAT,
        "free(a) — again",
        &mut m,
        FreeError::DoubleFree { offset: a },
        |m| m.free(a),
    );
    log.manager(
        WHAT,
        "realloc(a, 8, 8) — a freed",
        &mut m,
        ReallocError::Free(FreeError::DoubleFree { offset: a }),
        |m| m.realloc(a, 8, 8),
    );
    // `b`'s left neighbour is free: immediate coalescing merges `b` into it,
    // so no arena starts at `b` any more (documented on `NotAllocated`).
    m.free(b).unwrap();
    // (Under the fast model `b` waits in a quick list until a flush.)
    m.flush_quick_lists();
    let want = match config.coalescing {
        Coalescing::Deferred => FreeError::DoubleFree { offset: b },
        Coalescing::Immediate => FreeError::NotAllocated { offset: b },
    };
    log.manager(
        WHAT,
        "free(b) — again, b merged into free a",
        &mut m,
        want,
        |m| m.free(b),
    );
    // The start of a free arena that was never handed out: the remainder.
    log.manager(
        WHAT,
        "free(192) — the free remainder, never handed out",
        &mut m,
        FreeError::DoubleFree { offset: 192 },
        |m| m.free(192),
    );

    let (mut h, p) = heap_with_live(config);
    // SAFETY: p is live and not used again.
    unsafe { h.free(p).unwrap() };
    log.heap(
        WHAT,
        "Heap::free(p) — again",
        &mut h,
        FreeError::DoubleFree { offset: 0 },
        |h| try_free(h, p),
    );
    log.heap(
        WHAT,
        "Heap::realloc(p, Layout 8 B) — p freed",
        &mut h,
        ReallocError::Free(FreeError::DoubleFree { offset: 0 }),
        |h| try_realloc(h, p, layout(8, 8)),
    );
}

/// `ArenaManager<4>` over 96 bytes: three live arenas of 16 and a free tail
/// of 48. All four descriptors are in use.
fn full_table(config: Config) -> (ArenaManager<4>, usize) {
    let mut m = ArenaManager::<4>::with_config(96, config);
    let a = m.alloc(16, 1).unwrap().offset();
    m.alloc(16, 1).unwrap();
    m.alloc(16, 1).unwrap();
    assert_eq!(m.stats().spare_descriptors, 0);
    check(&m);
    (m, a)
}

fn table_exhausted_during_a_split(config: Config, log: &mut Log) {
    const WHAT: &str = "every descriptor in use during a split";
    let no_spare =
        |descriptors| AllocError::OutOfMemory(OomReason::NoSpareDescriptor { descriptors });
    let (mut m, a) = full_table(config);
    // 8 bytes fit the free tail of 48, but the 40 left over need a descriptor.
    log.manager(
        WHAT,
        "alloc(8, 1) — the remainder needs a descriptor",
        &mut m,
        no_spare(4),
        |m| m.alloc(8, 1),
    );
    // `a` cannot grow in place (its neighbour is live): it must move into the
    // tail, which needs a split.
    log.manager(
        WHAT,
        "realloc(a, 24, 1) — the move needs a split",
        &mut m,
        ReallocError::Alloc(no_spare(4)),
        |m| m.realloc(a, 24, 1),
    );
    // An exact fit needs no descriptor: the table is full, not the region.
    assert_eq!(m.alloc(48, 1).unwrap().offset(), 48);
    check(&m);
    log.manager(
        WHAT,
        "grow(64) — the last arena is in use",
        &mut m,
        TableError::NoSpareDescriptor,
        |m| m.grow(64),
    );

    // Alignment padding needs a descriptor too: `ArenaManager<3>` with a
    // free arena [8, 32) between two live ones.
    let mut m = ArenaManager::<3>::with_config(64, config);
    m.alloc(8, 1).unwrap();
    let b = m.alloc(24, 1).unwrap().offset();
    m.alloc(32, 1).unwrap();
    m.free(b).unwrap();
    log.manager(
        WHAT,
        "alloc(16, 16) — the padding [8, 16) needs a descriptor",
        &mut m,
        no_spare(3),
        |m| m.alloc(16, 16),
    );

    // Relocation: sliding the arenas down opens three alignment gaps, each
    // a free arena, and the one free arena it removes pays for only one.
    let mut m = padding_heavy::<6>(config);
    assert_eq!(m.stats().spare_descriptors, 0);
    log.manager(
        WHAT,
        "relocate(..) — 3 alignment gaps, 1 free arena, no spare",
        &mut m,
        TableError::NoSpareDescriptor,
        |m| m.relocate(|mv| panic!("nothing may move: {mv:?}")),
    );

    let mut h = Owned::<4>::new(96, config);
    let l16 = layout(16, 1);
    for _ in 0..3 {
        h.alloc(l16).unwrap();
    }
    log.heap(
        WHAT,
        "Heap::alloc(Layout 8 B) — table full",
        &mut h,
        no_spare(4),
        |h| h.alloc(layout(8, 1)),
    );
}

fn from_another_region(config: Config, log: &mut Log) {
    const WHAT: &str = "a block from another region";
    let mut small = ArenaManager::<16>::with_config(256, config);
    small.alloc(64, 8).unwrap();
    let mut other = ArenaManager::<16>::with_config(CAP, config);
    let blocks: Vec<_> = (0..8)
        .map(|_| other.alloc(40, 8).unwrap().offset())
        .collect();
    // Beyond the small region: caught by the bounds check.
    let far = blocks[7];
    assert!(far >= 256);
    log.manager(
        WHAT,
        "free(280) — another manager's block, beyond this region",
        &mut small,
        FreeError::OutOfRegion { offset: far },
        |m| m.free(far),
    );
    // Inside the small region, where no arena starts here. (Offsets carry no
    // region identity: had an arena started there, the offset API could not
    // tell. `Heap` can, because its pointers carry the address.)
    let near = blocks[1];
    assert_eq!(near, 40);
    log.manager(
        WHAT,
        "free(40) — another manager's block, inside this region",
        &mut small,
        FreeError::NotAllocated { offset: near },
        |m| m.free(near),
    );

    let (mut h, _) = heap_with_live(config);
    let (mut g, q) = heap_with_live(config);
    let distance = (q.as_ptr() as usize).wrapping_sub(h.base().as_ptr() as usize);
    // `q` stays live in `g`: `h` rejects it without touching it.
    log.heap(
        WHAT,
        "Heap::free(q) — q from another heap",
        &mut h,
        FreeError::OutOfRegion { offset: distance },
        |h| try_free(h, q),
    );
    log.redact_last("`OutOfRegion { offset: <its distance from the base, wrapping> }`");
    log.heap(
        WHAT,
        "Heap::realloc(q, Layout 8 B) — q from another heap",
        &mut h,
        ReallocError::Free(FreeError::OutOfRegion { offset: distance }),
        |h| try_realloc(h, q, layout(8, 8)),
    );
    log.redact_last("`Free(OutOfRegion { offset: <its distance from the base, wrapping> })`");
    // The other heap still owns its block.
    // SAFETY: q is live in g and not used again.
    unsafe { g.free(q).unwrap() };
    check(g.manager());
}

fn without_the_offset_map(config: Config, log: &mut Log) {
    const WHAT: &str = "no offset map (`set_offset_map(false)`), a wrong hint";
    let mut m = ArenaManager::<16>::with_config(CAP, config);
    m.set_offset_map(false);
    let a = m.alloc(64, 8).unwrap();
    let b = m.alloc(64, 8).unwrap();
    let (off, hint) = (a.offset(), a.hint());
    log.manager(
        WHAT,
        "free(a) — by offset alone",
        &mut m,
        FreeError::NoOffsetMap { offset: off },
        |m| m.free(off),
    );
    log.manager(
        WHAT,
        "free_with_hint(a, b.hint()) — another block's hint",
        &mut m,
        FreeError::NoOffsetMap { offset: off },
        |m| m.free_with_hint(off, b.hint()),
    );
    log.manager(
        WHAT,
        "realloc_with_hint(a, 1000, 8, 8) — a made-up hint",
        &mut m,
        ReallocError::Free(FreeError::NoOffsetMap { offset: off }),
        |m| m.realloc_with_hint(off, 1000, 8, 8),
    );
    log.manager(
        WHAT,
        "free_with_hint(capacity, a.hint())",
        &mut m,
        FreeError::OutOfRegion { offset: CAP },
        |m| m.free_with_hint(CAP, hint),
    );
    // Freed with its right hint: the same hint again is a double free (its
    // descriptor still describes the freed arena: `b` is live beside it).
    m.free_with_hint(off, hint).unwrap();
    log.manager(
        WHAT,
        "free_with_hint(a, a.hint()) — again",
        &mut m,
        FreeError::DoubleFree { offset: off },
        |m| m.free_with_hint(off, hint),
    );
    m.free_with_hint(b.offset(), b.hint()).unwrap();
    check(&m);
}

fn empty_region(config: Config, log: &mut Log) {
    const WHAT: &str = "an empty region (capacity 0)";
    let mut m = ArenaManager::<4>::with_config(0, config);
    log.manager(
        WHAT,
        "alloc(1, 1)",
        &mut m,
        AllocError::TooLarge {
            size: 1,
            capacity: 0,
        },
        |m| m.alloc(1, 1),
    );
    log.manager(
        WHAT,
        "free(0)",
        &mut m,
        FreeError::OutOfRegion { offset: 0 },
        |m| m.free(0),
    );
    log.manager(
        WHAT,
        "realloc(0, 8, 8)",
        &mut m,
        ReallocError::Free(FreeError::OutOfRegion { offset: 0 }),
        |m| m.realloc(0, 8, 8),
    );
}

/// Every case, named once: `CASES` in the order of the table, and one
/// `#[test]` per case (in `every_config`), each over every config.
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        const CASES: &[fn(Config, &mut Log)] = &[$($case),*];

        mod every_config {
            use super::test_configs;

            $(
                #[test]
                fn $case() {
                    for config in test_configs() {
                        super::$case(config, &mut super::Log::default());
                    }
                }
            )*
        }
    };
}

cases!(
    zero_size,
    alignment_zero,
    alignment_not_a_power_of_two,
    alignment_larger_than_the_region,
    size_near_usize_max,
    region_of_usize_max_bytes,
    outside_the_region,
    inside_an_arena_not_at_its_start,
    already_freed,
    table_exhausted_during_a_split,
    from_another_region,
    without_the_offset_map,
    empty_region,
);

// ----- relocation and the descriptor count --------------------------------------

/// `ArenaManager<N>` over 48 bytes: a free arena [0, 14) followed by live
/// arenas aligned 2, 4, 4, 8 and 16 that end exactly at the region's end.
/// Sliding them down opens three alignment gaps ([2, 4), [12, 16),
/// [24, 32)), each a free arena that needs a descriptor, while only one free
/// arena gives its descriptor back.
fn padding_heavy<const N: usize>(config: Config) -> ArenaManager<N> {
    let mut m = ArenaManager::<N>::with_config(48, config);
    let f = m.alloc(14, 1).unwrap().offset();
    for (size, align) in [(2, 2), (4, 4), (4, 4), (8, 8), (16, 16)] {
        m.alloc(size, align).unwrap();
    }
    m.free(f).unwrap();
    check(&m);
    m
}

#[test]
fn relocation_opens_alignment_gaps_when_descriptors_allow() {
    for config in test_configs() {
        let mut m = padding_heavy::<8>(config);
        let mut moves = Vec::new();
        let r = m.relocate(|mv| moves.push(mv)).unwrap();
        assert_eq!(r.moved, 4, "{config:?}: {moves:?}");
        let free: Vec<_> = m
            .arenas()
            .filter(|a| !a.in_use)
            .map(|a| (a.offset, a.size))
            .collect();
        assert_eq!(free, [(2, 2), (12, 4), (24, 8)], "{config:?}");
        check(&m);
    }
}

/// Regression: `relocate` used to check only that *one* spare descriptor
/// existed when there were free arenas, but sliding arenas down can open
/// more alignment gaps than the free arenas it removes give back. With 6
/// arenas in a table of 7 (one spare) the third gap found no descriptor and
/// `relocate` panicked in `new_free_arena` ("caller checked for a spare"),
/// half done: arenas had moved and the caller had been told to move bytes.
/// Since 4bc34c3 a dry run counts the descriptors first, and it fails with
/// the documented `TableError::NoSpareDescriptor` before anything moves.
#[test]
fn relocation_without_descriptors_for_its_gaps_fails_cleanly() {
    for config in test_configs() {
        let mut m = padding_heavy::<7>(config);
        assert_eq!(m.stats().spare_descriptors, 1);
        let before = Snapshot::of(&m);
        let r = m.relocate(|mv| panic!("{config:?}: nothing may move: {mv:?}"));
        assert_eq!(r, Err(TableError::NoSpareDescriptor), "{config:?}");
        before.assert_same(&m, "relocate");
    }
}

/// An origin near the top of the address space (a device address, say):
/// alignment is honoured for `origin + offset`, wrapping, through alloc,
/// realloc and relocation.
#[test]
fn an_origin_that_wraps_keeps_alignment() {
    let origin = usize::MAX - 2; // offset 3 is address 0
    for config in test_configs() {
        let mut m = ArenaManager::<32>::with_config(CAP, config);
        m.set_origin(origin).unwrap();
        let a = m.alloc(8, 64).unwrap().offset();
        assert_eq!(a, 3, "{config:?}");
        let b = m.alloc(40, 16).unwrap().offset();
        let c = m.alloc(100, 128).unwrap().offset();
        let r = m.realloc(b, 300, 256).unwrap();
        m.free(a).unwrap();
        let aligned = |m: &ArenaManager<32>| {
            m.arenas()
                .filter(|x| x.in_use)
                .all(|x| origin.wrapping_add(x.offset) % 16 == 0)
        };
        assert!(aligned(&m), "{config:?}");
        assert_eq!(origin.wrapping_add(r.offset) % 256, 0, "{config:?}");
        assert_eq!(origin.wrapping_add(c) % 128, 0, "{config:?}");
        check(&m);
        m.relocate(|_| {}).unwrap();
        assert!(aligned(&m), "{config:?}");
        check(&m);
    }
}

// ----- the table -------------------------------------------------------------------

/// The short name of a config, for the table.
fn config_name(c: Config) -> String {
    format!("{}/{}", c.policy.name(), c.coalescing.name())
}

/// The configs a result was seen under, named as briefly as possible.
fn which(seen: &[Config]) -> String {
    let all: Vec<Config> = configs().collect();
    if seen.len() == all.len() {
        return String::new();
    }
    for c in Coalescing::ALL {
        if seen.len() == Policy::ALL.len() && seen.iter().all(|s| s.coalescing == c) {
            return format!("{} coalescing", c.name());
        }
    }
    seen.iter()
        .map(|&c| config_name(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row of the table: the kind of input and the call.
type Key = (&'static str, String);

/// Runs every case under every config and renders what each hostile call
/// produced as a Markdown table.
fn table() -> String {
    // (input, call) in first-seen order -> result -> configs.
    let mut order: Vec<Key> = Vec::new();
    let mut results: BTreeMap<Key, Vec<(String, Vec<Config>)>> = BTreeMap::new();
    for case in CASES {
        for config in configs() {
            let mut log = Log::default();
            case(config, &mut log);
            for row in log.rows {
                let key = (row.input, row.call);
                let entry = results.entry(key.clone()).or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                });
                match entry.iter_mut().find(|(r, _)| *r == row.result) {
                    Some((_, seen)) => seen.push(config),
                    None => entry.push((row.result, vec![config])),
                }
            }
        }
    }
    let mut out = String::from("| hostile input | call | result |\n| --- | --- | --- |\n");
    for key in order {
        let shown: Vec<String> = results[&key]
            .iter()
            .map(|(result, seen)| match which(seen) {
                w if w.is_empty() => result.clone(),
                w => format!("{result} ({w})"),
            })
            .collect();
        let call = match key.1.split_once(" — ") {
            Some((code, note)) => format!("`{code}` — {note}"),
            None => format!("`{}`", key.1),
        };
        out += &format!("| {} | {call} | {} |\n", key.0, shown.join("; "));
    }
    out
}

const TABLE_START: &str = "<!-- hostile-inputs-table: start -->\n";
const TABLE_END: &str = "<!-- hostile-inputs-table: end -->";

/// Prints the table (`-- --nocapture`) and checks that `docs/HARDENING.md`
/// shows exactly this table.
#[test]
#[cfg_attr(
    miri,
    ignore = "reads docs/HARDENING.md; the cases run under Miri one by one"
)]
fn hostile_inputs_table() {
    let table = table();
    println!("{table}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/HARDENING.md");
    let doc = std::fs::read_to_string(path).expect("docs/HARDENING.md");
    let start = doc.find(TABLE_START).expect("the table's start marker") + TABLE_START.len();
    let end = doc.find(TABLE_END).expect("the table's end marker");
    assert_eq!(
        &doc[start..end],
        table,
        "docs/HARDENING.md is out of date: paste the table printed above between its markers"
    );
}
