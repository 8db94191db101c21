//! `allocator_api2::alloc::Allocator` for [`LockedHeap`] and [`HeapCell`]
//! (feature `allocator-api2`).
//!
//! Every block is reported with exactly the requested length, so the
//! bytes a caller may rely on are always the bytes the heap copies when a
//! block moves. `grow` and `shrink` are [`Heap::realloc`](crate::Heap::realloc):
//! in place when the arena can shrink or take bytes from a free right
//! neighbour, else a move.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use crate::global::HeapCell;
#[cfg(target_has_atomic = "8")]
use crate::global::LockedHeap;
use crate::table::TableStorage;
use allocator_api2::alloc::{AllocError, Allocator};
#[cfg(target_has_atomic = "8")]
use lock_api::RawMutex;

fn block(p: NonNull<u8>, len: usize) -> NonNull<[u8]> {
    NonNull::slice_from_raw_parts(p, len)
}

macro_rules! allocator_impl {
    () => {
        fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
            let p = self.try_alloc(layout).map_err(|_| AllocError)?;
            Ok(block(p, layout.size()))
        }

        unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
            self.global_dealloc(ptr.as_ptr(), layout);
        }

        unsafe fn grow(
            &self,
            ptr: NonNull<u8>,
            _old_layout: Layout,
            new_layout: Layout,
        ) -> Result<NonNull<[u8]>, AllocError> {
            // SAFETY: the trait's contract: `ptr` is a block of this
            // allocator, not used again if it moves.
            let p = unsafe { self.try_realloc(ptr, new_layout) }.map_err(|_| AllocError)?;
            Ok(block(p, new_layout.size()))
        }

        unsafe fn grow_zeroed(
            &self,
            ptr: NonNull<u8>,
            old_layout: Layout,
            new_layout: Layout,
        ) -> Result<NonNull<[u8]>, AllocError> {
            // SAFETY: forwarded to the caller.
            let p = unsafe { self.grow(ptr, old_layout, new_layout) }?;
            let old = old_layout.size();
            // SAFETY: the block holds `new_layout.size() >= old` bytes.
            unsafe {
                ptr::write_bytes(p.cast::<u8>().as_ptr().add(old), 0, new_layout.size() - old)
            };
            Ok(p)
        }

        unsafe fn shrink(
            &self,
            ptr: NonNull<u8>,
            _old_layout: Layout,
            new_layout: Layout,
        ) -> Result<NonNull<[u8]>, AllocError> {
            // SAFETY: the trait's contract, as for `grow`.
            let p = unsafe { self.try_realloc(ptr, new_layout) }.map_err(|_| AllocError)?;
            Ok(block(p, new_layout.size()))
        }
    };
}

// SAFETY: blocks come from the heap's region and never overlap while live;
// a block stays valid until it is deallocated, grown or shrunk, even if the
// `LockedHeap` is moved (the memory is the region, not the struct); `grow`
// and `shrink` keep the first `min(old, new)` bytes (in place, or copied by
// `Heap::realloc`, which copies the length the block was given).
#[cfg(target_has_atomic = "8")]
unsafe impl<const N: usize, R: RawMutex, S: TableStorage> Allocator for LockedHeap<N, R, S> {
    allocator_impl!();
}

// SAFETY: as for `LockedHeap`.
unsafe impl<const N: usize, S: TableStorage> Allocator for HeapCell<N, S> {
    allocator_impl!();
}
