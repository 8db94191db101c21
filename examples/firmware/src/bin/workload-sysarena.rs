//! The firmware workload with sysarena as the global allocator
//! (`LockedHeap`, `Config::fast()`: segregated fit, immediate coalescing).
#![no_std]
#![no_main]

use core::ptr::NonNull;

use cortex_m_rt::entry;
use panic_semihosting as _;
use sysarena::global::LockedHeap;
use sysarena_firmware::workload::{self, Region};

/// Descriptors in the arena table: more than the workload's arenas at peak.
const DESCRIPTORS: usize = 128;

#[cfg_attr(not(feature = "measure-ram"), global_allocator)]
static HEAP: LockedHeap<DESCRIPTORS> = LockedHeap::new();

#[cfg(feature = "measure-ram")]
#[global_allocator]
static COUNTED: sysarena_firmware::counted::Counted<LockedHeap<DESCRIPTORS>> =
    sysarena_firmware::counted::Counted::new(&HEAP);

static mut MEMORY: Region = Region::new();

#[entry]
fn main() -> ! {
    // SAFETY: `main` runs once and this is the only reference ever taken to
    // MEMORY; the heap owns the bytes from here on.
    let memory = unsafe { &mut (*core::ptr::addr_of_mut!(MEMORY)).0 };
    let base = NonNull::new(memory.as_mut_ptr().cast::<u8>()).expect("a static is not null");
    // SAFETY: as above: the region is valid, unused by anything else, for ever.
    if unsafe { HEAP.claim(base, memory.len()) }.is_err() {
        sysarena_firmware::say!("cannot claim the heap");
    }
    workload::main("sysarena", &mut || {
        #[cfg(feature = "measure-ram")]
        {
            let s = HEAP.stats();
            let slot = core::mem::size_of::<sysarena::Slot>();
            let arenas = s.used_arenas + s.free_arenas;
            sysarena_firmware::say!(
                "peak: {} blocks live, {} B requested",
                COUNTED.live_blocks(),
                COUNTED.live_bytes()
            );
            sysarena_firmware::say!(
                "sysarena: {} descriptors hold arenas ({} in use, {} free) x {} B = {} B of table; the table as built: {} x {} B = {} B",
                arenas,
                s.used_arenas,
                s.free_arenas,
                slot,
                arenas * slot,
                s.descriptors,
                slot,
                s.descriptors * slot
            );
            sysarena_firmware::say!(
                "sysarena: allocator state outside the region {} B (table, free index, counters); {} B of the region lost to alignment",
                core::mem::size_of_val(&HEAP),
                s.in_use_bytes - COUNTED.live_bytes()
            );
        }
    })
}
