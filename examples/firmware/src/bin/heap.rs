//! sysarena as the `#[global_allocator]` of a Cortex-M3 program (QEMU
//! `mps2-an385`), over a static region claimed at the start of `main`.
//!
//! 1. A firmware workload on the global heap (`Vec`, `String`, `BTreeMap`,
//!    boxed trait objects, a ring of buffers freed out of order).
//! 2. Bad input to the global heap: a double free through
//!    `GlobalAlloc::dealloc` and `try_free`, a zero-size layout, a request
//!    larger than the region — typed errors, no panic, nothing changes.
//! 3. The seed's story on a classic `Heap` (first fit, deferred coalescing):
//!    fragment the region, an out-of-memory with enough free bytes, the
//!    classic defragment rescues one request and cannot rescue the next.
//! 4. The same on a `HandleHeap`: relocation moves the blocks (with their
//!    bytes) and the request succeeds.
//!
//! Stats and a one-line heap map are printed after each step; the program
//! exits with success only if every check held.
#![no_std]
#![no_main]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use cortex_m_rt::entry;
use critical_section::Mutex;
use panic_semihosting as _;
use sysarena::global::{BadFree, LockedHeap};
use sysarena::{
    AllocError, Config, FreeError, Handle, HandleError, HandleHeap, Heap, OomReason, Slot,
};
use sysarena_firmware::map::show;
use sysarena_firmware::{Checks, say, workload};

/// Bytes of the global heap's region.
const HEAP_BYTES: usize = 32 * 1024;
/// Descriptors in the global heap's arena table.
const DESCRIPTORS: usize = 128;
/// Bytes of each story region.
const STORY_BYTES: usize = 2048;
/// Blocks the story carves its region into.
const BLOCKS: usize = 16;
/// Their size: `BLOCKS * BLOCK == STORY_BYTES`.
const BLOCK: usize = 128;
/// The blocks the story frees: two neighbours and three lone holes.
const FREED: [usize; 5] = [1, 2, 5, 9, 13];

#[global_allocator]
static HEAP: LockedHeap<DESCRIPTORS> = LockedHeap::new();

/// A static region, 16-aligned.
#[repr(C, align(16))]
struct Region<const B: usize>([MaybeUninit<u8>; B]);

static mut MEMORY: Region<HEAP_BYTES> = Region([MaybeUninit::uninit(); HEAP_BYTES]);
static mut CLASSIC: Region<STORY_BYTES> = Region([MaybeUninit::uninit(); STORY_BYTES]);
static mut MOVABLE: Region<STORY_BYTES> = Region([MaybeUninit::uninit(); STORY_BYTES]);

/// The last invalid free `GlobalAlloc::dealloc` reported.
static LAST_BAD_FREE: Mutex<Cell<Option<FreeError>>> = Mutex::new(Cell::new(None));

fn record_bad_free(bad: &BadFree) {
    critical_section::with(|cs| LAST_BAD_FREE.borrow(cs).set(Some(bad.error)));
}

/// Prints the global heap's stats and map (with its lock held; nothing here
/// allocates).
fn show_global(what: &str) {
    HEAP.with_heap(|heap| match heap {
        Some(h) => show(what, &h.stats(), h.manager().arenas()),
        None => say!("{}: no region", what),
    });
}

#[entry]
fn main() -> ! {
    let mut checks = Checks::new();
    say!(
        "sysarena on a Cortex-M3 (QEMU mps2-an385): global allocator over a {} KiB static region, {} descriptors of {} B",
        HEAP_BYTES / 1024,
        DESCRIPTORS,
        core::mem::size_of::<Slot>()
    );
    say!("map: # in use  . free  + both  | a free arena next to another, not merged yet");

    // SAFETY: `main` runs once and this is the only reference ever taken to
    // MEMORY; the heap owns the bytes from here on.
    let memory = unsafe { &mut (*core::ptr::addr_of_mut!(MEMORY)).0 };
    let base = NonNull::new(memory.as_mut_ptr().cast::<u8>()).expect("a static is not null");
    // SAFETY: as above: the region is valid, unused by anything else, for ever.
    let claimed = unsafe { HEAP.claim(base, memory.len()) };
    checks.check(claimed.is_ok(), "the global heap claims its region");
    show_global("global heap, claimed");

    firmware_workload(&mut checks);
    bad_input(&mut checks);
    classic_story(&mut checks);
    handle_story(&mut checks);

    checks.check(
        HEAP.check_invariants().is_ok(),
        "the global heap's invariants hold at the end",
    );
    show_global("global heap at the end");
    checks.finish()
}

