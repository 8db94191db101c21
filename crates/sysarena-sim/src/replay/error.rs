//! What can go wrong in a replay: a subject that hands out a bad block
//! ([`Violation`]) or a hand-made trace that is inconsistent.

use serde::{Deserialize, Serialize};

/// What a subject did wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Violation {
    /// The new block overlaps the live block at `other_offset` (ending at
    /// `other_end`).
    Overlap {
        /// Offset returned.
        offset: usize,
        /// Size requested.
        size: usize,
        /// The live block it overlaps.
        other_offset: usize,
        /// Its end.
        other_end: usize,
    },
    /// The block does not lie inside the region.
    OutOfRegion {
        /// Offset returned.
        offset: usize,
        /// Size requested.
        size: usize,
        /// The region size.
        capacity: usize,
    },
    /// The block is not aligned as requested.
    Misaligned {
        /// Offset returned (for a peer, its address is the region's base
        /// plus this: [`Subject::alignment_origin`]).
        ///
        /// [`Subject::alignment_origin`]: crate::subject::Subject::alignment_origin
        offset: usize,
        /// Alignment requested.
        align: usize,
    },
}

impl core::fmt::Display for Violation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Violation::Overlap {
                offset,
                size,
                other_offset,
                other_end,
            } => write!(
                f,
                "the block [{offset}, +{size}) overlaps the live block [{other_offset}, {other_end})"
            ),
            Violation::OutOfRegion {
                offset,
                size,
                capacity,
            } => write!(
                f,
                "the block [{offset}, +{size}) lies outside the region of {capacity} bytes"
            ),
            Violation::Misaligned { offset, align } => {
                write!(f, "the block at {offset} is not aligned to {align}")
            }
        }
    }
}

/// Why a replay stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The subject returned a bad block.
    #[error("{subject}: event {event}: {violation}")]
    Violation {
        /// The subject.
        subject: String,
        /// 1-based index of the event.
        event: usize,
        /// What was wrong.
        violation: Violation,
    },
    /// The trace itself is inconsistent (built by hand; the readers reject
    /// such traces).
    #[error("{trace}: event {event}: {reason}")]
    BadTrace {
        /// The trace.
        trace: String,
        /// 1-based index of the event.
        event: usize,
        /// What was wrong.
        reason: String,
    },
}
