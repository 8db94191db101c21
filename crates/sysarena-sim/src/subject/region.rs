//! [`Region`]: the block of real memory a peer manages, one per subject.
//!
//! Every peer adapter (and a [`SysarenaSubject`](crate::sysarena_subject::SysarenaSubject)
//! built `with_memory`) owns one: a zeroed buffer from the system allocator,
//! page-aligned, freed on drop. Offsets are `pointer - base`, so figures are
//! comparable across subjects.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use super::error::SubjectError;

/// The least alignment of every region (a page).
pub const REGION_ALIGN: usize = 4096;

/// A zeroed buffer from the system allocator that one peer manages.
#[derive(Debug)]
pub struct Region {
    base: NonNull<u8>,
    layout: Layout,
}

impl Region {
    /// Allocates `capacity` zeroed bytes aligned to `align` (at least
    /// [`REGION_ALIGN`]).
    pub fn new(
        subject: &'static str,
        capacity: usize,
        align: usize,
    ) -> Result<Region, SubjectError> {
        let err = || SubjectError::Region { subject, capacity };
        if capacity == 0 {
            return Err(SubjectError::Capacity {
                subject,
                capacity,
                reason: "the region must not be empty",
            });
        }
        let layout =
            Layout::from_size_align(capacity, align.max(REGION_ALIGN)).map_err(|_| err())?;
        // SAFETY: `layout` has a non-zero size (checked above).
        let base = unsafe { alloc::alloc_zeroed(layout) };
        let base = NonNull::new(base).ok_or_else(err)?;
        Ok(Region { base, layout })
    }

    /// The first byte.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Bytes in the region.
    pub fn capacity(&self) -> usize {
        self.layout.size()
    }

    /// The offset of `ptr`, which points into the region (or one past it).
    pub fn offset_of(&self, ptr: NonNull<u8>) -> usize {
        (ptr.as_ptr() as usize).wrapping_sub(self.base.as_ptr() as usize)
    }

    /// The offset of the address `addr` inside the region.
    pub fn offset_of_addr(&self, addr: usize) -> usize {
        addr.wrapping_sub(self.base.as_ptr() as usize)
    }

    /// Whether the address `addr` lies inside the region.
    pub fn contains(&self, addr: usize) -> bool {
        self.offset_of_addr(addr) < self.capacity()
    }

    /// The pointer at `offset`, keeping the region's provenance. `offset`
    /// is one the peer returned, so it lies inside the region.
    pub fn ptr_at(&self, offset: usize) -> NonNull<u8> {
        let p = self.base.as_ptr().wrapping_add(offset);
        NonNull::new(p).unwrap_or(self.base)
    }

    /// Copies `len` bytes from `from` to `to` within the region (a moving
    /// realloc's copy).
    ///
    /// # Safety
    /// Both ranges must lie inside the region (they may overlap).
    pub unsafe fn copy(&self, from: usize, to: usize, len: usize) {
        // SAFETY: the caller guarantees both ranges are in the region; the
        // region is allocated and initialised (zeroed) memory. The ranges may
        // overlap (sysarena's realloc into a left neighbour): memmove.
        unsafe {
            std::ptr::copy(self.ptr_at(from).as_ptr(), self.ptr_at(to).as_ptr(), len);
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `base` was allocated in `new` with exactly `layout`.
        unsafe { alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}
