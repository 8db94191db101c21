//! The `Movable` offset manager over a "device buffer" on a Cortex-M3
//! (QEMU `mps2-an385`): a static array stands in for memory a DMA engine or
//! an accelerator owns, which the allocator never writes metadata into.
//!
//! Each frame the application frees and allocates buffers (64-byte aligned,
//! freed out of order), then the manager plans *one bounded pass* — at most
//! [`MOVES_PER_FRAME`] moves and [`BYTES_PER_FRAME`] bytes — which the
//! "DMA engine" (here `ptr::copy`) carries out before the pass is
//! committed. A buffer pinned while a transfer is in flight never moves; a
//! move the engine had no time for is skipped and planned again later.
//! When the churn stops, a request for all the free bytes in one piece
//! fails (fragmentation) until the passes have converged, then succeeds.
//!
//! Bad input — a zero-size request, a bad alignment, a stale or forged
//! handle, a free of a buffer that is being moved, ending a pass that was
//! never begun — gets typed errors and changes nothing.
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use core::ptr::NonNull;

use cortex_m_rt::entry;
use panic_semihosting as _;
use sysarena::global::LockedHeap;
use sysarena::{
    AllocError, Config, Handle, HandleError, Movable, MoveStatus, OomReason, PassLimits,
    PlannedMove,
};
use sysarena_firmware::map::show;
use sysarena_firmware::{Checks, say};

/// Bytes of device memory.
const DEVICE_BYTES: usize = 16 * 1024;
/// Every buffer's alignment (a DMA burst).
const ALIGN: usize = 64;
/// Buffers the application tracks at most.
const BUFFERS: usize = 24;
/// Frames of churn; then the program only defragments.
const CHURN_FRAMES: usize = 16;
/// The most frames the program runs.
const MAX_FRAMES: usize = 48;
/// One pass moves at most this many buffers...
const MOVES_PER_FRAME: usize = 2;
/// ...and at most this many bytes.
const BYTES_PER_FRAME: usize = 1024;

/// The device memory: the CPU touches it only to fill and check buffers and
/// as the "DMA engine" that carries out moves.
#[repr(C, align(64))]
struct DeviceMemory([u8; DEVICE_BYTES]);
static mut DEVICE: DeviceMemory = DeviceMemory([0; DEVICE_BYTES]);

/// The firmware's own heap: sysarena again (the core allocates nothing
/// here, but the program links `alloc`).
#[global_allocator]
static HEAP: LockedHeap<16> = LockedHeap::new();
#[repr(C, align(16))]
struct Region([MaybeUninit<u8>; 1024]);
static mut MEMORY: Region = Region([MaybeUninit::uninit(); 1024]);

fn device() -> *mut u8 {
    core::ptr::addr_of_mut!(DEVICE).cast()
}

/// The "DMA engine": carries out one planned move, as `memmove`.
fn dma_copy(mv: &PlannedMove) {
    // SAFETY: the manager plans moves inside the device region only; the
    // ranges may overlap (`copy` is memmove); nothing else refers to the
    // device memory while this runs.
    unsafe { core::ptr::copy(device().add(mv.from), device().add(mv.to), mv.len) };
}

/// Fills `len` device bytes at `offset` with `byte`.
fn fill(offset: usize, len: usize, byte: u8) {
    // SAFETY: `offset .. offset + len` is an arena of the manager, inside
    // the device region.
    unsafe { device().add(offset).write_bytes(byte, len) };
}

/// Whether `len` device bytes at `offset` all hold `byte`.
fn holds(offset: usize, len: usize, byte: u8) -> bool {
    // SAFETY: as in `fill`; only read.
    let bytes = unsafe { core::slice::from_raw_parts(device().add(offset), len) };
    bytes.iter().all(|&b| b == byte)
}

/// A buffer the application owns.
#[derive(Clone, Copy, Debug)]
struct Buffer {
    handle: Handle,
    size: usize,
    byte: u8,
}

/// A small deterministic generator (numerical recipes' LCG).
struct Rng(u32);

impl Rng {
    fn next(&mut self, below: u32) -> u32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (self.0 >> 8) % below
    }
}

type Device = Movable<64, 32>;

/// Whether every buffer still holds its bytes where its handle says.
fn all_intact(m: &Device, buffers: &[Option<Buffer>]) -> bool {
    buffers
        .iter()
        .flatten()
        .all(|b| m.offset(b.handle).is_ok_and(|at| holds(at, b.size, b.byte)))
}

