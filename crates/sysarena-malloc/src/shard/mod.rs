//! Shards: each a sysarena [`Heap`](sysarena::Heap) over its own slice of the reservation
//! with its own descriptor table and its own [`Lock`](crate::lock::Lock). A thread allocates
//! from "its" shard (a thread-local index, moved on contention); a free goes
//! to the shard that owns the address, whichever thread it comes from. Shards
//! are shared, not per thread, so nothing is stranded when a thread exits.
//! Shard 0 is built at start-up, every other one by the first lock that
//! takes it (`build.rs`); the shards, their locks and the threads' homes
//! are `locked.rs`. Here: a shard's state and its operations.

use core::alloc::Layout;
use core::ptr::NonNull;

use sysarena::{AllocError, Coalescing, FreeError, OomReason, ReallocError};

use crate::counters;
use crate::settings::{MIN_ALIGN, Settings};
use crate::slab::{self, Found, Fresh, ShardHeap, Slab};
use release::Released;

pub(crate) mod batch;
mod build;
mod grow;
mod locked;
mod release;
mod retire;
mod space;

pub(crate) use batch::{flush_cached, refill};
pub(crate) use build::{Plan, map_at_place, plan, tables_grown};
pub(crate) use grow::{
    START_LEN, count, extensions, init as init_count, length, span, start_short,
};
pub(crate) use locked::{Locked, lock_all, owner, reset_all_in_child, unlock_all};
use locked::{lock_for_alloc, set_home};
pub(crate) use retire::{Drain, drain_epoch, start_retired};
pub(crate) use space::{withdraw, withdrew};

/// Whether a failed allocation lacked a spare descriptor (not bytes).
fn no_spare(e: &AllocError) -> bool {
    matches!(
        e,
        AllocError::OutOfMemory(OomReason::NoSpareDescriptor { .. })
    )
}

/// One shard's state, guarded by its lock.
pub(crate) struct Inner {
    /// The shard's number (its place in `SHARDS`).
    index: usize,
    pub(crate) heap: ShardHeap,
    /// Small blocks, in slab pages carved out of `heap`.
    pub(crate) slab: Slab,
    /// Bytes from the shard's start ever handed out: everything above is
    /// untouched (still zero), which lets `calloc` skip clearing it.
    pub(crate) hwm: usize,
    /// Calls served, for the stats report.
    pub(crate) allocs: u64,
    pub(crate) frees: u64,
    pub(crate) reallocs: u64,
    /// Bytes given back to the kernel with `MADV_DONTNEED`.
    pub(crate) released: u64,
    /// Where the last heap blocks that gave their pages back were.
    released_at: Released,
    /// Bytes of address space withdrawn (unmapped for a direct mapping).
    pub(crate) withdrawn: u64,
    /// Bytes of memory given back by retiring the shard, ever (`retire.rs`).
    pub(crate) retired: u64,
    /// The highest high-water mark of the shard's earlier lives (before it
    /// retired; 0 if it never did), for the stats report's footprint.
    pub(crate) hwm_before: usize,
    /// Times the shard retired, and `frees` when it was last built: a
    /// shard retires again only after `2^retires - 1` frees in its new
    /// life (`retire.rs`).
    pub(crate) retires: u32,
    pub(crate) frees_at_build: u64,
    /// Slots thread caches gave back to this shard, ever (with `frees`,
    /// what the retirement backoff counts).
    pub(crate) cache_frees: u64,
    /// The locked frees the shard's drain may still take (0: its slab
    /// pages are not draining; a shard drains when it would retire but for
    /// slots still in use, perhaps in thread caches: `retire.rs`); drains
    /// that ended without retiring; and the count of frees before which no
    /// drain starts.
    pub(crate) drain_left: u64,
    pub(crate) failed_drains: u32,
    pub(crate) drain_quiet_until: u64,
}

