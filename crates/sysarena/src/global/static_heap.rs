//! [`StaticHeap`]: a global allocator in one line — its memory and its
//! arena table are arrays inside the static itself, claimed on first use.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::fmt;
use core::mem::MaybeUninit;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use lock_api::RawMutex;

use super::claim::ClaimError;
use super::locked::{DefaultRawMutex, LockedHeap, SliceLockedHeap};
use crate::config::Config;
use crate::error::InvariantError;
use crate::heap::Heap;
use crate::manager::ArenaManager;
use crate::stats::Stats;
use crate::table::Slot;

/// Nothing set up yet: every field is still all zero bytes.
const UNTOUCHED: u8 = 0;
/// One call is setting the heap up; others wait.
const SETTING_UP: u8 = 1;
/// The heap is set up at the address in `home`.
const READY: u8 = 2;

/// A global allocator in one line: `BYTES` bytes of memory and a table of
/// `N` arena descriptors, both inside the static, claimed on the first
/// allocation — so it works when `std` allocates before `main`, and needs
/// no set-up call.
///
/// ```
/// use sysarena::global::StaticHeap;
///
/// #[global_allocator]
/// static HEAP: StaticHeap<4096, { 1 << 20 }> = StaticHeap::new();
///
/// fn main() {
///     let v: Vec<u32> = (0..1000).collect();
///     assert_eq!(v.iter().sum::<u32>(), 499_500);
///     // Every allocation so far, std's included, came from HEAP.
///     assert!(HEAP.stats().used_arenas > 0);
///     assert_eq!(HEAP.stats().capacity, 1 << 20);
/// }
/// ```
///
/// It runs [`Config::fast`] (O(1) segregated fit, immediate coalescing)
/// behind a spin lock (`R`, any [`lock_api::RawMutex`]); the arena table
/// holds `N` arenas, free and in use, at once (about 56 bytes each on
/// 64-bit targets). The static starts as all zero bytes, so it lies in
/// `.bss`: it costs no space in the binary or in flash.
///
/// # More memory later
/// Memory a boot loader or a memory map hands over later is added with
/// [`add_region`](StaticHeap::add_region): a region anywhere (holes
/// between regions are fine), served by the same table. An OOM handler
/// that finds memory on demand is set through [`heap`](StaticHeap::heap):
/// `HEAP.heap().unwrap().set_oom_handler(..)`.
///
/// # Where it does not fit
/// It uses an atomic compare-and-swap once, to set itself up: on targets
/// without one (`thumbv6m`), use a [`HeapCell`](crate::global::HeapCell).
/// It refers to its own arrays, so it must not move once used: as a
/// `static` it never does; a `StaticHeap` that was moved after its first
/// use refuses every request (allocation returns null) instead of reaching
/// the arrays it left behind.
pub struct StaticHeap<const N: usize, const BYTES: usize, R: RawMutex = DefaultRawMutex> {
    /// `UNTOUCHED`, `SETTING_UP` or `READY`.
    phase: AtomicU8,
    /// The heap's address when it was set up (0 before).
    home: AtomicUsize,
    /// The locked heap, written once by the set-up.
    heap: UnsafeCell<MaybeUninit<SliceLockedHeap<'static, R>>>,
    /// The arena table: all-zero slots are valid spare descriptors.
    table: UnsafeCell<MaybeUninit<[Slot; N]>>,
    /// The memory handed out.
    memory: UnsafeCell<MaybeUninit<[u8; BYTES]>>,
}

// SAFETY: the arrays are reached only through the locked heap (after the
// one set-up, which the `phase` compare-and-swap makes exclusive), and the
// locked heap is `Sync` for a `Send` lock.
unsafe impl<const N: usize, const BYTES: usize, R: RawMutex + Send + Sync> Sync
    for StaticHeap<N, BYTES, R>
{
}

impl<const N: usize, const BYTES: usize, R: RawMutex> StaticHeap<N, BYTES, R> {
    /// The heap, untouched: all zero bytes. Memory and table are claimed
    /// by the first request.
    ///
    /// # Time complexity
    /// O(1) (a constant).
    pub const fn new() -> Self {
        StaticHeap {
            phase: AtomicU8::new(UNTOUCHED),
            home: AtomicUsize::new(0),
            heap: UnsafeCell::new(MaybeUninit::zeroed()),
            table: UnsafeCell::new(MaybeUninit::zeroed()),
            memory: UnsafeCell::new(MaybeUninit::zeroed()),
        }
    }

