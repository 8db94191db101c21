//! [`Heap`]: an [`ArenaManager`] over real memory. This is the crate's one
//! unsafe boundary: pointers in, offsets to the manager, pointers out.

use core::alloc::Layout;
use core::fmt;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use crate::config::Config;
use crate::error::{AllocError, FreeError, ReallocError};
use crate::manager::ArenaManager;
use crate::stats::{DefragReport, Stats};
use crate::table::{Slot, TableStorage};

/// A heap: an [`ArenaManager`] whose region is a range of real memory.
///
/// All metadata stays in the manager's table, outside the memory handed out:
/// an overflow in one allocation can corrupt its neighbour's bytes but never
/// the allocator.
///
/// ```
/// use core::alloc::Layout;
/// use core::mem::MaybeUninit;
/// use sysarena::{Config, Heap};
///
/// static mut MEMORY: [MaybeUninit<u8>; 4096] = [MaybeUninit::uninit(); 4096];
/// // SAFETY: the only reference ever taken to MEMORY.
/// let mem = unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) };
/// let mut heap = Heap::<64>::from_static(mem, Config::fast());
/// let p = heap.alloc(Layout::from_size_align(100, 16).unwrap()).unwrap();
/// assert_eq!(p.as_ptr() as usize % 16, 0);
/// // SAFETY: `p` came from this heap and is not used afterwards.
/// unsafe { heap.free(p).unwrap() };
/// assert_eq!(heap.stats().free_bytes, 4096);
/// ```
pub struct Heap<const N: usize, S: TableStorage = [Slot; N]> {
    base: NonNull<u8>,
    manager: ArenaManager<N, S>,
}

// SAFETY: the heap owns its region exclusively (the constructors' contract)
// and the manager holds only plain data, so moving it to another thread moves
// sole ownership of that memory.
unsafe impl<const N: usize, S: TableStorage + Send> Send for Heap<N, S> {}

impl<const N: usize> Heap<N> {
    /// A heap over `len` bytes at `base`, running `config`.
    ///
    /// # Safety
    /// `base .. base + len` must be valid for reads and writes, must not be
    /// used by anything else while the heap (or any pointer it returned) is
    /// alive, and must not wrap around the address space.
    pub unsafe fn new(base: NonNull<u8>, len: usize, config: Config) -> Self {
        // SAFETY: forwarded to the caller.
        unsafe { Self::from_manager(base, ArenaManager::with_config(len, config)) }
    }

    /// A heap over a `'static` buffer (e.g. a `static mut` array taken once,
    /// or leaked memory). Safe: the buffer is borrowed for ever.
    pub fn from_static(mem: &'static mut [MaybeUninit<u8>], config: Config) -> Self {
        let len = mem.len();
        let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap_or(NonNull::dangling());
        // SAFETY: `mem` is an exclusive borrow for 'static of exactly `len`
        // bytes at `base`.
        unsafe { Self::new(base, len, config) }
    }
}

impl<const N: usize, S: TableStorage> Heap<N, S> {
    /// A heap whose region, `manager.capacity()` bytes at `base`, is managed
    /// by `manager` (any table storage). The manager's
    /// [origin](ArenaManager::set_origin) is set to `base`.
    ///
    /// # Safety
    /// As for [`Heap::new`], with `len = manager.capacity()` (and every
    /// later [`grow`](Heap::grow)); and nothing may be allocated in `manager`
    /// yet.
    pub unsafe fn from_manager(base: NonNull<u8>, mut manager: ArenaManager<N, S>) -> Self {
        manager.set_origin(base.as_ptr() as usize);
        Heap { base, manager }
    }

    /// Allocates memory for `layout` (zero-sized layouts get one byte).
    ///
    /// # Errors
    /// As [`ArenaManager::alloc`].
    pub fn alloc(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let a = self.manager.alloc(layout.size().max(1), layout.align())?;
        Ok(self.ptr_at(a.offset()))
    }

    /// Frees `ptr`.
    ///
    /// # Errors
    /// [`FreeError`] if `ptr` is not the start of a live allocation of this
    /// heap; nothing changes then.
    ///
    /// # Safety
    /// The memory at `ptr` must not be used after this call (the heap may
    /// hand it out again).
    pub unsafe fn free(&mut self, ptr: NonNull<u8>) -> Result<(), FreeError> {
        let offset = self.offset_of(ptr)?;
        self.manager.free(offset)
    }

