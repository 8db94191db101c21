//! Front ends for real programs: [`LockedHeap`], a [`Heap`] behind a lock
//! that can be a `#[global_allocator]`, and [`HeapCell`], the same without a
//! lock for single-threaded targets (feature `global`).
//!
//! Both are built empty by a `const fn` and given memory later with
//! `claim`, so they fit in a `static`:
//!
//! ```
//! use core::alloc::{GlobalAlloc, Layout};
//! use core::ptr::NonNull;
//! use sysarena::global::LockedHeap;
//!
//! // In a program: `#[global_allocator] static HEAP: LockedHeap<256> = LockedHeap::new();`
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
//! # Regions
//! One heap manages one region, `[base, base + capacity)`. A later
//! [`claim`](LockedHeap::claim) that starts exactly at the region's end
//! extends it ([`ArenaManager::grow`](crate::ArenaManager::grow)): this is
//! the `sbrk`-style growth a kernel or an OOM handler usually does. A claim
//! anywhere else is refused with [`ClaimError::NotContiguous`]: the arena
//! model's region is one range of offsets, and sysarena does not (yet) keep
//! several regions in one heap. Use a second heap for a second, separate
//! region.
//!
//! # Out of memory and the rescue handler
//! When an allocation fails because no free arena fits (or the region is
//! smaller than the request, or was never claimed), an [`OomHandler`] set
//! with `set_oom_handler` is called with the lock held and a [`Rescue`]
//! that can claim or extend memory or defragment. If it answers
//! [`OomAction::Retry`] the allocation is tried again, at most
//! [`MAX_RESCUES`] times per request; [`OomAction::Fail`] returns the error
//! (a null pointer through `GlobalAlloc`). The handler must not allocate
//! through the same heap: for `LockedHeap` that deadlocks, for `HeapCell`
//! it fails.
//!
//! # Invalid and double frees
//! `GlobalAlloc::dealloc` cannot return an error. A pointer that is not a
//! live allocation of this heap is never freed — the table stays intact —
//! it is counted ([`LockedHeap::invalid_frees`]) and handed to the
//! [`BadFreeHandler`], after the lock is released. The default,
//! [`default_bad_free_handler`], aborts with a message in debug builds
//! (`debug_assertions`) and ignores the free in release builds.
//!
//! Like every allocator, sysarena cannot tell a double free from a valid
//! free when the block was handed out again in between.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::{Cell, UnsafeCell};
use core::fmt;
use core::ptr::{self, NonNull};

use lock_api::RawMutex;

use crate::config::Config;
use crate::error::{AllocError, FreeError, InvariantError, OomReason, ReallocError, TableError};
use crate::heap::Heap;
use crate::stats::{DefragReport, Stats};
use crate::table::{Slot, TableStorage};

/// The lock [`LockedHeap`] uses unless told otherwise: the `spin` crate's
/// spin lock (a test-and-set loop; fair enough for short critical sections,
/// unsuitable where a lock holder can be preempted for long).
pub type DefaultRawMutex = spin::Mutex<()>;

/// The most times one request calls the OOM handler before it fails, so a
/// handler that keeps answering [`OomAction::Retry`] without adding memory
/// cannot hang the program.
pub const MAX_RESCUES: usize = 16;

/// What an [`OomHandler`] tells the heap to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OomAction {
    /// Memory was added (or freed up): try the request again.
    Retry,
    /// Give up: the request fails.
    Fail,
}

/// Called when a request cannot be served, with the lock held: it may add
/// memory through the [`Rescue`] and ask for a retry. It receives the
/// request's layout and the error the heap reported.
///
/// It must not allocate or free through the heap that called it.
pub type OomHandler<const N: usize, S = [Slot; N]> =
    fn(&mut Rescue<'_, N, S>, Layout, AllocError) -> OomAction;

/// An invalid or double free seen by `dealloc` (or a `realloc` of a pointer
/// that is not a live allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadFree {
    /// The pointer passed in.
    pub ptr: *mut u8,
    /// The layout passed in.
    pub layout: Layout,
    /// Why it is not a live allocation of this heap.
    pub error: FreeError,
}

