//! buddy_system_allocator over one region.

use buddy_system_allocator::Heap;

use super::layout::layout;
use crate::subject::{Block, Region, Subject, SubjectError};

/// [buddy_system_allocator](https://crates.io/crates/buddy_system_allocator)
/// 0.13.0: a binary buddy system, `Heap<32>` (blocks up to 2 GiB).
///
/// Every request is rounded up to a power of two (at least its alignment and
/// a word), so internal fragmentation is up to half of each block. The
/// region is aligned to its own size rounded up to a power of two (at most
/// 1 GiB) so that a power-of-two region is one top-level buddy. Its free
/// scans the free list of each order for the buddy: O(free blocks of that
/// order), not O(1). The crate has no realloc: the adapter moves every
/// resize (allocate, copy, free), since freeing and re-allocating the same
/// layout would corrupt the crate's byte accounting.
#[derive(Debug)]
pub struct BuddySubject {
    heap: Heap<32>,
    region: Region,
}

impl BuddySubject {
    /// The buddy system over a fresh region of `capacity` bytes.
    pub fn new(capacity: usize) -> Result<Self, SubjectError> {
        let align = capacity
            .checked_next_power_of_two()
            .unwrap_or(1 << 30)
            .min(1 << 30);
        let region = Region::new("buddy", capacity, align)?;
        let mut heap = Heap::<32>::new();
        // SAFETY: the region is valid, writable, ours alone, and outlives
        // the heap (dropped first).
        unsafe { heap.init(region.base().as_ptr() as usize, capacity) };
        Ok(BuddySubject { heap, region })
    }
}

impl Subject for BuddySubject {
    fn name(&self) -> &str {
        "buddy"
    }

    fn capacity(&self) -> usize {
        self.region.capacity()
    }

    fn alignment_origin(&self) -> usize {
        self.region.base().as_ptr().addr()
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        let ptr = self.heap.alloc(layout(size, align)?).ok()?;
        Some(self.region.offset_of(ptr))
    }

    unsafe fn free(&mut self, block: Block) {
        let Some(layout) = layout(block.size, block.align) else {
            return;
        };
        // SAFETY: the caller guarantees `block` is live and was allocated
        // here with this layout.
        unsafe { self.heap.dealloc(self.region.ptr_at(block.offset), layout) }
    }

    unsafe fn realloc(&mut self, block: Block, new_size: usize) -> Option<usize> {
        let old = layout(block.size, block.align)?;
        let new = layout(new_size, block.align)?;
        if old == new {
            return Some(block.offset);
        }
        let to = self.heap.alloc(new).ok()?;
        let to = self.region.offset_of(to);
        // SAFETY: both are live blocks of this region (disjoint) holding at
        // least the copied length; then the old one is freed with its layout.
        unsafe {
            self.region
                .copy(block.offset, to, old.size().min(new.size()));
            self.heap.dealloc(self.region.ptr_at(block.offset), old);
        }
        Some(to)
    }
}
