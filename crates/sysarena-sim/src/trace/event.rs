//! The vocabulary of traces: an [`Event`], a [`Trace`] of them, and the
//! alignments each format gives its blocks.

use serde::{Deserialize, Serialize};

/// The alignment of an `a` line that gives none (glibc's malloc guarantee,
/// and what the recorded traces use throughout).
pub const DEFAULT_ALIGN: usize = 16;

/// The alignment given to blocks of a CS:APP malloc-lab trace (the lab's
/// `ALIGNMENT`).
pub const MALLOC_LAB_ALIGN: usize = 8;

/// The alignment given to blocks of an OSTEP `malloc.py` op list (the
/// simulator's default: none).
pub const OSTEP_ALIGN: usize = 1;

/// A block's name in a trace.
pub type Id = u64;

/// One allocation event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Event {
    /// Allocate `size` bytes at `align` (a power of two); the block is `id`.
    Alloc {
        /// The new block's id, not used before in the trace.
        id: Id,
        /// Requested bytes (may be 0).
        size: usize,
        /// Requested alignment, a power of two.
        align: usize,
    },
    /// Free the live block `id`.
    Free {
        /// A live block.
        id: Id,
    },
    /// Resize the live block `id` to `size` bytes, keeping its alignment.
    Realloc {
        /// A live block.
        id: Id,
        /// The new requested size.
        size: usize,
    },
}

/// A named sequence of events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Where the trace came from (a file name or a workload description).
    pub name: String,
    /// The events, in order.
    pub events: Vec<Event>,
}
