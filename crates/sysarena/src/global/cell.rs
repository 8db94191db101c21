//! [`HeapCell`](crate::global::HeapCell): a [`Heap`](crate::Heap) without a lock, for single-threaded programs
//! and single-core targets without atomic compare-and-swap.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::{Cell, UnsafeCell};
use core::fmt;
use core::ptr::{self, NonNull};

use super::bad_free::BadFreeHandler;
use super::claim::ClaimError;
use super::methods::{global_alloc_impl, shared_methods};
use super::state::{OomHandler, State, unclaimed};
use crate::config::Config;
use crate::error::{AllocError, FreeError, InvariantError, ReallocError};
use crate::heap::Heap;
use crate::stats::{DefragReport, Stats};
use crate::table::{Slot, TableStorage};

/// A [`Heap`](crate::Heap) without a lock, for single-threaded programs and single-core
/// targets without atomic compare-and-swap (it uses no atomics at all).
///
/// It is `Sync` so that it can be a `static`; its constructor is `unsafe`
/// because that is only sound when it is never used from two threads, or
/// from an interrupt handler that can preempt a call in progress. A call
/// that re-enters it (from the OOM handler) fails instead of aliasing
/// the heap: allocation returns an error, a free leaks the block.
pub struct HeapCell<const N: usize, S: TableStorage = [Slot; N]> {
    state: UnsafeCell<State<N, S>>,
    busy: Cell<bool>,
}

// SAFETY: the constructor's contract: no two threads (or thread and
// interrupt) ever use the cell concurrently, so sharing `&HeapCell` is never
// concurrent access; the `busy` flag turns re-entry into an error.
unsafe impl<const N: usize, S: TableStorage + Send> Sync for HeapCell<N, S> {}

impl<const N: usize, S: TableStorage> HeapCell<N, S> {
    /// An empty heap running [`Config::fast`].
    ///
    /// # Safety
    /// The cell must only ever be used from one thread, and not from an
    /// interrupt or signal handler that can run while a call on it is in
    /// progress.
    ///
    /// # Time complexity
    /// O(1) (a `const fn`: usually run when the program is compiled).
    pub const unsafe fn new() -> Self {
        // SAFETY: forwarded to the caller.
        unsafe { Self::with_config(Config::fast()) }
    }

    /// An empty heap that will run `config`.
    ///
    /// # Safety
    /// As [`HeapCell::new`](crate::global::HeapCell::new).
    ///
    /// # Time complexity
    /// O(1) (a `const fn`: usually run when the program is compiled).
    pub const unsafe fn with_config(config: Config) -> Self {
        HeapCell {
            state: UnsafeCell::new(State::new(config)),
            busy: Cell::new(false),
        }
    }

    /// An empty heap that will run `config` and call `handler` when a
    /// request cannot be served (see [`LockedHeap::with_oom_handler`](crate::global::LockedHeap::with_oom_handler)).
    ///
    /// # Safety
    /// As [`HeapCell::new`](crate::global::HeapCell::new).
    ///
    /// # Time complexity
    /// O(1) (a `const fn`: usually run when the program is compiled).
    pub const unsafe fn with_oom_handler(config: Config, handler: OomHandler<N, S>) -> Self {
        let mut state = State::new(config);
        state.oom = Some(handler);
        HeapCell {
            state: UnsafeCell::new(state),
            busy: Cell::new(false),
        }
    }

    fn access<T>(&self, f: impl FnOnce(&mut State<N, S>) -> T) -> Option<T> {
        if self.busy.replace(true) {
            return None;
        }
        // The cell is free again when `f` returns — or unwinds: a panic in
        // a `with_heap` closure (which sees the heap only by `&`) must not
        // leave every later call refused and every free leaked. (An OOM
        // handler's panic aborts; see `AbortOnUnwind`.)
        let _release = Release(&self.busy);
        // SAFETY: `busy` was false, so no other `&mut` to the state exists
        // on this thread, and the constructor's contract rules out others.
        Some(f(unsafe { &mut *self.state.get() }))
    }

    shared_methods!();
}

impl<const N: usize> HeapCell<N, [Slot; N]> {
    /// As [`LockedHeap::claim`](crate::global::LockedHeap::claim).
    ///
    /// # Errors
    /// As [`LockedHeap::claim`](crate::global::LockedHeap::claim); [`ClaimError::AlreadyClaimed`](crate::global::ClaimError::AlreadyClaimed) if called
    /// from inside the OOM handler (use [`Rescue::claim`](crate::global::Rescue::claim) there).
    ///
    /// # Safety
    /// As [`LockedHeap::claim`](crate::global::LockedHeap::claim).
    ///
    /// # Time complexity
    /// As [`LockedHeap::claim`](crate::global::LockedHeap::claim): the first
    /// claim O(N), later ones as [`Heap::add_region`](crate::Heap::add_region).
    pub unsafe fn claim(&self, base: NonNull<u8>, len: usize) -> Result<(), ClaimError> {
        // SAFETY: forwarded to the caller.
        self.access(|s| unsafe { s.claim(base, len) })
            .unwrap_or(Err(ClaimError::AlreadyClaimed))
    }
}

impl<const N: usize, S: TableStorage> fmt::Debug for HeapCell<N, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapCell")
            .field("stats", &self.stats())
            .field("invalid_frees", &self.invalid_frees())
            .finish()
    }
}

// SAFETY: as for `LockedHeap`.
unsafe impl<const N: usize, S: TableStorage> GlobalAlloc for HeapCell<N, S> {
    global_alloc_impl!();
}

/// A [`HeapCell`](crate::global::HeapCell) whose arena table is a caller-provided
/// `&'t mut [Slot]`: no placeholder `0` to write.
pub type SliceHeapCell<'t> = HeapCell<0, &'t mut [Slot]>;

/// Clears a [`HeapCell`]'s busy flag when dropped, on return or unwind.
struct Release<'a>(&'a Cell<bool>);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}
