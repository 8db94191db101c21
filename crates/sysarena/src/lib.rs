//! # sysarena — an arena-based memory manager
//!
//! The arena model: one region of `capacity` bytes, a fixed table of arena
//! descriptors over it, no heap. At the start one free arena covers the
//! region. **alloc** takes a free arena large enough and *splits* it: the
//! allocation takes the front, the remainder becomes a new free arena in a
//! spare descriptor. **free** marks the arena free. **defragment** merges
//! address-adjacent free arenas and compacts the table so the spare
//! descriptors sit at the end.
//!
//! The model is easy to follow and it fragments: after enough splits and
//! frees, an allocation fails although more bytes than it asks for are free,
//! because no single free arena is large enough. sysarena reproduces exactly
//! that ([`OomReason::NoFit`] carries the free bytes), and then offers what
//! allocators do about it: other fit [`Policy`]s, [`Coalescing::Immediate`],
//! and an O(1) [`Policy::SegregatedFit`].
//!
//! ```
//! use sysarena::{AllocError, ArenaManager, OomReason};
//!
//! // The classic model: first fit, deferred coalescing, 8 descriptors.
//! let mut m = ArenaManager::<8>::new(1000);
//! let a = m.alloc(300, 1)?;
//! let b = m.alloc(300, 1)?;
//! let _c = m.alloc(300, 1)?;
//! m.free(a.offset())?;
//! m.free(b.offset())?;
//! // 700 bytes free, in arenas of 300, 300 and 100: 500 does not fit...
//! let err = m.alloc(500, 1).unwrap_err();
//! assert!(matches!(err, AllocError::OutOfMemory(OomReason::NoFit { free_bytes: 700, .. })));
//! // ...until defragment merges the two freed neighbours.
//! m.defragment();
//! assert_eq!(m.alloc(500, 1)?.offset(), 0);
//! assert_eq!(m.stats().in_use_bytes + m.stats().free_bytes, m.capacity());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Layers
//! - [`ArenaManager`]: the model on offsets. It never touches the memory it
//!   manages, so it can sub-allocate memory the CPU cannot write headers into
//!   (GPU buffers, file space, shared memory).
//! - [`Heap`]: a manager over real memory — the one unsafe boundary.
//! - [`Movable`]: allocations named by [`Handle`]s, so defragmentation can
//!   move them — bounded passes of moves the caller carries out (memory the
//!   CPU may not touch), or [`compact`](Movable::compact) at once.
//!   [`HandleHeap`] does it over RAM with a safe API.
//!
//! ## Features
//! - `std`: links `std` (nothing in the core needs it; the error types
//!   implement `core::error::Error` either way).
//! - `global`: [`global::LockedHeap`] (a `#[global_allocator]` behind a
//!   lock, spin by default, generic over `lock_api::RawMutex`) and
//!   [`global::HeapCell`] (no lock, single thread); `no_std`.
//! - `allocator-api2`: `allocator_api2::alloc::Allocator` for both, so
//!   `allocator_api2::vec::Vec::new_in(&heap)` works on stable.
//! - `capi`: the C ABI in [`capi`] (`sysarena_init`, `sysarena_alloc`, …),
//!   built into a static and a shared library by the `sysarena-capi` crate.
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "std")]
extern crate std;

mod config;
mod error;
pub mod handle;
mod handle_heap;
mod heap;
mod manager;
mod movable;
pub mod pass;
mod stats;
mod table;

#[cfg(feature = "allocator-api2")]
mod allocator_api;
#[cfg(feature = "capi")]
pub mod capi;
#[cfg(feature = "global")]
pub mod global;

pub use config::{Coalescing, Config, Policy, UnknownName};
pub use error::{
    AllocError, FreeError, HandleError, InvariantError, OomReason, ReallocError, TableError,
};
pub use handle::{Handle, HandleSlot, HandleStorage};
pub use handle_heap::HandleHeap;
pub use heap::Heap;
pub use manager::{ArenaManager, Arenas, SliceManager};
pub use movable::Movable;
pub use pass::{
    MoveStats, MoveStatus, PassLimits, PassPlan, PassProgress, PassReport, PassStop, PlannedMove,
};
pub use stats::{
    Allocation, ArenaInfo, DefragReport, Move, Reallocation, RelocationReport, Stats, TableEntry,
};
pub use table::{Slot, TableStorage};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}
