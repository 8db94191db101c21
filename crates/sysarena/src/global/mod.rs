//! Front ends for real programs (feature `global`, `no_std`):
//! [`StaticHeap`], a `#[global_allocator]` in one line; [`LockedHeap`], a
//! [`Heap`](crate::Heap) behind a lock, given memory when and where the
//! program finds it; and [`HeapCell`], the same without a lock for
//! single-threaded targets.
//!
//! # The one-line global allocator
//! [`StaticHeap`] holds its memory and its arena table in the static
//! itself (all zero bytes: `.bss`, no flash) and claims them on the first
//! allocation, so it works when `std` allocates before `main`:
//!
//! ```
//! use sysarena::global::StaticHeap;
//!
//! #[global_allocator]
//! static HEAP: StaticHeap<4096, { 1 << 20 }> = StaticHeap::new();
//!
//! fn main() {
//!     let words: Vec<String> = (0..100).map(|i| i.to_string()).collect();
//!     assert_eq!(words.concat().len(), 190);
//!     assert_eq!(HEAP.stats().capacity, 1 << 20);
//! }
//! ```
//!
//! Memory found later — the free entries of a memory map — joins the same
//! heap with [`StaticHeap::add_region`].
//!
//! # Memory given at run time
//! [`LockedHeap`] and [`HeapCell`] are built empty by a `const fn` and
//! given memory with `claim` (an inline table) or `init_heap` (a table the
//! caller provides, [`SliceLockedHeap`]):
//!
//! ```
//! use core::alloc::{GlobalAlloc, Layout};
//! use core::ptr::NonNull;
//! use sysarena::global::LockedHeap;
//!
//! static HEAP: LockedHeap<256> = LockedHeap::new();
//!
//! let region: &'static mut [u8] = Box::leak(vec![0u8; 64 * 1024].into_boxed_slice());
//! let base = NonNull::new(region.as_mut_ptr()).unwrap();
//! // SAFETY: the leaked buffer is ours for ever and used by nothing else.
//! unsafe { HEAP.claim(base, region.len()).unwrap() };
//!
//! let layout = Layout::from_size_align(100, 8).unwrap();
//! // SAFETY: a non-zero-sized layout; the pointer is freed once, with it.
//! unsafe {
//!     let p = HEAP.alloc(layout);
//!     assert!(!p.is_null());
//!     HEAP.dealloc(p, layout);
//! }
//! assert_eq!(HEAP.stats().free_bytes, 64 * 1024);
//! ```
//!
//! As a `#[global_allocator]`, a `LockedHeap` must have memory before the
//! first allocation, and `std` allocates before `main`: claim the first
//! region from an OOM handler ([`LockedHeap::with_oom_handler`]), which
//! runs on the first request — or use [`StaticHeap`].
//!
//! # Regions
//! A heap holds up to [`MAX_REGIONS`](crate::MAX_REGIONS) regions. The
//! first `claim` (or `init_heap`) gives it its first region; a later
//! `claim` adds memory anywhere that does not overlap the heap's regions —
//! the next entry of a memory map, with a hole before it or not — as a new
//! region ([`Heap::add_region`](crate::Heap::add_region)). `extend` does
//! the same, except that memory starting exactly at the end of the last
//! region, which must then be more of that region's allocation, grows it
//! ([`Heap::grow`](crate::Heap::grow): the `sbrk`-style growth an OOM
//! handler usually does). Allocation
//! searches every region; a free finds its region in O(1) for the first
//! and O(log regions) for the others; `stats` covers them all.
//!
//! # Out of memory and the rescue handler
//! When an allocation fails because no free arena fits (or the region is
//! smaller than the request, or was never claimed), an [`OomHandler`] set
//! with `set_oom_handler` is called with the lock held and a [`Rescue`]
//! that can claim or extend memory or defragment. If it answers
//! [`OomAction::Retry`] the allocation is tried again, at most
//! [`MAX_RESCUES`] times per request; [`OomAction::Fail`] returns the error
//! (a null pointer through `GlobalAlloc`). The handler must not call any
//! method of the same heap — not only allocate: `stats` too — for
//! `LockedHeap` that deadlocks, for `HeapCell` it fails; the `Rescue` has
//! what it needs. Nor may it panic: no panic may unwind out of an
//! allocator, so one aborts the program.
//!
//! # Invalid and double frees
//! `GlobalAlloc::dealloc` cannot return an error. A pointer that is not a
//! live allocation of this heap is never freed — the table stays intact —
//! it is counted ([`LockedHeap::invalid_frees`](crate::global::LockedHeap::invalid_frees)) and handed to the
//! [`BadFreeHandler`], after the lock is released. The default,
//! [`default_bad_free_handler`], aborts with a message in debug builds
//! (`debug_assertions`) and ignores the free in release builds. In a
//! program with `std`, enable the `std` feature as well: the abort then
//! allocates nothing (see [`abort_on_bad_free`]).
//!
//! Like every allocator, sysarena cannot tell a double free from a valid
//! free when the block was handed out again in between.
//!
//! # Where things are
//! One concept per file, lowest layer first (nothing imports upward):
//! `claim` ([`ClaimError`]), `bad_free` (what `dealloc` does with a
//! pointer that is not a live block), `oom` ([`OomAction`],
//! [`MAX_RESCUES`]), `state` (the heap and handlers behind the lock, and
//! [`Rescue`], the handler's view of them), `methods` (the operations
//! [`LockedHeap`] and [`HeapCell`] share), `locked` ([`LockedHeap`]),
//! `cell` ([`HeapCell`]), `static_heap` ([`StaticHeap`]).

mod bad_free;
mod cell;
mod claim;
#[cfg(target_has_atomic = "8")]
mod locked;
mod methods;
mod oom;
mod state;
#[cfg(target_has_atomic = "8")]
mod static_heap;

pub use bad_free::{
    BadFree, BadFreeHandler, abort_on_bad_free, default_bad_free_handler, ignore_bad_free,
};
pub use cell::{HeapCell, SliceHeapCell};
pub use claim::ClaimError;
#[cfg(target_has_atomic = "8")]
pub use locked::{DefaultRawMutex, LockedHeap, SliceLockedHeap};
pub use oom::{MAX_RESCUES, OomAction};
pub use state::{OomHandler, Rescue, SliceRescue};
#[cfg(target_has_atomic = "8")]
pub use static_heap::StaticHeap;
