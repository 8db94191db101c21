//! linked_list_allocator over one region.

use linked_list_allocator::Heap;

use super::layout::layout;

/// The smallest region the adapter accepts (the crate needs room for a hole
/// node: two words, and more to be useful).
const MIN_HEAP: usize = 64;
use crate::subject::{Block, Region, Subject, SubjectError};

/// [linked_list_allocator](https://crates.io/crates/linked_list_allocator)
/// 0.10.6: one address-ordered free list, first fit, immediate coalescing
/// with both neighbours on free.
///
/// Allocate and free walk the free list: O(free blocks). The free-list
/// nodes live inside the free memory; requests are rounded up to hold a
/// node (two words). The crate has no realloc: the adapter moves.
pub struct LinkedListSubject {
    heap: Heap,
    region: Region,
}

impl std::fmt::Debug for LinkedListSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedListSubject")
            .field("region", &self.region)
            .field("used", &self.heap.used())
            .finish_non_exhaustive()
    }
}

impl LinkedListSubject {
    /// linked_list_allocator over a fresh region of `capacity` bytes.
    pub fn new(capacity: usize) -> Result<Self, SubjectError> {
        let region = Region::new("linked-list", capacity, 0)?;
        if capacity < MIN_HEAP {
            return Err(SubjectError::Capacity {
                subject: "linked-list",
                capacity,
                reason: "smaller than the crate's minimum heap",
            });
        }
        let mut heap = Heap::empty();
        // SAFETY: the region is valid, writable, unused by anything else and
        // outlives the heap (dropped first); its size is at least MIN_SIZE.
        unsafe { heap.init(region.base().as_ptr(), capacity) };
        Ok(LinkedListSubject { heap, region })
    }
}

impl Subject for LinkedListSubject {
    fn name(&self) -> &str {
        "linked-list"
    }

    fn capacity(&self) -> usize {
        self.region.capacity()
    }

    fn alignment_origin(&self) -> usize {
        self.region.base().as_ptr().addr()
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        let ptr = self.heap.allocate_first_fit(layout(size, align)?).ok()?;
        Some(self.region.offset_of(ptr))
    }

    unsafe fn free(&mut self, block: Block) {
        let Some(layout) = layout(block.size, block.align) else {
            return;
        };
        // SAFETY: the caller guarantees `block` is live and was allocated
        // here with this layout.
        unsafe {
            self.heap
                .deallocate(self.region.ptr_at(block.offset), layout)
        }
    }

    unsafe fn realloc(&mut self, block: Block, new_size: usize) -> Option<usize> {
        let old = layout(block.size, block.align)?;
        let new = layout(new_size, block.align)?;
        if old == new {
            return Some(block.offset);
        }
        let to = self.heap.allocate_first_fit(new).ok()?;
        let to = self.region.offset_of(to);
        // SAFETY: both are live blocks of this region (disjoint) holding at
        // least the copied length; then the old one is freed with its layout.
        unsafe {
            self.region
                .copy(block.offset, to, old.size().min(new.size()));
            self.heap.deallocate(self.region.ptr_at(block.offset), old);
        }
        Some(to)
    }
}