/// Called, after the lock is released, with every invalid or double free.
/// The heap has already counted it and left its table untouched. It may
/// log, panic in a `panic = "abort"` build, or abort; it must not unwind
/// (unwinding out of a global allocator is undefined behaviour).
pub type BadFreeHandler = fn(&BadFree);

/// The default [`BadFreeHandler`]: [`abort_on_bad_free`] when
/// `debug_assertions` are on, [`ignore_bad_free`] otherwise.
pub const fn default_bad_free_handler() -> BadFreeHandler {
    if cfg!(debug_assertions) {
        abort_on_bad_free
    } else {
        ignore_bad_free
    }
}

/// A [`BadFreeHandler`] that ignores the free (it is still counted).
pub fn ignore_bad_free(_: &BadFree) {}

/// A [`BadFreeHandler`] that stops the program with a message naming the
/// pointer and the error, without unwinding: it panics with a guard whose
/// drop panics again, which aborts under `std` (with `panic = "abort"`, or
/// in `no_std`, the first panic already stops).
pub fn abort_on_bad_free(bad: &BadFree) {
    struct AbortOnUnwind;
    impl Drop for AbortOnUnwind {
        fn drop(&mut self) {
            panic!("sysarena: aborting instead of unwinding out of the allocator");
        }
    }
    let _guard = AbortOnUnwind;
    panic!(
        "sysarena: {} (pointer {:p}, layout size {} align {}); the heap is unchanged",
        bad.error,
        bad.ptr,
        bad.layout.size(),
        bad.layout.align()
    );
}

/// Why memory could not be given to a heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// The heap already has a region and the new memory does not start at
    /// its end (`end`); see the [module docs](self#regions).
    NotContiguous {
        /// The address a contiguous extension would have to start at.
        end: usize,
    },
    /// The heap already has a region ([`LockedHeap::init_heap`] only sets
    /// the first one).
    AlreadyClaimed,
    /// `base + len` wraps around the address space.
    Wraps,
    /// The heap has no region yet to extend (use `claim` or `init_heap`).
    NoRegion,
    /// The manager refused to grow.
    Table(TableError),
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::NotContiguous { end } => write!(
                f,
                "the new memory does not start at the region's end ({end:#x}); only contiguous growth is supported"
            ),
            ClaimError::AlreadyClaimed => f.write_str("the heap already has a region"),
            ClaimError::Wraps => f.write_str("the memory range wraps around the address space"),
            ClaimError::NoRegion => f.write_str("the heap has no region to extend yet"),
            ClaimError::Table(e) => write!(f, "cannot grow the region: {e}"),
        }
    }
}

impl core::error::Error for ClaimError {}

impl From<TableError> for ClaimError {
    fn from(e: TableError) -> Self {
        ClaimError::Table(e)
    }
}

/// The state behind the lock: the heap once claimed, and the handlers.
struct State<const N: usize, S: TableStorage> {
    heap: Option<Heap<N, S>>,
    config: Config,
    oom: Option<OomHandler<N, S>>,
    bad_free: BadFreeHandler,
    invalid_frees: usize,
    rescues: usize,
}

impl<const N: usize, S: TableStorage> State<N, S> {
    const fn new(config: Config) -> Self {
        State {
            heap: None,
            config,
            oom: None,
            bad_free: default_bad_free_handler(),
            invalid_frees: 0,
            rescues: 0,
        }
    }

    /// Extends the region by `len` bytes at `base`, which must be its end.
    ///
    /// # Safety
    /// As [`LockedHeap::claim`].
    unsafe fn extend(&mut self, base: NonNull<u8>, len: usize) -> Result<(), ClaimError> {
        let heap = self.heap.as_mut().ok_or(ClaimError::NoRegion)?;
        let end = heap.base().as_ptr() as usize + heap.manager().capacity();
        if base.as_ptr() as usize != end {
            return Err(ClaimError::NotContiguous { end });
        }
        (base.as_ptr() as usize)
            .checked_add(len)
            .ok_or(ClaimError::Wraps)?;
        // SAFETY: the bytes after the region's end are `base .. base + len`,
        // which the caller gives us under `Heap::new`'s contract.
        unsafe { heap.grow(len) }?;
        Ok(())
    }