impl Inner {
    /// Doubles the shard's descriptor table ([`build::grow_table`]); false
    /// when it is at its most. O(descriptors taken), amortised O(1).
    #[cold]
    #[inline(never)]
    fn grow_table(&mut self) -> bool {
        // SAFETY: `&mut self` is shard `index`'s state, reached through its
        // lock (or by exclusive access), and its heap is the one `build`
        // made over the shard's table.
        unsafe { build::grow_table(self.index, &mut self.heap) }
    }

    #[inline]
    fn alloc(&mut self, size: usize, align: usize, g: &Settings) -> Option<Fresh> {
        // A small block (at a larger alignment, of its size rounded up to
        // it: `slab::aligned_request`) is a slot.
        if self.slab.enabled()
            && let Some(slot) = slab::aligned_request(size, align)
        {
            let c = slab::class_of(slot);
            if let Some(f) = self.slab.alloc(&mut self.heap, &mut self.hwm, c) {
                self.allocs += 1;
                if counters::enabled() {
                    counters::live_changed(0, slab::class_size(c));
                }
                return Some(f);
            }
            // No 64 KiB left for a page: the heap may still fit the block.
        }
        self.alloc_heap(size, align, g)
    }

    #[inline(never)]
    fn alloc_heap(&mut self, size: usize, align: usize, g: &Settings) -> Option<Fresh> {
        let config = g.config;
        let layout = Layout::from_size_align(size, align).ok()?;
        self.slab.make_room_for(&mut self.heap, size);
        let mut before = counters::enabled().then(|| self.heap.stats().requested_bytes);
        let p = match self.heap.alloc(layout) {
            Ok(p) => p,
            // No spare descriptor for the split: a table that started short
            // (under an address-space limit) doubles, and the request is
            // made again.
            Err(e) if no_spare(&e) && self.grow_table() => self.heap.alloc(layout).ok()?,
            // Nothing fits: give pooled empty slab pages back, and under
            // the classic model (which merges only when asked) defragment;
            // then try once more.
            Err(AllocError::OutOfMemory(_))
                if self.slab.pooled_pages() != 0 || config.coalescing == Coalescing::Deferred =>
            {
                self.slab.purge(&mut self.heap);
                if config.coalescing == Coalescing::Deferred {
                    self.heap.defragment();
                }
                // The pooled pages were arenas in use, never live blocks:
                // measure the block's change from here (measured across
                // the purge, a block smaller than the pages drove the live
                // count below zero: a report's peak read 2^64 - 60,288).
                before = counters::enabled().then(|| self.heap.stats().requested_bytes);
                self.heap.alloc(layout).ok()?
            }
            Err(_) => return None,
        };
        let off = p.as_ptr() as usize - self.heap.base().as_ptr() as usize;
        // The arena is exactly the request rounded up to its alignment.
        let need = size.max(1).next_multiple_of(align);
        let dirty = size.min(self.hwm.saturating_sub(off));
        self.hwm = self.hwm.max(off + need);
        self.sweep_if_due(g);
        self.allocs += 1;
        if let Some(b) = before {
            counters::live_changed(b, self.heap.stats().requested_bytes);
        }
        Some(Fresh {
            ptr: p.as_ptr(),
            dirty,
        })
    }

