//! The firmware workload with embedded-alloc 0.7's `TlsfHeap` (rlsf: two-level segregated fit with block headers) as the global allocator, initialised
//! in `main` the way its docs show.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use embedded_alloc::TlsfHeap as Heap;
use panic_semihosting as _;
use sysarena_firmware::workload::{self, Region};

#[cfg_attr(not(feature = "measure-ram"), global_allocator)]
static HEAP: Heap = Heap::empty();

#[cfg(feature = "measure-ram")]
#[global_allocator]
static COUNTED: sysarena_firmware::counted::Counted<Heap> =
    sysarena_firmware::counted::Counted::new(&HEAP);

static mut MEMORY: Region = Region::new();

#[entry]
fn main() -> ! {
    // SAFETY: `main` runs once and this is the only reference ever taken to
    // MEMORY; the heap owns the bytes from here on.
    let memory = unsafe { &mut (*core::ptr::addr_of_mut!(MEMORY)).0 };
    // SAFETY: as above: the region is valid and unused by anything else.
    unsafe { HEAP.init(memory.as_mut_ptr() as usize, memory.len()) };
    // Bytes in use are the region less the free bytes (`free()`; 0.7.0's
    // `TlsfHeap::used()` borrows its RefCell twice and panics).
    #[cfg(feature = "measure-ram")]
    let empty = workload::HEAP_BYTES - HEAP.free();
    workload::main("embedded-alloc TlsfHeap", &mut || {
        #[cfg(feature = "measure-ram")]
        {
            sysarena_firmware::say!(
                "peak: {} blocks live, {} B requested",
                COUNTED.live_blocks(),
                COUNTED.live_bytes()
            );
            sysarena_firmware::say!(
                "embedded-alloc TlsfHeap: per-block metadata and rounding {} B ({} B used at peak - {} B with no block - {} B requested)",
                workload::HEAP_BYTES - HEAP.free() - empty - COUNTED.live_bytes(),
                workload::HEAP_BYTES - HEAP.free(),
                empty,
                COUNTED.live_bytes()
            );
            sysarena_firmware::say!(
                "embedded-alloc TlsfHeap: allocator state outside the region {} B",
                core::mem::size_of_val(&HEAP)
            );
        }
    })
}
