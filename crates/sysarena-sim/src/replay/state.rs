//! One replay's running state and the work done per event: every block the
//! subject hands out is checked (inside the region, no overlap, aligned) and
//! every figure is kept up to date; a refusal is analysed (could a gap, or
//! one of the subject's own free blocks, have held it?).

use std::collections::HashMap;
use std::time::Duration;

use super::error::{ReplayError, Violation};
use crate::budget::Clock;
use crate::metrics::{
    self, Clash, FreeSource, LiveSet, Sample, Summary, Timing, external_fragmentation,
};
use crate::subject::{Block, Refusal, Subject};
use crate::trace::{Event, Id};

/// Free space as seen at a failure: the gaps between live blocks and the
/// subject's own free extents (when it reports them).
type FailureView = (Vec<(usize, usize)>, Option<Vec<(usize, usize)>>);

/// The ids' blocks, each with the key its subject returned
/// ([`Subject::alloc_keyed`]): `None` for a block whose alloc failed.
pub(super) type Blocks = HashMap<Id, Option<(Block, u32)>>;

pub(super) struct State<'a> {
    pub(super) subject: &'a mut dyn Subject,
    pub(super) clock: &'a mut dyn Clock,
    /// The clock's reading after the last subject call.
    pub(super) now: Duration,
    pub(super) live: LiveSet,
    pub(super) blocks: Blocks,
    pub(super) summary: Summary,
    pub(super) timing: Timing,
    pub(super) live_bytes: usize,
    pub(super) honours_alignment: bool,
    /// The address offset 0 stands for ([`Subject::alignment_origin`]).
    pub(super) origin: usize,
    /// Failure analysis cache, valid until the next successful change:
    /// (gap extents, the subject's extents).
    pub(super) cache: Option<FailureView>,
}

