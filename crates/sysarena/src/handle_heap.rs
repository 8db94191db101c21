//! [`HandleHeap`]: movable blocks of RAM, named by handles.

use core::alloc::Layout;
use core::fmt;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use crate::config::Config;
use crate::error::{HandleError, InvariantError};
use crate::handle::{Handle, HandleSlot, HandleStorage};
use crate::manager::ArenaManager;
use crate::movable::Movable;
use crate::pass::{MoveStats, MoveStatus, PassLimits, PassReport, PlannedMove};
use crate::stats::{DefragReport, RelocationReport, Stats};
use crate::table::{Slot, TableStorage};

/// A heap of movable blocks: a [`Movable`] manager over real memory.
///
/// [`alloc`](Self::alloc) returns a [`Handle`], not a pointer; the bytes are
/// reached through [`get`](Self::get) and [`get_mut`](Self::get_mut), whose
/// borrows end before the heap can change, so [`relocate`](Self::relocate) is
/// free to move every block and the whole API is safe. A block whose address
/// must stay put — handed to DMA or to C — is [`pin`](Self::pin)ned: it
/// never moves, and relocation works around it.
///
/// Fresh bytes are zero ([`alloc`](Self::alloc) and growth in
/// [`resize`](Self::resize) clear them), so every block can be read as
/// `&[u8]`.
///
/// ```
/// use core::alloc::Layout;
/// use core::mem::MaybeUninit;
/// use sysarena::HandleHeap;
///
/// #[repr(align(16))]
/// struct Region([MaybeUninit<u8>; 1024]);
/// static mut MEMORY: Region = Region([MaybeUninit::uninit(); 1024]);
/// // SAFETY: the only reference ever taken to MEMORY.
/// let mem = unsafe { &mut (*core::ptr::addr_of_mut!(MEMORY)).0 };
/// let mut heap = HandleHeap::<32, 32>::from_static(mem, Default::default());
/// let blocks: Vec<_> = (0..8)
///     .map(|i| {
///         let h = heap.alloc(Layout::from_size_align(128, 8).unwrap()).unwrap();
///         heap.get_mut(h).unwrap().fill(i);
///         h
///     })
///     .collect();
/// for h in blocks.iter().step_by(2) {
///     heap.free(*h).unwrap();
/// }
/// // 512 bytes free in four holes of 128: 256 does not fit.
/// assert!(heap.alloc(Layout::from_size_align(256, 8).unwrap()).is_err());
/// heap.relocate().unwrap();
/// // The survivors moved down with their bytes; the free space is one arena.
/// assert_eq!(heap.stats().largest_free, 512);
/// assert!(heap.get(blocks[3]).unwrap().iter().all(|&b| b == 3));
/// assert!(heap.alloc(Layout::from_size_align(256, 8).unwrap()).is_ok());
/// ```
pub struct HandleHeap<
    const N: usize,
    const H: usize,
    S: TableStorage = [Slot; N],
    T: HandleStorage = [HandleSlot; H],
> {
    base: NonNull<u8>,
    movable: Movable<N, H, S, T>,
}

// SAFETY: as for `Heap`: the heap owns its region exclusively and the
// manager and handle table are plain data.
unsafe impl<const N: usize, const H: usize, S: TableStorage + Send, T: HandleStorage + Send> Send
    for HandleHeap<N, H, S, T>
{
}

impl<const N: usize, const H: usize> HandleHeap<N, H> {
    /// A handle heap over `len` bytes at `base`, running `config`.
    ///
    /// # Safety
    /// `base .. base + len` must be valid for reads and writes, must not be
    /// used by anything else while the heap (or a pointer from
    /// [`pin`](Self::pin)) is alive, and must not wrap around the address
    /// space.
    ///
    /// # Time complexity
    /// O(N + H), as [`Movable::with_config`]: both tables are built.
    pub unsafe fn new(base: NonNull<u8>, len: usize, config: Config) -> Self {
        // SAFETY: forwarded to the caller.
        unsafe { Self::from_movable(base, Movable::with_config(len, config)) }
    }