    /// Sets the first region from a ready heap.
    fn init(&mut self, heap: Heap<N, S>) -> Result<(), ClaimError> {
        if self.heap.is_some() {
            return Err(ClaimError::AlreadyClaimed);
        }
        self.heap = Some(heap);
        Ok(())
    }

    fn alloc(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
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
    /// As [`Heap::realloc`], except that `ptr` may be any pointer (a
    /// non-allocation is reported, not trusted).
    unsafe fn realloc(
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
        match handler(&mut rescue, layout, err) {
            OomAction::Retry => Ok(()),
            OomAction::Fail => Err(err),
        }
    }

    /// # Safety
    /// As [`Heap::free`].
    unsafe fn free(&mut self, ptr: NonNull<u8>) -> Result<(), FreeError> {
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
    /// As [`Heap::free`].
    unsafe fn dealloc(
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

    fn bad_free(
        &mut self,
        ptr: *mut u8,
        layout: Layout,
        error: FreeError,
    ) -> (BadFreeHandler, BadFree) {
        self.invalid_frees += 1;
        (self.bad_free, BadFree { ptr, layout, error })
    }

    fn stats(&self) -> Stats {
        self.heap.as_ref().map(Heap::stats).unwrap_or_default()
    }
}

impl<const N: usize> State<N, [Slot; N]> {
    /// # Safety
    /// As [`LockedHeap::claim`].
    unsafe fn claim(&mut self, base: NonNull<u8>, len: usize) -> Result<(), ClaimError> {
        if self.heap.is_some() {
            // SAFETY: forwarded to the caller.
            return unsafe { self.extend(base, len) };
        }
        (base.as_ptr() as usize)
            .checked_add(len)
            .ok_or(ClaimError::Wraps)?;
        // SAFETY: forwarded to the caller.
        self.heap = Some(unsafe { Heap::new(base, len, self.config) });
        Ok(())
    }
}

/// The error a request gets before any memory was claimed.
fn unclaimed(layout: Layout) -> AllocError {
    AllocError::OutOfMemory(OomReason::NoFit {
        needed: layout.size(),
        free_bytes: 0,
        largest_free: 0,
    })
}

/// What an [`OomHandler`] may do to the heap while the lock is held: add
/// memory, defragment, read the accounting.
pub struct Rescue<'a, const N: usize, S: TableStorage = [Slot; N]> {
    state: &'a mut State<N, S>,
    attempt: usize,
}

impl<const N: usize, S: TableStorage> Rescue<'_, N, S> {
    /// Adds `len` bytes at `base`, which must be the region's current end
    /// ([`Rescue::end`]).
    ///
    /// # Errors
    /// [`ClaimError::NotContiguous`] for memory elsewhere; see
    /// [`LockedHeap::claim`].
    ///
    /// # Safety
    /// As [`LockedHeap::claim`].
    pub unsafe fn extend(&mut self, base: NonNull<u8>, len: usize) -> Result<(), ClaimError> {
        // SAFETY: forwarded to the caller.
        unsafe { self.state.extend(base, len) }
    }

    /// Sets the first region from a ready heap (any table storage); see
    /// [`LockedHeap::init_heap`].
    ///
    /// # Errors
    /// [`ClaimError::AlreadyClaimed`].
    pub fn init_heap(&mut self, heap: Heap<N, S>) -> Result<(), ClaimError> {
        self.state.init(heap)
    }

    /// Where a contiguous extension must start (`None` before the first
    /// region).
    pub fn end(&self) -> Option<NonNull<u8>> {
        let heap = self.state.heap.as_ref()?;
        NonNull::new(heap.base().as_ptr().wrapping_add(heap.manager().capacity()))
    }

    /// Runs [`Heap::defragment`]. Under deferred coalescing this can cure an
    /// out-of-memory caused by unmerged free neighbours.
    pub fn defragment(&mut self) -> DefragReport {
        self.state
            .heap
            .as_mut()
            .map(Heap::defragment)
            .unwrap_or_default()
    }

    /// The heap's accounting (zeros before the first region).
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Which call of the handler this is for the current request (1, 2, …
    /// up to [`MAX_RESCUES`]).
    pub fn attempt(&self) -> usize {
        self.attempt
    }
}

impl<const N: usize> Rescue<'_, N, [Slot; N]> {
    /// Claims memory as [`LockedHeap::claim`] does: the first region, or a
    /// contiguous extension.
    ///
    /// # Errors
    /// As [`LockedHeap::claim`].
    ///
    /// # Safety
    /// As [`LockedHeap::claim`].
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

/// The methods [`LockedHeap`] and [`HeapCell`] share; `$access` runs a
/// closure on the state (locked, or borrowed) and returns `None` if it
/// cannot (a re-entered `HeapCell`).
macro_rules! shared_methods {
    () => {
        /// Sets the handler called when a request cannot be served (`None`:
        /// fail at once). See the [module docs](self#out-of-memory-and-the-rescue-handler).
        pub fn set_oom_handler(&self, handler: Option<OomHandler<N, S>>) {
            self.access(|s| s.oom = handler);
        }

        /// Sets the handler for invalid and double frees (the default is
        /// [`default_bad_free_handler`]).
        pub fn set_bad_free_handler(&self, handler: BadFreeHandler) {
            self.access(|s| s.bad_free = handler);
        }

        /// Gives the heap its first region as a ready [`Heap`] — the way to
        /// use a caller-provided table (`Heap::from_manager(base,
        /// ArenaManager::from_slice(..))`), which also keeps a large table
        /// off the stack.
        ///
        /// # Errors
        /// [`ClaimError::AlreadyClaimed`] if the heap has a region.
        pub fn init_heap(&self, heap: Heap<N, S>) -> Result<(), ClaimError> {
            self.access(|s| s.init(heap))
                .unwrap_or(Err(ClaimError::AlreadyClaimed))
        }

        /// Adds `len` bytes at `base`, which must be the region's current
        /// end: contiguous growth for any table storage.
        ///
        /// # Errors
        /// [`ClaimError::NotContiguous`], [`ClaimError::Wraps`],
        /// [`ClaimError::Table`]; [`ClaimError::NoRegion`] before the first
        /// region (use `claim` or `init_heap`).
        ///
        /// # Safety
        /// As [`LockedHeap::claim`].
        pub unsafe fn extend(&self, base: NonNull<u8>, len: usize) -> Result<(), ClaimError> {
            // SAFETY: forwarded to the caller.
            self.access(|s| unsafe { s.extend(base, len) })
                .unwrap_or(Err(ClaimError::AlreadyClaimed))
        }

        /// Allocates `layout` (a zero-sized layout gets one byte), calling
        /// the OOM handler on failure.
        ///
        /// # Errors
        /// The heap's [`AllocError`]; before the first region (and with no
        /// handler to claim one), [`AllocError::OutOfMemory`].
        ///
        /// # Time complexity
        /// As [`ArenaManager::alloc`](crate::ArenaManager::alloc) for the
        /// heap's policy (O(1) for [`Config::fast`], the default), plus the
        /// handler's work.
        pub fn try_alloc(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
            self.access(|s| s.alloc(layout))
                .unwrap_or(Err(unclaimed(layout)))
        }

        /// Frees `ptr`.
        ///
        /// # Errors
        /// [`FreeError`] if `ptr` is not a live allocation of this heap;
        /// nothing changes then (and no handler is called).
        ///
        /// # Safety
        /// The memory at `ptr` must not be used after this call.
        pub unsafe fn try_free(&self, ptr: NonNull<u8>) -> Result<(), FreeError> {
            // SAFETY: forwarded to the caller.
            self.access(|s| unsafe { s.free(ptr) })
                .unwrap_or(Err(FreeError::NotAllocated { offset: 0 }))
        }

        /// Resizes the allocation at `ptr` — in place when the arena can
        /// shrink or grow into a free right neighbour, else by moving it —
        /// calling the OOM handler on failure.
        ///
        /// # Errors
        /// [`ReallocError`]; the old allocation is then untouched.
        ///
        /// # Safety
        /// As [`Heap::realloc`], except that a `ptr` that is not a live
        /// allocation is reported, not trusted.
        pub unsafe fn try_realloc(
            &self,
            ptr: NonNull<u8>,
            new_layout: Layout,
        ) -> Result<NonNull<u8>, ReallocError> {
            // SAFETY: forwarded to the caller.
            self.access(|s| unsafe { s.realloc(ptr, new_layout) })
                .unwrap_or(Err(ReallocError::Alloc(unclaimed(new_layout))))
        }

        /// Runs the heap's [`defragment`](Heap::defragment). No allocation
        /// moves. *Time:* O(arenas + descriptors), with the lock held.
        pub fn defragment(&self) -> DefragReport {
            self.access(|s| s.heap.as_mut().map(Heap::defragment))
                .flatten()
                .unwrap_or_default()
        }

        /// The heap's accounting (zeros before the first region). O(1).
        pub fn stats(&self) -> Stats {
            self.access(|s| s.stats()).unwrap_or_default()
        }

        /// Invalid or double frees seen by `dealloc` so far.
        pub fn invalid_frees(&self) -> usize {
            self.access(|s| s.invalid_frees).unwrap_or(0)
        }

        /// Times the OOM handler was called so far.
        pub fn rescues(&self) -> usize {
            self.access(|s| s.rescues).unwrap_or(0)
        }

        /// The usable size of the live allocation at `ptr`, if it is one.
        pub fn usable_size(&self, ptr: NonNull<u8>) -> Option<usize> {
            self.access(|s| s.heap.as_ref()?.usable_size(ptr)).flatten()
        }

        /// Whether `ptr` points into the heap's region.
        pub fn contains(&self, ptr: *const u8) -> bool {
            self.access(|s| s.heap.as_ref().is_some_and(|h| h.contains(ptr)))
                .unwrap_or(false)
        }

        /// Runs `f` on the heap (`None` before the first region) with the
        /// lock held: for reading arenas and the table. `f` must not
        /// allocate through this heap.
        pub fn with_heap<T>(&self, f: impl FnOnce(Option<&Heap<N, S>>) -> T) -> T {
            let mut f = Some(f);
            match self.access(|s| (f.take().expect("called once"))(s.heap.as_ref())) {
                Some(t) => t,
                None => (f.take().expect("not called"))(None),
            }
        }

        /// Checks the manager's invariants
        /// ([`ArenaManager::check_invariants`](crate::ArenaManager::check_invariants)),
        /// with the lock held. O(arenas + descriptors).
        ///
        /// # Errors
        /// The first broken invariant (a bug in sysarena).
        pub fn check_invariants(&self) -> Result<(), InvariantError> {
            self.with_heap(|h| h.map_or(Ok(()), |h| h.manager().check_invariants()))
        }

        pub(crate) fn global_dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `GlobalAlloc::dealloc`'s contract makes `ptr` ours to
            // free; a pointer that is not a live allocation is rejected
            // without any change.
            let bad = self.access(|s| unsafe { s.dealloc(ptr, layout) }).flatten();
            if let Some((handler, bad)) = bad {
                handler(&bad);
            }
        }

        pub(crate) fn global_realloc(
            &self,
            ptr: *mut u8,
            layout: Layout,
            new_size: usize,
        ) -> *mut u8 {
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return ptr::null_mut();
            };
            let Some(p) = NonNull::new(ptr) else {
                return ptr::null_mut();
            };
            // SAFETY: `GlobalAlloc::realloc`'s contract: `ptr` is a live
            // allocation of this allocator, not used again if we move it.
            match unsafe { self.try_realloc(p, new_layout) } {
                Ok(p) => p.as_ptr(),
                Err(ReallocError::Alloc(_)) => ptr::null_mut(),
                Err(ReallocError::Free(error)) => {
                    if let Some((handler, bad)) = self.access(|s| s.bad_free(ptr, layout, error)) {
                        handler(&bad);
                    }
                    ptr::null_mut()
                }
            }
        }
    };
}

