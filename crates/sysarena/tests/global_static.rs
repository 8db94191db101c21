//! The README's one-line global allocator, as this test binary's
//! `#[global_allocator]`: the harness, std's start-up (before `main`) and
//! eight threads of `Vec`/`String`/`BTreeMap`/`HashMap` churn all allocate
//! from a `StaticHeap` that nobody sets up. A second region is added later
//! and served; the README's block is checked to be these very lines.
#![cfg(feature = "global")]

// README: one-line global allocator
use sysarena::global::StaticHeap;

// 64 MiB of memory and 16384 arena descriptors, inside the static (.bss),
// claimed by the first allocation — std's, before main, included.
#[global_allocator]
static HEAP: StaticHeap<16384, { 64 << 20 }> = StaticHeap::new();
// README: end

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::thread;

use sysarena::RegionError;
use sysarena::global::ClaimError;

/// The tests share the heap: one at a time, so that one's big blocks do
/// not starve the other.
static SERIAL: Mutex<()> = Mutex::new(());

/// One thread's workload; returns a checksum of every value it stored and
/// read back.
fn churn(t: u64) -> u64 {
    let mut sum = 0u64;
    let mut tree: BTreeMap<u64, String> = BTreeMap::new();
    let mut map: HashMap<String, Vec<u64>> = HashMap::new();
    for round in 0..300u64 {
        let v: Vec<u64> = (0..round % 97).map(|i| i * t).collect();
        sum = sum.wrapping_add(v.iter().sum::<u64>());
        let mut s = String::new();
        write!(s, "thread {t} round {round}: {:?}", &v[..v.len().min(5)]).unwrap();
        tree.insert(round, s);
        map.entry(format!("k{}", round % 31))
            .or_default()
            .extend_from_slice(&v);
        if round % 3 == 0
            && let Some(old) = tree.remove(&(round / 2))
        {
            assert!(old.starts_with(&format!("thread {t} round {}:", round / 2)));
            sum = sum.wrapping_add(old.len() as u64);
        }
        if round % 50 == 49 {
            map.clear();
        }
        let boxed: Box<[u8]> = vec![round as u8; (round as usize * 37) % 4000].into();
        assert!(boxed.iter().all(|&b| b == round as u8));
    }
    for s in tree.values() {
        sum = sum.wrapping_add(s.len() as u64);
    }
    sum.wrapping_add(map.values().map(|v| v.len() as u64).sum::<u64>())
}

#[test]
fn the_one_line_static_heap_serves_a_real_program() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // std and the harness allocated before this test ran: all from HEAP.
    let s = HEAP.stats();
    assert!(s.capacity >= 64 << 20, "{s:?}");
    assert!(s.used_arenas > 0, "{s:?}");

    let expected: Vec<u64> = (1..=8).map(churn).collect();
    let got: Vec<u64> = (1..=8u64)
        .map(|t| thread::spawn(move || churn(t)))
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(got, expected);
    HEAP.check_invariants().unwrap();
    let s = HEAP.stats();
    assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity);
    assert_eq!(
        s.free_arenas + s.used_arenas + s.spare_descriptors,
        s.descriptors
    );
}

/// Memory found later, outside the static: a second region.
struct Extra(std::cell::UnsafeCell<[u128; 1 << 16]>);
// SAFETY: handed to the heap once, then only the heap touches it.
unsafe impl Sync for Extra {}
static EXTRA: Extra = Extra(std::cell::UnsafeCell::new([0; 1 << 16]));

#[test]
fn a_region_added_later_joins_the_heap_and_serves_requests() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let extra = NonNull::new(EXTRA.0.get().cast::<u8>()).unwrap();
    let len = 1 << 20;
    // Memory inside the heap's own region is refused, unchanged.
    let inside: Vec<u128> = vec![0; 256];
    let before = HEAP.stats().capacity;
    // SAFETY: refused before anything is kept.
    let r = unsafe {
        HEAP.add_region(
            NonNull::new(inside.as_ptr().cast_mut()).unwrap().cast(),
            4096,
        )
    };
    assert!(
        matches!(r, Err(ClaimError::Region(RegionError::Overlaps { .. }))),
        "{r:?}"
    );
    assert_eq!(HEAP.stats().capacity, before);
    // SAFETY: EXTRA is handed to the heap here, once, and used by nothing else.
    unsafe { HEAP.add_region(extra, len).unwrap() };
    // SAFETY: refused: it overlaps what was just added.
    let again = unsafe { HEAP.add_region(extra, len) };
    assert!(matches!(
        again,
        Err(ClaimError::Region(RegionError::Overlaps { .. }))
    ));
    let heap = HEAP.heap().unwrap();
    heap.with_heap(|h| assert_eq!(h.unwrap().regions().count(), 2));
    // Take 64 KiB blocks until one comes from the new region.
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let in_extra = |p: *const u8| (p as usize).wrapping_sub(extra.as_ptr() as usize) < len;
    while !blocks.iter().any(|b| in_extra(b.as_ptr())) {
        assert!(blocks.len() < 200, "the new region never served a request");
        blocks.push(vec![blocks.len() as u8; 64 << 10]);
    }
    assert!(
        blocks
            .iter()
            .enumerate()
            .all(|(i, b)| b.iter().all(|&x| x == i as u8))
    );
    drop(blocks);
    HEAP.check_invariants().unwrap();
}

#[test]
fn the_readme_shows_these_lines() {
    let readme = include_str!("../../../README.md");
    let this = include_str!("global_static.rs");
    let block = this
        .split("// README: one-line global allocator\n")
        .nth(1)
        .and_then(|rest| rest.split("// README: end").next())
        .unwrap();
    assert!(readme.contains(block), "README.md must show:\n{block}");
}

/// A double free in a debug build stops the program with a message and
/// SIGABRT, at once, even with this heap as the global allocator: the
/// handler allocates nothing (with the `std` feature), where a double
/// panic's backtrace, allocated from this heap, used to hang it.
#[test]
#[cfg(all(feature = "std", debug_assertions, unix))]
#[cfg_attr(miri, ignore = "spawns a child process")]
fn a_double_free_aborts_at_once_with_the_heap_as_global_allocator() {
    use std::alloc::{GlobalAlloc, Layout};
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};
    const CHILD: &str = "SYSARENA_DOUBLE_FREE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let heap = HEAP.heap().unwrap();
        let l = Layout::from_size_align(64, 8).unwrap();
        // SAFETY: the second free is the bad free under test; the heap
        // rejects it before any change.
        unsafe {
            let p = heap.alloc(l);
            heap.dealloc(p, l);
            heap.dealloc(p, l);
        }
        unreachable!("the double free returned");
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_double_free_aborts_at_once_with_the_heap_as_global_allocator",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the child hung after its double free");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.signal(), Some(6), "{stderr}");
    assert!(stderr.contains("sysarena: double free"), "{stderr}");
    assert!(stderr.contains("aborting"), "{stderr}");
}
