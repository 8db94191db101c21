//! Construction and growth: the constructors over an inline table, a slice
//! or any storage; adding memory; switching the model and the origin.

use core::mem::MaybeUninit;

use super::state::ArenaManager;
use crate::config::{Coalescing, Config};
use crate::error::TableError;
use crate::table::{NIL, Slot, State, TableStorage};

impl<const N: usize> ArenaManager<N> {
    /// The classic model — first fit, deferred coalescing — over
    /// `capacity` bytes: one free arena covers the region, the other `N - 1`
    /// descriptors are spare.
    ///
    /// A `capacity` of 0 gives a manager with no arena; add memory with
    /// [`grow`](Self::grow).
    ///
    /// # Time complexity
    /// O(N), as [`with_config`](Self::with_config). The table is built on the
    /// stack first: for large `N` use [`from_slice`](ArenaManager::from_slice).
    pub fn new(capacity: usize) -> Self {
        Self::with_config(capacity, Config::classic())
    }

    /// Any model over `capacity` bytes.
    ///
    /// # Time complexity
    /// O(N): the `N` descriptors are written once, as [`empty`](Self::empty);
    /// the first arena is then made in O(1).
    pub fn with_config(capacity: usize, config: Config) -> Self {
        const {
            assert!(
                N > 0 && N < (u32::MAX - 1) as usize,
                "N must be in 1..u32::MAX - 1"
            )
        };
        let mut m = Self::empty(config);
        if capacity > 0 {
            // Cannot fail: the table has N >= 1 spare descriptors.
            let _ = m.grow(capacity);
        }
        m
    }

    /// A manager with no region yet (capacity 0), for a `static` that is
    /// given memory later with [`grow`](Self::grow).
    ///
    /// # Time complexity
    /// O(N): the `N` descriptors are written as [`Slot::EMPTY`] (at compile
    /// time when it initialises a `static`).
    pub const fn empty(config: Config) -> Self {
        const {
            assert!(
                N > 0 && N < (u32::MAX - 1) as usize,
                "N must be in 1..u32::MAX - 1"
            )
        };
        ArenaManager::from_storage([Slot::EMPTY; N], N, config)
    }
}

impl<'t> ArenaManager<0, &'t mut [Slot]> {
    /// A manager whose arena table is `table`, over `capacity` bytes. The
    /// slice's contents are overwritten. This is how a table of hundreds of
    /// thousands of descriptors (a real program's live blocks) is used.
    ///
    /// # Errors
    /// [`TableError::BadTableSize`] if `table` is empty or has `u32::MAX - 1`
    /// descriptors or more.
    ///
    /// # Time complexity
    /// O(len), len = the slice's length: every descriptor is written once;
    /// the first arena is then made in O(1).
    pub fn from_slice(
        table: &'t mut [Slot],
        capacity: usize,
        config: Config,
    ) -> Result<Self, TableError> {
        Self::from_table(table, capacity, config)
    }

    /// Like [`from_slice`](Self::from_slice), but O(1): the table is not
    /// written until descriptors are needed, so a huge table in fresh
    /// `mmap`ed memory costs no resident memory until it is used.
    ///
    /// # Errors
    /// As [`from_slice`](Self::from_slice).
    ///
    /// # Safety
    /// As [`from_empty_table`](ArenaManager::from_empty_table).
    ///
    /// # Time complexity
    /// O(1): only the first arena's descriptor and its bucket head are
    /// written.
    pub unsafe fn from_empty_slice(
        table: &'t mut [Slot],
        capacity: usize,
        config: Config,
    ) -> Result<Self, TableError> {
        // SAFETY: forwarded to the caller.
        unsafe { Self::from_empty_table(table, capacity, config) }
    }
}

