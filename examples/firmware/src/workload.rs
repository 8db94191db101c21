//! The firmware workload: how a small program uses a heap.
//!
//! A sensor log that grows (`Vec` reallocation), status strings built with
//! `write!` (`String`), a settings registry (`BTreeMap<u16, String>`),
//! tasks as boxed trait objects with buffers of their own, and a ring of
//! packet buffers of mixed sizes freed out of order. Every value is checked
//! when it is read back, so an allocator that overlapped two blocks would
//! fail a check. It is deterministic: the same heap gives the same output.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::Checks;

/// Packet buffers live at once in the ring.
pub const RING: usize = 16;
/// Packets that pass through the ring.
pub const PACKETS: usize = 240;

/// A periodic job of the firmware.
trait Task {
    /// One tick; returns a value folded into the checksum.
    fn step(&mut self, tick: u32) -> u32;
}

/// Toggles an LED: no heap of its own.
struct Blinker {
    on: bool,
}

impl Task for Blinker {
    fn step(&mut self, _: u32) -> u32 {
        self.on = !self.on;
        u32::from(self.on)
    }
}

/// A moving-average filter over a window on the heap.
struct Filter {
    window: Vec<i32>,
    at: usize,
}

impl Task for Filter {
    fn step(&mut self, tick: u32) -> u32 {
        let n = self.window.len();
        self.window[self.at % n] = (tick as i32 * 37) % 101 - 50;
        self.at += 1;
        (self.window.iter().sum::<i32>() / n as i32).unsigned_abs()
    }
}

/// Keeps the last message in a `String` it rebuilds each tick.
struct Logger {
    last: String,
}

impl Task for Logger {
    fn step(&mut self, tick: u32) -> u32 {
        self.last.clear();
        let _ = write!(self.last, "tick {tick}: ok");
        self.last.len() as u32
    }
}

/// The byte a packet's buffer is filled with.
fn fill_byte(packet: usize) -> u8 {
    (packet as u8).wrapping_mul(31).wrapping_add(7)
}

/// A packet's size: 24 to 535 bytes, mixed.
fn packet_size(packet: usize) -> usize {
    24 + (packet * 97 + (packet * packet) % 13 * 11) % 512
}

/// Runs the workload on the global allocator, calling `at_peak` once when
/// the most blocks are live, and returns a checksum of everything it
/// computed. Every read-back is recorded in `checks`.
pub fn run(checks: &mut Checks, at_peak: &mut dyn FnMut()) -> u32 {
    let mut sum: u32 = 0;

    // A sensor log that grows one sample at a time.
    let mut log: Vec<u16> = Vec::new();
    for i in 0..300u32 {
        log.push((i * 13 % 4096) as u16);
    }
    checks.check(
        log.iter()
            .enumerate()
            .all(|(i, &v)| v == (i as u32 * 13 % 4096) as u16),
        "the sensor log reads back",
    );
    sum = sum.wrapping_add(log.iter().map(|&v| u32::from(v)).sum::<u32>());

    // A settings registry; some settings are dropped again.
    let mut settings: BTreeMap<u16, String> = BTreeMap::new();
    for key in 0..48u16 {
        let mut value = String::new();
        let _ = write!(value, "setting-{key}={}", key as u32 * 1000 + 7);
        settings.insert(key, value);
    }
    for key in (0..48u16).filter(|k| k % 3 == 1) {
        settings.remove(&key);
    }
    let mut expected = String::new();
    let settings_ok = settings.iter().all(|(key, value)| {
        expected.clear();
        let _ = write!(expected, "setting-{key}={}", *key as u32 * 1000 + 7);
        *value == expected
    });
    checks.check(
        settings_ok && settings.len() == 32,
        "the settings registry reads back",
    );

    // Tasks as boxed trait objects.
    let mut tasks: Vec<Box<dyn Task>> = Vec::new();
    for t in 0..9usize {
        tasks.push(match t % 3 {
            0 => Box::new(Blinker { on: false }),
            1 => Box::new(Filter {
                window: alloc::vec![0; 4 + t * 2],
                at: 0,
            }),
            _ => Box::new(Logger {
                last: String::new(),
            }),
        });
    }
    for tick in 0..20u32 {
        for task in tasks.iter_mut() {
            sum = sum.wrapping_add(task.step(tick));
        }
    }

    // A ring of packet buffers; each arrival frees a slot picked out of
    // order, checking the packet it held.
    let mut ring: [Option<(usize, Vec<u8>)>; RING] = Default::default();
    let mut intact = true;
    for packet in 0..PACKETS {
        let slot = (packet * 7 + packet / RING) % RING;
        if let Some((old, buf)) = ring[slot].take() {
            intact &= buf.len() == packet_size(old) && buf.iter().all(|&b| b == fill_byte(old));
            sum = sum.wrapping_add(buf.len() as u32);
        }
        ring[slot] = Some((packet, alloc::vec![fill_byte(packet); packet_size(packet)]));
        if packet == PACKETS - RING {
            // Everything is live: the log, the registry, the tasks and a
            // full ring.
            at_peak();
        }
    }
    for (old, buf) in ring.iter_mut().filter_map(Option::take) {
        intact &= buf.iter().all(|&b| b == fill_byte(old));
    }
    checks.check(intact, "every packet buffer reads back intact");

    // The settings and the log are still intact after all that churn.
    checks.check(
        settings.values().all(|v| v.starts_with("setting-")) && log[299] == 299 * 13,
        "the long-lived blocks survived the churn",
    );
    sum = sum.wrapping_add(settings.values().map(|v| v.len() as u32).sum::<u32>());
    sum
}

/// Bytes of heap each `workload-*` program gives its allocator.
pub const HEAP_BYTES: usize = 32 * 1024;

/// The heap of a `workload-*` program: a static, 16-aligned array.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct Region(pub [core::mem::MaybeUninit<u8>; HEAP_BYTES]);

impl Region {
    /// An uninitialised region.
    pub const fn new() -> Self {
        Region([core::mem::MaybeUninit::uninit(); HEAP_BYTES])
    }
}

impl Default for Region {
    fn default() -> Self {
        Region::new()
    }
}

/// The body of every `workload-*` program: runs [`run`], prints the
/// checksum, calls `at_peak` at the peak, and exits with the checks' verdict.
pub fn main(name: &str, at_peak: &mut dyn FnMut()) -> ! {
    let mut checks = Checks::new();
    crate::say!("workload on {}", name);
    let sum = run(&mut checks, at_peak);
    crate::say!("checksum {:#010x}", sum);
    checks.finish()
}