    /// [`alloc`](Self::alloc) once shard `i`'s memory, full, is extended
    /// in place ([`grow::extend`]: under an address-space limit, a mapping
    /// shorter than its tables allow — shard 0 starts at
    /// [`START_LEN`]); `None` when it cannot be, or when the heap has no
    /// spare descriptor (bytes would not help it). `retry`: try an
    /// allocation first (the caller did not, under this lock: another
    /// thread may have extended the shard since it was found full).
    ///
    /// # Time complexity
    /// `grow::extend`'s `mremap` calls, then O(1) (`Heap::grow`, amortised)
    /// and an allocation or two.
    #[cold]
    #[inline(never)]
    fn alloc_extended(
        &mut self,
        i: usize,
        size: usize,
        align: usize,
        g: &Settings,
        retry: bool,
    ) -> Option<Fresh> {
        if retry && let Some(f) = self.alloc(size, align, g) {
            return Some(f);
        }
        if self.heap.stats().spare_descriptors == 0 && !self.grow_table() {
            return None;
        }
        // Room for the block at its alignment, or for a slab page at its.
        let need = size.max(slab::PAGE).checked_add(align.max(slab::PAGE))?;
        let (p, old, new) = grow::extend(g, i, need)?;
        // The heap is its one region, the shard's memory (`build`): its end
        // is where the mapping grew.
        let at_end = self.heap.end().as_ptr() == p.wrapping_add(old);
        // SAFETY: the `new - old` bytes after the heap's end are the
        // shard's mapping extended in place (`extend_in_place`): more of
        // the same mapping, fresh, zeroed and ours for as long as the shard
        // keeps its memory (`Heap::new`'s contract), used by nothing else.
        if !at_end || unsafe { self.heap.grow(new - old) }.is_err() {
            grow::shrink_back(i, old, new);
            return None;
        }
        self.slab.extend_pages(new / slab::PAGE);
        grow::set_length(i, new);
        self.alloc(size, align, g)
    }

    /// After the high-water mark grew: gives back the pages of the free
    /// arenas of the release size if the shard kept some since its last
    /// sweep and grew enough since (`release.rs`). O(1) unless a sweep is
    /// due; a sweep is O(arenas), amortised O(1) per 64 bytes of growth.
    #[inline]
    fn sweep_if_due(&mut self, g: &Settings) {
        let heap = &self.heap;
        if g.release != 0
            && self
                .released_at
                .sweep_due(self.hwm, || heap.stats().used_arenas)
        {
            self.released += release::sweep(&self.heap, self.hwm, g.release, g.page);
            self.released_at.swept(self.hwm);
        }
    }

    /// `malloc_trim`'s work in this shard: the heap's quick lists are
    /// flushed, the slab layer gives back its spares, its pool and the free
    /// pages inside its pages (`slab/trim.rs`), and then every whole page of
    /// every free arena below the high-water mark goes back to the kernel
    /// (a sweep with no size threshold). Returns the resident bytes given
    /// back (`mincore` before each `madvise`).
    ///
    /// # Time complexity
    /// O(arenas + slab pages × slots per page / 64 + pages below the mark
    /// / 512) system calls at most: `mincore` per 512 pages of free memory,
    /// one `madvise` per free arena and per run of free pages in a slab
    /// page that holds a resident page.
    pub(crate) fn trim(&mut self, g: &Settings) -> u64 {
        self.heap.flush_quick_lists();
        let mut released = self.slab.trim(&mut self.heap, g.page);
        released += release::trim(&self.heap, self.hwm, g.page);
        self.released += released;
        released
    }

    /// The usable size of the live allocation at `p`, or why there is none.
    pub(crate) fn usable(&self, p: *mut u8) -> Result<usize, FreeError> {
        let off = (p as usize).wrapping_sub(self.heap.base().as_ptr() as usize);
        match self.slab.find(self.heap.base().as_ptr(), p) {
            Found::NotSlab => {}
            Found::Live { class, .. } => return Ok(slab::class_size(class)),
            Found::Free | Found::Cached { .. } => {
                return Err(FreeError::DoubleFree { offset: off });
            }
            Found::Invalid => return Err(FreeError::NotAllocated { offset: off }),
        }
        match self.heap.manager().arena_at(off) {
            Some(a) if a.in_use => Ok(a.size),
            Some(_) => Err(FreeError::DoubleFree { offset: off }),
            None => Err(FreeError::NotAllocated { offset: off }),
        }
    }