impl<S: TableStorage> ArenaManager<0, S> {
    /// A manager over `capacity` bytes whose arena table is any storage of
    /// slots: a `&mut [Slot]`, a `Box<[Slot]>`, a `Vec<Slot>`. The contents
    /// are overwritten (O(len)).
    ///
    /// # Errors
    /// [`TableError::BadTableSize`] if the table is empty or has
    /// `u32::MAX - 1` descriptors or more.
    ///
    /// # Time complexity
    /// O(len), len = the table's length: every descriptor is written once;
    /// the first arena is then made in O(1).
    pub fn from_table(mut table: S, capacity: usize, config: Config) -> Result<Self, TableError> {
        table.as_mut().fill(Slot::EMPTY);
        // SAFETY: every slot is now `Slot::EMPTY`.
        unsafe { Self::from_empty_table(table, capacity, config) }
    }

    /// Like [`from_table`](Self::from_table), but O(1): the table is not
    /// written until descriptors are needed.
    ///
    /// # Errors
    /// As [`from_table`](Self::from_table).
    ///
    /// # Safety
    /// Every slot of `table` must be `Slot::EMPTY` or all zero bytes (as in
    /// freshly mapped anonymous memory, or `std::alloc::alloc_zeroed`; all-zero
    /// bytes are a valid `Slot`). Any other contents break the manager's
    /// offset map, and with it the guarantee that allocations never overlap.
    ///
    /// # Time complexity
    /// O(1) for a slice, a `Box<[Slot]>` or a `Vec<Slot>`: only the first
    /// arena's descriptor and its bucket head are written. An inline array
    /// (`[Slot; K]`) is moved into the manager by a copy: O(K).
    pub unsafe fn from_empty_table(
        table: S,
        capacity: usize,
        config: Config,
    ) -> Result<Self, TableError> {
        let len = table.as_ref().len();
        check_table_len(len)?;
        let mut m = ArenaManager::from_storage(table, len, config);
        if capacity > 0 {
            m.grow(capacity)?;
        }
        Ok(m)
    }

    /// [`from_empty_table`](Self::from_empty_table) made directly in
    /// `place`, without building the manager on the stack first and moving
    /// it: the manager holds its size classes' list heads and its quick
    /// lists' heads inline (about 13 KiB on a 64-bit target, 9 KiB on a
    /// 32-bit one), so a manager returned by value is that much stack, and
    /// usually twice that (the value, then its copy). For a small stack (an
    /// interrupt or a firmware's), or a program that should not touch stack
    /// pages it never needs again (`sysarena-malloc` builds each shard's
    /// heap this way, [`Heap::init_empty_table`](crate::Heap::init_empty_table)).
    ///
    /// ```
    /// use core::mem::MaybeUninit;
    /// use sysarena::{ArenaManager, Config, Slot};
    ///
    /// let table = vec![Slot::EMPTY; 64].into_boxed_slice();
    /// let mut place = Box::new(MaybeUninit::uninit());
    /// // SAFETY: every slot is `Slot::EMPTY`.
    /// let m = unsafe { ArenaManager::init_empty_table(&mut place, table, 4096, Config::fast()) }
    ///     .unwrap();
    /// let a = m.alloc(100, 8).unwrap();
    /// m.free(a.offset()).unwrap();
    /// assert_eq!(m.stats().free_bytes, 4096);
    /// // A `MaybeUninit` never drops what it holds (here, the table).
    /// // SAFETY: made above, not used again.
    /// unsafe { place.assume_init_drop() };
    /// ```
    ///
    /// # Errors
    /// As [`from_table`](Self::from_table). `place` is then left as it
    /// was or partly written: not a manager.
    ///
    /// # Safety
    /// As [`from_empty_table`](Self::from_empty_table). A manager already in
    /// `place` is overwritten without being dropped.
    ///
    /// # Time complexity
    /// As [`from_empty_table`](Self::from_empty_table), plus writing the
    /// manager's inline list heads (a fixed size).
    pub unsafe fn init_empty_table(
        place: &mut MaybeUninit<Self>,
        table: S,
        capacity: usize,
        config: Config,
    ) -> Result<&mut Self, TableError> {
        let len = table.as_ref().len();
        check_table_len(len)?;
        // Written straight into `place` (the heads are not built on the
        // stack and copied: `sysarena-malloc`'s shard build, whose frame
        // this took from 19 KiB to 1.3 KiB).
        let m = place.write(ArenaManager::from_storage(table, len, config));
        if capacity > 0 {
            m.grow(capacity)?;
        }
        Ok(m)
    }