/// A [`Heap`] behind a lock: a `#[global_allocator]`, a `Sync` allocator
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
    pub const fn new() -> Self {
        Self::with_config(Config::fast())
    }

    /// An empty heap that will run `config`.
    pub const fn with_config(config: Config) -> Self {
        LockedHeap {
            state: lock_api::Mutex::new(State::new(config)),
        }
    }

    /// An empty heap that will run `config` and call `handler` when a
    /// request cannot be served — e.g. to claim its first region lazily,
    /// before `main` runs, as a `#[global_allocator]` must.
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
    /// Gives the heap `len` bytes at `base`: the first region, or, when
    /// `base` is the current region's end, more of the same region.
    ///
    /// The first claim builds the manager (`[Slot; N]`, about `N` × 56
    /// bytes plus an 8 KiB free index on 64-bit targets) on the stack
    /// before moving it in; where that is too much, use
    /// [`init_heap`](Self::init_heap) with a slice table.
    ///
    /// # Errors
    /// [`ClaimError::NotContiguous`] for memory that does not start at the
    /// region's end, [`ClaimError::Wraps`], [`ClaimError::Table`].
    ///
    /// # Safety
    /// `base .. base + len` must be valid for reads and writes, used by
    /// nothing else for as long as the heap (or any pointer it returned)
    /// lives, and must not wrap around the address space.
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