    /// Frees `p`, first giving the pages inside a large arena back to the
    /// kernel.
    ///
    /// # Safety
    /// If `p` is a live allocation of this shard, the caller gives it up.
    #[inline]
    pub(crate) unsafe fn free(&mut self, p: *mut u8, g: &Settings) -> Result<(), FreeError> {
        let base = self.heap.base().as_ptr();
        match self.slab.find(base, p) {
            Found::NotSlab => {}
            Found::Live { page, class, idx } => {
                // SAFETY: `find` just reported the slot live; the caller
                // gives it up.
                let size = unsafe { self.slab.free(&mut self.heap, page, class, idx) };
                self.frees += 1;
                if counters::enabled() {
                    counters::live_changed(size, 0);
                }
                return Ok(());
            }
            Found::Free | Found::Cached { .. } => {
                return Err(FreeError::DoubleFree {
                    offset: (p as usize).wrapping_sub(base as usize),
                });
            }
            Found::Invalid => {
                return Err(FreeError::NotAllocated {
                    offset: (p as usize).wrapping_sub(base as usize),
                });
            }
        }
        // SAFETY: forwarded.
        unsafe { self.free_heap(p, g) }
    }

    /// Frees `p`, a block of the heap (not of the slab layer).
    ///
    /// # Safety
    /// As [`free`](Self::free).
    #[inline(never)]
    unsafe fn free_heap(&mut self, p: *mut u8, g: &Settings) -> Result<(), FreeError> {
        let size = self.usable(p)?;
        let big = g.release != 0 && size >= g.release;
        if self
            .released_at
            .decide(p as usize, size, big, g.release_adapts)
        {
            // SAFETY: `p .. p + size` is a live arena of ours, whose
            // contents the caller is giving up.
            self.released += unsafe { release::give_back_pages(p as usize, size, g.page) };
        }
        let before = counters::enabled().then(|| self.heap.stats().requested_bytes);
        let Some(nn) = NonNull::new(p) else {
            return Err(FreeError::NotAllocated { offset: 0 });
        };
        // SAFETY: `p` is a live allocation (checked above) the caller gives up.
        unsafe { self.heap.free(nn)? };
        self.frees += 1;
        // Too much kept since the last sweep: sweep now (`release.rs`).
        let heap = &self.heap;
        if big && self.released_at.sweep_now(|| heap.stats().used_arenas) {
            self.released += release::sweep(&self.heap, self.hwm, g.release, g.page);
            self.released_at.swept(self.hwm);
        }
        if let Some(b) = before {
            counters::live_changed(b, self.heap.stats().requested_bytes);
        }
        Ok(())
    }

    /// Resizes `p` within this shard.
    ///
    /// # Safety
    /// As `Heap::realloc`, for a pointer that may also be invalid (then the
    /// error says so and nothing changes).
    unsafe fn realloc(
        &mut self,
        p: *mut u8,
        size: usize,
        g: &Settings,
    ) -> Result<*mut u8, ReallocError> {
        let layout = Layout::from_size_align(size, MIN_ALIGN)
            .map_err(|_| ReallocError::Alloc(AllocError::SizeOverflow { size, align: 16 }))?;
        let nn =
            NonNull::new(p).ok_or(ReallocError::Free(FreeError::NotAllocated { offset: 0 }))?;
        self.slab.make_room_for(&mut self.heap, size);
        let before = counters::enabled().then(|| self.heap.stats().requested_bytes);
        // SAFETY: `Heap::realloc` checks that `p` is a live allocation and
        // changes nothing otherwise; the caller gives up `p` on success.
        let q = match unsafe { self.heap.realloc(nn, layout) } {
            Ok(q) => q,
            // No spare descriptor for a split: the table doubles (as in
            // `alloc_heap`) and the call is made again; the block is
            // untouched until one succeeds.
            // SAFETY: as above.
            Err(ReallocError::Alloc(e)) if no_spare(&e) && self.grow_table() => unsafe {
                self.heap.realloc(nn, layout)?
            },
            Err(e) => return Err(e),
        };
        let off = q.as_ptr() as usize - self.heap.base().as_ptr() as usize;
        self.hwm = self.hwm.max(off + size.max(1).next_multiple_of(MIN_ALIGN));
        self.sweep_if_due(g);
        self.reallocs += 1;
        if let Some(b) = before {
            counters::live_changed(b, self.heap.stats().requested_bytes);
        }
        Ok(q.as_ptr())
    }
}

