//! slabmalloc in front of a TLSF page allocator, over one region.

use std::alloc::Layout;
use std::cell::RefCell;
use std::fmt;
use std::ptr::NonNull;

use slabmalloc::{AllocationError, Allocator, LargeObjectPage, ObjectPage, ZoneAllocator};

use super::layout::layout;
use super::rlsf::{Pool, pool_over};
use crate::subject::{Block, Region, Subject, SubjectError};

const BASE_PAGE: usize = 4096;
const LARGE_PAGE: usize = 2 << 20;

/// A slab allocator: [slabmalloc](https://crates.io/crates/slabmalloc)
/// 0.11.0's `ZoneAllocator` (size classes 8, 16, ..., 256 bytes in 4 KiB
/// pages and 512 B, ..., 128 KiB in 2 MiB pages, a bitmap per page) fed
/// pages carved from the region by a TLSF page allocator (the same rlsf
/// configuration as the `rlsf` subject), which also serves what slabmalloc
/// cannot: requests above 128 KiB ([`ZoneAllocator::MAX_ALLOC_SIZE`]) and
/// alignments above the size class.
///
/// Notes on slabmalloc: its default `unstable` feature needs a nightly
/// compiler, so it is built without it; it never returns empty pages by
/// itself, so when the page allocator runs out the adapter reclaims every
/// empty page and retries once. A 257-byte request takes a slot in a 2 MiB
/// page, so the slab's footprint on small mixed workloads is large — that
/// is the trade (speed and no per-object header for a fixed set of sizes)
/// this subject is here to show. Aligning a 2 MiB page needs a free TLSF
/// block of about twice that, so the slab wants a region of tens of MiB.
/// (slabmalloc finds its page bitmap through the page type's field layout;
/// `LargeObjectPage` is not `repr(C)`, checked here to keep its bitmap at the
/// end of the page, as the crate assumes.)
pub struct SlabSubject {
    zone: ZoneAllocator<'static>,
    pages: Pool,
    region: Region,
}

impl fmt::Debug for SlabSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlabSubject")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Whether slabmalloc serves this request (else the page allocator does).
fn slab_served(size: usize, align: usize) -> bool {
    match ZoneAllocator::get_max_size(size.max(1)) {
        Some(class) => align <= class.next_power_of_two() && align <= BASE_PAGE,
        None => false,
    }
}

impl SlabSubject {
    /// The slab allocator over a fresh region of `capacity` bytes.
    pub fn new(capacity: usize) -> Result<Self, SubjectError> {
        let region = Region::new("slab", capacity, LARGE_PAGE)?;
        let pages = pool_over(&region, "slab")?;
        Ok(SlabSubject {
            zone: ZoneAllocator::new(),
            pages,
            region,
        })
    }

    /// Allocates from the page allocator, reclaiming empty slab pages and
    /// retrying once when it is out of memory.
    fn page_alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        if let Some(p) = self.pages.allocate(layout) {
            return Some(p);
        }
        let base = RefCell::new(Vec::new());
        self.zone
            .try_reclaim_base_pages(usize::MAX, |p: *mut ObjectPage| {
                base.borrow_mut().push(p as usize)
            });
        let mut large = Vec::new();
        self.zone
            .try_reclaim_large_pages(usize::MAX, |p: *mut LargeObjectPage| large.push(p as usize));
        let base = base.into_inner();
        if base.is_empty() && large.is_empty() {
            return None;
        }
        for p in base {
            if self.region.contains(p) {
                let p = self.region.ptr_at(self.region.offset_of_addr(p));
                // SAFETY: every slab page came from `self.pages` with this
                // alignment, and slabmalloc has just let go of it.
                unsafe { self.pages.deallocate(p, BASE_PAGE) };
            }
        }
        for p in large {
            if self.region.contains(p) {
                let p = self.region.ptr_at(self.region.offset_of_addr(p));
                // SAFETY: as above, for a large page.
                unsafe { self.pages.deallocate(p, LARGE_PAGE) };
            }
        }
        self.pages.allocate(layout)
    }

    fn slab_alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        for _ in 0..2 {
            match self.zone.allocate(layout) {
                Ok(p) => return Some(p),
                Err(AllocationError::OutOfMemory) => {}
                Err(AllocationError::InvalidLayout) => return None,
            }
            // Refill the size class with a fresh page.
            if layout.size() <= ZoneAllocator::MAX_BASE_ALLOC_SIZE {
                let page = self.page_alloc(Layout::from_size_align(BASE_PAGE, BASE_PAGE).ok()?)?;
                // SAFETY: `page` is a 4 KiB, 4 KiB-aligned block of the
                // region, initialised (the region is zeroed and only ever
                // copied into), owned by the slab from now on, and the region
                // outlives the zone. `ObjectPage` is exactly 4 KiB.
                let page = unsafe { &mut *page.as_ptr().cast::<ObjectPage<'static>>() };
                // SAFETY: the page is unused; refill initialises its links
                // and bitmap.
                unsafe { self.zone.refill(layout, page) }.ok()?;
            } else {
                let page =
                    self.page_alloc(Layout::from_size_align(LARGE_PAGE, LARGE_PAGE).ok()?)?;
                // SAFETY: as above, for a 2 MiB, 2 MiB-aligned large page.
                let page = unsafe { &mut *page.as_ptr().cast::<LargeObjectPage<'static>>() };
                // SAFETY: as above.
                unsafe { self.zone.refill_large(layout, page) }.ok()?;
            }
        }
        None
    }
}

impl Subject for SlabSubject {
    fn name(&self) -> &str {
        "slab"
    }

    fn capacity(&self) -> usize {
        self.region.capacity()
    }

    fn alignment_origin(&self) -> usize {
        self.region.base().as_ptr().addr()
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        let layout = layout(size, align)?;
        let ptr = if slab_served(size, align) {
            self.slab_alloc(layout)?
        } else {
            self.page_alloc(layout)?
        };
        Some(self.region.offset_of(ptr))
    }

    unsafe fn free(&mut self, block: Block) {
        let Some(layout) = layout(block.size, block.align) else {
            return;
        };
        let ptr = self.region.ptr_at(block.offset);
        if slab_served(block.size, block.align) {
            // Cannot fail for a block slabmalloc handed out.
            let _ = self.zone.deallocate(ptr, layout);
        } else {
            // SAFETY: the caller guarantees `block` is live; blocks not
            // served by the slab came from the page allocator with this
            // alignment.
            unsafe { self.pages.deallocate(ptr, block.align) };
        }
    }

    unsafe fn realloc(&mut self, block: Block, new_size: usize) -> Option<usize> {
        let same_class = slab_served(block.size, block.align)
            && slab_served(new_size, block.align)
            && ZoneAllocator::get_max_size(block.size.max(1))
                == ZoneAllocator::get_max_size(new_size.max(1));
        if same_class {
            return Some(block.offset);
        }
        let to = self.alloc(new_size, block.align)?;
        // SAFETY: both blocks are live and disjoint in the region and hold at
        // least the copied length; then the old one is freed (caller's
        // contract covers it).
        unsafe {
            self.region.copy(block.offset, to, block.size.min(new_size));
            self.free(block);
        }
        Some(to)
    }
}
