//! sysarena as this test binary's `#[global_allocator]`, over a static
//! region: the test harness, the threads and a real workload (`Vec`,
//! `String`, `BTreeMap`, `HashMap`, formatting) all allocate from it.
//!
//! The region is claimed lazily by the OOM handler, one chunk at a time:
//! the first call claims the first chunk (before `main` runs, when std
//! first allocates), later calls extend the region with the next chunk —
//! the rescue path runs for real.

use std::alloc::{GlobalAlloc, Layout};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use sysarena::global::{BadFree, LockedHeap, OomAction, SliceLockedHeap, SliceRescue};
use sysarena::{AllocError, ArenaManager, Config, FreeError, Heap, Slot};

const REGION: usize = 64 << 20;
const CHUNK: usize = 64 << 10;
const DESCRIPTORS: usize = 1 << 16;

struct Region(std::cell::UnsafeCell<[u8; REGION]>);
// SAFETY: only the OOM handler touches it, with the heap's lock held, to
// hand out chunks; after that the heap owns the bytes.
unsafe impl Sync for Region {}
static MEMORY: Region = Region(std::cell::UnsafeCell::new([0; REGION]));
static CLAIMED: AtomicUsize = AtomicUsize::new(0);

/// The arena table, outside the region: a slice table keeps the 3.5 MiB of
/// descriptors off the stack (`claim` would build an inline table there).
struct Table(std::cell::UnsafeCell<[Slot; DESCRIPTORS]>);
// SAFETY: taken once, by the first call of the OOM handler (lock held).
unsafe impl Sync for Table {}
static TABLE: Table = Table(std::cell::UnsafeCell::new([Slot::EMPTY; DESCRIPTORS]));

fn claim_chunks(r: &mut SliceRescue<'_, 'static>, layout: Layout, _: AllocError) -> OomAction {
    let done = CLAIMED.load(Ordering::Relaxed);
    let want = layout
        .size()
        .saturating_add(layout.align())
        .div_ceil(CHUNK)
        .max(1)
        * CHUNK;
    if done + want > REGION {
        return OomAction::Fail;
    }
    let base = MEMORY.0.get().cast::<u8>().wrapping_add(done);
    let base = NonNull::new(base).expect("static is not null");
    let r = if done == 0 {
        // SAFETY: this is the handler's first successful call, the only
        // place the table is borrowed; the first `want` bytes of the static
        // region were never handed out.
        let table = unsafe { &mut *TABLE.0.get() };
        let Ok(manager) = ArenaManager::from_slice(table, want, Config::fast()) else {
            return OomAction::Fail;
        };
        // SAFETY: as above: the heap gets `base .. base + want` for ever.
        r.init_heap(unsafe { Heap::from_manager(base, manager) })
    } else {
        // SAFETY: bytes `done .. done + want` of the static region were
        // never handed to the heap, and `done` is the region's end.
        unsafe { r.extend(base, want) }
    };
    match r {
        Ok(()) => {
            CLAIMED.store(done + want, Ordering::Relaxed);
            OomAction::Retry
        }
        Err(_) => OomAction::Fail,
    }
}

#[global_allocator]
static HEAP: SliceLockedHeap<'static> = LockedHeap::with_oom_handler(Config::fast(), claim_chunks);

static BAD_FREES: AtomicUsize = AtomicUsize::new(0);
fn count_bad_free(_: &BadFree) {
    BAD_FREES.fetch_add(1, Ordering::Relaxed);
}

/// One thread's workload; returns a checksum that depends on every value
/// it stored and read back.
fn churn(t: u64) -> u64 {
    let mut sum = 0u64;
    let mut tree: BTreeMap<u64, String> = BTreeMap::new();
    let mut map: HashMap<String, Vec<u64>> = HashMap::new();
    for round in 0..300u64 {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..(round % 97) {
            v.push(i * t);
        }
        v.shrink_to_fit();
        sum = sum.wrapping_add(v.iter().sum::<u64>());
        let mut s = String::new();
        write!(s, "thread {t} round {round}: {:?}", &v[..v.len().min(5)]).unwrap();
        tree.insert(round, s.clone());
        map.entry(format!("k{}", round % 31))
            .or_default()
            .extend_from_slice(&v);
        if round % 3 == 0 {
            let k = round / 2;
            if let Some(old) = tree.remove(&k) {
                assert!(old.starts_with(&format!("thread {t} round {k}:")), "{old}");
                sum = sum.wrapping_add(old.len() as u64);
            }
        }
        if round % 50 == 49 {
            map.clear();
        }
        let boxed: Box<[u8]> = vec![(round & 0xff) as u8; (round as usize * 37) % 4000].into();
        assert!(boxed.iter().all(|&b| b == (round & 0xff) as u8));
    }
    for (k, s) in &tree {
        assert!(s.starts_with(&format!("thread {t} round {k}:")));
        sum = sum.wrapping_add(s.len() as u64);
    }
    for (k, v) in &map {
        sum = sum.wrapping_add(k.len() as u64 + v.len() as u64);
    }
    sum
}