    /// A handle heap over a `'static` buffer. Safe: the buffer is borrowed
    /// for ever.
    ///
    /// # Time complexity
    /// O(N + H), as [`new`](Self::new).
    pub fn from_static(mem: &'static mut [MaybeUninit<u8>], config: Config) -> Self {
        let len = mem.len();
        let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap_or(NonNull::dangling());
        // SAFETY: `mem` is an exclusive borrow for 'static of exactly `len`
        // bytes at `base`.
        unsafe { Self::new(base, len, config) }
    }
}

impl<const N: usize, const H: usize, S: TableStorage, T: HandleStorage> HandleHeap<N, H, S, T> {
    /// A handle heap whose region, `movable.capacity()` bytes at `base`, is
    /// managed by `movable` (any table storages).
    ///
    /// # Safety
    /// As for [`HandleHeap::new`], with `len = movable.capacity()`; and
    /// nothing may be allocated in `movable` yet.
    ///
    /// # Panics
    /// If something is allocated in `movable` (the contract above,
    /// checked: its allocations were placed for another origin).
    ///
    /// # Time complexity
    /// O(1).
    pub unsafe fn from_movable(base: NonNull<u8>, mut movable: Movable<N, H, S, T>) -> Self {
        if let Err(e) = movable.set_origin(base.as_ptr() as usize) {
            panic!("HandleHeap::from_movable: {e}");
        }
        HandleHeap { base, movable }
    }

    /// Allocates a zeroed block for `layout` (zero-sized layouts get one
    /// byte).
    ///
    /// # Errors
    /// As [`Movable::alloc`].
    ///
    /// # Time complexity
    /// [`Movable::alloc`]'s cost, plus O(`layout.size()`) to zero the block.
    pub fn alloc(&mut self, layout: Layout) -> Result<Handle, HandleError> {
        let size = layout.size().max(1);
        let h = self.movable.alloc(size, layout.align())?;
        let offset = self.movable.offset(h)?;
        // SAFETY: the arena at `offset` holds at least `size` bytes inside
        // the region, which the heap owns; nothing else refers to them yet.
        unsafe { self.ptr_at(offset).write_bytes(0, size) };
        Ok(h)
    }

    /// Frees `handle`'s block. Safe: no reference into it can be alive (they
    /// borrow the heap), and a pinned block is refused.
    ///
    /// # Errors
    /// [`HandleError::Stale`] or [`HandleError::Pinned`]; or
    /// [`HandleError::Moving`] for a block that a relocation pass of the
    /// `Movable` it was made from left moving (see
    /// [`from_movable`](Self::from_movable)). Nothing changes then.
    ///
    /// # Time complexity
    /// O(1), as [`Movable::free`].
    pub fn free(&mut self, handle: Handle) -> Result<(), HandleError> {
        self.movable.free(handle)
    }

    /// Resizes `handle`'s block to `new_size` bytes (its alignment stays),
    /// in place when it can, else by moving it; the first
    /// `min(old, new)` bytes are kept and new bytes are zero.
    ///
    /// # Errors
    /// As [`Movable::resize`]; on error the block is unchanged.
    ///
    /// # Time complexity
    /// [`Movable::resize`]'s cost, plus O(bytes copied + bytes zeroed): the
    /// first `min(old, new)` bytes when the block moves, `new - old` when it
    /// grows.
    pub fn resize(&mut self, handle: Handle, new_size: usize) -> Result<(), HandleError> {
        let old = self.movable.info(handle)?.used;
        let new_size = new_size.max(1);
        let r = self.movable.resize(handle, new_size)?;
        if let Some(from) = r.moved_from {
            // SAFETY: both ranges lie in the region; the old arena's bytes
            // are still there (freeing touches no byte) and may overlap the
            // new ones, hence `copy` (memmove); no reference into the heap is
            // alive (`&mut self`).
            unsafe {
                core::ptr::copy(
                    self.ptr_at(from).as_ptr(),
                    self.ptr_at(r.offset).as_ptr(),
                    r.copy_len,
                );
            }
        }
        if new_size > old {
            // SAFETY: `[old, new_size)` lies inside the block's arena.
            unsafe { self.ptr_at(r.offset + old).write_bytes(0, new_size - old) };
        }
        Ok(())
    }