#[entry]
fn main() -> ! {
    let mut checks = Checks::new();
    // SAFETY: `main` runs once and this is the only reference ever taken to
    // MEMORY; the heap owns the bytes from here on.
    let memory = unsafe { &mut (*core::ptr::addr_of_mut!(MEMORY)).0 };
    let base = NonNull::new(memory.as_mut_ptr().cast::<u8>()).expect("a static is not null");
    // SAFETY: as above: the region is valid, unused by anything else, for ever.
    checks.check(
        unsafe { HEAP.claim(base, memory.len()) }.is_ok(),
        "the firmware heap claims its region",
    );

    let mut m: Device = Movable::with_config(DEVICE_BYTES, Config::fast());
    say!(
        "sysarena Movable over a {} KiB device buffer on a Cortex-M3 (QEMU mps2-an385): {}-byte aligned buffers, one pass per frame of at most {} moves and {} B",
        DEVICE_BYTES / 1024,
        ALIGN,
        MOVES_PER_FRAME,
        BYTES_PER_FRAME
    );
    say!("map: # in use  . free  + both  | a free arena next to another, not merged yet");
    bad_input(&mut checks, &mut m);

    let mut buffers: [Option<Buffer>; BUFFERS] = [None; BUFFERS];
    let mut rng = Rng(2026);
    let mut moves = [PlannedMove::EMPTY; 4];
    let mut pinned: Option<Handle> = None;
    let mut big: Option<(usize, Option<Handle>)> = None;
    let mut first_big_failure = None;
    let mut passes_to_converge = 0;
    let mut stale_checked = false;
    let mut skipped_once = false;
    let mut pinned_at = 0;

    for frame in 0..MAX_FRAMES {
        if frame < CHURN_FRAMES {
            churn(&mut checks, &mut m, &mut buffers, &mut rng, frame);
        }
        if frame == 4 {
            // A transfer starts from the first live buffer: it must not
            // move until it is done.
            if let Some(b) = buffers.iter().flatten().next() {
                checks.check(m.pin(b.handle).is_ok(), "a buffer pins");
                say!(
                    "frame {:2}: pin buffer {} (a DMA transfer reads it)",
                    frame,
                    b.handle
                );
                pinned = Some(b.handle);
                pinned_at = m.offset(b.handle).unwrap_or(usize::MAX);
            }
        }
        if frame == 12
            && let Some(h) = pinned.take()
        {
            checks.check(m.unpin(h).is_ok(), "the buffer unpins");
            say!(
                "frame {:2}: unpin buffer {} (the transfer is done)",
                frame,
                h
            );
        }
        if frame == CHURN_FRAMES {
            // The churn is over: ask for every free byte in one buffer.
            let s = m.stats();
            big = Some((s.free_bytes / ALIGN * ALIGN, None));
        }
        if let Some((size, None)) = big {
            match m.alloc(size, ALIGN) {
                Ok(h) => {
                    say!(
                        "frame {:2}: alloc {} B: ok at offset {}",
                        frame,
                        size,
                        m.offset(h).unwrap_or(usize::MAX)
                    );
                    big = Some((size, Some(h)));
                }
                Err(e) => {
                    if first_big_failure.is_none() {
                        say!("frame {:2}: alloc {} B: {:?}", frame, size, e);
                        first_big_failure = Some(e);
                    }
                }
            }
        }

        // One bounded pass.
        let plan = match m.begin_pass(
            PassLimits::new(MOVES_PER_FRAME, BYTES_PER_FRAME),
            &mut moves,
        ) {
            Ok(p) => p,
            Err(e) => {
                say!("frame {:2}: begin_pass: {:?}", frame, e);
                checks.check(false, "a pass begins");
                break;
            }
        };
        if !stale_checked && plan.moves > 0 {
            // Freeing a buffer that the open pass is moving is refused.
            let moving = moves[0].handle;
            let e = m.free(moving);
            if let Err(e) = e {
                say!(
                    "frame {:2}: free a buffer while the pass moves it: {:?}",
                    frame,
                    e
                );
            }
            checks.check(
                matches!(e, Err(HandleError::Moving { .. })),
                "a moving buffer cannot be freed",
            );
            stale_checked = true;
        }
        for (i, mv) in moves[..plan.moves].iter_mut().enumerate() {
            if !skipped_once && i == 1 {
                // The engine had no time for this one this frame: a later
                // pass plans it again.
                mv.status = MoveStatus::Skipped;
                skipped_once = true;
            } else {
                dma_copy(mv);
                mv.status = MoveStatus::Done;
            }
        }
        let report = match m.end_pass(&moves[..plan.moves]) {
            Ok(r) => r,
            Err(e) => {
                say!("frame {:2}: end_pass: {:?}", frame, e);
                checks.check(false, "the pass ends");
                break;
            }
        };
        checks.check(
            report.done + report.skipped == plan.moves && report.rejected == 0,
            "every planned move is committed or skipped",
        );
        checks.check(
            report.bytes_moved <= BYTES_PER_FRAME && report.done <= MOVES_PER_FRAME,
            "the pass stayed within its bounds",
        );
        if frame >= CHURN_FRAMES && report.done > 0 {
            passes_to_converge += 1;
        }
        let mut what = sysarena_firmware::Line::new();
        let _ = core::fmt::Write::write_fmt(
            &mut what,
            format_args!(
                "frame {:2}: {} live; pass moved {} ({} B){}",
                frame,
                m.live(),
                report.done,
                report.bytes_moved,
                if report.skipped > 0 {
                    ", skipped 1 (no time)"
                } else {
                    ""
                }
            ),
        );
        show(what.as_str(), &m.stats(), m.manager().arenas());
        checks.check(
            all_intact(&m, &buffers),
            "every buffer holds its bytes after the pass",
        );
        if let Some(h) = pinned {
            checks.check(
                m.offset(h).is_ok_and(|at| at == pinned_at),
                "the pinned buffer did not move",
            );
        }
        if matches!(big, Some((_, Some(_)))) && plan.converged() {
            break;
        }
    }

    say!("");
    let s = m.stats();
    let totals = m.move_stats();
    say!(
        "{} passes, {} moves, {} B moved in all; {} passes with moves after the churn stopped",
        totals.passes,
        totals.moves,
        totals.bytes_moved,
        passes_to_converge
    );
    checks.check(
        matches!(first_big_failure, Some(HandleError::Alloc(AllocError::OutOfMemory(OomReason::NoFit { needed, free_bytes, .. }))) if free_bytes >= needed),
        "the big request first failed with enough free bytes (fragmentation)",
    );
    checks.check(
        matches!(big, Some((_, Some(_)))),
        "after the passes the big request succeeded",
    );
    checks.check(
        s.free_arenas <= 1,
        "the device memory ends with at most one free arena",
    );
    checks.check(
        all_intact(&m, &buffers),
        "every buffer holds its bytes at the end",
    );
    checks.check(
        m.check_invariants().is_ok(),
        "the manager's invariants hold",
    );
    checks.check(
        HEAP.check_invariants().is_ok(),
        "the firmware heap's invariants hold",
    );
    checks.finish()
}