/// A small block (a slot of `size`'s class: `slab::aligned_request` says
/// which sizes and alignments have one) from the slab layer
/// of the thread's shard: the fast path. `None` when the layer is off or
/// the shard has no 64 KiB left for a page (then [`alloc`] tries the heap
/// and the other shards).
#[inline]
pub(crate) fn alloc_small(size: usize) -> Option<Fresh> {
    let (_, mut l) = lock_for_alloc(count());
    let inner = &mut *l;
    let c = slab::class_of(size);
    let f = inner.slab.alloc(&mut inner.heap, &mut inner.hwm, c)?;
    inner.allocs += 1;
    if counters::enabled() {
        counters::live_changed(0, slab::class_size(c));
    }
    Some(f)
}

/// Allocates `size` bytes at `align` from the thread's shard, or any other
/// when it is exhausted, or (under an address-space limit) one more shard
/// ([`grow`](grow::grow)). `None` when every shard is exhausted and no more
/// can be mapped.
#[inline]
pub(crate) fn alloc(g: &Settings, size: usize, align: usize) -> Option<Fresh> {
    let mut n = count();
    let (first, mut l) = lock_for_alloc(n);
    if let Some(f) = l.alloc(size, align, g) {
        return Some(f);
    }
    // Under a limit, the thread's own shard, full, grows in place if its
    // mapping may (shard 0 starts short): its threads would otherwise
    // find it full on every call and take another shard's lock.
    if g.limited
        && grow::extendable(g, first)
        && let Some(f) = l.alloc_extended(first, size, align, g, false)
    {
        return Some(f);
    }
    drop(l);
    for k in 1..n {
        let i = (first + k) % n;
        if grow::retired(i) {
            continue;
        }
        let mut l = Locked::lock(i);
        if let Some(f) = l.alloc(size, align, g) {
            // This one becomes the thread's own: its own is full, and each
            // call would find that first (and fail there, flushing its
            // heap's quick lists), as a thread whose own is shard 0, full
            // at 2 MiB because the program took the space after it, did:
            // 100,000 malloc/free pairs of 100,000 bytes took 0.16 s
            // instead of 0.01.
            set_home(i);
            return Some(f);
        }
    }
    // Then any other shard whose mapping may grow.
    if g.limited {
        for k in 1..n {
            let i = (first + k) % n;
            if !grow::extendable(g, i) {
                continue;
            }
            let mut l = Locked::lock(i);
            if let Some(f) = l.alloc_extended(i, size, align, g, true) {
                set_home(i);
                return Some(f);
            }
        }
    }
    // A retired shard's place mapped again, then each new shard (or one
    // another thread added meanwhile), is tried once; the thread moves to
    // the one that holds the block (its old home is full).
    while let Some(i) = grow::revive(g, size, align, false, retire::rebuild) {
        let mut l = Locked::lock(i);
        if let Some(f) = l.alloc(size, align, g) {
            set_home(i);
            return Some(f);
        }
    }
    while grow::grow(g, n, size, align) {
        let mut l = Locked::lock(n);
        if let Some(f) = l.alloc(size, align, g) {
            set_home(n);
            return Some(f);
        }
        n += 1;
    }
    None
}

/// Frees `p` in shard `i` (its owner) under the shard's lock; under an
/// address-space limit a shard the free leaves empty gives its memory back
/// (`retire.rs`), and one left empty but for slots in use asks for the
/// caller's cache ([`Drain`]).
///
/// # Safety
/// As [`Inner::free`].
///
/// # Time complexity
/// As [`Inner::free`], and O(1) for the retirement test (a retirement:
/// see [`retire::after_free`]).
pub(crate) unsafe fn free_in(g: &Settings, i: usize, p: *mut u8) -> Result<Drain, FreeError> {
    let mut l = Locked::lock(i);
    // SAFETY: forwarded.
    unsafe { l.free(p, g) }?;
    Ok(retire::after_free(g, i, l, false))
}

