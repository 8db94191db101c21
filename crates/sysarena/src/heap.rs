//! [`Heap`]: an [`ArenaManager`] over real memory — one region, or several
//! ([`Heap::add_region`], see `regions.rs`). This is the crate's one unsafe
//! boundary: pointers in, offsets to the manager, pointers out.

use core::alloc::Layout;
use core::fmt;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use crate::config::Config;
use crate::error::{AllocError, FreeError, ReallocError};
use crate::manager::ArenaManager;
use crate::stats::{ArenaInfo, DefragReport, Stats};
use crate::table::{Slot, TableStorage};

mod regions;
mod table;

use regions::Regions;
pub use regions::{
    MAX_REGION_ALIGN, MAX_REGIONS, MIN_REGION_LEN, REGION_ALIGN, Region, RegionError,
};

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
///
/// # Several regions
/// [`add_region`](Heap::add_region) adds memory anywhere — a memory map
/// with holes — to the same heap: one table of descriptors serves them
/// all, allocation searches all of them, free finds a pointer's region in
/// O(1) for the first region and O(log regions) for the others, and
/// [`stats`](Heap::stats) and [`arenas`](Heap::arenas) cover them all.
/// See [`RegionError`] for what is refused, and the `heap/regions.rs`
/// module docs (fences between regions) for how.
///
/// ```
/// use core::alloc::Layout;
/// use core::ptr::NonNull;
/// use sysarena::{Config, Heap};
///
/// // Two separate 4 KiB blocks of memory, 16-aligned.
/// let mut a = vec![0u128; 256];
/// let mut b = vec![0u128; 256];
/// let (a, b) = (
///     NonNull::from(a.as_mut_slice()).cast::<u8>(),
///     NonNull::from(b.as_mut_slice()).cast::<u8>(),
/// );
/// // SAFETY: both blocks outlive the heap (dropped after it, at the end of
/// // the scope) and nothing else touches them while it lives.
/// let mut heap = unsafe { Heap::<64>::new(a, 4096, Config::fast()) };
/// unsafe { heap.add_region(b, 4096).unwrap() };
/// assert_eq!(heap.stats().capacity, 8192);
/// // 6 KiB do not fit in one region; two blocks of 3 KiB do, one in each.
/// let big = Layout::from_size_align(6 << 10, 16).unwrap();
/// assert!(heap.alloc(big).is_err());
/// let three = Layout::from_size_align(3 << 10, 16).unwrap();
/// let (p, q) = (heap.alloc(three).unwrap(), heap.alloc(three).unwrap());
/// assert_ne!(heap.region_of(p.as_ptr()), heap.region_of(q.as_ptr()));
/// // SAFETY: live blocks of this heap, not used again.
/// unsafe { heap.free(p).unwrap(); heap.free(q).unwrap() };
/// assert_eq!(heap.arenas().filter(|a| !a.info.in_use).count(), 2);
/// ```
pub struct Heap<const N: usize, S: TableStorage = [Slot; N]> {
    /// Region 0's first byte: offset 0.
    base: NonNull<u8>,
    /// Region 0's length: offsets below it are `base + offset` (the fast
    /// path; a one-region heap never looks further).
    first_len: usize,
    regions: Regions,
    manager: ArenaManager<N, S>,
}

/// A [`Heap`] whose arena table is a caller-provided slice (no placeholder
/// `0` to write).
pub type SliceHeap<'t> = Heap<0, &'t mut [Slot]>;

