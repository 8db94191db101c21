//! [`ArenaManager`]: the arena model on offsets.

use core::fmt;

use crate::config::{Coalescing, Config, Policy};
use crate::error::{AllocError, FreeError, InvariantError, OomReason, ReallocError, TableError};
use crate::stats::{
    Allocation, ArenaInfo, DefragReport, Move, Reallocation, RelocationReport, Stats, TableEntry,
};
use crate::table::{
    CLASSES, FreeIndex, NIL, SL, Slot, State, TableStorage, class_at_least, class_of,
};

pub(crate) mod defrag;

/// An arena manager over one region `[0, capacity)`, with a fixed table of
/// arena descriptors and no heap.
///
/// `N` is the size of the built-in table (`[Slot; N]`, the default storage).
/// For a table too large for the stack, or sized at run time, give the
/// manager a slice instead: [`ArenaManager::from_slice`] (then `N` is unused
/// and written `0`; see [`SliceManager`]), or any owned storage of slots
/// ([`ArenaManager::from_table`], e.g. a `Box<[Slot]>`). All run the same
/// code.
///
/// The manager works in offsets and never touches the region's bytes; all
/// metadata lives in the table. [`Heap`](crate::Heap) puts it over real
/// memory.
///
/// # Example: the classic model fails, then defragment rescues it
///
/// ```
/// use sysarena::{AllocError, ArenaManager, OomReason};
///
/// let mut m = ArenaManager::<16>::new(400);
/// let blocks: Vec<_> = (0..4).map(|_| m.alloc(100, 1).unwrap()).collect();
/// m.free(blocks[1].offset()).unwrap();
/// m.free(blocks[2].offset()).unwrap();
/// // 200 bytes are free, but as two arenas of 100: no hole is large enough.
/// assert_eq!(m.stats().free_bytes, 200);
/// assert!(matches!(
///     m.alloc(200, 1),
///     Err(AllocError::OutOfMemory(OomReason::NoFit { .. }))
/// ));
/// // The two free arenas are neighbours: defragment merges them.
/// let report = m.defragment();
/// assert_eq!(report.merged, 1);
/// assert_eq!(m.alloc(200, 1).unwrap().offset(), 100);
/// ```
pub struct ArenaManager<const N: usize, S: TableStorage = [Slot; N]> {
    slots: S,
    config: Config,
    capacity: usize,
    /// The arena at offset 0 (NIL only while capacity is 0).
    head: u32,
    /// The arena that ends at `capacity`.
    tail: u32,
    /// Top of the spare list (descriptors freed by merges).
    spare_head: u32,
    /// Descriptors `[fresh, len)` have never been used: they are spare
    /// without being on the spare list, and their fields (but the bucket
    /// head) are set when first taken. This keeps construction O(1) and
    /// leaves a large table's memory untouched until it is needed.
    fresh: u32,
    /// The offset map's buckets are the first `hash_len` positions of the
    /// table (a power of two, or the table's length); it doubles as the
    /// used part of the table grows, so positions beyond it stay untouched.
    hash_len: u32,
    index: FreeIndex,
    free_bytes: usize,
    in_use_bytes: usize,
    requested_bytes: usize,
    free_arenas: usize,
    used_arenas: usize,
    spare: usize,
    largest_free: usize,
    /// Set when the largest free arena left the index in the middle of an
    /// operation; [`settle`](Self::settle) recomputes it once at the end, after
    /// any remainder is back in the index (usually a look at one arena).
    largest_stale: bool,
    /// Next fit's roving pointer: the offset after the last allocation.
    rover: usize,
    fallback_searches: u64,
    fallback_hits: u64,
    /// Added to offsets before alignment is checked (a `Heap` sets it to its
    /// base address).
    origin: usize,
}

/// An arena manager whose table is a caller-provided slice.
pub type SliceManager<'t> = ArenaManager<0, &'t mut [Slot]>;

impl<const N: usize> ArenaManager<N> {
    /// The classic model — first fit, deferred coalescing — over
    /// `capacity` bytes: one free arena covers the region, the other `N - 1`
    /// descriptors are spare.
    ///
    /// A `capacity` of 0 gives a manager with no arena; add memory with
    /// [`grow`](Self::grow).
    ///
    /// *Time:* O(N). The table is built on the stack first: for large `N`
    /// use [`from_slice`](ArenaManager::from_slice).
    pub fn new(capacity: usize) -> Self {
        Self::with_config(capacity, Config::classic())
    }

    /// Any model over `capacity` bytes.
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
    pub const fn empty(config: Config) -> Self {
        const {
            assert!(
                N > 0 && N < (u32::MAX - 1) as usize,
                "N must be in 1..u32::MAX - 1"
            )
        };
        ArenaManager {
            slots: [Slot::EMPTY; N],
            config,
            capacity: 0,
            head: NIL,
            tail: NIL,
            spare_head: NIL,
            fresh: 0,
            hash_len: if N < 16 { N as u32 } else { 16 },
            index: FreeIndex::EMPTY,
            free_bytes: 0,
            in_use_bytes: 0,
            requested_bytes: 0,
            free_arenas: 0,
            used_arenas: 0,
            spare: N,
            largest_free: 0,
            largest_stale: false,
            rover: 0,
            fallback_searches: 0,
            fallback_hits: 0,
            origin: 0,
        }
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
    pub unsafe fn from_empty_table(
        table: S,
        capacity: usize,
        config: Config,
    ) -> Result<Self, TableError> {
        let len = table.as_ref().len();
        if len == 0 || len >= (NIL - 1) as usize {
            return Err(TableError::BadTableSize { len });
        }
        let mut m = ArenaManager {
            slots: table,
            config,
            capacity: 0,
            head: NIL,
            tail: NIL,
            spare_head: NIL,
            fresh: 0,
            hash_len: len.min(16) as u32,
            index: FreeIndex::EMPTY,
            free_bytes: 0,
            in_use_bytes: 0,
            requested_bytes: 0,
            free_arenas: 0,
            used_arenas: 0,
            spare: len,
            largest_free: 0,
            largest_stale: false,
            rover: 0,
            fallback_searches: 0,
            fallback_hits: 0,
            origin: 0,
        };
        if capacity > 0 {
            m.grow(capacity)?;
        }
        Ok(m)
    }
}

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    // ----- the public operations -------------------------------------------------

