//! dlmalloc as a one-region allocator.

use std::fmt;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use dlmalloc::Dlmalloc;

use crate::subject::{Block, Region, Subject, SubjectError};

/// The region's base, sendable so that [`OneRegion`] meets
/// `dlmalloc::Allocator: Send`.
struct Base(*mut u8);

// SAFETY: `Base` is only an address handed to dlmalloc once; it is never
// dereferenced by `OneRegion` itself, so moving it across threads is fine.
unsafe impl Send for Base {}

/// dlmalloc's "system allocator": hands out the whole region on the first
/// request that fits, then refuses; never releases or remaps.
struct OneRegion {
    base: Base,
    size: usize,
    handed_out: AtomicBool,
}

// SAFETY: the one segment handed out is the subject's region, valid and
// unused by anything else for as long as the `Dlmalloc` lives (the region
// field is dropped after it); `remap`, `free_part` and `free` refuse, so
// dlmalloc never believes memory was returned or moved.
unsafe impl dlmalloc::Allocator for OneRegion {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        if size <= self.size && !self.handed_out.swap(true, Ordering::Relaxed) {
            (self.base.0, self.size, 0)
        } else {
            (ptr::null_mut(), 0, 0)
        }
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        false
    }

    fn page_size(&self) -> usize {
        4096
    }
}

/// [dlmalloc](https://crates.io/crates/dlmalloc) 0.2.14 (the Rust port of
/// Doug Lea's malloc) as a one-region allocator: its system allocator hands
/// dlmalloc the whole region on the first request and refuses every later
/// one, so dlmalloc manages exactly one segment of `capacity` bytes.
///
/// Bins of exact small sizes, a tree of large chunks, boundary tags (one
/// word per chunk), immediate coalescing, and a "top" chunk it carves from.
pub struct DlmallocSubject {
    dl: Dlmalloc<OneRegion>,
    region: Region,
}

impl fmt::Debug for DlmallocSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DlmallocSubject")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl DlmallocSubject {
    /// dlmalloc over a fresh region of `capacity` bytes.
    pub fn new(capacity: usize) -> Result<Self, SubjectError> {
        let region = Region::new("dlmalloc", capacity, 0)?;
        let dl = Dlmalloc::new_with_allocator(OneRegion {
            base: Base(region.base().as_ptr()),
            size: capacity,
            handed_out: AtomicBool::new(false),
        });
        Ok(DlmallocSubject { dl, region })
    }

    fn offset(&self, ptr: *mut u8) -> Option<usize> {
        ptr::NonNull::new(ptr).map(|p| self.region.offset_of(p))
    }
}

impl Subject for DlmallocSubject {
    fn name(&self) -> &str {
        "dlmalloc"
    }

    fn capacity(&self) -> usize {
        self.region.capacity()
    }

    fn alignment_origin(&self) -> usize {
        self.region.base().as_ptr().addr()
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        if !align.is_power_of_two() {
            return None;
        }
        // SAFETY: `align` is a power of two and dlmalloc accepts any size.
        let ptr = unsafe { self.dl.malloc(size.max(1), align) };
        self.offset(ptr)
    }

    unsafe fn free(&mut self, block: Block) {
        let ptr = self.region.ptr_at(block.offset).as_ptr();
        // SAFETY: the caller guarantees `block` is live and was allocated
        // here with this size and alignment.
        unsafe { self.dl.free(ptr, block.size.max(1), block.align) }
    }

    unsafe fn realloc(&mut self, block: Block, new_size: usize) -> Option<usize> {
        let ptr = self.region.ptr_at(block.offset).as_ptr();
        // SAFETY: `block` is live with this size and alignment; dlmalloc
        // keeps it live when it returns null.
        let to = unsafe {
            self.dl
                .realloc(ptr, block.size.max(1), block.align, new_size.max(1))
        };
        self.offset(to)
    }
}