/// `malloc_trim`'s work in shard `i` ([`Inner::trim`]) if it was ever
/// used; under an address-space limit an empty shard then gives its
/// memory back (`retire.rs`). Returns the bytes given back.
///
/// # Time complexity
/// As [`Inner::trim`], under the shard's lock.
pub(crate) fn trim_in(g: &Settings, i: usize) -> u64 {
    let Some(mut l) = Locked::lock_if_built(i) else {
        return 0;
    };
    let released = l.trim(g);
    let before = l.retired;
    // Only `after_free` may retire, and it takes the lock with it.
    if g.limited && i != 0 && !grow::retired(i) {
        let _ = retire::after_free(g, i, l, true);
        let l = Locked::lock(i);
        return released + (l.retired - before);
    }
    released
}

/// Why a shard `realloc` failed.
pub(crate) enum ReallocFail {
    /// `p` is not a live allocation: nothing changed.
    Invalid,
    /// No shard can hold the new size: `p` is unchanged.
    NoMemory,
}

/// Resizes `p`, owned by shard `i`, to `size` bytes (below the mmap
/// threshold, or any size when no direct mapping can be made): in place when the shard can, else into a new block of any
/// shard.
///
/// # Safety
/// On success the caller must not use `p` again (unless it is returned).
pub(crate) unsafe fn realloc(
    g: &Settings,
    i: usize,
    p: *mut u8,
    size: usize,
) -> Result<*mut u8, ReallocFail> {
    let mut l = Locked::lock(i);
    match l.slab.find(l.heap.base().as_ptr(), p) {
        Found::NotSlab => {}
        Found::Live { class, .. } => {
            // A slab block stays where it is while the size keeps its class;
            // otherwise it moves (to another class, or to a heap).
            if size <= slab::MAX_SIZE && slab::class_of(size) == class {
                l.reallocs += 1;
                return Ok(p);
            }
            drop(l);
            let old = slab::class_size(class);
            let Some(f) = alloc(g, size, MIN_ALIGN) else {
                // Shrinking needs no new memory: the block is big enough.
                return if size <= old {
                    Ok(p)
                } else {
                    Err(ReallocFail::NoMemory)
                };
            };
            // SAFETY: `p` is a live slot of `old` bytes (its page cannot
            // go away while it is live), `f.ptr` a new block of at least
            // `size`; distinct blocks do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(p, f.ptr, old.min(size)) };
            // SAFETY: `p` is live and given up by the caller. (A drain's
            // request for this thread's cache is dropped here: the caches
            // see the drain at their next scan, `retire::drain_epoch`.)
            let _ = unsafe { free_in(g, i, p) };
            return Ok(f.ptr);
        }
        Found::Free | Found::Cached { .. } | Found::Invalid => return Err(ReallocFail::Invalid),
    }
    // SAFETY: forwarded; an invalid `p` is reported, not used.
    match unsafe { l.realloc(p, size, g) } {
        Ok(q) => Ok(q),
        Err(ReallocError::Free(_)) => Err(ReallocFail::Invalid),
        Err(ReallocError::Alloc(_)) => {
            // This shard is full: move the block to another one.
            let old = l.usable(p).map_err(|_| ReallocFail::Invalid)?;
            drop(l);
            let f = alloc(g, size, MIN_ALIGN).ok_or(ReallocFail::NoMemory)?;
            // SAFETY: `p` is live with `old` usable bytes, `f.ptr` is a new
            // block of at least `size`; distinct arenas do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(p, f.ptr, old.min(size)) };
            // SAFETY: `p` is live and given up by the caller.
            let _ = unsafe { free_in(g, i, p) };
            Ok(f.ptr)
        }
    }
}
