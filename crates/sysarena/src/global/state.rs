//! The state behind a front end's lock (or cell): the heap once it has
//! memory, the OOM and bad-free handlers, the counters; the rescue
//! protocol that calls the OOM handler; and [`Rescue`](crate::global::Rescue), what a handler may
//! do to the heap while the lock is held.

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use super::bad_free::{BadFree, BadFreeHandler, default_bad_free_handler};
use super::claim::ClaimError;
use super::oom::{MAX_RESCUES, OomAction};
use crate::config::Config;
use crate::error::{AllocError, FreeError, OomReason, ReallocError};
use crate::heap::{Heap, RegionError};
use crate::stats::{DefragReport, Stats};
use crate::table::{Slot, TableStorage};

/// Called when a request cannot be served, with the lock held: it may add
/// memory through the [`Rescue`](crate::global::Rescue) and ask for a retry. It receives the
/// request's layout and the error the heap reported.
///
/// It must not call any method of the heap that called it — not only
/// allocate or free: `stats` too waits for the lock it holds (use the
/// `Rescue`'s) — and must not panic: a panic cannot unwind out of an
/// allocator, so one aborts the program (with `std`; without it, the
/// panic handler runs while the heap stays locked).
pub type OomHandler<const N: usize, S = [Slot; N]> =
    fn(&mut Rescue<'_, N, S>, Layout, AllocError) -> OomAction;

/// The state behind the lock: the heap once claimed, and the handlers.
pub(super) struct State<const N: usize, S: TableStorage> {
    pub(super) heap: Option<Heap<N, S>>,
    config: Config,
    pub(super) oom: Option<OomHandler<N, S>>,
    pub(super) bad_free: BadFreeHandler,
    pub(super) invalid_frees: usize,
    pub(super) rescues: usize,
}

impl<const N: usize, S: TableStorage> State<N, S> {
    pub(super) const fn new(config: Config) -> Self {
        State {
            heap: None,
            config,
            oom: None,
            bad_free: default_bad_free_handler(),
            invalid_frees: 0,
            rescues: 0,
        }
    }

    /// Adds `len` bytes at `base` to the heap: more of the last region
    /// when `base` is its end ([`Heap::grow`]), else a new region
    /// ([`Heap::add_region`]).
    ///
    /// # Safety
    /// As [`LockedHeap::extend`](crate::global::LockedHeap::extend).
    pub(super) unsafe fn extend(
        &mut self,
        base: NonNull<u8>,
        len: usize,
    ) -> Result<(), ClaimError> {
        let heap = self.heap.as_mut().ok_or(ClaimError::NoRegion)?;
        if base == heap.end() && len > 0 {
            // SAFETY: the caller gives us `base .. base + len` under
            // `Heap::new`'s contract, of the last region's allocation.
            return Ok(unsafe { heap.grow(len) }?);
        }
        // SAFETY: forwarded to the caller.
        unsafe { self.add_region(base, len) }
    }

    /// Adds `len` bytes at `base` to the heap as a region of its own
    /// ([`Heap::add_region`]), even right after the last region: `claim`
    /// and [`StaticHeap::add_region`](crate::global::StaticHeap::add_region)
    /// never join two allocations.
    ///
    /// # Safety
    /// As [`LockedHeap::claim`](crate::global::LockedHeap::claim).
    pub(super) unsafe fn add_region(
        &mut self,
        base: NonNull<u8>,
        len: usize,
    ) -> Result<(), ClaimError> {
        let heap = self.heap.as_mut().ok_or(ClaimError::NoRegion)?;
        // SAFETY: the caller gives us `base .. base + len` under
        // `Heap::new`'s contract.
        Ok(unsafe { heap.add_region(base, len) }?)
    }

    /// Sets the first region from a ready heap.
    pub(super) fn init(&mut self, heap: Heap<N, S>) -> Result<(), ClaimError> {
        if self.heap.is_some() {
            return Err(ClaimError::AlreadyClaimed);
        }
        self.heap = Some(heap);
        Ok(())
    }

    pub(super) fn alloc(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let mut attempt = 0;
        loop {
            let err = match self.heap.as_mut() {
                Some(heap) => match heap.alloc(layout) {
                    Ok(p) => return Ok(p),
                    Err(e) => e,
                },
                None => unclaimed(layout),
            };
            self.rescue(layout, err, &mut attempt)?;
        }
    }

    /// # Safety
    /// As [`Heap::realloc`](crate::Heap::realloc), except that `ptr` may be any pointer (a
    /// non-allocation is reported, not trusted).
    pub(super) unsafe fn realloc(
        &mut self,
        ptr: NonNull<u8>,
        new_layout: Layout,
    ) -> Result<NonNull<u8>, ReallocError> {
        let mut attempt = 0;
        loop {
            let heap = self
                .heap
                .as_mut()
                .ok_or(ReallocError::Free(FreeError::OutOfRegion {
                    offset: ptr.as_ptr() as usize,
                }))?;
            // SAFETY: forwarded to the caller; `Heap::realloc` checks that
            // `ptr` names a live allocation before touching anything.
            match unsafe { heap.realloc(ptr, new_layout) } {
                Ok(p) => return Ok(p),
                Err(ReallocError::Alloc(e)) => self.rescue(new_layout, e, &mut attempt)?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Calls the OOM handler for a failed request, if one is set and the
    /// error is one that more memory could cure; `Ok` means "try again".
    fn rescue(
        &mut self,
        layout: Layout,
        err: AllocError,
        attempt: &mut usize,
    ) -> Result<(), AllocError> {
        let curable = matches!(
            err,
            AllocError::OutOfMemory(_) | AllocError::TooLarge { .. }
        );
        let Some(handler) = self.oom.filter(|_| curable && *attempt < MAX_RESCUES) else {
            return Err(err);
        };
        *attempt += 1;
        self.rescues += 1;
        let mut rescue = Rescue {
            state: self,
            attempt: *attempt,
        };
        // A panic must not unwind out of `GlobalAlloc::alloc` (undefined
        // behaviour) nor leave the heap half-locked: the guard's drop runs
        // only while unwinding, and its panic there aborts.
        let guard = AbortOnUnwind;
        let action = handler(&mut rescue, layout, err);
        core::mem::forget(guard);
        match action {
            OomAction::Retry => Ok(()),
            OomAction::Fail => Err(err),
        }
    }

    /// # Safety
    /// As [`Heap::free`](crate::Heap::free).
    pub(super) unsafe fn free(&mut self, ptr: NonNull<u8>) -> Result<(), FreeError> {
        match self.heap.as_mut() {
            // SAFETY: forwarded to the caller; `Heap::free` rejects a
            // pointer that is not a live allocation without changing anything.
            Some(heap) => unsafe { heap.free(ptr) },
            None => Err(FreeError::OutOfRegion {
                offset: ptr.as_ptr() as usize,
            }),
        }
    }

    /// `dealloc`: frees, or counts the bad free and returns the handler to
    /// call once the lock is released.
    ///
    /// # Safety
    /// As [`Heap::free`](crate::Heap::free).
    pub(super) unsafe fn dealloc(
        &mut self,
        ptr: *mut u8,
        layout: Layout,
    ) -> Option<(BadFreeHandler, BadFree)> {
        let error = match NonNull::new(ptr) {
            // SAFETY: forwarded to the caller.
            Some(p) => match unsafe { self.free(p) } {
                Ok(()) => return None,
                Err(e) => e,
            },
            None => FreeError::NotAllocated { offset: 0 },
        };
        Some(self.bad_free(ptr, layout, error))
    }

    pub(super) fn bad_free(
        &mut self,
        ptr: *mut u8,
        layout: Layout,
        error: FreeError,
    ) -> (BadFreeHandler, BadFree) {
        self.invalid_frees += 1;
        (self.bad_free, BadFree { ptr, layout, error })
    }

    pub(super) fn stats(&self) -> Stats {
        self.heap.as_ref().map(Heap::stats).unwrap_or_default()
    }
}

impl<const N: usize> State<N, [Slot; N]> {
    /// # Safety
    /// As [`LockedHeap::claim`](crate::global::LockedHeap::claim).
    pub(super) unsafe fn claim(&mut self, base: NonNull<u8>, len: usize) -> Result<(), ClaimError> {
        if self.heap.is_some() {
            // SAFETY: forwarded to the caller.
            return unsafe { self.add_region(base, len) };
        }
        (base.as_ptr() as usize)
            .checked_add(len)
            .ok_or(ClaimError::Region(RegionError::Wraps))?;
        // SAFETY: forwarded to the caller.
        self.heap = Some(unsafe { Heap::new(base, len, self.config) });
        Ok(())
    }
}

/// A guard dropped only if a panic unwinds past it (callers `forget` it
/// on success): it ends the program, so that no panic unwinds out of an
/// allocator call — with `std` by `abort`, without it by panicking again
/// while unwinding, which aborts.
pub(super) struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        #[cfg(feature = "std")]
        std::process::abort();
        #[cfg(not(feature = "std"))]
        panic!("sysarena: aborting instead of unwinding out of the allocator");
    }
}

/// The error a request gets before any memory was claimed.
pub(super) fn unclaimed(layout: Layout) -> AllocError {
    AllocError::OutOfMemory(OomReason::NoFit {
        needed: layout.size(),
        free_bytes: 0,
        largest_free: 0,
    })
}

/// What an [`OomHandler`](crate::global::OomHandler) may do to the heap while the lock is held: add
/// memory, defragment, read the accounting.
pub struct Rescue<'a, const N: usize, S: TableStorage = [Slot; N]> {
    state: &'a mut State<N, S>,
    attempt: usize,
}

impl<const N: usize, S: TableStorage> Rescue<'_, N, S> {
    /// Adds `len` bytes at `base`: more of the last region when `base` is
    /// its end ([`Rescue::end`]; see [`Heap::grow`]), else a new region
    /// ([`Heap::add_region`]).
    ///
    /// # Errors
    /// [`ClaimError::NoRegion`] before the first region,
    /// [`ClaimError::Region`] for memory the heap refuses.
    ///
    /// # Safety
    /// As [`LockedHeap::extend`](crate::global::LockedHeap::extend).
    ///
    /// # Time complexity
    /// As [`Heap::grow`] or [`Heap::add_region`] (the lock is already
    /// held).
    pub unsafe fn extend(&mut self, base: NonNull<u8>, len: usize) -> Result<(), ClaimError> {
        // SAFETY: forwarded to the caller.
        unsafe { self.state.extend(base, len) }
    }

    /// Sets the first region from a ready heap (any table storage); see
    /// [`LockedHeap::init_heap`](crate::global::LockedHeap::init_heap).
    ///
    /// # Errors
    /// [`ClaimError::AlreadyClaimed`](crate::global::ClaimError::AlreadyClaimed).
    ///
    /// # Time complexity
    /// O(1), plus moving `heap` in (for an inline `[Slot; N]` table, a copy
    /// of its `N` descriptors).
    pub fn init_heap(&mut self, heap: Heap<N, S>) -> Result<(), ClaimError> {
        self.state.init(heap)
    }

    /// The end of the last region added, where [`extend`](Rescue::extend)
    /// grows that region instead of making a new one (`None` before the
    /// first region).
    ///
    /// # Time complexity
    /// As [`Heap::end`]: O(log regions).
    pub fn end(&self) -> Option<NonNull<u8>> {
        Some(self.state.heap.as_ref()?.end())
    }

    /// Runs [`Heap::defragment`](crate::Heap::defragment). Under deferred coalescing this can cure an
    /// out-of-memory caused by unmerged free neighbours.
    ///
    /// # Time complexity
    /// O(arenas + descriptors), as [`Heap::defragment`].
    pub fn defragment(&mut self) -> DefragReport {
        self.state
            .heap
            .as_mut()
            .map(Heap::defragment)
            .unwrap_or_default()
    }

    /// The heap's accounting (zeros before the first region).
    ///
    /// # Time complexity
    /// As [`Heap::stats`]: O(1), except a rare walk of one size class (see
    /// [`ArenaManager::stats`](crate::ArenaManager::stats)).
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Which call of the handler this is for the current request (1, 2, …
    /// up to [`MAX_RESCUES`](crate::global::MAX_RESCUES)).
    ///
    /// # Time complexity
    /// O(1).
    pub fn attempt(&self) -> usize {
        self.attempt
    }
}

impl<const N: usize> Rescue<'_, N, [Slot; N]> {
    /// Claims memory as [`LockedHeap::claim`](crate::global::LockedHeap::claim)
    /// does: the first region, then more regions.
    ///
    /// # Errors
    /// As [`LockedHeap::claim`](crate::global::LockedHeap::claim).
    ///
    /// # Safety
    /// As [`LockedHeap::claim`](crate::global::LockedHeap::claim).
    ///
    /// # Time complexity
    /// The first claim: O(N) (as [`Heap::new`]). Later ones: as
    /// [`Heap::add_region`].
    pub unsafe fn claim(&mut self, base: NonNull<u8>, len: usize) -> Result<(), ClaimError> {
        // SAFETY: forwarded to the caller.
        unsafe { self.state.claim(base, len) }
    }
}

impl<const N: usize, S: TableStorage> fmt::Debug for Rescue<'_, N, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rescue")
            .field("attempt", &self.attempt)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The [`Rescue`] of a heap whose table is a `&'t mut [Slot]`
/// ([`SliceLockedHeap`](super::SliceLockedHeap), [`SliceHeapCell`](super::SliceHeapCell)).
pub type SliceRescue<'a, 't> = Rescue<'a, 0, &'t mut [Slot]>;