    /// Allocates `size` bytes aligned to `align`.
    ///
    /// The policy picks a free arena that holds `size` bytes (rounded up to
    /// `align`) at an `align`-aligned offset; the arena is split: the
    /// allocation takes the front (after any alignment padding, which becomes
    /// a free arena of its own, or joins a free left neighbour), and the rest
    /// stays free in a spare descriptor. An exact fit needs no descriptor.
    ///
    /// # Errors
    /// [`AllocError::ZeroSize`], [`AllocError::BadAlign`],
    /// [`AllocError::SizeOverflow`], [`AllocError::TooLarge`], or
    /// [`AllocError::OutOfMemory`] with the reason: no free arena fits
    /// ([`OomReason::NoFit`], which carries the free bytes — more than the
    /// request is external fragmentation), or the split needs more spare
    /// descriptors than the table has left — one for the remainder, one
    /// for alignment padding ([`OomReason::NoSpareDescriptor`]).
    /// On error nothing changes.
    ///
    /// # Time complexity
    /// [`Policy::SegregatedFit`]: O(1) (see its docs for the bounded
    /// fallback). The others: see each [`Policy`].
    pub fn alloc(&mut self, size: usize, align: usize) -> Result<Allocation, AllocError> {
        let need = self.check_request(size, align)?;
        self.alloc_checked(size, need, align, NIL)
    }

    /// `alloc` after the request was validated: `need` is `size` rounded up
    /// to `align`; the new arena carries `tag` (the slot's owner tag).
    fn alloc_checked(
        &mut self,
        size: usize,
        need: usize,
        align: usize,
        tag: u32,
    ) -> Result<Allocation, AllocError> {
        self.reserve_hash();
        let Some((slot, pad)) = self.find(need, align) else {
            return Err(AllocError::OutOfMemory(OomReason::NoFit {
                needed: need,
                free_bytes: self.free_bytes,
                largest_free: self.largest_free,
            }));
        };
        let offset = self.carve(slot, pad, need, size, align, tag)?;
        self.settle();
        Ok(Allocation { offset, size: need })
    }

    /// Frees the allocation that starts at `offset`.
    ///
    /// Under [`Coalescing::Deferred`] (the classic model) the arena is only
    /// marked free and its `used` reset to 0. Under
    /// [`Coalescing::Immediate`] it merges with its free neighbours at once.
    ///
    /// # Errors
    /// [`FreeError::DoubleFree`] if the arena is already free,
    /// [`FreeError::NotAllocated`] if no arena starts at `offset`,
    /// [`FreeError::OutOfRegion`] if `offset >= capacity`. On error nothing
    /// changes.
    ///
    /// # Time complexity
    /// O(1) for every policy: the offset is looked up in the table's hash
    /// map, neighbours through the address links.
    pub fn free(&mut self, offset: usize) -> Result<(), FreeError> {
        let i = self.lookup_in_use(offset)?;
        self.free_slot(i);
        Ok(())
    }

    /// Frees in-use arena `i` (already looked up).
    fn free_slot(&mut self, i: u32) {
        let (size, used) = {
            let s = &mut self.slots.as_mut()[i as usize];
            let r = (s.size, s.used);
            s.used = 0;
            s.state = State::Free;
            r
        };
        self.used_arenas -= 1;
        self.in_use_bytes -= size;
        self.requested_bytes -= used;
        let i = match self.config.coalescing {
            Coalescing::Deferred => i,
            Coalescing::Immediate => self.merge_neighbours(i),
        };
        self.index_insert(i);
        self.settle();
    }

    /// Resizes the allocation at `offset` to `new_size` bytes at `align`.
    ///
    /// Shrinks in place (the tail returns to a free right neighbour, or
    /// becomes a free arena if a spare descriptor is left); grows in place
    /// into a free right neighbour; otherwise allocates anew and frees the
    /// old arena, and tells the caller to copy ([`Reallocation::moved_from`]).
    /// When nothing else fits, it takes the free left neighbour too (with
    /// itself and a free right neighbour): the allocation then moves down,
    /// overlapping its old place, so copy as `memmove` does.
    ///
    /// # Errors
    /// [`ReallocError::Free`] if `offset` names no live allocation,
    /// [`ReallocError::Alloc`] if the new size cannot be served. On error the
    /// old allocation is unchanged and still live.
    ///
    /// # Time complexity
    /// In place: O(1). Moving: one `alloc` and one `free`.
    pub fn realloc(
        &mut self,
        offset: usize,
        new_size: usize,
        align: usize,
    ) -> Result<Reallocation, ReallocError> {
        let i = self.lookup_in_use(offset)?;
        let need = self.check_request(new_size, align)?;
        self.reserve_hash();
        let Slot {
            size: old_size,
            next,
            ..
        } = self.slots.as_ref()[i as usize];
        if self.origin.wrapping_add(offset).is_multiple_of(align) {
            if need <= old_size {
                self.shrink_in_place(i, need);
                self.set_used(i, new_size);
                self.slot_mut(i).align_log2 = align.trailing_zeros() as u8;
                self.settle();
                return Ok(self.in_place(i, new_size.min(old_size)));
            }
            let extra = need - old_size;
            if next != NIL && self.slot(next).state == State::Free && self.slot(next).size >= extra
            {
                self.take_from_right(i, extra);
                self.set_used(i, new_size);
                self.slot_mut(i).align_log2 = align.trailing_zeros() as u8;
                self.settle();
                return Ok(self.in_place(i, new_size.min(old_size)));
            }
        }
        // A moved allocation is the same allocation: it keeps its tag.
        let tag = self.slot(i).tag;
        let new = match self.alloc_checked(new_size, need, align, tag) {
            Ok(new) => new,
            Err(e) => {
                if let AllocError::OutOfMemory(OomReason::NoFit { .. }) = e
                    && let Some(r) = self.grow_into_neighbours(i, need, new_size, align)
                {
                    return Ok(r);
                }
                return Err(e.into());
            }
        };
        // `i` still describes the old arena: `alloc` neither moves nor
        // touches an in-use descriptor.
        self.free_slot(i);
        Ok(Reallocation {
            offset: new.offset,
            size: new.size,
            moved_from: Some(offset),
            copy_len: new_size.min(old_size),
        })
    }

    /// The classic defragment: (1) merge every run of address-adjacent free
    /// arenas into one; (2) compact the table so that the spare descriptors
    /// sit at the end. No allocation moves.
    ///
    /// # Time complexity
    /// O(arenas + descriptors).
    pub fn defragment(&mut self) -> DefragReport {
        let mut report = DefragReport {
            free_arenas_before: self.free_arenas,
            largest_free_before: self.largest_free,
            ..DefragReport::default()
        };
        report.merged = self.merge_all();
        report.compacted = self.compact_table();
        self.settle();
        report.free_arenas_after = self.free_arenas;
        report.largest_free_after = self.largest_free;
        report
    }

