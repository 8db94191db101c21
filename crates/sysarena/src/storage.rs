//! Where the tables live: inline arrays, or storage the caller provides.
//!
//! Every manager keeps its metadata in tables outside the region — the
//! arena table of [`Slot`]s and, for movable allocations, the handle table
//! of [`HandleSlot`]s. By default both are arrays inside the manager, sized
//! by the const parameters: `ArenaManager::<N>` holds `[Slot; N]`,
//! `Movable::<N, H>` also `[HandleSlot; H]`. A table too large for the
//! stack, or sized at run time, is given instead: any [`TableStorage`] /
//! [`HandleStorage`] — a `&mut [Slot]`, and with the `alloc` feature (on by
//! default) a `Box<[Slot]>` or a `Vec<Slot>`.
//!
//! With given storage the const parameters size nothing. The aliases here
//! name those types without them:
//!
//! | inline tables | any given storage `S` | a `&'t mut [Slot]` |
//! | --- | --- | --- |
//! | [`ArenaManager<N>`](crate::ArenaManager) | [`ArenaManagerIn<S>`] | [`SliceManager<'t>`](crate::SliceManager) |
//! | [`Heap<N>`](crate::Heap) | [`HeapIn<S>`] | [`SliceHeap<'t>`](crate::SliceHeap) |
//! | [`Movable<N, H>`](crate::Movable) | [`MovableIn<S, T>`] | |
//! | [`HandleHeap<N, H>`](crate::HandleHeap) | [`HandleHeapIn<S, T>`] | |
//! | `global::LockedHeap<N>` | `LockedHeapIn<S>` | `global::SliceLockedHeap<'t>` |
//! | `global::HeapCell<N>` | `HeapCellIn<S>` | `global::SliceHeapCell<'t>` |
//!
//! (The `global` rows need the `global` feature.)
//!
//! ```
//! use sysarena::{ArenaManager, ArenaManagerIn, Config, HandleSlot, Movable, MovableIn, Slot};
//!
//! // Tables sized at run time, on the heap.
//! let n = 4096;
//! let table = vec![Slot::EMPTY; n].into_boxed_slice();
//! let handles = vec![HandleSlot::EMPTY; n].into_boxed_slice();
//! let manager = ArenaManager::from_table(table, 1 << 30, Config::fast())?;
//! let mut m: MovableIn<Box<[Slot]>, Box<[HandleSlot]>> = Movable::from_parts(manager, handles)?;
//! let h = m.alloc(4096, 64)?;
//! assert_eq!(m.offset(h)?, 0);
//!
//! // A table grown at run time is a `Vec<Slot>`.
//! let m: ArenaManagerIn<Vec<Slot>> =
//!     ArenaManagerIn::from_table(vec![Slot::EMPTY; 64], 4096, Config::classic())?;
//! assert_eq!(m.stats().descriptors, 64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Both storage traits are sealed: see [`TableStorage`] for why.

pub use crate::handle::{HandleSlot, HandleStorage};
use crate::handle_heap::HandleHeap;
use crate::heap::Heap;
use crate::manager::ArenaManager;
use crate::movable::Movable;
pub use crate::table::{Slot, TableStorage};

/// An [`ArenaManager`] whose arena table is `S` (a `Box<[Slot]>`, a
/// `Vec<Slot>`, a `&mut [Slot]`), not an inline array.
pub type ArenaManagerIn<S> = ArenaManager<0, S>;

/// A [`Heap`] whose arena table is `S`.
pub type HeapIn<S> = Heap<0, S>;

/// A [`Movable`] manager whose arena table is `S` and handle table `T`
/// (a `Box<[HandleSlot]>`, a `Vec<HandleSlot>`, a `&mut [HandleSlot]`).
pub type MovableIn<S, T> = Movable<0, 0, S, T>;

/// A [`HandleHeap`] whose arena table is `S` and handle table `T`.
pub type HandleHeapIn<S, T> = HandleHeap<0, 0, S, T>;

/// A [`LockedHeap`](crate::global::LockedHeap) whose arena table is `S`
/// (say `&'static mut [Slot]`), behind lock `R`.
#[cfg(all(feature = "global", target_has_atomic = "8"))]
pub type LockedHeapIn<S, R = crate::global::DefaultRawMutex> = crate::global::LockedHeap<0, R, S>;

/// A [`HeapCell`](crate::global::HeapCell) whose arena table is `S`.
#[cfg(feature = "global")]
pub type HeapCellIn<S> = crate::global::HeapCell<0, S>;