impl State<'_> {
    pub(super) fn timed<T>(&mut self, f: impl FnOnce(&mut dyn Subject) -> T) -> T {
        let t0 = self.clock.now();
        let out = f(&mut *self.subject);
        self.now = self.clock.now();
        self.timing.subject_ns += self.now.saturating_sub(t0).as_nanos() as u64;
        self.timing.calls += 1;
        out
    }

    /// Checks and records a new block.
    pub(super) fn admit(&mut self, event: usize, block: Block) -> Result<(), ReplayError> {
        let violation = |violation| ReplayError::Violation {
            subject: self.summary.subject.clone(),
            event,
            violation,
        };
        // The place first: a block outside the region (or over a live one)
        // is reported as that, whatever its alignment. A violation ends
        // the replay, so a misaligned block recorded here does no harm.
        match self.live.insert(block.offset, block.size) {
            Ok(()) => {}
            Err(Clash::OutOfRegion) => {
                return Err(violation(Violation::OutOfRegion {
                    offset: block.offset,
                    size: block.size,
                    capacity: self.summary.capacity,
                }));
            }
            Err(Clash::Overlap(other_offset, other_end)) => {
                return Err(violation(Violation::Overlap {
                    offset: block.offset,
                    size: block.size,
                    other_offset,
                    other_end,
                }));
            }
        }
        let address = self.origin.wrapping_add(block.offset);
        if block.align > 1 && !address.is_multiple_of(block.align) {
            if self.honours_alignment {
                return Err(violation(Violation::Misaligned {
                    offset: block.offset,
                    align: block.align,
                }));
            }
            self.summary.misaligned_blocks += 1;
        }
        self.live_bytes += block.size;
        self.cache = None;
        Ok(())
    }

    pub(super) fn retire(&mut self, block: Block) {
        self.live.remove(block.offset);
        self.live_bytes -= block.size;
        self.cache = None;
    }

    pub(super) fn failed(&mut self, size: usize, align: usize) {
        self.summary.failed_requests += 1;
        if self.subject.last_refusal() == Some(Refusal::NoDescriptor) {
            self.summary.failed_no_descriptor += 1;
        }
        if self.cache.is_none() {
            self.cache = Some((self.live.gap_extents(), self.subject.free_extents()));
        }
        let (gaps, own) = self.cache.as_ref().expect("filled above");
        if metrics::fits_from(gaps, size, align, self.origin) {
            self.summary.failed_with_fitting_gap += 1;
        }
        if let Some(own) = own
            && metrics::fits_from(own, size, align, self.origin)
        {
            *self
                .summary
                .failed_with_fitting_free_extent
                .get_or_insert(0) += 1;
        }
    }

    pub(super) fn step(&mut self, index: usize, event: &Event) -> Result<(), ReplayError> {
        let n = index + 1;
        let bad = |reason: String| ReplayError::BadTrace {
            trace: self.summary.trace.clone(),
            event: n,
            reason,
        };
        match *event {
            Event::Alloc { id, size, align } => {
                self.summary.allocs += 1;
                if self.blocks.contains_key(&id) {
                    return Err(bad(format!("id {id} reused")));
                }
                if !align.is_power_of_two() {
                    return Err(bad(format!("alignment {align} is not a power of two")));
                }
                match self.timed(|s| s.alloc_keyed(size, align)) {
                    Some((offset, key)) => {
                        let block = Block {
                            offset,
                            size,
                            align,
                        };
                        self.admit(n, block)?;
                        self.blocks.insert(id, Some((block, key)));
                    }
                    None => {
                        self.summary.failed_allocs += 1;
                        self.failed(size, align);
                        self.blocks.insert(id, None);
                    }
                }
            }
            Event::Free { id } => {
                self.summary.frees += 1;
                match self.blocks.remove(&id) {
                    None => return Err(bad(format!("free of unknown or dead block {id}"))),
                    Some(None) => self.summary.skipped_events += 1,
                    Some(Some((block, key))) => {
                        self.retire(block);
                        // SAFETY: `block` was returned by this subject and is
                        // live: it was in `blocks` until just now.
                        self.timed(|s| unsafe { s.free_keyed(block, key) });
                    }
                }
            }
            Event::Realloc { id, size } => {
                self.summary.reallocs += 1;
                let (block, key) = match self.blocks.get(&id) {
                    None => return Err(bad(format!("realloc of unknown or dead block {id}"))),
                    Some(None) => {
                        self.summary.skipped_events += 1;
                        return Ok(());
                    }
                    Some(Some(block)) => *block,
                };
                // SAFETY: `block` was returned by this subject and is live.
                match self.timed(|s| unsafe { s.realloc_keyed(block, key, size) }) {
                    Some((offset, key)) => {
                        self.retire(block);
                        let new = Block {
                            offset,
                            size,
                            align: block.align,
                        };
                        self.admit(n, new)?;
                        self.blocks.insert(id, Some((new, key)));
                    }
                    None => {
                        self.summary.failed_reallocs += 1;
                        self.failed(size, block.align);
                    }
                }
            }
        }
        if self.live_bytes > self.summary.peak_live_bytes {
            self.summary.peak_live_bytes = self.live_bytes;
            self.summary.footprint_at_peak = self.live.footprint();
        }
        self.summary.peak_live_blocks = self.summary.peak_live_blocks.max(self.live.len());
        self.summary.max_footprint = self.summary.max_footprint.max(self.live.footprint());
        Ok(())
    }

    pub(super) fn sample(&self, event: usize) -> Sample {
        let (free_bytes, largest_free, free_blocks) = match self.summary.free_source {
            FreeSource::Subject => {
                let f = self.subject.free_stats().unwrap_or_default();
                (f.free_bytes, f.largest_free, f.free_blocks)
            }
            FreeSource::Gaps => self.live.gap_figures(),
        };
        Sample {
            event,
            live_bytes: self.live_bytes,
            live_blocks: self.live.len(),
            footprint: self.live.footprint(),
            free_bytes,
            largest_free,
            free_blocks,
            external_fragmentation: external_fragmentation(free_bytes, largest_free),
        }
    }
}