    /// Moves the arena table into `larger`, a storage of more slots, and
    /// gives the old one back. Every descriptor keeps its index, so hints
    /// stay right; the new slots are spare descriptors, and the offset map
    /// is filed again in the new table. No arena, statistic or setting
    /// changes.
    ///
    /// A table sized for the usual load can grow this way when a split
    /// finds no spare descriptor
    /// ([`OomReason::NoSpareDescriptor`](crate::OomReason::NoSpareDescriptor)):
    /// the caller brings the memory, as it brought the first table (the
    /// manager never allocates). `sysarena-malloc` does so under an
    /// address-space limit, where every byte of table it maps counts.
    ///
    /// ```
    /// use sysarena::{AllocError, ArenaManager, Config, OomReason, Slot};
    ///
    /// let small: Box<[Slot]> = vec![Slot::EMPTY; 2].into_boxed_slice();
    /// let mut m = ArenaManager::from_table(small, 1000, Config::fast()).unwrap();
    /// let a = m.alloc(100, 1).unwrap();
    /// // Two descriptors: the allocation and the free rest. A split needs a third.
    /// assert!(matches!(
    ///     m.alloc(100, 1),
    ///     Err(AllocError::OutOfMemory(OomReason::NoSpareDescriptor { .. }))
    /// ));
    /// let old = m.grow_table(vec![Slot::EMPTY; 8].into_boxed_slice()).unwrap();
    /// assert_eq!(old.len(), 2);
    /// m.alloc(100, 1).unwrap();
    /// // The first allocation is where it was, under the same hint.
    /// m.free_with_hint(a.offset(), a.hint()).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`TableError::NotLarger`] if `larger` is not longer than the table,
    /// [`TableError::BadTableSize`] if it has `u32::MAX - 1` descriptors or
    /// more. Nothing changes then (and `larger` is dropped).
    ///
    /// # Time complexity
    /// O(len of `larger`): every new slot is written as [`Slot::EMPTY`],
    /// then as [`grow_empty_table`](Self::grow_empty_table).
    pub fn grow_table(&mut self, mut larger: S) -> Result<S, TableError> {
        larger.as_mut().fill(Slot::EMPTY);
        // SAFETY: every slot is now `Slot::EMPTY`.
        unsafe { self.grow_empty_table(larger) }
    }

    /// Like [`grow_table`](Self::grow_table), but without writing the new
    /// slots: a larger table in fresh `mmap`ed memory costs no resident
    /// memory beyond the descriptors copied into it.
    ///
    /// # Errors
    /// As [`grow_table`](Self::grow_table).
    ///
    /// # Safety
    /// As [`from_empty_table`](Self::from_empty_table): every slot of
    /// `larger` must be `Slot::EMPTY` or all zero bytes.
    ///
    /// # Time complexity
    /// O(descriptors ever taken + the offset map's buckets): the
    /// descriptors ever taken are copied (a table that only ever doubles
    /// copies each descriptor O(1) times, amortised), and the map is filed
    /// again; the rest of `larger` is not touched.
    pub unsafe fn grow_empty_table(&mut self, mut larger: S) -> Result<S, TableError> {
        let (current, len) = (self.slots.as_ref().len(), larger.as_ref().len());
        if len <= current {
            return Err(TableError::NotLarger { len, current });
        }
        check_table_len(len)?;
        // The descriptors ever taken, at their indices. Above them the old
        // table held only never-used slots and (while dense) the offset
        // map's heads, which are filed again below.
        let fresh = self.fresh as usize;
        larger.as_mut()[..fresh].copy_from_slice(&self.slots.as_ref()[..fresh]);
        let old = core::mem::replace(&mut self.slots, larger);
        self.spare += len - current;
        self.map_new_table();
        Ok(old)
    }
}