    /// The locked heap behind this one, set up on first call: for
    /// everything [`LockedHeap`] offers (an OOM handler, a bad-free
    /// handler, `try_alloc`, `with_heap`, …). `None` only if this
    /// `StaticHeap` was moved after its first use.
    ///
    /// # Time complexity
    /// O(1); the first call sets the heap up in O(1) too (the table is not
    /// touched until descriptors are needed).
    pub fn heap(&self) -> Option<&SliceLockedHeap<'static, R>> {
        let here = self as *const Self as usize;
        loop {
            match self.phase.compare_exchange(
                UNTOUCHED,
                SETTING_UP,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.set_up(here);
                    self.phase.store(READY, Ordering::Release);
                    break;
                }
                Err(READY) => break,
                Err(_) => core::hint::spin_loop(),
            }
        }
        if self.home.load(Ordering::Relaxed) != here {
            return None;
        }
        // SAFETY: `READY` was published (Release) after the set-up wrote the
        // heap, and our Acquire load saw it; the heap is never written again.
        Some(unsafe { (*self.heap.get()).assume_init_ref() })
    }

    /// Writes the locked heap over the table and memory arrays. Runs once,
    /// by the caller that moved `phase` from `UNTOUCHED` to `SETTING_UP`.
    fn set_up(&self, here: usize) {
        self.home.store(here, Ordering::Relaxed);
        // SAFETY: all-zero bytes are valid `Slot`s (spare descriptors; see
        // `ArenaManager::from_empty_table`), and `new` zeroed the table. We
        // are the only caller ever to get here, so this is the one
        // reference to the table; it lives as long as `self`, which the
        // `home` check keeps from being used anywhere but where it was set
        // up, so `'static` is never observed past the table's life.
        let table: &'static mut [Slot] = unsafe { &mut *self.table.get().cast::<[Slot; N]>() };
        let base = NonNull::new(self.memory.get().cast::<u8>()).unwrap_or(NonNull::dangling());
        let locked: SliceLockedHeap<'static, R> = LockedHeap::with_config(Config::fast());
        // SAFETY: every slot is all zero bytes, as above.
        if let Ok(manager) = unsafe { ArenaManager::from_empty_table(table, BYTES, Config::fast()) }
        {
            // SAFETY: the memory array is `BYTES` bytes inside `self`, used
            // by nothing else, and lives as long as the heap (as above).
            let heap = unsafe { Heap::from_manager(base, manager) };
            let _ = locked.init_heap(heap);
        }
        // SAFETY: the one writer (see above); no reader exists before
        // `READY` is published.
        unsafe { (*self.heap.get()).write(locked) };
    }

    /// Adds `len` bytes at `base` to the heap — a region anywhere that does
    /// not overlap its memory (see
    /// [`Heap::add_region`](crate::Heap::add_region)), e.g. the free
    /// entries of a memory map at boot.
    ///
    /// # Errors
    /// [`ClaimError::Region`] for memory the heap refuses (nothing changes
    /// then); [`ClaimError::NoRegion`] if this `StaticHeap` was moved after
    /// its first use.
    ///
    /// # Safety
    /// `base .. base + len` must be valid for reads and writes and used by
    /// nothing else for as long as the heap (or any pointer it returned)
    /// lives.
    ///
    /// # Time complexity
    /// O(regions), with the lock held.
    pub unsafe fn add_region(&self, base: NonNull<u8>, len: usize) -> Result<(), ClaimError> {
        let heap = self.heap().ok_or(ClaimError::NoRegion)?;
        // SAFETY: forwarded to the caller.
        unsafe { heap.add_region(base, len) }
    }

    /// The heap's accounting over every region (zeros if moved).
    ///
    /// # Time complexity
    /// As [`LockedHeap::stats`]: O(1), except a rare walk of one size class
    /// (see [`ArenaManager::stats`]); plus the lock, and on the first call
    /// the O(1) set-up of [`heap`](Self::heap).
    pub fn stats(&self) -> Stats {
        self.heap().map(LockedHeap::stats).unwrap_or_default()
    }

    /// Checks the heap's invariants.
    ///
    /// # Errors
    /// The first broken invariant (a bug in sysarena).
    ///
    /// # Time complexity
    /// O(arenas + descriptors), with the lock held
    /// ([`ArenaManager::check_invariants`]).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        self.heap().map_or(Ok(()), LockedHeap::check_invariants)
    }
}

impl<const N: usize, const BYTES: usize, R: RawMutex> Default for StaticHeap<N, BYTES, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const BYTES: usize, R: RawMutex> fmt::Debug for StaticHeap<N, BYTES, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("StaticHeap");
        match self.phase.load(Ordering::Acquire) {
            READY => d.field("heap", &self.heap()),
            _ => d.field("heap", &"<not used yet>"),
        };
        d.finish()
    }
}

// SAFETY: every method forwards to the `LockedHeap` over the static's own
// arrays (see its `GlobalAlloc` impl); a moved `StaticHeap` allocates
// nothing and frees nothing.
unsafe impl<const N: usize, const BYTES: usize, R: RawMutex + Send + Sync> GlobalAlloc
    for StaticHeap<N, BYTES, R>
{
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.heap() {
            // SAFETY: forwarded to the caller.
            Some(h) => unsafe { h.alloc(layout) },
            None => ptr::null_mut(),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.heap() {
            // SAFETY: forwarded to the caller.
            Some(h) => unsafe { h.alloc_zeroed(layout) },
            None => ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(h) = self.heap() {
            // SAFETY: forwarded to the caller.
            unsafe { h.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match self.heap() {
            // SAFETY: forwarded to the caller.
            Some(h) => unsafe { h.realloc(ptr, layout, new_size) },
            None => ptr::null_mut(),
        }
    }
}