/// One frame of application work: free a few buffers (out of order), then
/// allocate a few.
fn churn(
    checks: &mut Checks,
    m: &mut Device,
    buffers: &mut [Option<Buffer>; BUFFERS],
    rng: &mut Rng,
    frame: usize,
) {
    for _ in 0..1 + rng.next(3) {
        let i = rng.next(BUFFERS as u32) as usize;
        if let Some(b) = buffers[i] {
            match m.free(b.handle) {
                Ok(()) => buffers[i] = None,
                // A pinned buffer stays until its transfer is done.
                Err(HandleError::Pinned { .. }) => {}
                Err(e) => {
                    say!("frame {:2}: free {}: {:?}", frame, b.handle, e);
                    checks.check(false, "a live buffer frees");
                }
            }
        }
    }
    for _ in 0..2 + rng.next(2) {
        let Some(i) = buffers.iter().position(Option::is_none) else {
            break;
        };
        let size = ALIGN * (1 + rng.next(12) as usize);
        match m.alloc(size, ALIGN) {
            Ok(h) => {
                let byte = (h.to_bits() as u32)
                    .wrapping_mul(2_654_435_761)
                    .to_be_bytes()[0]
                    | 1;
                if let Ok(at) = m.offset(h) {
                    fill(at, size, byte);
                }
                buffers[i] = Some(Buffer {
                    handle: h,
                    size,
                    byte,
                });
            }
            Err(e) => say!("frame {:2}: alloc {} B: {:?}", frame, size, e),
        }
    }
}

/// Bad input to the offset manager: typed errors, nothing changes.
fn bad_input(checks: &mut Checks, m: &mut Device) {
    let before = m.stats();
    let zero = m.alloc(0, ALIGN);
    say!("alloc 0 B: {:?}", zero);
    checks.check(
        matches!(zero, Err(HandleError::Alloc(AllocError::ZeroSize))),
        "a zero-size request is ZeroSize",
    );
    let odd = m.alloc(100, 48);
    say!("alloc 100 B at alignment 48: {:?}", odd);
    checks.check(
        matches!(
            odd,
            Err(HandleError::Alloc(AllocError::BadAlign { align: 48 }))
        ),
        "alignment 48 is BadAlign",
    );
    let huge = m.alloc(DEVICE_BYTES * 4, ALIGN);
    say!("alloc {} B: {:?}", DEVICE_BYTES * 4, huge);
    checks.check(
        matches!(huge, Err(HandleError::Alloc(AllocError::TooLarge { .. }))),
        "a request larger than the device is TooLarge",
    );
    match m.alloc(256, ALIGN) {
        Ok(h) => {
            checks.check(m.free(h).is_ok(), "a buffer frees");
            let twice = m.free(h);
            say!("free {} twice: {:?}", h, twice);
            checks.check(
                matches!(twice, Err(HandleError::Stale { .. })),
                "a double free is Stale",
            );
        }
        Err(e) => {
            say!("alloc 256 B: {:?}", e);
            checks.check(false, "a 256 B buffer");
        }
    }
    let forged = Handle::from_bits(0xdead_beef_0000_0005);
    let r = m.free(forged);
    say!("free a forged handle: {:?}", r);
    checks.check(
        matches!(r, Err(HandleError::Stale { .. })),
        "a forged handle is Stale",
    );
    let r = m.end_pass(&[]);
    say!("end a pass never begun: {:?}", r);
    checks.check(
        matches!(r, Err(HandleError::NoPass)),
        "ending no pass is NoPass",
    );
    let after = m.stats();
    checks.check(
        after.free_bytes == before.free_bytes
            && after.used_arenas == 0
            && m.check_invariants().is_ok(),
        "bad input changed nothing",
    );
}
