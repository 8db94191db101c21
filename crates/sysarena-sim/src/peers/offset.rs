//! offset-allocator (offsets only, no memory).

use std::collections::HashMap;
use std::fmt;

use offset_allocator::{Allocation, Allocator};

use crate::subject::{Block, Subject, SubjectError};

/// [offset-allocator](https://crates.io/crates/offset-allocator) 0.2.0: the
/// Rust port of Sebastian Aaltonen's OffsetAllocator, a two-level
/// segregated-fit allocator (256 bins on a small-float size scale) with
/// neighbour links, O(1) allocate and free, metadata entirely out of band.
///
/// It works on offsets only (no memory), in `u32` units: capacities above
/// `u32::MAX` are refused. **It has no alignment parameter**: the offsets it
/// returns are simply where the rounded-up sizes pack, so blocks are often
/// misaligned (the adapter passes the request on unchanged and reports
/// [`Subject::honours_alignment`] as `false`; the replay counts misaligned
/// blocks instead of rejecting them). Its low footprint figures partly come
/// from that. Free needs the crate's `Allocation` handle, so the adapter
/// keeps a map from offset to handle. The node table is sized to
/// `capacity / 64` nodes, clamped to `[1024, 1 << 20]`.
pub struct OffsetAllocatorSubject {
    alloc: Allocator<u32>,
    live: HashMap<u32, Allocation<u32>>,
    capacity: usize,
}

impl fmt::Debug for OffsetAllocatorSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OffsetAllocatorSubject")
            .field("capacity", &self.capacity)
            .field("live", &self.live.len())
            .finish_non_exhaustive()
    }
}

impl OffsetAllocatorSubject {
    /// offset-allocator over `capacity` bytes.
    pub fn new(capacity: usize) -> Result<Self, SubjectError> {
        let size =
            u32::try_from(capacity)
                .ok()
                .filter(|&s| s > 0)
                .ok_or(SubjectError::Capacity {
                    subject: "offset-allocator",
                    capacity,
                    reason: "1 to u32::MAX bytes",
                })?;
        let nodes = (capacity / 64).clamp(1024, 1 << 20) as u32;
        Ok(OffsetAllocatorSubject {
            alloc: Allocator::with_max_allocs(size, nodes),
            live: HashMap::new(),
            capacity,
        })
    }

    fn take(&mut self, size: usize) -> Option<usize> {
        let size = u32::try_from(size.max(1)).ok()?;
        let a = self.alloc.allocate(size)?;
        self.live.insert(a.offset, a);
        Some(a.offset as usize)
    }

    fn give_back(&mut self, offset: usize) {
        let handle = u32::try_from(offset)
            .ok()
            .and_then(|o| self.live.remove(&o));
        if let Some(a) = handle {
            self.alloc.free(a);
        }
    }
}

impl Subject for OffsetAllocatorSubject {
    fn name(&self) -> &str {
        "offset-allocator"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn alloc(&mut self, size: usize, _align: usize) -> Option<usize> {
        self.take(size)
    }

    unsafe fn free(&mut self, block: Block) {
        self.give_back(block.offset);
    }

    unsafe fn realloc(&mut self, block: Block, new_size: usize) -> Option<usize> {
        if let Ok(o) = u32::try_from(block.offset)
            && let Some(a) = self.live.get(&o)
            && new_size.max(1) as u64 <= u64::from(self.alloc.allocation_size(*a))
        {
            return Some(block.offset);
        }
        let to = self.take(new_size)?;
        self.give_back(block.offset);
        Some(to)
    }

    fn honours_alignment(&self) -> bool {
        false
    }
}
