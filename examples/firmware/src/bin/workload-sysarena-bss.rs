//! The firmware workload on sysarena with the arena table in `.bss`: the
//! same `LockedHeap` as `workload-sysarena`, but over a caller-provided,
//! all-zero table (`ArenaManager::from_empty_slice`), so the 128
//! descriptors cost RAM only, not flash. What stays in `.data` is the rest
//! of the heap's state (the free index, counters, the bad-free handler).
#![no_std]
#![no_main]

use core::ptr::NonNull;

use cortex_m_rt::entry;
use panic_semihosting as _;
use sysarena::global::{LockedHeap, SliceLockedHeap};
use sysarena::{ArenaManager, Config, Heap, Slot};
use sysarena_firmware::workload::{self, Region};

/// Descriptors in the arena table, as in `workload-sysarena`.
const DESCRIPTORS: usize = 128;

type Global = SliceLockedHeap<'static>;

#[cfg_attr(not(feature = "measure-ram"), global_allocator)]
static HEAP: Global = LockedHeap::new();

#[cfg(feature = "measure-ram")]
#[global_allocator]
static COUNTED: sysarena_firmware::counted::Counted<Global> =
    sysarena_firmware::counted::Counted::new(&HEAP);

static mut MEMORY: Region = Region::new();

/// All zero bytes: a valid table of spare descriptors (see
/// `ArenaManager::from_empty_table`), placed in `.bss`.
// SAFETY: all-zero bytes are a valid `Slot` (its state `Spare` is 0 and
// every other field is an integer).
static mut TABLE: [Slot; DESCRIPTORS] = unsafe { core::mem::zeroed() };

#[entry]
fn main() -> ! {
    // SAFETY: `main` runs once and these are the only references ever taken
    // to MEMORY and TABLE; the heap owns both from here on.
    let (memory, table) = unsafe {
        (
            &mut (*core::ptr::addr_of_mut!(MEMORY)).0,
            &mut *core::ptr::addr_of_mut!(TABLE),
        )
    };
    let base = NonNull::new(memory.as_mut_ptr().cast::<u8>()).expect("a static is not null");
    // SAFETY: every slot of TABLE is all zero bytes (never written before).
    let manager = unsafe { ArenaManager::from_empty_slice(table, memory.len(), Config::fast()) };
    let claimed = manager.map(|m| {
        // SAFETY: the region is valid, unused by anything else, for ever.
        HEAP.init_heap(unsafe { Heap::from_manager(base, m) })
    });
    if !matches!(claimed, Ok(Ok(()))) {
        sysarena_firmware::say!("cannot claim the heap");
    }
    workload::main("sysarena, table in .bss", &mut || {
        #[cfg(feature = "measure-ram")]
        {
            let s = HEAP.stats();
            sysarena_firmware::say!(
                "sysarena: allocator state outside the region {} B in the static + {} B of table in .bss",
                core::mem::size_of_val(&HEAP),
                s.descriptors * core::mem::size_of::<Slot>()
            );
        }
    })
}