    /// Defragmentation by relocation: slides every in-use arena down, in
    /// address order, to the lowest offset its alignment allows, so that the
    /// free space becomes one arena at the end of the region (plus any
    /// alignment padding that cannot be closed).
    ///
    /// The manager never touches the region's bytes: it calls `on_move` once
    /// per allocation that moves, in address order, and the caller moves the
    /// bytes (`len` from `from` down to `to`, ranges possibly overlapping, as
    /// `memmove`) and updates its own references — handles for RAM, a copy
    /// command for device memory. Doing the moves in the order given is
    /// safe: each destination lies below every allocation not yet moved.
    ///
    /// # Errors
    /// [`TableError::NoSpareDescriptor`] when the table lacks a descriptor
    /// for a free arena the new layout needs (the one at the end, or
    /// alignment padding that cannot be closed); nothing moves then.
    ///
    /// For bounded work and moves the caller may carry out in any order, or
    /// skip, see [`Movable`](crate::Movable)'s defragmentation passes.
    ///
    /// # Time complexity
    /// O(arenas); the caller's copying is O(bytes moved).
    pub fn relocate(
        &mut self,
        mut on_move: impl FnMut(Move),
    ) -> Result<RelocationReport, TableError> {
        self.relocate_where(|_| true, |_, m| on_move(m))
    }

    /// [`relocate`](Self::relocate), leaving in place every in-use arena
    /// whose tag `movable` refuses (pinned blocks), and telling `on_move`
    /// each moved arena's tag. Arenas after a pinned one slide down to its
    /// end; the space in front of it that the arenas before it do not fill
    /// stays free.
    pub(crate) fn relocate_where(
        &mut self,
        mut movable: impl FnMut(u32) -> bool,
        mut on_move: impl FnMut(u32, Move),
    ) -> Result<RelocationReport, TableError> {
        let mut report = RelocationReport {
            free_arenas_before: self.free_arenas,
            largest_free_before: self.largest_free,
            ..RelocationReport::default()
        };
        // A dry run first: every gap (padding, the space in front of a
        // pinned arena, the tail) takes a descriptor, which must be spare
        // when the walk reaches it; removed free arenas give theirs back.
        // If one would be missing, nothing moves.
        let mut avail = self.spare;
        let mut cursor = 0usize;
        let mut cur = self.head;
        while cur != NIL {
            let s = *self.slot(cur);
            if s.state == State::Free {
                avail += 1;
            } else {
                let dest = self.relocation_dest(cursor, &s, &mut movable);
                if dest > cursor {
                    avail = avail.checked_sub(1).ok_or(TableError::NoSpareDescriptor)?;
                }
                cursor = dest + s.size;
            }
            cur = s.next;
        }
        if cursor < self.capacity && avail == 0 {
            return Err(TableError::NoSpareDescriptor);
        }
        let mut cursor = 0usize;
        let mut cur = self.head;
        while cur != NIL {
            let s = *self.slot(cur);
            let Slot {
                offset,
                size,
                state,
                next,
                tag,
                ..
            } = *self.slot(cur);
            if state == State::Free {
                // Its bytes join the space being gathered; its descriptor is
                // spare again (and pays for any padding, gap or the tail).
                self.index_remove(cur);
                self.hash_remove(cur);
                self.unlink(cur);
                self.spare_push(cur);
                cur = next;
                continue;
            }
            let dest = self.relocation_dest(cursor, &s, &mut movable);
            debug_assert!(
                dest <= offset,
                "an aligned arena lies at or above the cursor"
            );
            if dest > cursor {
                // Alignment padding, or the gap in front of a pinned arena:
                // a free arena. A free arena was removed from this gap (or it
                // would be empty), so a spare descriptor is there for it.
                let j = self.new_free_arena(cursor, dest - cursor);
                self.link_before(cur, j);
                self.hash_insert(j);
                self.index_insert(j);
            }
            if dest != offset {
                self.hash_remove(cur);
                self.slot_mut(cur).offset = dest;
                self.hash_insert(cur);
                report.moved += 1;
                report.bytes_moved += size;
                on_move(
                    tag,
                    Move {
                        from: offset,
                        to: dest,
                        len: size,
                    },
                );
            }
            cursor = dest + size;
            cur = next;
        }
        if cursor < self.capacity {
            let j = self.new_free_arena(cursor, self.capacity - cursor);
            let tail = self.tail;
            self.link_after(tail, j);
            self.hash_insert(j);
            self.index_insert(j);
        }
        self.rover = cursor;
        self.settle();
        report.free_arenas_after = self.free_arenas;
        report.largest_free_after = self.largest_free;
        Ok(report)
    }

    /// Where relocation puts in-use arena `s` when the space below `cursor`
    /// is taken: the lowest offset its alignment allows, or where it is if
    /// `movable` refuses its tag.
    #[inline]
    fn relocation_dest(
        &self,
        cursor: usize,
        s: &Slot,
        movable: &mut impl FnMut(u32) -> bool,
    ) -> usize {
        if !movable(s.tag) {
            return s.offset;
        }
        let align = 1usize << s.align_log2;
        (self.origin.wrapping_add(cursor).wrapping_add(align - 1) & !(align - 1))
            .wrapping_sub(self.origin)
    }

    /// Adds `additional` bytes at the end of the region (the memory after
    /// the current end must be the caller's to give). The last arena grows if
    /// it is free; otherwise a new free arena is made from a spare
    /// descriptor.
    ///
    /// # Errors
    /// [`TableError::CapacityOverflow`], or [`TableError::NoSpareDescriptor`]
    /// when a new arena is needed and the table is full. On error nothing
    /// changes.
    pub fn grow(&mut self, additional: usize) -> Result<(), TableError> {
        if additional == 0 {
            return Ok(());
        }
        let end = self
            .capacity
            .checked_add(additional)
            .ok_or(TableError::CapacityOverflow)?;
        self.reserve_hash();
        let tail = self.tail;
        if tail != NIL && self.slot(tail).state == State::Free {
            self.index_remove(tail);
            self.slot_mut(tail).size += additional;
            self.index_insert(tail);
        } else {
            if self.spare == 0 {
                return Err(TableError::NoSpareDescriptor);
            }
            let j = self.new_free_arena(self.capacity, additional);
            self.link_after(tail, j);
            self.hash_insert(j);
            self.index_insert(j);
        }
        self.capacity = end;
        self.settle();
        Ok(())
    }

