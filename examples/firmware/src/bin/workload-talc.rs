//! The firmware workload with talc 5 as the global allocator (`TalcLock`
//! over a spin lock, the `Manual` source, the region claimed in `main`).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_semihosting as _;
use spinning_top::RawSpinlock;
use sysarena_firmware::workload::{self, Region};
use talc::TalcLock;
use talc::source::Manual;

#[cfg_attr(not(feature = "measure-ram"), global_allocator)]
static HEAP: TalcLock<RawSpinlock, Manual> = TalcLock::new(Manual);

#[cfg(feature = "measure-ram")]
#[global_allocator]
static COUNTED: sysarena_firmware::counted::Counted<TalcLock<RawSpinlock, Manual>> =
    sysarena_firmware::counted::Counted::new(&HEAP);

static mut MEMORY: Region = Region::new();

#[entry]
fn main() -> ! {
    // SAFETY: `main` runs once and this is the only reference ever taken to
    // MEMORY; talc owns the bytes from here on.
    let memory = unsafe { &mut (*core::ptr::addr_of_mut!(MEMORY)).0 };
    // SAFETY: as above: the region is valid, unused by anything else, for ever.
    if unsafe { HEAP.lock().claim(memory.as_mut_ptr().cast(), memory.len()) }.is_none() {
        sysarena_firmware::say!("cannot claim the heap");
    }
    #[cfg(feature = "measure-ram")]
    let empty = HEAP.lock().counters().overhead_bytes();
    workload::main("talc", &mut || {
        #[cfg(feature = "measure-ram")]
        {
            let c = *HEAP.lock().counters();
            sysarena_firmware::say!(
                "peak: {} blocks live, {} B requested",
                COUNTED.live_blocks(),
                COUNTED.live_bytes()
            );
            sysarena_firmware::say!(
                "talc: per-block metadata and rounding {} B (overhead {} B at peak - {} B of bins with no block); of it the tag words: {} x {} B = {} B",
                c.overhead_bytes() - empty,
                c.overhead_bytes(),
                empty,
                c.allocation_count,
                core::mem::size_of::<usize>(),
                c.allocation_count * core::mem::size_of::<usize>()
            );
            sysarena_firmware::say!(
                "talc: allocator state outside the region {} B; bins inside the region {} B",
                core::mem::size_of_val(&HEAP),
                empty
            );
        }
    })
}