    /// The bytes of `handle`'s block (as many as were asked for).
    ///
    /// # Errors
    /// [`HandleError::Stale`].
    ///
    /// # Time complexity
    /// O(1).
    pub fn get(&self, handle: Handle) -> Result<&[u8], HandleError> {
        let a = self.movable.info(handle)?;
        // SAFETY: the block's first `used` bytes lie in the region, were
        // initialised when allocated or grown, and belong to this block
        // alone; the shared borrow of `self` keeps them from moving or being
        // freed or written through the heap while the slice lives.
        Ok(unsafe { core::slice::from_raw_parts(self.ptr_at(a.offset).as_ptr(), a.used) })
    }

    /// The bytes of `handle`'s block, to write.
    ///
    /// # Errors
    /// [`HandleError::Stale`].
    ///
    /// # Time complexity
    /// O(1).
    pub fn get_mut(&mut self, handle: Handle) -> Result<&mut [u8], HandleError> {
        let a = self.movable.info(handle)?;
        // SAFETY: as in `get`, and the exclusive borrow of `self` makes this
        // the only reference into the region made through the heap.
        Ok(unsafe { core::slice::from_raw_parts_mut(self.ptr_at(a.offset).as_ptr(), a.used) })
    }

    /// Pins `handle`'s block and returns its address, which stays valid
    /// until as many [`unpin`](Self::unpin)s: relocation does not move it,
    /// and it cannot be freed or resized meanwhile. The pointer may be
    /// handed to code that keeps it (DMA, C).
    ///
    /// Writing through the pointer while a [`get`](Self::get) slice of the
    /// same block is alive is undefined behaviour, as for any raw pointer.
    ///
    /// # Errors
    /// As [`Movable::pin`].
    ///
    /// # Time complexity
    /// O(1).
    pub fn pin(&mut self, handle: Handle) -> Result<NonNull<u8>, HandleError> {
        let offset = self.movable.pin(handle)?;
        Ok(self.ptr_at(offset))
    }

    /// Undoes one [`pin`](Self::pin).
    ///
    /// # Errors
    /// As [`Movable::unpin`].
    ///
    /// # Time complexity
    /// O(1).
    pub fn unpin(&mut self, handle: Handle) -> Result<(), HandleError> {
        self.movable.unpin(handle)
    }

    /// Moves every unpinned block down (`ptr::copy`, in a safe order) and
    /// updates the handles, so that — with nothing pinned — all free space
    /// ends as one arena at the end of the region (but alignment padding
    /// that cannot be closed). Pinned blocks stay; the blocks after one slide
    /// down to its end.
    ///
    /// # Errors
    /// As [`Movable::relocate`]; nothing moves then.
    ///
    /// # Time complexity
    /// O(arenas) plus the bytes moved.
    pub fn relocate(&mut self) -> Result<RelocationReport, HandleError> {
        let base = self.base;
        self.movable.relocate(|_, mv| {
            // SAFETY: both ranges lie in the region, which the heap owns;
            // they may overlap (memmove); no reference into the heap is alive
            // (`&mut self`) and pinned blocks are not moved.
            unsafe {
                core::ptr::copy(base.add(mv.from).as_ptr(), base.add(mv.to).as_ptr(), mv.len);
            }
        })
    }

