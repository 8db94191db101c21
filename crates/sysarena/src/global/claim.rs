//! [`ClaimError`]: why memory could not be given to a heap.

use core::fmt;

use crate::heap::RegionError;

/// Why memory could not be given to a heap. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimError {
    /// The heap already has a region
    /// ([`LockedHeap::init_heap`](crate::global::LockedHeap::init_heap)
    /// only sets the first one).
    AlreadyClaimed,
    /// The heap has no region yet to add to (use `claim` or `init_heap`).
    NoRegion,
    /// The heap refused the memory: too small, misaligned, wrapping,
    /// overlapping its regions, one region too many, or no spare
    /// descriptor for it (see [`Heap::add_region`](crate::Heap::add_region)).
    Region(RegionError),
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::AlreadyClaimed => f.write_str("the heap already has a region"),
            ClaimError::NoRegion => f.write_str("the heap has no region to add to yet"),
            ClaimError::Region(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for ClaimError {}

impl From<RegionError> for ClaimError {
    fn from(e: RegionError) -> Self {
        ClaimError::Region(e)
    }
}