/// Step 1: the firmware workload on the global heap.
fn firmware_workload(checks: &mut Checks) {
    say!("");
    say!(
        "1. firmware workload: Vec, String, BTreeMap, Box<dyn Task>, a ring of buffers freed out of order"
    );
    let sum = workload::run(checks, &mut || {
        show_global("global heap at the workload's peak")
    });
    say!("workload checksum {:#010x}", sum);
    show_global("global heap after the workload");
    let s = HEAP.stats();
    checks.check(
        s.used_arenas == 0 && s.free_bytes == HEAP_BYTES,
        "every byte came back free (small ones may wait in the quick lists)",
    );
    // The fast model keeps small freed arenas whole in its quick lists;
    // defragment flushes them, and immediate coalescing merges the rest.
    let report = HEAP.defragment();
    say!(
        "defragment: quick lists flushed, free arenas {} -> {}",
        report.free_arenas_before,
        report.free_arenas_after
    );
    let s = HEAP.stats();
    checks.check(
        s.used_arenas == 0 && s.free_arenas == 1 && s.largest_free == HEAP_BYTES,
        "every byte is one free arena after the flush (immediate coalescing)",
    );
    checks.check(
        HEAP.check_invariants().is_ok(),
        "invariants hold after the workload",
    );
}

/// Step 2: bad input to the global heap gets typed errors and changes
/// nothing.
fn bad_input(checks: &mut Checks) {
    say!("");
    say!("2. bad input to the global heap");
    HEAP.set_bad_free_handler(record_bad_free);
    let layout = Layout::from_size_align(48, 8).expect("a valid layout");
    let keep = HEAP.try_alloc(layout);
    let p = HEAP.try_alloc(layout);
    checks.check(keep.is_ok() && p.is_ok(), "two 48 B blocks");
    let Ok(p) = p else { return };
    // SAFETY: `p` is a live block of this layout, not used after this free.
    unsafe { HEAP.dealloc(p.as_ptr(), layout) };
    let before = HEAP.stats();
    // SAFETY: the double free under test: sysarena looks the pointer up
    // before touching anything and rejects it.
    unsafe { HEAP.dealloc(p.as_ptr(), layout) };
    let seen = critical_section::with(|cs| LAST_BAD_FREE.borrow(cs).get());
    match seen {
        Some(e) => say!("double free through GlobalAlloc::dealloc: {:?}: {}", e, e),
        None => say!("double free through GlobalAlloc::dealloc: not reported"),
    }
    checks.check(
        matches!(
            seen,
            Some(FreeError::DoubleFree { .. } | FreeError::NotAllocated { .. })
        ),
        "the double free reached the bad-free handler with its error",
    );
    checks.check(HEAP.invalid_frees() == 1, "it was counted");
    // SAFETY: as above; `try_free` returns the error instead.
    let again = unsafe { HEAP.try_free(p) };
    if let Err(e) = again {
        say!("try_free of the same pointer: {:?}: {}", e, e);
    }
    checks.check(again.is_err(), "try_free of a freed pointer is an error");
    checks.check(
        HEAP.stats() == before && HEAP.check_invariants().is_ok(),
        "the heap is unchanged by the double frees",
    );

    let zero = Layout::from_size_align(0, 8).expect("a valid layout");
    match HEAP.try_alloc(zero) {
        Ok(z) => {
            let usable = HEAP.usable_size(z).unwrap_or(0);
            say!(
                "zero-size layout through the global heap: served with {} B (GlobalAlloc callers may not ask for 0; the offset layer answers ZeroSize, see the device program)",
                usable
            );
            checks.check(usable >= 1, "a zero-size layout gets a real block");
            // SAFETY: `z` is a live block, not used after this free.
            checks.check(unsafe { HEAP.try_free(z) }.is_ok(), "and frees it");
        }
        Err(e) => {
            say!("zero-size layout: {:?}", e);
            checks.check(false, "a zero-size layout gets a real block");
        }
    }

    let huge = Layout::from_size_align(HEAP_BYTES * 2, 8).expect("a valid layout");
    let r = HEAP.try_alloc(huge);
    if let Err(e) = r {
        say!("{} B from a {} B region: {:?}", huge.size(), HEAP_BYTES, e);
    }
    checks.check(
        matches!(r, Err(AllocError::TooLarge { .. })),
        "a request larger than the region is TooLarge",
    );
    if let Ok(k) = keep {
        // SAFETY: `k` is a live block, not used after this free.
        checks.check(unsafe { HEAP.try_free(k) }.is_ok(), "the kept block frees");
    }
    checks.check(
        HEAP.check_invariants().is_ok(),
        "invariants hold after the bad input",
    );
}