/// The one `GlobalAlloc` body of [`LockedHeap`] and [`HeapCell`]: both give
/// `try_alloc`, `global_dealloc` and `global_realloc`.
macro_rules! global_alloc_impl {
    () => {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            self.try_alloc(layout)
                .map_or(ptr::null_mut(), NonNull::as_ptr)
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let p = self
                .try_alloc(layout)
                .map_or(ptr::null_mut(), NonNull::as_ptr);
            if !p.is_null() {
                // SAFETY: `p` is a fresh allocation of at least `layout.size()` bytes.
                unsafe { ptr::write_bytes(p, 0, layout.size()) };
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            self.global_dealloc(ptr, layout);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            self.global_realloc(ptr, layout, new_size)
        }
    };
}

// SAFETY: `alloc` returns memory from the heap's region, aligned and sized
// as `Heap::alloc` guarantees, never overlapping a live allocation (the
// manager's invariant); nothing here unwinds (the core does not panic on
// input, and a bad free goes to a handler that must not unwind).
unsafe impl<const N: usize, R: RawMutex, S: TableStorage> GlobalAlloc for LockedHeap<N, R, S> {
    global_alloc_impl!();
}

/// A [`Heap`] without a lock, for single-threaded programs and single-core
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
    pub const unsafe fn new() -> Self {
        // SAFETY: forwarded to the caller.
        unsafe { Self::with_config(Config::fast()) }
    }

    /// An empty heap that will run `config`.
    ///
    /// # Safety
    /// As [`HeapCell::new`].
    pub const unsafe fn with_config(config: Config) -> Self {
        HeapCell {
            state: UnsafeCell::new(State::new(config)),
            busy: Cell::new(false),
        }
    }

    /// An empty heap that will run `config` and call `handler` when a
    /// request cannot be served (see [`LockedHeap::with_oom_handler`]).
    ///
    /// # Safety
    /// As [`HeapCell::new`].
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
        // SAFETY: `busy` was false, so no other `&mut` to the state exists
        // on this thread, and the constructor's contract rules out others.
        let t = f(unsafe { &mut *self.state.get() });
        self.busy.set(false);
        Some(t)
    }

    shared_methods!();
}

impl<const N: usize> HeapCell<N, [Slot; N]> {
    /// As [`LockedHeap::claim`].
    ///
    /// # Errors
    /// As [`LockedHeap::claim`]; [`ClaimError::AlreadyClaimed`] if called
    /// from inside the OOM handler (use [`Rescue::claim`] there).
    ///
    /// # Safety
    /// As [`LockedHeap::claim`].
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