/// One arena of a [`Heap`], as [`Heap::arenas`] walks them: where it is in
/// memory, which region holds it, and the manager's view of it (whose
/// `offset` is the manager's, not an address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapArena {
    /// The arena's first byte.
    pub ptr: NonNull<u8>,
    /// The index of its region, in the order the regions were added.
    pub region: usize,
    /// The manager's descriptor of it.
    pub info: ArenaInfo,
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
    ///
    /// # Time complexity
    /// O(N): the inline table of `N` descriptors is built (on the stack)
    /// first, as in [`ArenaManager::with_config`].
    pub unsafe fn new(base: NonNull<u8>, len: usize, config: Config) -> Self {
        // SAFETY: forwarded to the caller.
        unsafe { Self::from_manager(base, ArenaManager::with_config(len, config)) }
    }

    /// A heap over a `'static` buffer (e.g. a `static mut` array taken once,
    /// or leaked memory). Safe: the buffer is borrowed for ever.
    ///
    /// # Time complexity
    /// O(N), as [`Heap::new`].
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
    ///
    /// # Panics
    /// If something is allocated in `manager` (the contract above, checked:
    /// its allocations were placed for another origin).
    ///
    /// # Time complexity
    /// O(1), plus moving `manager` in (for an inline `[Slot; N]` table, a
    /// copy of its `N` descriptors).
    pub unsafe fn from_manager(base: NonNull<u8>, mut manager: ArenaManager<N, S>) -> Self {
        if let Err(e) = manager.set_origin(base.as_ptr() as usize) {
            panic!("Heap::from_manager: {e}");
        }
        let len = manager.capacity();
        Heap {
            base,
            first_len: len,
            regions: Regions::one(base.as_ptr(), len),
            manager,
        }
    }

    /// Adds `len` bytes of memory at `base` to the heap: anywhere that does
    /// not overlap its regions (a memory map's next entry, with a hole
    /// before it or not); a heap with no memory yet takes it as its first
    /// region.
    ///
    /// Memory that starts exactly at the end of the last region is a region
    /// of its own too, behind a fence: it may be another allocation (two
    /// `static`s the linker put side by side), and a block must never span
    /// two allocations. To grow the last region with more of the *same*
    /// allocation, use [`grow`](Heap::grow).
    ///
    /// # Errors
    /// [`RegionError`]: too small, misaligned, wrapping, overlapping, one
    /// region too many, or too few spare descriptors (adding a region needs
    /// three spare while it works, and keeps two: the region's free arena
    /// and the fence before it). Nothing changes then.
    ///
    /// # Safety
    /// `base .. base + len` must satisfy the contract of [`Heap::new`].
    ///
    /// # Time complexity
    /// O(regions) to keep the table sorted, plus the fence's manager
    /// operations (see `heap/regions.rs`): grows, reallocs and a free, each
    /// O(1); allocations at the heap's policy's cost (O(1) for
    /// [`Config::fast`], but O(arenas) under [`Policy::NextFit`](crate::Policy::NextFit), whose
    /// search walks the address list from its rover); two flushes of the
    /// quick lists (bounded: see
    /// [`ArenaManager::flush_quick_lists`](crate::ArenaManager::flush_quick_lists));
    /// and one `stats` (see
    /// [`ArenaManager::stats`](crate::ArenaManager::stats)).
    pub unsafe fn add_region(&mut self, base: NonNull<u8>, len: usize) -> Result<(), RegionError> {
        let addr = base.as_ptr() as usize;
        if self.manager.capacity() == 0 {
            // No memory yet (and so nothing allocated): this is region 0.
            if len == 0 {
                return Err(RegionError::TooSmall { len, min: 1 });
            }
            addr.checked_add(len).ok_or(RegionError::Wraps)?;
            self.manager.grow(len)?;
            // Nothing is allocated in a manager with no memory.
            self.manager.set_origin(addr)?;
            self.base = base;
            self.first_len = len;
            self.regions.set_first(base.as_ptr(), len);
            return Ok(());
        }
        self.regions.check_new(addr, len)?;
        self.regions.add(&mut self.manager, base.as_ptr(), len)
    }

    /// The heap's regions, in the order they were added (their offsets'
    /// order).
    ///
    /// # Time complexity
    /// O(1) to start, O(1) per region.
    pub fn regions(&self) -> impl Iterator<Item = Region> + '_ {
        self.regions.list().iter().copied()
    }

    /// The index of the region that holds `ptr` (in the order of
    /// [`regions`](Heap::regions)), if any.
    ///
    /// # Time complexity
    /// O(regions): a binary search finds the region in O(log regions), then
    /// a scan of the regions finds its index (at most [`MAX_REGIONS`]).
    pub fn region_of(&self, ptr: *const u8) -> Option<usize> {
        let r = self.regions.find_addr(ptr as usize)?;
        self.regions
            .list()
            .iter()
            .position(|x| x.offset == r.offset)
    }

    /// Every arena of every region, in the order of the manager's offsets
    /// (region by region, each in address order); the fences between
    /// regions are left out.
    ///
    /// # Time complexity
    /// O(1) to start. Each arena: O(1) in the first region, O(log regions)
    /// in the others (its pointer is found by binary search); fences are
    /// walked too, and the region cursor moves O(regions) in all.
    pub fn arenas(&self) -> impl Iterator<Item = HeapArena> + '_ {
        let list = self.regions.list();
        let mut region = 0;
        self.manager.arenas().filter_map(move |info| {
            while region + 1 < list.len() && info.offset >= list[region + 1].offset {
                region += 1;
            }
            let r = &list[region];
            (info.offset - r.offset < r.len).then(|| HeapArena {
                ptr: self.ptr_at(info.offset),
                region,
                info,
            })
        })
    }

    /// Allocates memory for `layout` (zero-sized layouts get one byte).
    ///
    /// # Errors
    /// As [`ArenaManager::alloc`]; in a heap of several regions, an
    /// alignment above [`MAX_REGION_ALIGN`], or a size (rounded up to the
    /// alignment) larger than every region, is [`AllocError::TooLarge`]
    /// (never [`OomReason::NoFit`](crate::OomReason::NoFit), which says
    /// that freeing could help).
    ///
    /// # Time complexity
    /// As [`ArenaManager::alloc`] for the heap's policy (O(1) for
    /// [`Config::fast`]), whatever the number of regions; plus O(log
    /// regions) for a block outside the first region.
    pub fn alloc(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        if let Some(e) = self.beyond_region_align(layout) {
            return Err(e);
        }
        let a = self
            .manager
            .alloc(layout.size().max(1), layout.align())
            .map_err(|e| self.beyond_every_region(e, layout))?;
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
    ///
    /// # Time complexity
    /// O(1) ([`ArenaManager::free`]), plus O(log regions) for a pointer
    /// outside the first region.
    pub unsafe fn free(&mut self, ptr: NonNull<u8>) -> Result<(), FreeError> {
        let offset = self.offset_of(ptr)?;
        self.manager.free(offset)
    }

    /// Resizes the allocation at `ptr` to `new_layout`, in place when it
    /// can, else by moving it (copying the old block's usable bytes, its
    /// whole arena as [`usable_size`](Self::usable_size) reports it, up to
    /// the new size).
    ///
    /// # Errors
    /// [`ReallocError`]; in a heap of several regions, as
    /// [`alloc`](Heap::alloc), an alignment above [`MAX_REGION_ALIGN`] or a
    /// size larger than every region is [`AllocError::TooLarge`]. On error
    /// the old allocation is untouched.
    ///
    /// # Safety
    /// `ptr` must be a live allocation of this heap; on success the memory
    /// at `ptr` must not be used again unless the returned pointer equals it.
    ///
    /// # Time complexity
    /// As [`ArenaManager::realloc`] (in place: O(1); moving: one `alloc` and
    /// one `free`), plus, when it moves, a copy of O(bytes copied); plus
    /// O(log regions) for a block outside the first region.
    pub unsafe fn realloc(
        &mut self,
        ptr: NonNull<u8>,
        new_layout: Layout,
    ) -> Result<NonNull<u8>, ReallocError> {
        let offset = self.offset_of(ptr)?;
        if let Some(e) = self.beyond_region_align(new_layout) {
            return Err(ReallocError::Alloc(e));
        }
        let r = self
            .manager
            .realloc(offset, new_layout.size().max(1), new_layout.align())
            .map_err(|e| match e {
                ReallocError::Alloc(e) => {
                    ReallocError::Alloc(self.beyond_every_region(e, new_layout))
                }
                e => e,
            })?;
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
    /// As [`ArenaManager::relocate`] ([`RegionError::Table`]); a heap of
    /// several regions refuses ([`RegionError::SeveralRegions`]). Nothing
    /// moves then.
    ///
    /// # Safety
    /// Every allocation may move: no reference into the heap may be alive,
    /// and every pointer the caller keeps must be updated through `on_move`
    /// (or not used again).
    ///
    /// # Time complexity
    /// As [`ArenaManager::relocate`]: O(arenas), plus the bytes moved.
    pub unsafe fn relocate(
        &mut self,
        mut on_move: impl FnMut(NonNull<u8>, NonNull<u8>, usize),
    ) -> Result<crate::RelocationReport, RegionError> {
        if self.regions.fences() > 0 {
            return Err(RegionError::SeveralRegions);
        }
        let base = self.base;
        Ok(self.manager.relocate(|mv| {
            // SAFETY: the manager's offsets lie inside the region.
            let (from, to) = unsafe { (base.add(mv.from), base.add(mv.to)) };
            // SAFETY: both ranges lie inside the region, which the heap owns;
            // they may overlap, hence `copy` (memmove); the caller promised
            // that no reference into them is alive.
            unsafe { core::ptr::copy(from.as_ptr(), to.as_ptr(), mv.len) };
            on_move(from, to, mv.len);
        })?)
    }

    /// Adds `additional` bytes of memory right after the end of the last
    /// region added ([`end`](Heap::end)): that region grows, and a block may
    /// span its old end.
    ///
    /// # Errors
    /// [`RegionError::Wraps`] if the region would wrap around the address
    /// space, [`RegionError::Overlaps`] if the added bytes overlap another
    /// region of the heap, [`RegionError::Table`] if the manager refuses
    /// (see [`ArenaManager::grow`]). Nothing changes then.
    ///
    /// # Safety
    /// The `additional` bytes after the last region's end must satisfy the
    /// contract of [`Heap::new`] and belong to the same allocation as that
    /// region (more of the same mapping, buffer or `static`): pointers into
    /// them are derived from the region's. Memory of another allocation
    /// goes in with [`add_region`](Heap::add_region).
    ///
    /// # Time complexity
    /// O(log regions) for the overlap check, plus O(1) amortised: like an
    /// allocation, it may double the offset map (see
    /// [`ArenaManager::alloc`]).
    pub unsafe fn grow(&mut self, additional: usize) -> Result<(), RegionError> {
        let end = self.regions.list().last().map_or(0, Region::end);
        if self.manager.capacity() > 0 && additional > 0 {
            self.regions.check_free(end, additional)?;
        }
        let last = self.regions.last_mut();
        last.base
            .checked_add(last.len)
            .and_then(|e| e.checked_add(additional))
            .ok_or(RegionError::Wraps)?;
        self.manager.grow(additional)?;
        last.len += additional;
        if self.regions.fences() == 0 {
            self.first_len += additional;
        }
        Ok(())
    }

    /// One past the last byte of the last region added: where
    /// [`grow`](Heap::grow) adds memory.
    ///
    /// # Time complexity
    /// O(log regions) (O(1) for a heap of one region).
    pub fn end(&self) -> NonNull<u8> {
        let end = self.manager.capacity();
        self.regions
            .ptr_at(end)
            .and_then(NonNull::new)
            .unwrap_or(self.base)
    }

    /// Runs the manager's [`defragment`](ArenaManager::defragment). No
    /// allocation moves.
    ///
    /// # Time complexity
    /// O(arenas + descriptors), as [`ArenaManager::defragment`].
    pub fn defragment(&mut self) -> DefragReport {
        self.manager.defragment()
    }

    /// Runs the manager's
    /// [`flush_quick_lists`](ArenaManager::flush_quick_lists): every arena
    /// waiting in the quick lists is freed for real and merges with its
    /// free neighbours. No allocation moves. (A `malloc_trim` does this
    /// before giving free pages back: a cached arena is free memory.)
    ///
    /// # Time complexity
    /// O(1): bounded by the quick lists' capacity, as
    /// [`ArenaManager::flush_quick_lists`].
    pub fn flush_quick_lists(&mut self) {
        self.manager.flush_quick_lists();
    }

    /// The manager's accounting over every region, the fences between
    /// regions left out (they take one descriptor each, counted neither in
    /// `descriptors` nor anywhere else).
    ///
    /// # Time complexity
    /// As [`ArenaManager::stats`]: O(1), except a rare walk of the highest
    /// non-empty size class (see there).
    pub fn stats(&self) -> Stats {
        let mut s = self.manager.stats();
        let (fences, bytes) = (self.regions.fences(), self.regions.fence_bytes());
        s.capacity -= bytes;
        s.in_use_bytes -= bytes;
        s.requested_bytes -= bytes;
        s.used_arenas -= fences;
        s.descriptors -= fences;
        s
    }

    /// The manager, for reading arenas, the table and invariants. (No `&mut`
    /// access: freeing by offset would bypass [`Heap::free`]'s contract.)
    /// In a heap of several regions its offsets include the fences (see
    /// [`arenas`](Heap::arenas) and [`stats`](Heap::stats) for the heap's
    /// own view).
    ///
    /// # Time complexity
    /// O(1).
    pub fn manager(&self) -> &ArenaManager<N, S> {
        &self.manager
    }

    /// The first byte of the first region.
    ///
    /// # Time complexity
    /// O(1).
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Whether `ptr` points into one of the heap's regions.
    ///
    /// # Time complexity
    /// O(1) for a pointer into the first region (or any pointer, in a heap
    /// of one region); otherwise O(log regions).
    pub fn contains(&self, ptr: *const u8) -> bool {
        (ptr as usize).wrapping_sub(self.base.as_ptr() as usize) < self.first_len
            || (self.regions.fences() > 0 && self.regions.find_addr(ptr as usize).is_some())
    }

    /// The size of the arena reserved for the live allocation at `ptr` (at
    /// least what was requested): `malloc_usable_size`.
    ///
    /// # Time complexity
    /// As [`ArenaManager::arena_at`]: O(1) through the offset map (O(arenas)
    /// for a manager without one); plus O(log regions) for a pointer
    /// outside the first region.
    pub fn usable_size(&self, ptr: NonNull<u8>) -> Option<usize> {
        let offset = self.offset_of(ptr).ok()?;
        self.manager
            .arena_at(offset)
            .filter(|a| a.in_use)
            .map(|a| a.size)
    }

    fn offset_of(&self, ptr: NonNull<u8>) -> Result<usize, FreeError> {
        let addr = ptr.as_ptr() as usize;
        let offset = addr.wrapping_sub(self.base.as_ptr() as usize);
        if offset < self.first_len {
            return Ok(offset);
        }
        if self.regions.fences() > 0
            && let Some(r) = self.regions.find_addr(addr)
        {
            return Ok(r.offset + (addr - r.base));
        }
        Err(FreeError::OutOfRegion { offset })
    }

    fn ptr_at(&self, offset: usize) -> NonNull<u8> {
        if offset < self.first_len {
            // SAFETY: the offset lies in region 0, the memory at `base`, so
            // the result stays in that allocation and is not null.
            return unsafe { self.base.add(offset) };
        }
        // The manager only returns offsets of its arenas, which lie inside
        // regions (fences are never handed out); the pointer keeps the
        // provenance of the memory the caller gave for that region.
        self.regions
            .ptr_at(offset)
            .and_then(NonNull::new)
            .unwrap_or(self.base)
    }
}

impl<const N: usize, S: TableStorage> fmt::Debug for Heap<N, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heap")
            .field("base", &self.base)
            .field("regions", &self.regions.list())
            .field("manager", &self.manager)
            .finish()
    }
}