/// Step 3: the seed's story on a classic heap.
fn classic_story(checks: &mut Checks) {
    say!("");
    say!(
        "3. the seed's story: a classic heap (first fit, deferred coalescing) over {} B",
        STORY_BYTES
    );
    // SAFETY: the only reference ever taken to CLASSIC.
    let memory = unsafe { &mut (*core::ptr::addr_of_mut!(CLASSIC)).0 };
    let mut heap: Heap<32> = Heap::from_static(memory, Config::classic());
    let base = heap.base();
    let layout = Layout::from_size_align(BLOCK, 8).expect("a valid layout");
    let mut blocks = [base; BLOCKS];
    for (i, b) in blocks.iter_mut().enumerate() {
        match heap.alloc(layout) {
            Ok(p) => {
                // SAFETY: `p` is a fresh block of BLOCK bytes.
                unsafe { p.write_bytes(i as u8, BLOCK) };
                *b = p;
            }
            Err(e) => {
                say!("block {}: {:?}", i, e);
                checks.check(false, "the 16 blocks fit");
            }
        }
    }
    show("16 blocks of 128 B", &heap.stats(), heap.manager().arenas());
    for &i in &FREED {
        // SAFETY: each freed block is live and not used again.
        checks.check(unsafe { heap.free(blocks[i]) }.is_ok(), "a block frees");
    }
    show(
        "freed blocks 1, 2, 5, 9, 13",
        &heap.stats(),
        heap.manager().arenas(),
    );

    let two = Layout::from_size_align(2 * BLOCK, 8).expect("a valid layout");
    let err = heap.alloc(two);
    if let Err(e) = err {
        say!("alloc 256 B: {:?}", e);
    }
    checks.check(
        matches!(
            err,
            Err(AllocError::OutOfMemory(OomReason::NoFit {
                needed: 256,
                free_bytes: 640,
                largest_free: 128
            }))
        ),
        "out of memory with 640 B free: no single arena holds 256 B",
    );

    let r = heap.defragment();
    say!(
        "defragment: merged {}, descriptors moved down the table {}; largest free {} -> {} B",
        r.merged,
        r.compacted,
        r.largest_free_before,
        r.largest_free_after
    );
    show("after defragment", &heap.stats(), heap.manager().arenas());
    checks.check(
        r.merged == 1 && r.largest_free_after == 256,
        "blocks 1 and 2 merged",
    );
    match heap.alloc(two) {
        Ok(p) => {
            let at = p.as_ptr() as usize - base.as_ptr() as usize;
            say!("alloc 256 B: ok at offset {}", at);
            checks.check(at == BLOCK, "it takes the merged hole at offset 128");
        }
        Err(e) => {
            say!("alloc 256 B: {:?}", e);
            checks.check(false, "alloc 256 B succeeds after defragment");
        }
    }
    show("after alloc 256 B", &heap.stats(), heap.manager().arenas());

    let three = Layout::from_size_align(3 * BLOCK, 8).expect("a valid layout");
    let r = heap.defragment();
    let err = heap.alloc(three);
    if let Err(e) = err {
        say!(
            "alloc 384 B: {:?} (defragment merged {}: no two free arenas touch)",
            e,
            r.merged
        );
    }
    checks.check(
        r.merged == 0
            && matches!(
                err,
                Err(AllocError::OutOfMemory(OomReason::NoFit {
                    free_bytes: 384,
                    ..
                }))
            ),
        "384 B are free in three holes and the classic defragment cannot join them",
    );

    // SAFETY: the double free under test: block 5 was freed above; the
    // heap looks it up and rejects it before touching anything.
    let again = unsafe { heap.free(blocks[5]) };
    if let Err(e) = again {
        say!("free block 5 again: {:?}: {}", e, e);
    }
    checks.check(
        matches!(again, Err(FreeError::DoubleFree { offset: 640 })),
        "a double free is DoubleFree at its offset",
    );
    let intact = (0..BLOCKS).filter(|i| !FREED.contains(i)).all(|i| {
        // SAFETY: block i is live and BLOCK bytes long.
        let bytes = unsafe { core::slice::from_raw_parts(blocks[i].as_ptr(), BLOCK) };
        bytes.iter().all(|&b| b == i as u8)
    });
    checks.check(intact, "every live block still holds its bytes");
    checks.check(
        heap.manager().check_invariants().is_ok(),
        "the classic heap's invariants hold",
    );
}

