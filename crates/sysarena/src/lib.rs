#![doc = include_str!("../README.md")]
#![no_std]
// The unsafe boundary is mechanical: no module may use `unsafe` but the
// pointer layer and the front ends, each allowed on its `mod` line below,
// and two manager submodules (unchecked slot access, the constructor over
// pre-zeroed tables), allowed on their lines in `manager.rs`.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod config;
mod error;
pub mod handle;
#[allow(unsafe_code)] // the pointer layer: a safe API over a raw region
mod handle_heap;
#[allow(unsafe_code)] // the pointer layer: the one unsafe boundary
mod heap;
// The manager allows `unsafe` on its own two submodule lines (`state`,
// `construction`): unchecked slot access and `from_empty_table`.
mod manager;
pub mod movable;
pub mod pass;
mod sealed;
pub mod stats;
pub mod storage;
pub mod table;

#[cfg(feature = "allocator-api2")]
#[allow(unsafe_code)] // front end: `unsafe impl Allocator`
mod allocator_api;
// The C ABI's heap is a `LockedHeap`: targets with compare-and-swap only.
#[cfg(all(feature = "capi", target_has_atomic = "8"))]
#[allow(unsafe_code)] // front end: the C ABI takes raw pointers
pub mod capi;
#[cfg(feature = "global")]
#[allow(unsafe_code)] // front end: `unsafe impl GlobalAlloc`
pub mod global;

// The crate root lists what a newcomer needs first: the managers, the
// model's settings, the errors. The vocabulary of passes, handles, reports
// and storage is documented in its module (`pass`, `handle`, `stats`,
// `storage`, `table`) and stays importable from the root as before.
pub use config::{Coalescing, Config, Policy, UnknownName};
pub use error::{
    AllocError, FreeError, HandleError, InvariantError, OomReason, ReallocError, TableError,
};
#[doc(inline)]
pub use handle::Handle;
pub use handle_heap::HandleHeap;
pub use heap::{
    Heap, HeapArena, MAX_REGION_ALIGN, MAX_REGIONS, MIN_REGION_LEN, REGION_ALIGN, Region,
    RegionError, SliceHeap,
};
pub use manager::{
    ArenaManager, Arenas, QUICK_DEPTH, QUICK_GRANULE, QUICK_LIMIT, QUICK_MAX_BYTES,
    QUICK_NEAR_SHARE, QUICK_SHARE, SliceManager, quick_near_sizes, quick_serves_smaller,
};
#[doc(inline)]
pub use movable::Movable;
#[doc(inline)]
pub use stats::Stats;

#[doc(hidden)]
pub use handle::{HandleSlot, HandleStorage};
#[doc(hidden)]
pub use pass::{
    MoveStats, MoveStatus, PassLimits, PassPlan, PassProgress, PassReport, PassStop, PlannedMove,
};
#[doc(hidden)]
pub use stats::{
    Allocation, ArenaInfo, DefragReport, Move, Reallocation, RelocationReport, TableEntry,
};
#[doc(hidden)]
pub use storage::{ArenaManagerIn, HandleHeapIn, HeapIn, MovableIn};
#[doc(hidden)]
pub use table::{Slot, TableStorage};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}