    /// Switches policy and coalescing mode. Switching to
    /// [`Coalescing::Immediate`] first merges every run of free neighbours,
    /// so its invariant (no two adjacent free arenas) holds from then on.
    pub fn set_config(&mut self, config: Config) {
        if config.coalescing == Coalescing::Immediate
            && self.config.coalescing == Coalescing::Deferred
        {
            self.merge_all();
            self.settle();
        }
        self.config = config;
    }

    /// Sets the address that offset 0 stands for, so that alignment is
    /// honoured for `origin + offset` rather than for the offset alone. A
    /// [`Heap`](crate::Heap) sets it to its base address; a sub-allocator of
    /// device memory sets it to the buffer's device address. Change it only
    /// while nothing is allocated. Defaults to 0.
    pub fn set_origin(&mut self, origin: usize) {
        self.origin = origin;
    }

    /// The address offset 0 stands for; see [`set_origin`](Self::set_origin).
    pub fn origin(&self) -> usize {
        self.origin
    }

    // ----- reading -----------------------------------------------------------------

    /// The model this manager runs.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Bytes in the region.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The accounting, in O(1).
    pub fn stats(&self) -> Stats {
        Stats {
            capacity: self.capacity,
            free_bytes: self.free_bytes,
            largest_free: self.largest_free,
            in_use_bytes: self.in_use_bytes,
            requested_bytes: self.requested_bytes,
            free_arenas: self.free_arenas,
            used_arenas: self.used_arenas,
            spare_descriptors: self.spare,
            descriptors: self.slots.as_ref().len(),
            fallback_searches: self.fallback_searches,
            fallback_hits: self.fallback_hits,
        }
    }