/// A table of `len` descriptors is one the manager can index: at least
/// one, and below `u32::MAX - 1` (two index values are reserved).
fn check_table_len(len: usize) -> Result<(), TableError> {
    if len == 0 || len >= (NIL - 1) as usize {
        return Err(TableError::BadTableSize { len });
    }
    Ok(())
}

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Adds `additional` bytes at the end of the region (the memory after
    /// the current end must be the caller's to give). The last arena grows if
    /// it is free; otherwise a new free arena is made from a spare
    /// descriptor. A last arena waiting in the fast model's quick lists is
    /// free too: the lists are flushed first, and it grows (growth into a
    /// neighbour is one of the flush points, like out-of-memory).
    ///
    /// # Errors
    /// [`TableError::CapacityOverflow`], or [`TableError::NoSpareDescriptor`]
    /// when a new arena is needed and the table is full. On error no arena,
    /// statistic or capacity changes (the offset map may have grown, which
    /// nothing outside sees).
    ///
    /// # Time complexity
    /// Amortised O(1). Worst case O(descriptors taken): when they reach the
    /// offset map's growth point the map doubles and is rebuilt first, and
    /// when the never-used descriptors run out its bucket heads move out of
    /// them into the slots (O(map size)); each at most once per doubling.
    /// A flush, when the last arena is cached, is O(1) too: bounded by the
    /// lists' fixed capacity ([`flush_quick_lists`](Self::flush_quick_lists)).
    pub fn grow(&mut self, additional: usize) -> Result<(), TableError> {
        if additional == 0 {
            return Ok(());
        }
        let end = self
            .capacity
            .checked_add(additional)
            .ok_or(TableError::CapacityOverflow)?;
        self.reserve_hash();
        if self.tail != NIL && self.slot(self.tail).state == State::Cached {
            // Freed for real, it merges into a free tail (itself, or its
            // free left neighbour): the branch below then never needs a
            // spare descriptor.
            self.flush_quick_lists();
        }
        let tail = self.tail;
        if tail != NIL && self.slot(tail).state == State::Free {
            self.index_remove(tail);
            self.slot_mut(tail).size += additional;
            self.index_insert(tail);
        } else {
            if self.spare == 0 {
                return Err(TableError::NoSpareDescriptor);
            }
            let j = self.new_free_arena(tail, self.capacity, additional);
            self.link_after(tail, j);
            self.hash_insert(j);
            self.index_insert(j);
        }
        self.capacity = end;
        self.rebudget_quick_lists();
        self.settle();
        Ok(())
    }

    /// Switches policy and coalescing mode. The quick lists are flushed
    /// first (only the fast model keeps them). Switching to
    /// [`Coalescing::Immediate`] first merges every run of free neighbours,
    /// so its invariant (no two adjacent free arenas, but for cached ones) holds
    /// from then on.
    ///
    /// # Time complexity
    /// O(1), except switching to immediate coalescing: O(arenas).
    pub fn set_config(&mut self, config: Config) {
        self.flush_quick_lists();
        if config.coalescing == Coalescing::Immediate
            && self.config.coalescing == Coalescing::Deferred
        {
            self.merge_all();
            self.settle();
        }
        self.config = config;
        self.rebudget_quick_lists();
    }

    /// Sets the address that offset 0 stands for, so that alignment is
    /// honoured for `origin + offset` rather than for the offset alone. A
    /// [`Heap`](crate::Heap) sets it to its base address; a sub-allocator of
    /// device memory sets it to the buffer's device address. Defaults to 0.
    ///
    /// # Errors
    /// [`TableError::InUse`] while anything is allocated (the allocations
    /// were aligned for the old origin, and `relocate` would plan moves
    /// upwards from them); nothing changes then. Setting the same origin
    /// again always succeeds.
    ///
    /// # Time complexity
    /// O(1).
    pub fn set_origin(&mut self, origin: usize) -> Result<(), TableError> {
        if origin != self.origin && self.used_arenas() != 0 {
            return Err(TableError::InUse {
                allocations: self.used_arenas(),
            });
        }
        self.origin = origin;
        Ok(())
    }

    /// The address offset 0 stands for; see [`set_origin`](Self::set_origin).
    ///
    /// # Time complexity
    /// O(1).
    pub fn origin(&self) -> usize {
        self.origin
    }
}
