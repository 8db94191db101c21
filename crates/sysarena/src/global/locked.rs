//! [`LockedHeap`](crate::global::LockedHeap): a [`Heap`](crate::Heap) behind a lock (a spin lock unless told
//! otherwise): a `#[global_allocator]`, a `Sync` allocator for
//! allocator-api2 collections, and the engine of the C ABI.

use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::ptr::{self, NonNull};

use lock_api::RawMutex;

use super::bad_free::BadFreeHandler;
use super::claim::ClaimError;
use super::methods::{global_alloc_impl, shared_methods};
use super::state::{OomHandler, State, unclaimed};
use crate::config::Config;
use crate::error::{AllocError, FreeError, InvariantError, ReallocError};
use crate::heap::Heap;
use crate::stats::{DefragReport, Stats};
use crate::table::{Slot, TableStorage};

/// The lock [`LockedHeap`](crate::global::LockedHeap) uses unless told otherwise: the `spin` crate's
/// spin lock (a test-and-set loop; fair enough for short critical sections,
/// unsuitable where a lock holder can be preempted for long).
pub type DefaultRawMutex = spin::Mutex<()>;

/// A [`Heap`](crate::Heap) behind a lock: a `#[global_allocator]`, a `Sync` allocator
/// for allocator-api2 collections, and the engine of the C ABI.
///
/// `N` is the size of the arena table (the most arenas, free and in use,
/// at once), `R` the lock (a spin lock by default; any
/// [`lock_api::RawMutex`], e.g. a critical-section mutex on a single-core
/// MCU), `S` the table storage (inline `[Slot; N]` by default).
///
/// Every operation takes the lock once; the heap's policy is
/// [`Config::fast`] unless built [`with_config`](Self::with_config).
pub struct LockedHeap<const N: usize, R: RawMutex = DefaultRawMutex, S: TableStorage = [Slot; N]> {
    state: lock_api::Mutex<R, State<N, S>>,
}

impl<const N: usize, R: RawMutex, S: TableStorage> LockedHeap<N, R, S> {
    /// An empty heap running [`Config::fast`]; give it memory with
    /// [`claim`](Self::claim) or [`init_heap`](Self::init_heap).
    ///
    /// # Time complexity
    /// O(1) (a `const fn`: usually run when the program is compiled).
    pub const fn new() -> Self {
        Self::with_config(Config::fast())
    }

    /// An empty heap that will run `config`.
    ///
    /// # Time complexity
    /// O(1) (a `const fn`: usually run when the program is compiled).
    pub const fn with_config(config: Config) -> Self {
        LockedHeap {
            state: lock_api::Mutex::new(State::new(config)),
        }
    }

    /// An empty heap that will run `config` and call `handler` when a
    /// request cannot be served — e.g. to claim its first region lazily,
    /// before `main` runs, as a `#[global_allocator]` must.
    ///
    /// # Time complexity
    /// O(1) (a `const fn`: usually run when the program is compiled).
    pub const fn with_oom_handler(config: Config, handler: OomHandler<N, S>) -> Self {
        let mut state = State::new(config);
        state.oom = Some(handler);
        LockedHeap {
            state: lock_api::Mutex::new(state),
        }
    }

    fn access<T>(&self, f: impl FnOnce(&mut State<N, S>) -> T) -> Option<T> {
        Some(f(&mut self.state.lock()))
    }

    shared_methods!();
}

impl<const N: usize, R: RawMutex> LockedHeap<N, R, [Slot; N]> {
    /// Gives the heap `len` bytes at `base`: the first region, then more
    /// regions — anywhere that does not overlap the heap's (a memory map
    /// with holes, or memory right after the last region: a region of its
    /// own, behind a fence; see [`Heap::add_region`]). To grow the last
    /// region with more of its own allocation, use
    /// [`extend`](Self::extend).
    ///
    /// The first claim builds the manager (`[Slot; N]`, about `N` × 56
    /// bytes plus about 13 KiB of free index and quick lists on 64-bit
    /// targets: `size_of::<ArenaManager<1>>()` is 13,296 bytes) on the
    /// stack before moving it in; where that is too much, use
    /// [`init_heap`](Self::init_heap) with a slice table.
    ///
    /// # Errors
    /// [`ClaimError::Region`]: the memory wraps, or (after the first
    /// region) is too small, misaligned, overlapping, one region too many,
    /// or finds no spare descriptor. Nothing changes then.
    ///
    /// # Safety
    /// `base .. base + len` must be valid for reads and writes, used by
    /// nothing else for as long as the heap (or any pointer it returned)
    /// lives, and must not wrap around the address space.
    ///
    /// # Time complexity
    /// The first claim: O(N). Later ones: O(regions), see
    /// [`Heap::add_region`].
    pub unsafe fn claim(&self, base: NonNull<u8>, len: usize) -> Result<(), ClaimError> {
        // SAFETY: forwarded to the caller.
        unsafe { self.state.lock().claim(base, len) }
    }
}

impl<const N: usize, R: RawMutex, S: TableStorage> Default for LockedHeap<N, R, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, R: RawMutex, S: TableStorage> fmt::Debug for LockedHeap<N, R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("LockedHeap");
        match self.state.try_lock() {
            Some(s) => d
                .field("stats", &s.stats())
                .field("invalid_frees", &s.invalid_frees)
                .finish(),
            None => d.field("state", &"<locked>").finish(),
        }
    }
}

/// A [`LockedHeap`](crate::global::LockedHeap) whose arena table is a caller-provided
/// `&'t mut [Slot]` (given with [`init_heap`](LockedHeap::init_heap)),
/// for a table too large for the stack or sized at run time: no
/// placeholder `0` to write.
pub type SliceLockedHeap<'t, R = DefaultRawMutex> = LockedHeap<0, R, &'t mut [Slot]>;

// SAFETY: `alloc` returns memory from the heap's region, aligned and sized
// as `Heap::alloc` guarantees, never overlapping a live allocation (the
// manager's invariant); nothing here unwinds (the core does not panic on
// input, and a bad free goes to a handler that must not unwind).
unsafe impl<const N: usize, R: RawMutex, S: TableStorage> GlobalAlloc for LockedHeap<N, R, S> {
    global_alloc_impl!();
}
