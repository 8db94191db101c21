//! rlsf (TLSF) over one region.

use std::ptr::NonNull;

use super::layout::layout;
use crate::subject::{Block, Region, Subject, SubjectError};

/// The TLSF configuration used by [`RlsfSubject`] (and the slab subject's
/// page allocator): 28 first-level classes of 32 second-level classes. With
/// rlsf's 32-byte granularity on 64-bit targets the largest block is
/// `(32 << 28) - 32` bytes (about 8 GiB), so a 128 MiB region is one block.
pub(crate) type Pool = rlsf::Tlsf<'static, u32, u32, 28, 32>;

/// Hands the whole region to a fresh [`Pool`].
pub(crate) fn pool_over(region: &Region, subject: &'static str) -> Result<Pool, SubjectError> {
    let mut pool = Pool::new();
    let block = NonNull::slice_from_raw_parts(region.base(), region.capacity());
    // SAFETY: the region outlives the pool (both live in the subject, the
    // pool is dropped first) and nothing else uses it.
    let used = unsafe { pool.insert_free_block_ptr(block) };
    match used {
        Some(_) => Ok(pool),
        None => Err(SubjectError::Capacity {
            subject,
            capacity: region.capacity(),
            reason: "too small for one TLSF block",
        }),
    }
}

/// [rlsf](https://crates.io/crates/rlsf) 0.2.3: a TLSF (two-level
/// segregated fit) allocator, `Tlsf<'_, u32, u32, 28, 32>` over the region.
///
/// O(1) allocate and free; each block carries a header, sizes are rounded to
/// 32 bytes, and like every TLSF it can report out of memory while a fitting
/// free block exists in the request's own size class (it only searches
/// classes that fit for sure).
#[derive(Debug)]
pub struct RlsfSubject {
    pool: Pool,
    region: Region,
}

impl RlsfSubject {
    /// rlsf over a fresh region of `capacity` bytes.
    pub fn new(capacity: usize) -> Result<Self, SubjectError> {
        let region = Region::new("rlsf", capacity, 0)?;
        let pool = pool_over(&region, "rlsf")?;
        Ok(RlsfSubject { pool, region })
    }
}

impl Subject for RlsfSubject {
    fn name(&self) -> &str {
        "rlsf"
    }

    fn capacity(&self) -> usize {
        self.region.capacity()
    }

    fn alignment_origin(&self) -> usize {
        self.region.base().as_ptr().addr()
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        let ptr = self.pool.allocate(layout(size, align)?)?;
        Some(self.region.offset_of(ptr))
    }

    unsafe fn free(&mut self, block: Block) {
        let ptr = self.region.ptr_at(block.offset);
        // SAFETY: the caller guarantees `block` is live and was allocated
        // here with `block.align`.
        unsafe { self.pool.deallocate(ptr, block.align) }
    }

    unsafe fn realloc(&mut self, block: Block, new_size: usize) -> Option<usize> {
        let ptr = self.region.ptr_at(block.offset);
        let new = layout(new_size, block.align)?;
        // SAFETY: `block` is live and was allocated with this alignment.
        let to = unsafe { self.pool.reallocate(ptr, new) }?;
        Some(self.region.offset_of(to))
    }
}
