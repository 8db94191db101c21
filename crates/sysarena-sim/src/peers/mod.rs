//! `Subject` adapters for real allocator crates from crates.io — one adapter
//! per peer for the whole project (the benchmarks reuse these).
//!
//! Each adapter owns a [`Region`]: a zeroed heap buffer of the requested
//! capacity, aligned to at least [`REGION_ALIGN`], allocated with
//! `std::alloc` and freed on drop. Offsets are `pointer - region base`.
//! Requests of 0 bytes are passed on as 1 byte (several crates require a
//! non-zero size). A realloc the crate cannot do in place (or has no realloc
//! for) allocates, copies the smaller size and frees, as `realloc` does.
//!
//! | subject | crate | model |
//! |---|---|---|
//! | `talc` | talc 5.1.1 (`base::Talc` with the `Manual` source) | segregated fit, boundary tags, immediate coalescing |
//! | `rlsf` | rlsf 0.2.3 (`Tlsf<u32, u32, 28, 32>`) | TLSF: two-level segregated fit, O(1) |
//! | `buddy` | buddy_system_allocator 0.13.0 (`Heap<32>`) | binary buddy system |
//! | `linked-list` | linked_list_allocator 0.10.6 (`Heap`) | address-ordered first fit, immediate coalescing |
//! | `dlmalloc` | dlmalloc 0.2.14 | Doug Lea's malloc over one region handed out once |
//! | `offset-allocator` | offset-allocator 0.2.0 | Sebastian Aaltonen's O(1) offset allocator; **ignores alignment** |
//! | `slab` | slabmalloc 0.11.0 + rlsf | slab caches for ≤ 128 KiB over pages from a TLSF page allocator |

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use crate::subjects::SubjectError;

mod buddy;
mod dlmalloc;
mod linked_list;
mod offset;
mod rlsf;
mod slab;
mod talc;

pub use self::buddy::BuddySubject;
pub use self::dlmalloc::DlmallocSubject;
pub use self::linked_list::LinkedListSubject;
pub use self::offset::OffsetAllocatorSubject;
pub use self::rlsf::RlsfSubject;
pub use self::slab::SlabSubject;
pub use self::talc::TalcSubject;

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

/// The layout a peer is asked for: size at least 1; `None` when `align` is
/// not a power of two or the size overflows.
pub(crate) fn layout(size: usize, align: usize) -> Option<Layout> {
    Layout::from_size_align(size.max(1), align).ok()
}