    /// Resizes the allocation at `ptr` to `new_layout`, in place when it
    /// can, else by moving it (copying the bytes that were requested before,
    /// up to the new size).
    ///
    /// # Errors
    /// [`ReallocError`]; on error the old allocation is untouched.
    ///
    /// # Safety
    /// `ptr` must be a live allocation of this heap; on success the memory
    /// at `ptr` must not be used again unless the returned pointer equals it.
    pub unsafe fn realloc(
        &mut self,
        ptr: NonNull<u8>,
        new_layout: Layout,
    ) -> Result<NonNull<u8>, ReallocError> {
        let offset = self.offset_of(ptr)?;
        let r = self
            .manager
            .realloc(offset, new_layout.size().max(1), new_layout.align())?;
        let new = self.ptr_at(r.offset);
        if let Some(old) = r.moved_from {
            // SAFETY: both ranges lie in the region (the manager's arenas do);
            // the old bytes are intact because nothing else has been placed
            // there; the ranges may overlap (growing into the left
            // neighbour), hence `copy`, i.e. memmove.
            unsafe {
                core::ptr::copy(self.ptr_at(old).as_ptr(), new.as_ptr(), r.copy_len);
            }
        }
        Ok(new)
    }

    /// Defragmentation by relocation
    /// ([`ArenaManager::relocate`]): slides every allocation down so that the
    /// free space becomes one arena, moving the bytes, and calls
    /// `on_move(old, new, len)` after each move so the caller can update its
    /// pointers.
    ///
    /// # Errors
    /// As [`ArenaManager::relocate`]; nothing moves then.
    ///
    /// # Safety
    /// Every allocation may move: no reference into the heap may be alive,
    /// and every pointer the caller keeps must be updated through `on_move`
    /// (or not used again).
    pub unsafe fn relocate(
        &mut self,
        mut on_move: impl FnMut(NonNull<u8>, NonNull<u8>, usize),
    ) -> Result<crate::RelocationReport, crate::TableError> {
        let base = self.base;
        self.manager.relocate(|mv| {
            // SAFETY: the manager's offsets lie inside the region.
            let (from, to) = unsafe { (base.add(mv.from), base.add(mv.to)) };
            // SAFETY: both ranges lie inside the region, which the heap owns;
            // they may overlap, hence `copy` (memmove); the caller promised
            // that no reference into them is alive.
            unsafe { core::ptr::copy(from.as_ptr(), to.as_ptr(), mv.len) };
            on_move(from, to, mv.len);
        })
    }

    /// Adds `additional` bytes of memory right after the current end of the
    /// region.
    ///
    /// # Errors
    /// See [`ArenaManager::grow`].
    ///
    /// # Safety
    /// The `additional` bytes after the region's end must satisfy the
    /// contract of [`Heap::new`].
    pub unsafe fn grow(&mut self, additional: usize) -> Result<(), crate::TableError> {
        self.manager.grow(additional)
    }

    /// Runs the manager's [`defragment`](ArenaManager::defragment). No
    /// allocation moves.
    pub fn defragment(&mut self) -> DefragReport {
        self.manager.defragment()
    }

    /// The manager's accounting.
    pub fn stats(&self) -> Stats {
        self.manager.stats()
    }

    /// The manager, for reading arenas, the table and invariants. (No `&mut`
    /// access: freeing by offset would bypass [`Heap::free`]'s contract.)
    pub fn manager(&self) -> &ArenaManager<N, S> {
        &self.manager
    }

    /// The first byte of the region.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Whether `ptr` points into the region.
    pub fn contains(&self, ptr: *const u8) -> bool {
        (ptr as usize).wrapping_sub(self.base.as_ptr() as usize) < self.manager.capacity()
    }

    /// The size of the arena reserved for the live allocation at `ptr` (at
    /// least what was requested): `malloc_usable_size`.
    pub fn usable_size(&self, ptr: NonNull<u8>) -> Option<usize> {
        let offset = self.offset_of(ptr).ok()?;
        self.manager
            .arena_at(offset)
            .filter(|a| a.in_use)
            .map(|a| a.size)
    }

    fn offset_of(&self, ptr: NonNull<u8>) -> Result<usize, FreeError> {
        let offset = (ptr.as_ptr() as usize).wrapping_sub(self.base.as_ptr() as usize);
        if offset >= self.manager.capacity() {
            return Err(FreeError::OutOfRegion { offset });
        }
        Ok(offset)
    }

    fn ptr_at(&self, offset: usize) -> NonNull<u8> {
        // SAFETY: the manager only returns offsets inside the region, so the
        // result stays in the allocation that starts at `base` and is not null.
        unsafe { self.base.add(offset) }
    }
}

impl<const N: usize, S: TableStorage> fmt::Debug for Heap<N, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heap")
            .field("base", &self.base)
            .field("manager", &self.manager)
            .finish()
    }
}