    /// The old name of [`relocate`](Self::relocate) (compaction is the
    /// arena table's).
    ///
    /// # Errors
    /// As [`relocate`](Self::relocate).
    ///
    /// # Time complexity
    /// As [`relocate`](Self::relocate).
    #[deprecated(
        since = "0.1.0",
        note = "renamed to `relocate` (compaction is the table's)"
    )]
    pub fn compact(&mut self) -> Result<RelocationReport, HandleError> {
        self.relocate()
    }

    /// Bounded relocation: one [`Movable`] defragmentation pass of at most
    /// `limits` (and `moves.len()` moves), carried out at once. Call it
    /// again (say, once per frame) until [`PassReport::done`] is 0 to
    /// converge with bounded pauses: 0 means the layout converged, or that
    /// nothing can move under `limits` and `moves` (see
    /// [`PassProgress`](crate::PassProgress); an empty `moves` buffer moves
    /// nothing); either way another step with the same limits and buffer
    /// does nothing.
    ///
    /// # Errors
    /// [`HandleError::PassActive`] if a pass is already open: the heap
    /// opens and ends its own passes, so only one a [`Movable`] brought to
    /// [`from_movable`](Self::from_movable) left open; see
    /// [`Movable::begin_pass`].
    ///
    /// # Time complexity
    /// O(arenas) plus the bytes moved.
    pub fn relocate_step(
        &mut self,
        limits: PassLimits,
        moves: &mut [PlannedMove],
    ) -> Result<PassReport, HandleError> {
        let plan = self.movable.begin_pass(limits, moves)?;
        let moves = &mut moves[..plan.moves];
        for mv in moves.iter_mut() {
            // SAFETY: a move's source is its live block and its destination
            // was reserved for it, both inside the region; they may overlap
            // each other (memmove) but no other block or destination.
            unsafe {
                core::ptr::copy(
                    self.ptr_at(mv.from).as_ptr(),
                    self.ptr_at(mv.to).as_ptr(),
                    mv.len,
                );
            }
            mv.status = MoveStatus::Done;
        }
        self.movable.end_pass(moves)
    }

    /// The old name of [`relocate_step`](Self::relocate_step).
    ///
    /// # Errors
    /// As [`relocate_step`](Self::relocate_step).
    ///
    /// # Time complexity
    /// As [`relocate_step`](Self::relocate_step).
    #[deprecated(
        since = "0.1.0",
        note = "renamed to `relocate_step` (compaction is the table's)"
    )]
    pub fn compact_step(
        &mut self,
        limits: PassLimits,
        moves: &mut [PlannedMove],
    ) -> Result<PassReport, HandleError> {
        self.relocate_step(limits, moves)
    }

    /// The classic defragment; nothing moves.
    ///
    /// # Time complexity
    /// O(arenas + descriptors), as [`Movable::defragment`].
    pub fn defragment(&mut self) -> DefragReport {
        self.movable.defragment()
    }

    /// The manager's accounting.
    ///
    /// # Time complexity
    /// As [`Movable::stats`]: O(1) but for a rare walk of the highest
    /// non-empty size class.
    pub fn stats(&self) -> Stats {
        self.movable.stats()
    }

    /// Moves made so far.
    ///
    /// # Time complexity
    /// O(1).
    pub fn move_stats(&self) -> MoveStats {
        self.movable.move_stats()
    }

    /// The [`Movable`] manager underneath (read only).
    ///
    /// # Time complexity
    /// O(1).
    pub fn movable(&self) -> &Movable<N, H, S, T> {
        &self.movable
    }

    /// The arena manager underneath (read only).
    ///
    /// # Time complexity
    /// O(1).
    pub fn manager(&self) -> &ArenaManager<N, S> {
        self.movable.manager()
    }

    /// The first byte of the region.
    ///
    /// # Time complexity
    /// O(1).
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// See [`Movable::check_invariants`].
    ///
    /// # Errors
    /// The first broken invariant (a bug in sysarena).
    ///
    /// # Time complexity
    /// As [`Movable::check_invariants`]: O(arenas + descriptors + handles).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        self.movable.check_invariants()
    }

    fn ptr_at(&self, offset: usize) -> NonNull<u8> {
        // SAFETY: the manager only hands out offsets inside the region, so
        // the result stays in the allocation that starts at `base`.
        unsafe { self.base.add(offset) }
    }
}

impl<const N: usize, const H: usize, S: TableStorage, T: HandleStorage> fmt::Debug
    for HandleHeap<N, H, S, T>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandleHeap")
            .field("base", &self.base)
            .field("movable", &self.movable)
            .finish()
    }
}