    /// Every arena, in address order (they tile the region exactly).
    pub fn arenas(&self) -> Arenas<'_> {
        Arenas {
            slots: self.slots.as_ref(),
            cur: self.head,
        }
    }

    /// Every descriptor, in table order: arenas and spares.
    pub fn table(&self) -> impl Iterator<Item = TableEntry> + '_ {
        let fresh = self.fresh as usize;
        self.slots
            .as_ref()
            .iter()
            .enumerate()
            .map(move |(i, s)| TableEntry {
                slot: i,
                arena: (i < fresh && s.state != State::Spare).then(|| info(i, s)),
            })
    }

    /// The arena that starts at `offset`, if any. O(1).
    pub fn arena_at(&self, offset: usize) -> Option<ArenaInfo> {
        let i = self.hash_find(offset)?;
        Some(info(i as usize, self.slot(i)))
    }

    /// Checks every internal invariant by walking the whole table: the
    /// arenas tile the region in address order; links, free index, hash map
    /// and counters agree; under immediate coalescing no two free arenas
    /// touch. For tests and debugging: O(arenas + descriptors).
    ///
    /// # Errors
    /// The first broken invariant found (a bug in sysarena).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        let slots = self.slots.as_ref();
        let err = |what, slot: Option<u32>| {
            Err(InvariantError {
                what,
                slot: slot.map(|s| s as usize),
            })
        };
        // The address walk.
        let (mut end, mut prev, mut cur, mut count) = (0usize, NIL, self.head, 0usize);
        let (mut free_b, mut used_b, mut req_b, mut nfree, mut nused) = (0, 0, 0, 0, 0);
        let mut largest = 0;
        let mut prev_free = false;
        while cur != NIL {
            count += 1;
            if count > slots.len() {
                return err("address list has a cycle", Some(cur));
            }
            let s = &slots[cur as usize];
            if s.prev != prev {
                return err("prev link does not match the walk", Some(cur));
            }
            if s.offset != end {
                return err("arenas do not tile the region", Some(cur));
            }
            if s.size == 0 {
                return err("empty arena", Some(cur));
            }
            match s.state {
                State::Spare => return err("spare descriptor in the address list", Some(cur)),
                State::Free => {
                    if s.used != 0 {
                        return err("free arena with used bytes", Some(cur));
                    }
                    if prev_free && self.config.coalescing == Coalescing::Immediate {
                        return err("adjacent free arenas under immediate coalescing", Some(cur));
                    }
                    free_b += s.size;
                    nfree += 1;
                    largest = largest.max(s.size);
                }
                State::InUse => {
                    if s.used == 0 || s.used > s.size {
                        return err("in-use arena's used is out of range", Some(cur));
                    }
                    used_b += s.size;
                    req_b += s.used;
                    nused += 1;
                }
            }
            if self.hash_find(s.offset) != Some(cur) {
                return err("arena missing from the offset map", Some(cur));
            }
            prev_free = s.state == State::Free;
            end = s.offset + s.size;
            prev = cur;
            cur = s.next;
        }
        if prev != self.tail {
            return err("tail does not end the address list", Some(prev));
        }
        if end != self.capacity {
            return err("arenas do not cover the capacity", None);
        }
        if free_b != self.free_bytes
            || used_b != self.in_use_bytes
            || req_b != self.requested_bytes
            || nfree != self.free_arenas
            || nused != self.used_arenas
        {
            return err("counters disagree with the table", None);
        }
        if self.in_use_bytes + self.free_bytes != self.capacity {
            return err("in_use_bytes + free_bytes != capacity", None);
        }
        if largest != self.largest_free {
            return err("largest_free is stale", None);
        }
        // Spares.
        let fresh = self.fresh as usize;
        let nspare = slots[..fresh]
            .iter()
            .filter(|s| s.state == State::Spare)
            .count();
        if nspare + (slots.len() - fresh) != self.spare || self.spare + count != slots.len() {
            return err("spare count disagrees with the table", None);
        }
        let (mut walked, mut cur) = (0, self.spare_head);
        while cur != NIL {
            walked += 1;
            if walked > slots.len() || slots[cur as usize].state != State::Spare {
                return err("spare list is broken", Some(cur));
            }
            cur = slots[cur as usize].link_next;
        }
        if walked != nspare {
            return err("spare list misses spares", None);
        }
        // The free index.
        let mut indexed = 0;
        for class in 0..CLASSES {
            let head = self.index.heads[class];
            let marked = self.index.sl_bitmap[class / SL] & (1 << (class % SL)) != 0;
            if marked != (head != NIL) {
                return err("bitmap disagrees with the class lists", None);
            }
            let (mut p, mut c) = (NIL, head);
            while c != NIL {
                indexed += 1;
                if indexed > slots.len() {
                    return err("free index has a cycle", Some(c));
                }
                let s = &slots[c as usize];
                if s.state != State::Free || class_of(s.size) != class || s.link_prev != p {
                    return err("free index entry is wrong", Some(c));
                }
                p = c;
                c = s.link_next;
            }
        }
        for fl in 0..self.index.sl_bitmap.len() {
            if (self.index.sl_bitmap[fl] != 0) != (self.index.fl_bitmap & (1 << fl) != 0) {
                return err("first-level bitmap is stale", None);
            }
        }
        if indexed != nfree {
            return err("free index does not hold every free arena", None);
        }
        // The offset map holds exactly the arenas.
        let mut hashed = 0;
        for b in 0..self.hash_len as usize {
            let mut c = slots[b].bucket.wrapping_sub(1);
            while c != NIL {
                hashed += 1;
                if hashed > slots.len() || slots[c as usize].state == State::Spare {
                    return err("offset map is broken", Some(c));
                }
                c = slots[c as usize].hash_next;
            }
        }
        if hashed != count {
            return err("offset map holds stale entries", None);
        }
        Ok(())
    }

    // ----- the steps -----------------------------------------------------------------

    /// Validates a request; returns the arena size it needs.
    fn check_request(&self, size: usize, align: usize) -> Result<usize, AllocError> {
        if size == 0 {
            return Err(AllocError::ZeroSize);
        }
        if !align.is_power_of_two() {
            return Err(AllocError::BadAlign { align });
        }
        // `align` is a power of two: round with a mask, not a division.
        let need = size
            .checked_add(align - 1)
            .ok_or(AllocError::SizeOverflow { size, align })?
            & !(align - 1);
        if need > self.capacity {
            return Err(AllocError::TooLarge {
                size,
                capacity: self.capacity,
            });
        }
        Ok(need)
    }

    /// The free arena the policy chooses for `need` bytes at `align`, and
    /// the padding in front of the aligned offset.
    fn find(&mut self, need: usize, align: usize) -> Option<(u32, usize)> {
        match self.config.policy {
            Policy::SegregatedFit => self.find_segregated(need, align),
            Policy::FirstFit => self.scan_up(need, align, |s| s.offset as u128, false),
            Policy::NextFit => {
                let rover = self.rover;
                self.scan_up(
                    need,
                    align,
                    move |s| {
                        // Arenas at or after the rover first, then wrap.
                        ((s.offset < rover) as u128) << 64 | s.offset as u128
                    },
                    false,
                )
            }
            Policy::BestFit => self.scan_up(
                need,
                align,
                |s| (s.size as u128) << 64 | s.offset as u128,
                true,
            ),
            Policy::WorstFit => self.scan_down(need, align),
        }
    }

    /// Padding before the first `align`-aligned offset at or after `offset`,
    /// if an arena at `offset` of `size` bytes holds `need` bytes there.
    #[inline]
    fn fit(addr: usize, size: usize, need: usize, align: usize) -> Option<usize> {
        let pad = addr.wrapping_neg() & (align - 1);
        (size >= need && size - need >= pad).then_some(pad)
    }

    /// Scans the free arenas of every class that may hold `need`, lowest
    /// class first, and returns the fitting one with the least `key`. With
    /// `first_class_only`, stops after the first class that has a fit (best
    /// fit: sizes in higher classes are all larger).
    fn scan_up(
        &self,
        need: usize,
        align: usize,
        key: impl Fn(&Slot) -> u128,
        first_class_only: bool,
    ) -> Option<(u32, usize)> {
        let (slots, origin) = (self.slots.as_ref(), self.origin);
        let mut best: Option<(u128, u32, usize)> = None;
        let mut class = self.index.first_from(class_of(need));
        while let Some(c) = class {
            let mut cur = self.index.heads[c];
            while cur != NIL {
                let s = &slots[cur as usize];
                if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                    let k = key(s);
                    if best.is_none_or(|(bk, _, _)| k < bk) {
                        best = Some((k, cur, pad));
                    }
                }
                cur = s.link_next;
            }
            if first_class_only && best.is_some() {
                break;
            }
            class = self.index.first_from(c + 1);
        }
        best.map(|(_, i, pad)| (i, pad))
    }

    /// Worst fit: the largest fitting arena, from the top class down.
    fn scan_down(&self, need: usize, align: usize) -> Option<(u32, usize)> {
        let (slots, origin) = (self.slots.as_ref(), self.origin);
        let floor = class_of(need);
        let mut class = self.index.last_upto(CLASSES - 1);
        while let Some(c) = class {
            if c < floor {
                break;
            }
            let mut best: Option<(usize, usize, u32, usize)> = None;
            let mut cur = self.index.heads[c];
            while cur != NIL {
                let s = &slots[cur as usize];
                if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                    // Largest size, then lowest offset.
                    if best.is_none_or(|(sz, off, _, _)| {
                        s.size > sz || (s.size == sz && s.offset < off)
                    }) {
                        best = Some((s.size, s.offset, cur, pad));
                    }
                }
                cur = s.link_next;
            }
            if let Some((_, _, i, pad)) = best {
                return Some((i, pad));
            }
            if c == 0 {
                break;
            }
            class = self.index.last_upto(c - 1);
        }
        None
    }

    /// Segregated fit: the head of the request's own class if it fits; else
    /// the head of the first class that guarantees a fit;
    /// for an over-aligned request whose head is misaligned, the first class
    /// that guarantees a fit with any padding; and only then a bounded
    /// search of the classes in between, so that a fitting arena is never
    /// missed.
    fn find_segregated(&mut self, need: usize, align: usize) -> Option<(u32, usize)> {
        let (slots, origin) = (self.slots.as_ref(), self.origin);
        // The head of the request's own class often fits (sizes rounded to
        // a common alignment make many arenas exactly as large as a request):
        // an exact fit needs no split. O(1): one list head.
        let own = self.index.heads[class_of(need)];
        if own != NIL {
            let s = &slots[own as usize];
            if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                return Some((own, pad));
            }
        }
        let mut upper = CLASSES;
        if let Some(c) = class_at_least(need) {
            upper = c;
            if let Some(c) = self.index.first_from(c) {
                let i = self.index.heads[c];
                let s = &slots[i as usize];
                if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                    return Some((i, pad));
                }
                // Misaligned head: ask for room for any padding.
                if let Some(c) = need.checked_add(align - 1).and_then(class_at_least) {
                    upper = c;
                    if let Some(c) = self.index.first_from(c) {
                        let i = self.index.heads[c];
                        let s = &slots[i as usize];
                        let pad = Self::fit(origin.wrapping_add(s.offset), s.size, need, align);
                        debug_assert!(pad.is_some());
                        if let Some(pad) = pad {
                            return Some((i, pad));
                        }
                    }
                } else {
                    upper = CLASSES;
                }
            }
        }
        // Fallback: the classes below `upper` that may still hold a fit
        // (classes from `upper` on were empty or are covered above).
        self.fallback_searches += 1;
        let mut class = self.index.first_from(class_of(need));
        while let Some(c) = class {
            if c >= upper {
                break;
            }
            let mut cur = self.index.heads[c];
            while cur != NIL {
                let s = &slots[cur as usize];
                if let Some(pad) = Self::fit(origin.wrapping_add(s.offset), s.size, need, align) {
                    self.fallback_hits += 1;
                    return Some((cur, pad));
                }
                cur = s.link_next;
            }
            class = self.index.first_from(c + 1);
        }
        None
    }

    /// Splits free arena `i`: `pad` bytes in front stay free, the next
    /// `need` bytes become the allocation (tagged `tag`), the rest stays
    /// free.
    fn carve(
        &mut self,
        i: u32,
        pad: usize,
        need: usize,
        used: usize,
        align: usize,
        tag: u32,
    ) -> Result<usize, AllocError> {
        let Slot {
            offset, size, prev, ..
        } = *self.slot(i);
        let rest = size - pad - need;
        let pad_joins_prev = pad > 0 && prev != NIL && self.slot(prev).state == State::Free;
        let spares_needed = usize::from(pad > 0 && !pad_joins_prev) + usize::from(rest > 0);
        if spares_needed > self.spare {
            return Err(AllocError::OutOfMemory(OomReason::NoSpareDescriptor {
                descriptors: self.slots.as_ref().len(),
            }));
        }
        self.index_remove(i);
        if pad > 0 {
            self.hash_remove(i);
            if pad_joins_prev {
                self.index_remove(prev);
                self.slot_mut(prev).size += pad;
                self.index_insert(prev);
            } else {
                let j = self.new_free_arena(offset, pad);
                self.link_before(i, j);
                self.hash_insert(j);
                self.index_insert(j);
            }
            let s = self.slot_mut(i);
            s.offset += pad;
            s.size -= pad;
            self.hash_insert(i);
        }
        if rest > 0 {
            let k = self.new_free_arena(offset + pad + need, rest);
            self.slot_mut(i).size = need;
            self.link_after(i, k);
            self.hash_insert(k);
            self.index_insert(k);
        }
        let s = self.slot_mut(i);
        s.state = State::InUse;
        s.used = used;
        s.align_log2 = align.trailing_zeros() as u8;
        s.tag = tag;
        self.used_arenas += 1;
        self.in_use_bytes += need;
        self.requested_bytes += used;
        self.rover = offset + pad + need;
        Ok(offset + pad)
    }

    /// Takes a spare descriptor for a new free arena (the caller links,
    /// hashes and indexes it). The caller has checked a spare exists.
    #[inline(always)]
    fn new_free_arena(&mut self, offset: usize, size: usize) -> u32 {
        let j = self.spare_pop().expect("caller checked for a spare");
        let bucket = self.slot(j).bucket;
        *self.slot_mut(j) = Slot {
            offset,
            size,
            state: State::Free,
            bucket,
            ..Slot::EMPTY
        };
        j
    }

    /// Immediate coalescing of a just-freed arena (not yet indexed) with its
    /// free neighbours; returns the slot that now describes the merged arena.
    fn merge_neighbours(&mut self, i: u32) -> u32 {
        let next = self.slot(i).next;
        if next != NIL && self.slot(next).state == State::Free {
            self.index_remove(next);
            self.absorb_next(i);
        }
        let prev = self.slot(i).prev;
        if prev != NIL && self.slot(prev).state == State::Free {
            self.index_remove(prev);
            self.absorb_next(prev);
            return prev;
        }
        i
    }

    /// Arena `i` absorbs its right neighbour, whose descriptor becomes spare.
    /// Neither is in the free index while this runs.
    #[inline(always)]
    fn absorb_next(&mut self, i: u32) {
        let n = self.slot(i).next;
        let n_size = self.slot(n).size;
        self.hash_remove(n);
        self.unlink(n);
        self.spare_push(n);
        self.slot_mut(i).size += n_size;
    }

    /// Merges every run of free neighbours; returns how many arenas were
    /// absorbed.
    fn merge_all(&mut self) -> usize {
        let mut merged = 0;
        let mut cur = self.head;
        while cur != NIL {
            let next = self.slot(cur).next;
            if self.slot(cur).state == State::Free
                && next != NIL
                && self.slot(next).state == State::Free
            {
                self.index_remove(cur);
                while self.slot(cur).next != NIL
                    && self.slot(self.slot(cur).next).state == State::Free
                {
                    let n = self.slot(cur).next;
                    self.index_remove(n);
                    self.absorb_next(cur);
                    merged += 1;
                }
                self.index_insert(cur);
            }
            cur = self.slot(cur).next;
        }
        merged
    }

    /// Moves descriptors down so that the spares sit at the end of the
    /// table; returns how many moved.
    fn compact_table(&mut self) -> usize {
        let len = self.fresh as usize;
        let mut moved = 0;
        let (mut lo, mut hi) = (0usize, len);
        loop {
            while lo < len && self.slots.as_ref()[lo].state != State::Spare {
                lo += 1;
            }
            while hi > 0 && self.slots.as_ref()[hi - 1].state == State::Spare {
                hi -= 1;
            }
            if hi == 0 || lo >= hi - 1 {
                break;
            }
            self.move_slot((hi - 1) as u32, lo as u32);
            moved += 1;
        }
        if moved > 0 {
            self.rebuild_hash();
        }
        // Every arena now sits below `active`; the spares above it are taken
        // in table order again, as if never used.
        let active = (self.free_arenas + self.used_arenas) as u32;
        self.fresh = active;
        self.spare_head = NIL;
        moved
    }

    /// Moves the descriptor at `from` into spare position `to`, redirecting
    /// every link that named it. The hash map is rebuilt by the caller.
    fn move_slot(&mut self, from: u32, to: u32) {
        let mut d = *self.slot(from);
        d.bucket = self.slot(to).bucket;
        let (prev, next) = (d.prev, d.next);
        if prev != NIL {
            self.slot_mut(prev).next = to;
        } else {
            self.head = to;
        }
        if next != NIL {
            self.slot_mut(next).prev = to;
        } else {
            self.tail = to;
        }
        if d.state == State::Free {
            let (lp, ln) = (d.link_prev, d.link_next);
            if lp != NIL {
                self.slot_mut(lp).link_next = to;
            } else {
                self.index.heads[class_of(d.size)] = to;
            }
            if ln != NIL {
                self.slot_mut(ln).link_prev = to;
            }
        }
        *self.slot_mut(to) = d;
        let bucket = self.slot(from).bucket;
        *self.slot_mut(from) = Slot {
            bucket,
            ..Slot::EMPTY
        };
    }

    fn shrink_in_place(&mut self, i: u32, need: usize) {
        let Slot {
            offset, size, next, ..
        } = *self.slot(i);
        let rest = size - need;
        if rest == 0 {
            return;
        }
        if next != NIL && self.slot(next).state == State::Free {
            // The tail joins the free right neighbour.
            self.index_remove(next);
            self.hash_remove(next);
            let n = self.slot_mut(next);
            n.offset -= rest;
            n.size += rest;
            self.hash_insert(next);
            self.index_insert(next);
        } else if self.spare > 0 {
            let k = self.new_free_arena(offset + need, rest);
            self.link_after(i, k);
            self.hash_insert(k);
            self.index_insert(k);
        } else {
            // No descriptor for the tail: the arena keeps its size.
            return;
        }
        self.slot_mut(i).size = need;
        self.in_use_bytes -= rest;
    }

    /// The last resort of `realloc` before out of memory: the allocation's
    /// free left neighbour, itself and its free right neighbour together,
    /// when they hold `need` bytes at `align`. The allocation moves down
    /// (`moved_from`), overlapping its old place: the caller copies as
    /// `memmove` does. `None`, with nothing changed, when they do not fit or
    /// the split would need descriptors the table lacks.
    fn grow_into_neighbours(
        &mut self,
        i: u32,
        need: usize,
        new_size: usize,
        align: usize,
    ) -> Option<Reallocation> {
        let Slot {
            offset,
            size,
            used,
            prev,
            next,
            tag,
            ..
        } = *self.slot(i);
        if prev == NIL || self.slot(prev).state != State::Free {
            return None;
        }
        let start = self.slot(prev).offset;
        let right = if next != NIL && self.slot(next).state == State::Free {
            self.slot(next).size
        } else {
            0
        };
        let end = offset + size + right;
        let pad = self.origin.wrapping_add(start).wrapping_neg() & (align - 1);
        if end - start < pad + need {
            return None;
        }
        // Descriptors: the old one (and the right neighbour's) come back;
        // padding (unless it joins a free arena before `prev`) and a
        // remainder take one each.
        let before_prev = self.slot(prev).prev;
        let pad_joins =
            pad > 0 && before_prev != NIL && self.slot(before_prev).state == State::Free;
        let needed = usize::from(pad > 0 && !pad_joins) + usize::from(end - start > pad + need);
        let returned = 1 + usize::from(right > 0);
        if needed > self.spare + returned {
            return None;
        }
        // Release the allocation, then carve the new one out of the union.
        self.used_arenas -= 1;
        self.in_use_bytes -= size;
        self.requested_bytes -= used;
        if right > 0 {
            self.index_remove(next);
            self.absorb_next(i);
        }
        self.index_remove(prev);
        self.absorb_next(prev); // `prev` now spans [start, end), not indexed
        self.slot_mut(prev).used = 0;
        self.index_insert(prev);
        let to = self
            .carve(prev, pad, need, new_size, align, tag)
            .expect("descriptors were counted above");
        self.settle();
        // `carve` leaves the allocation exactly `need` bytes.
        Some(Reallocation {
            offset: to,
            size: need,
            moved_from: Some(offset),
            copy_len: new_size.min(size),
        })
    }

    /// Grows arena `i` by `extra` bytes taken from its free right neighbour.
    fn take_from_right(&mut self, i: u32, extra: usize) {
        let n = self.slot(i).next;
        self.index_remove(n);
        if self.slot(n).size == extra {
            self.absorb_next(i);
        } else {
            self.hash_remove(n);
            let s = self.slot_mut(n);
            s.offset += extra;
            s.size -= extra;
            self.hash_insert(n);
            self.index_insert(n);
            self.slot_mut(i).size += extra;
        }
        self.in_use_bytes += extra;
    }

    fn set_used(&mut self, i: u32, used: usize) {
        let s = self.slot_mut(i);
        let old = core::mem::replace(&mut s.used, used);
        self.requested_bytes = self.requested_bytes - old + used;
    }

    fn in_place(&self, i: u32, copy_len: usize) -> Reallocation {
        let s = self.slot(i);
        Reallocation {
            offset: s.offset,
            size: s.size,
            moved_from: None,
            copy_len,
        }
    }

    fn lookup_in_use(&self, offset: usize) -> Result<u32, FreeError> {
        if offset >= self.capacity {
            return Err(FreeError::OutOfRegion { offset });
        }
        match self.hash_find(offset) {
            None => Err(FreeError::NotAllocated { offset }),
            Some(i) if self.slot(i).state == State::Free => Err(FreeError::DoubleFree { offset }),
            Some(i) => Ok(i),
        }
    }

    // ----- the table's lists -----------------------------------------------------------

    #[inline]
    fn slot(&self, i: u32) -> &Slot {
        &self.slots.as_ref()[i as usize]
    }

    #[inline]
    fn slot_mut(&mut self, i: u32) -> &mut Slot {
        &mut self.slots.as_mut()[i as usize]
    }

    fn spare_pop(&mut self) -> Option<u32> {
        let j = self.spare_head;
        if j != NIL {
            self.spare_head = self.slot(j).link_next;
        } else if (self.fresh as usize) < self.slots.as_ref().len() {
            let j = self.fresh;
            self.fresh += 1;
            let bucket = self.slot(j).bucket;
            *self.slot_mut(j) = Slot {
                bucket,
                ..Slot::EMPTY
            };
            self.spare -= 1;
            return Some(j);
        } else {
            return None;
        }
        self.spare -= 1;
        Some(j)
    }

    fn spare_push(&mut self, j: u32) {
        let bucket = self.slot(j).bucket;
        *self.slot_mut(j) = Slot {
            link_next: self.spare_head,
            bucket,
            ..Slot::EMPTY
        };
        self.spare_head = j;
        self.spare += 1;
    }

    /// Links `j` into the address list right after `i` (`NIL`: as the head).
    #[inline(always)]
    fn link_after(&mut self, i: u32, j: u32) {
        let next = if i == NIL {
            self.head
        } else {
            self.slot(i).next
        };
        {
            let s = self.slot_mut(j);
            s.prev = i;
            s.next = next;
        }
        if i == NIL {
            self.head = j;
        } else {
            self.slot_mut(i).next = j;
        }
        if next == NIL {
            self.tail = j;
        } else {
            self.slot_mut(next).prev = j;
        }
    }

    /// Links `j` into the address list right before `i`.
    fn link_before(&mut self, i: u32, j: u32) {
        let prev = self.slot(i).prev;
        self.link_after(prev, j);
    }

    fn unlink(&mut self, j: u32) {
        let Slot { prev, next, .. } = *self.slot(j);
        if prev == NIL {
            self.head = next;
        } else {
            self.slot_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slot_mut(next).prev = prev;
        }
    }

    /// Puts free arena `i` into its size class.
    #[inline(always)]
    fn index_insert(&mut self, i: u32) {
        let size = self.slot(i).size;
        let class = class_of(size);
        let head = self.index.heads[class];
        {
            let s = self.slot_mut(i);
            s.link_prev = NIL;
            s.link_next = head;
        }
        if head != NIL {
            self.slot_mut(head).link_prev = i;
        } else {
            self.index.mark(class);
        }
        self.index.heads[class] = i;
        self.free_arenas += 1;
        self.free_bytes += size;
        if size > self.largest_free {
            self.largest_free = size;
        }
    }

    /// Takes free arena `i` out of its size class.
    #[inline(always)]
    fn index_remove(&mut self, i: u32) {
        let Slot {
            size,
            link_prev,
            link_next,
            ..
        } = *self.slot(i);
        let class = class_of(size);
        if link_prev != NIL {
            self.slot_mut(link_prev).link_next = link_next;
        } else {
            self.index.heads[class] = link_next;
            if link_next == NIL {
                self.index.unmark(class);
            }
        }
        if link_next != NIL {
            self.slot_mut(link_next).link_prev = link_prev;
        }
        self.free_arenas -= 1;
        self.free_bytes -= size;
        if size == self.largest_free {
            self.largest_stale = true;
        }
    }

    /// Ends an operation: recomputes the largest free arena if it left the
    /// index. The new largest is in the highest non-empty class.
    #[inline]
    fn settle(&mut self) {
        if self.largest_stale {
            self.largest_stale = false;
            self.largest_free = self.max_free_in_top_class();
        }
    }

    /// The largest free arena: the largest in the highest non-empty class.
    /// O(k) in that class's population (usually one or two arenas).
    fn max_free_in_top_class(&self) -> usize {
        let Some(c) = self.index.last_upto(CLASSES - 1) else {
            return 0;
        };
        let mut best = 0;
        let mut cur = self.index.heads[c];
        while cur != NIL {
            let s = self.slot(cur);
            best = best.max(s.size);
            cur = s.link_next;
        }
        best
    }

    // ----- the offset map ----------------------------------------------------------------

    #[inline]
    fn bucket_of(&self, offset: usize) -> usize {
        let h = (offset as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        ((h * self.hash_len as u64) >> 32) as usize
    }

    /// Keeps the offset map's load at most about one entry per bucket: runs
    /// before an operation that may take up to two fresh descriptors, never
    /// in the middle of one (a rehash then would see half-made arenas).
    #[inline]
    fn reserve_hash(&mut self) {
        let len = self.slots.as_ref().len() as u32;
        if self.fresh + 2 > self.hash_len && self.hash_len < len {
            self.grow_hash(len);
        }
    }

    /// Doubles the offset map. Amortised O(1) per descriptor taken.
    #[cold]
    fn grow_hash(&mut self, len: u32) {
        self.hash_len = self.hash_len.saturating_mul(2).min(len);
        self.rebuild_hash();
    }

    fn hash_find(&self, offset: usize) -> Option<u32> {
        let slots = self.slots.as_ref();
        let mut cur = slots[self.bucket_of(offset)].bucket.wrapping_sub(1);
        while cur != NIL {
            let s = &slots[cur as usize];
            if s.offset == offset {
                return Some(cur);
            }
            cur = s.hash_next;
        }
        None
    }

    fn hash_insert(&mut self, i: u32) {
        let b = self.bucket_of(self.slot(i).offset);
        let head = self.slots.as_ref()[b].bucket.wrapping_sub(1);
        self.slot_mut(i).hash_next = head;
        self.slots.as_mut()[b].bucket = i.wrapping_add(1);
    }

    fn hash_remove(&mut self, i: u32) {
        let b = self.bucket_of(self.slot(i).offset);
        let next = self.slot(i).hash_next;
        let mut cur = self.slots.as_ref()[b].bucket.wrapping_sub(1);
        if cur == i {
            self.slots.as_mut()[b].bucket = next.wrapping_add(1);
            return;
        }
        while cur != NIL {
            let n = self.slot(cur).hash_next;
            if n == i {
                self.slot_mut(cur).hash_next = next;
                return;
            }
            cur = n;
        }
        debug_assert!(false, "hash_remove: slot {i} not in its bucket");
    }

    fn rebuild_hash(&mut self) {
        // Buckets at and above `hash_len` were never written: already empty.
        let (fresh, hash_len) = (self.fresh as usize, self.hash_len as usize);
        for s in &mut self.slots.as_mut()[..hash_len] {
            s.bucket = 0;
        }
        for s in &mut self.slots.as_mut()[..fresh] {
            s.hash_next = NIL;
        }
        for i in 0..fresh {
            if self.slots.as_ref()[i].state != State::Spare {
                self.hash_insert(i as u32);
            }
        }
    }
}

fn info(slot: usize, s: &Slot) -> ArenaInfo {
    ArenaInfo {
        offset: s.offset,
        size: s.size,
        used: s.used,
        in_use: s.state == State::InUse,
        slot,
    }
}

/// Iterator over the arenas in address order; see
/// [`ArenaManager::arenas`].
#[derive(Clone, Debug)]
pub struct Arenas<'a> {
    slots: &'a [Slot],
    cur: u32,
}

impl Iterator for Arenas<'_> {
    type Item = ArenaInfo;

    fn next(&mut self) -> Option<ArenaInfo> {
        if self.cur == NIL {
            return None;
        }
        let i = self.cur as usize;
        let s = &self.slots[i];
        self.cur = s.next;
        Some(info(i, s))
    }
}

impl<const N: usize, S: TableStorage> fmt::Debug for ArenaManager<N, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArenaManager")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