/// Step 4: the same fragmentation on a heap of movable blocks, cured by
/// relocation.
fn handle_story(checks: &mut Checks) {
    say!("");
    say!("4. the same on a HandleHeap: blocks named by handles can move");
    // SAFETY: the only reference ever taken to MOVABLE.
    let memory = unsafe { &mut (*core::ptr::addr_of_mut!(MOVABLE)).0 };
    let mut heap: HandleHeap<32, 32> = HandleHeap::from_static(memory, Config::classic());
    let layout = Layout::from_size_align(BLOCK, 8).expect("a valid layout");
    let mut handles: [Option<Handle>; BLOCKS] = [None; BLOCKS];
    for (i, slot) in handles.iter_mut().enumerate() {
        let h = heap.alloc(layout);
        if let Ok(h) = h {
            if let Ok(bytes) = heap.get_mut(h) {
                bytes.fill(i as u8);
            }
            *slot = Some(h);
        }
    }
    checks.check(
        handles.iter().all(Option::is_some),
        "16 movable blocks of 128 B",
    );
    for &i in &FREED {
        if let Some(h) = handles[i] {
            checks.check(heap.free(h).is_ok(), "a handle frees");
        }
    }
    show(
        "freed blocks 1, 2, 5, 9, 13",
        &heap.stats(),
        heap.manager().arenas(),
    );
    let three = Layout::from_size_align(3 * BLOCK, 8).expect("a valid layout");
    let r = heap.defragment();
    let err = heap.alloc(three);
    if let Err(e) = err {
        say!(
            "alloc 384 B after defragment (merged {}): {:?}",
            r.merged,
            e
        );
    }
    checks.check(
        matches!(
            err,
            Err(HandleError::Alloc(AllocError::OutOfMemory(
                OomReason::NoFit {
                    free_bytes: 640,
                    largest_free: 256,
                    ..
                }
            )))
        ),
        "640 B free, the largest hole 256 B: 384 B does not fit",
    );
    match heap.relocate() {
        Ok(r) => {
            say!(
                "relocate: moved {} blocks, {} B; free arenas {} -> {}, largest free {} -> {} B",
                r.moved,
                r.bytes_moved,
                r.free_arenas_before,
                r.free_arenas_after,
                r.largest_free_before,
                r.largest_free_after
            );
            checks.check(
                r.free_arenas_after == 1 && r.largest_free_after == 640,
                "relocation gathers all 640 free bytes into one arena",
            );
        }
        Err(e) => {
            say!("relocate: {:?}", e);
            checks.check(false, "relocation succeeds");
        }
    }
    show("after relocate", &heap.stats(), heap.manager().arenas());
    match heap.alloc(three) {
        Ok(h) => {
            let at = heap.movable().offset(h).unwrap_or(usize::MAX);
            say!("alloc 384 B: ok at offset {}", at);
            checks.check(at == STORY_BYTES - 640, "it takes the gathered free space");
        }
        Err(e) => {
            say!("alloc 384 B: {:?}", e);
            checks.check(false, "alloc 384 B succeeds after relocation");
        }
    }
    show("after alloc 384 B", &heap.stats(), heap.manager().arenas());
    let intact = (0..BLOCKS).filter(|i| !FREED.contains(i)).all(|i| {
        handles[i]
            .and_then(|h| heap.get(h).ok())
            .is_some_and(|bytes| bytes.len() == BLOCK && bytes.iter().all(|&b| b == i as u8))
    });
    checks.check(
        intact,
        "every moved block kept its bytes, reached through its handle",
    );
    if let Some(h) = handles[1] {
        let stale = heap.free(h);
        if let Err(e) = stale {
            say!("free a freed handle: {:?}", e);
        }
        checks.check(
            matches!(stale, Err(HandleError::Stale { .. })),
            "a freed handle is Stale",
        );
    }
    checks.check(
        heap.check_invariants().is_ok(),
        "the handle heap's invariants hold",
    );
}