#[test]
fn real_workload_on_sysarena_global_allocator() {
    // Everything so far — the harness included — ran on sysarena.
    let before = HEAP.stats();
    assert!(
        before.capacity >= CHUNK && before.used_arenas > 0,
        "{before:?}"
    );
    assert!(HEAP.rescues() >= 1);

    // The reference: the same work on one thread, one after another.
    let expected: Vec<u64> = (1..=8).map(churn).collect();
    let handles: Vec<_> = (1..=8u64)
        .map(|t| thread::spawn(move || churn(t)))
        .collect();
    let got: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, expected);

    HEAP.check_invariants()
        .expect("invariants after the threaded workload");
    let s = HEAP.stats();
    assert_eq!(s.capacity, CLAIMED.load(Ordering::Relaxed));
    assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity);
    assert_eq!(
        s.free_arenas + s.used_arenas + s.spare_descriptors,
        s.descriptors
    );
    assert!(s.capacity > CHUNK, "the workload needed the region to grow");
    println!(
        "sysarena global: {} KiB claimed in {} rescues, {} arenas in use, fragmentation {:.3}",
        s.capacity >> 10,
        HEAP.rescues(),
        s.used_arenas,
        s.fragmentation()
    );

    // GlobalAlloc::realloc stays in place when it can.
    let layout = Layout::from_size_align(4096, 16).unwrap();
    // SAFETY: valid layouts; every pointer is used and freed per the
    // GlobalAlloc contract.
    unsafe {
        let p = HEAP.alloc(layout);
        assert!(!p.is_null());
        p.write_bytes(0xAB, 4096);
        let q = HEAP.realloc(p, layout, 1024);
        assert_eq!(q, p, "shrink is in place");
        let r = HEAP.realloc(q, Layout::from_size_align(1024, 16).unwrap(), 3000);
        assert_eq!(r, p, "growing back into the freed tail is in place");
        assert!((0..1024).all(|i| *r.add(i) == 0xAB));
        let z = HEAP.alloc_zeroed(layout);
        assert!((0..4096).all(|i| *z.add(i) == 0));
        HEAP.dealloc(z, layout);
        HEAP.dealloc(r, Layout::from_size_align(3000, 16).unwrap());
    }

    // Invalid and double frees go to the handler and change nothing.
    HEAP.set_bad_free_handler(count_bad_free);
    let invalid_before = HEAP.invalid_frees();
    let layout = Layout::from_size_align(64, 8).unwrap();
    // SAFETY: the bad frees below are what is under test: sysarena rejects
    // them before touching anything; no memory is used after a real free.
    unsafe {
        let p = HEAP.alloc(layout);
        let q = HEAP.alloc(layout);
        HEAP.dealloc(p.add(8), layout); // inside a block
        let mut stack = 0u8;
        HEAP.dealloc(&raw mut stack, layout); // not in the region
        HEAP.dealloc(p, layout);
        HEAP.check_invariants().unwrap();
        // A second free of `q`'s neighbour-merged block, then of `q` twice.
        HEAP.dealloc(q, layout);
        HEAP.dealloc(q, layout);
        assert_eq!(
            HEAP.try_free(NonNull::new(q).unwrap()).unwrap_err(),
            HEAP.try_free(NonNull::new(q).unwrap()).unwrap_err()
        );
    }
    assert_eq!(HEAP.invalid_frees() - invalid_before, 3);
    assert_eq!(BAD_FREES.load(Ordering::Relaxed), 3);
    assert!(matches!(
        // SAFETY: a pointer into no allocation; rejected unchanged.
        unsafe { HEAP.try_free(NonNull::from(&BAD_FREES).cast()) },
        Err(FreeError::OutOfRegion { .. })
    ));
    HEAP.check_invariants().expect("invariants after bad frees");
}
