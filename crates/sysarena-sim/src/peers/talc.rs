//! talc 5 over one region.

use std::fmt;

use talc::DefaultBinning;
use talc::base::Talc;
use talc::source::Manual;

use super::layout::layout;
use crate::subject::{Block, Region, Subject, SubjectError};

/// [talc](https://crates.io/crates/talc) 5.1.1: the unlocked core
/// `talc::base::Talc` with the `Manual` source (no growth: out of memory is
/// final) and the default binning, claiming the whole region once.
///
/// talc keeps its bin table at the start of the region and a boundary tag
/// beside each chunk, so its first block is not at offset 0 and every block
/// costs a word or more of headers. Realloc tries talc's in-place grow or
/// shrink first.
pub struct TalcSubject {
    talc: Talc<Manual, DefaultBinning>,
    region: Region,
}

impl fmt::Debug for TalcSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TalcSubject")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl TalcSubject {
    /// talc over a fresh region of `capacity` bytes.
    pub fn new(capacity: usize) -> Result<Self, SubjectError> {
        let region = Region::new("talc", capacity, 0)?;
        let mut talc = Talc::new(Manual);
        // SAFETY: the region is ours, lives as long as `talc` (both are
        // fields of the subject and `talc` is dropped first), and nothing
        // else touches it.
        let claimed = unsafe { talc.claim(region.base().as_ptr(), capacity) };
        if claimed.is_none() {
            return Err(SubjectError::Capacity {
                subject: "talc",
                capacity,
                reason: "too small for talc's metadata",
            });
        }
        Ok(TalcSubject { talc, region })
    }
}

impl Subject for TalcSubject {
    fn name(&self) -> &str {
        "talc"
    }

    fn capacity(&self) -> usize {
        self.region.capacity()
    }

    fn alignment_origin(&self) -> usize {
        self.region.base().as_ptr().addr()
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        let layout = layout(size, align)?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { self.talc.allocate(layout) }?;
        Some(self.region.offset_of(ptr))
    }

    unsafe fn free(&mut self, block: Block) {
        let Some(layout) = layout(block.size, block.align) else {
            return;
        };
        let ptr = self.region.ptr_at(block.offset);
        // SAFETY: the caller guarantees `block` is live and was allocated
        // here with this layout.
        unsafe { self.talc.deallocate(ptr.as_ptr(), layout) }
    }

    unsafe fn realloc(&mut self, block: Block, new_size: usize) -> Option<usize> {
        let old = layout(block.size, block.align)?;
        let new = layout(new_size, block.align)?;
        let ptr = self.region.ptr_at(block.offset);
        // SAFETY: `block` is live with layout `old` (caller's contract) and
        // `new.size()` is non-zero.
        if unsafe {
            self.talc
                .try_realloc_in_place(ptr.as_ptr(), old, new.size())
        } {
            return Some(block.offset);
        }
        // SAFETY: `new` has a non-zero size.
        let to = unsafe { self.talc.allocate(new) }?;
        let to = self.region.offset_of(to);
        // SAFETY: both blocks are live allocations of this region, hence
        // disjoint, and at least `min(old, new)` bytes long.
        unsafe {
            self.region
                .copy(block.offset, to, old.size().min(new.size()));
            self.talc.deallocate(ptr.as_ptr(), old);
        }
        Some(to)
    }
}
