//! [`ClaimError`](crate::global::ClaimError): why memory could not be given to a heap.

use core::fmt;

use crate::error::TableError;

/// Why memory could not be given to a heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// The heap already has a region and the new memory does not start at
    /// its end (`end`); see the [module docs](crate::global#regions).
    NotContiguous {
        /// The address a contiguous extension would have to start at.
        end: usize,
    },
    /// The heap already has a region ([`LockedHeap::init_heap`](crate::global::LockedHeap::init_heap) only sets
    /// the first one).
    AlreadyClaimed,
    /// `base + len` wraps around the address space.
    Wraps,
    /// The heap has no region yet to extend (use `claim` or `init_heap`).
    NoRegion,
    /// The manager refused to grow.
    Table(TableError),
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::NotContiguous { end } => write!(
                f,
                "the new memory does not start at the region's end ({end:#x}); only contiguous growth is supported"
            ),
            ClaimError::AlreadyClaimed => f.write_str("the heap already has a region"),
            ClaimError::Wraps => f.write_str("the memory range wraps around the address space"),
            ClaimError::NoRegion => f.write_str("the heap has no region to extend yet"),
            ClaimError::Table(e) => write!(f, "cannot grow the region: {e}"),
        }
    }
}

impl core::error::Error for ClaimError {}

impl From<TableError> for ClaimError {
    fn from(e: TableError) -> Self {
        ClaimError::Table(e)
    }
}
