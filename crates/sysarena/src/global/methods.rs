//! The operations [`LockedHeap`](super::LockedHeap) and
//! [`HeapCell`](super::HeapCell) share, written once as macros over an
//! `access` method that runs a closure on the state (locked, or borrowed)
//! and returns `None` if it cannot (a re-entered `HeapCell`): the
//! `GlobalAlloc` body and the inherent methods.

/// The methods [`LockedHeap`](crate::global::LockedHeap) and [`HeapCell`](crate::global::HeapCell) share; `$access` runs a
/// closure on the state (locked, or borrowed) and returns `None` if it
/// cannot (a re-entered `HeapCell`).
macro_rules! shared_methods {
    () => {
        /// Sets the handler called when a request cannot be served (`None`:
        /// fail at once). See the [module docs](crate::global#out-of-memory-and-the-rescue-handler).
        ///
        /// # Time complexity
        /// O(1), plus the lock (O(1) uncontended; a `HeapCell` has a flag
        /// instead).
        pub fn set_oom_handler(&self, handler: Option<OomHandler<N, S>>) {
            self.access(|s| s.oom = handler);
        }

        /// Sets the handler for invalid and double frees (the default is
        /// [`default_bad_free_handler`](crate::global::default_bad_free_handler)).
        ///
        /// # Time complexity
        /// O(1), plus the lock.
        pub fn set_bad_free_handler(&self, handler: BadFreeHandler) {
            self.access(|s| s.bad_free = handler);
        }

        /// Gives the heap its first region as a ready [`Heap`](crate::Heap) — the way to
        /// use a caller-provided table (`Heap::from_manager(base,
        /// ArenaManager::from_slice(..))`), which also keeps a large table
        /// off the stack.
        ///
        /// # Errors
        /// [`ClaimError::AlreadyClaimed`](crate::global::ClaimError::AlreadyClaimed) if the heap has a region.
        ///
        /// # Time complexity
        /// O(1), plus the lock, plus moving `heap` in (for an inline
        /// `[Slot; N]` table, a copy of its `N` descriptors).
        pub fn init_heap(&self, heap: Heap<N, S>) -> Result<(), ClaimError> {
            self.access(|s| s.init(heap))
                .unwrap_or(Err(ClaimError::AlreadyClaimed))
        }

        /// Adds `len` bytes at `base` to a heap that has memory: more of
        /// the last region when `base` is its end (the `sbrk`-style growth
        /// of an OOM handler; [`Heap::grow`](crate::Heap::grow)), else a new
        /// region anywhere that does not overlap the heap's
        /// ([`Heap::add_region`](crate::Heap::add_region)) — for any table
        /// storage.
        ///
        /// # Errors
        /// [`ClaimError::NoRegion`](crate::global::ClaimError::NoRegion)
        /// before the first region (use `claim` or `init_heap`);
        /// [`ClaimError::Region`](crate::global::ClaimError::Region) for
        /// memory the heap refuses; on a `HeapCell`,
        /// [`ClaimError::AlreadyClaimed`](crate::global::ClaimError::AlreadyClaimed)
        /// when called from inside another call on the same cell (its OOM
        /// handler: use the `Rescue` it is given). Nothing changes then.
        ///
        /// # Safety
        /// As [`LockedHeap::claim`](crate::global::LockedHeap::claim); and
        /// memory that starts at the last region's end must belong to the
        /// same allocation as that region (more of the same mapping,
        /// buffer or `static`), since a block may then span both. Give
        /// another allocation to [`add_region`](Self::add_region) (or
        /// `claim`), which always makes it a region of its own.
        ///
        /// # Time complexity
        /// As [`Heap::add_region`](crate::Heap::add_region) (O(regions) plus
        /// a few manager operations; O(log regions) to grow the last
        /// region), with the lock held.
        pub unsafe fn extend(&self, base: NonNull<u8>, len: usize) -> Result<(), ClaimError> {
            // SAFETY: forwarded to the caller.
            self.access(|s| unsafe { s.extend(base, len) })
                .unwrap_or(Err(ClaimError::AlreadyClaimed))
        }

        /// Adds `len` bytes at `base` to a heap that has memory as a region
        /// of its own, anywhere that does not overlap the heap's, even
        /// right after the last region (it may be another allocation) —
        /// for any table storage ([`Heap::add_region`](crate::Heap::add_region)).
        ///
        /// # Errors
        /// As [`extend`](Self::extend).
        ///
        /// # Safety
        /// As [`LockedHeap::claim`](crate::global::LockedHeap::claim).
        ///
        /// # Time complexity
        /// As [`Heap::add_region`](crate::Heap::add_region) (O(regions) plus
        /// a few manager operations), with the lock held.
        pub unsafe fn add_region(&self, base: NonNull<u8>, len: usize) -> Result<(), ClaimError> {
            // SAFETY: forwarded to the caller.
            self.access(|s| unsafe { s.add_region(base, len) })
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
        ///
        /// # Time complexity
        /// As [`Heap::free`](crate::Heap::free): O(1), plus O(log regions)
        /// for a pointer outside the first region; plus the lock.
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
        /// As [`Heap::realloc`](crate::Heap::realloc), except that a `ptr` that is not a live
        /// allocation is reported, not trusted.
        ///
        /// # Time complexity
        /// As [`Heap::realloc`](crate::Heap::realloc) (a copy of O(bytes)
        /// when it moves), plus the lock; a failure that the OOM handler
        /// rescues retries, up to [`MAX_RESCUES`](crate::global::MAX_RESCUES)
        /// times, plus the handler's work.
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
        /// moves.
        ///
        /// # Time complexity
        /// O(arenas + descriptors), with the lock held.
        pub fn defragment(&self) -> DefragReport {
            self.access(|s| s.heap.as_mut().map(Heap::defragment))
                .flatten()
                .unwrap_or_default()
        }

        /// The heap's accounting (zeros before the first region).
        ///
        /// # Time complexity
        /// As [`Heap::stats`](crate::Heap::stats): O(1), except a rare walk
        /// of one size class (see
        /// [`ArenaManager::stats`](crate::ArenaManager::stats)); plus the lock.
        pub fn stats(&self) -> Stats {
            self.access(|s| s.stats()).unwrap_or_default()
        }

        /// Invalid or double frees seen by `dealloc` so far.
        ///
        /// # Time complexity
        /// O(1), plus the lock.
        pub fn invalid_frees(&self) -> usize {
            self.access(|s| s.invalid_frees).unwrap_or(0)
        }

        /// Times the OOM handler was called so far.
        ///
        /// # Time complexity
        /// O(1), plus the lock.
        pub fn rescues(&self) -> usize {
            self.access(|s| s.rescues).unwrap_or(0)
        }

        /// The usable size of the live allocation at `ptr`, if it is one.
        ///
        /// # Time complexity
        /// As [`Heap::usable_size`](crate::Heap::usable_size) (O(1) with the
        /// offset map), plus the lock.
        pub fn usable_size(&self, ptr: NonNull<u8>) -> Option<usize> {
            self.access(|s| s.heap.as_ref()?.usable_size(ptr)).flatten()
        }

        /// Whether `ptr` points into the heap's region.
        ///
        /// # Time complexity
        /// As [`Heap::contains`](crate::Heap::contains): O(1) for the first
        /// region, O(log regions) otherwise; plus the lock.
        pub fn contains(&self, ptr: *const u8) -> bool {
            self.access(|s| s.heap.as_ref().is_some_and(|h| h.contains(ptr)))
                .unwrap_or(false)
        }

        /// Runs `f` on the heap (`None` before the first region) with the
        /// lock held: for reading arenas and the table. `f` must not call
        /// any method of this heap (for `LockedHeap` that deadlocks; for
        /// `HeapCell` the inner call finds the cell busy), nor allocate
        /// through it as the global allocator. A panic in `f` unwinds
        /// through this call with the heap unlocked again.
        ///
        /// # Time complexity
        /// O(1), plus the lock, plus what `f` does.
        pub fn with_heap<T>(&self, f: impl FnOnce(Option<&Heap<N, S>>) -> T) -> T {
            let mut f = Some(f);
            match self.access(|s| (f.take().expect("called once"))(s.heap.as_ref())) {
                Some(t) => t,
                None => (f.take().expect("not called"))(None),
            }
        }

        /// Checks the manager's invariants
        /// ([`ArenaManager::check_invariants`](crate::ArenaManager::check_invariants)),
        /// with the lock held.
        ///
        /// # Errors
        /// The first broken invariant (a bug in sysarena).
        ///
        /// # Time complexity
        /// O(arenas + descriptors), with the lock held.
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

/// The one `GlobalAlloc` body of [`LockedHeap`](crate::global::LockedHeap) and [`HeapCell`](crate::global::HeapCell): both give
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

pub(super) use {global_alloc_impl, shared_methods};
