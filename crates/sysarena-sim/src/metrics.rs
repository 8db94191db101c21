//! What a replay measures: the live set, free space and fragmentation, as a
//! summary and as a time series.
//!
//! # The measures
//!
//! - **live bytes**: the sum of the *requested* sizes of live blocks.
//! - **footprint**: the highest end (offset + size) of any live block — how
//!   much of the region the subject needs so far.
//! - **Johnstone & Wilson fragmentation**: footprint at the moment live
//!   bytes peak, divided by peak live bytes, minus 1 (0 is perfect).
//! - **external fragmentation**: `1 - largest_free / free_bytes` (0 when all
//!   free space is one block, near 1 when it is dust).
//! - **free space** comes from the subject's own free extents when it
//!   reports them ([`Subject::free_extents`](crate::subject::Subject::free_extents)),
//!   else from the gaps between live blocks inside the region (which counts
//!   a peer's headers and metadata as free).
//!
//! The live set is kept in a [`LiveSet`]: a `BTreeMap` of live intervals
//! plus a multiset of gap lengths, so each event costs O(log n) and the gap
//! figures are read in O(log n) at sample points.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One point of the time series, taken after `event` events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Events replayed so far.
    pub event: usize,
    /// Requested bytes of live blocks.
    pub live_bytes: usize,
    /// Live blocks.
    pub live_blocks: usize,
    /// Highest end of any live block.
    pub footprint: usize,
    /// Free bytes (see the module docs for where they come from).
    pub free_bytes: usize,
    /// The largest free block.
    pub largest_free: usize,
    /// Free blocks.
    pub free_blocks: usize,
    /// `1 - largest_free / free_bytes` (0 with no free bytes).
    pub external_fragmentation: f64,
}

/// `1 - largest / free`, 0 when nothing is free.
pub fn external_fragmentation(free: usize, largest: usize) -> f64 {
    if free == 0 {
        0.0
    } else {
        1.0 - largest as f64 / free as f64
    }
}

/// Whether a block of `size` bytes at `align` fits in one of `extents`.
pub fn fits(extents: &[(usize, usize)], size: usize, align: usize) -> bool {
    fits_from(extents, size, align, 0)
}

/// [`fits`] for offsets that stand for the addresses `origin + offset`
/// (a peer's region base, [`Subject::alignment_origin`]): the block must
/// start at an address that is a multiple of `align`.
///
/// [`Subject::alignment_origin`]: crate::subject::Subject::alignment_origin
pub fn fits_from(extents: &[(usize, usize)], size: usize, align: usize, origin: usize) -> bool {
    let size = size.max(1);
    let align = align.max(1);
    // The offsets whose address is aligned are those ≡ `-origin` (mod align).
    let phase = origin.wrapping_neg() & (align - 1);
    extents.iter().any(|&(start, len)| {
        let Some(aligned) = start.checked_sub(phase).map_or(Some(phase), |s| {
            s.checked_next_multiple_of(align)
                .and_then(|a| a.checked_add(phase))
        }) else {
            return false;
        };
        aligned
            .checked_add(size)
            .is_some_and(|end| end <= start + len)
    })
}

/// Why a block cannot join the live set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Clash {
    /// Overlaps the live interval `(start, end)`.
    Overlap(usize, usize),
    /// Ends past the region.
    OutOfRegion,
}

/// The gap around a position and the live intervals bounding it.
struct Around {
    /// End of the previous interval, or 0.
    left: usize,
    /// Start of the next interval, or the capacity.
    right: usize,
    prev: Option<(usize, usize)>,
    next: Option<(usize, usize)>,
}

/// Live intervals of a region and the gaps between them, maintained
/// incrementally.
#[derive(Clone, Debug)]
pub struct LiveSet {
    capacity: usize,
    /// start -> end of each live block (a 0-byte block occupies 1 byte).
    intervals: BTreeMap<usize, usize>,
    /// gap length -> how many gaps have it (only non-empty gaps).
    gaps: BTreeMap<usize, usize>,
    gap_count: usize,
    covered: usize,
}

impl LiveSet {
    /// An empty region of `capacity` bytes: one gap.
    pub fn new(capacity: usize) -> Self {
        let mut set = LiveSet {
            capacity,
            intervals: BTreeMap::new(),
            gaps: BTreeMap::new(),
            gap_count: 0,
            covered: 0,
        };
        set.add_gap(capacity);
        set
    }

    fn add_gap(&mut self, len: usize) {
        if len > 0 {
            *self.gaps.entry(len).or_insert(0) += 1;
            self.gap_count += 1;
        }
    }

    fn remove_gap(&mut self, len: usize) {
        if len > 0
            && let Some(n) = self.gaps.get_mut(&len)
        {
            *n -= 1;
            if *n == 0 {
                self.gaps.remove(&len);
            }
            self.gap_count -= 1;
        }
    }

    /// The bounds of the gap around `start`: end of the previous interval
    /// (or 0) and start of the next one at or after `start` (or capacity).
    fn around(&self, start: usize) -> Around {
        let prev = self
            .intervals
            .range(..start)
            .next_back()
            .map(|(&s, &e)| (s, e));
        let next = self.intervals.range(start..).next().map(|(&s, &e)| (s, e));
        let left = prev.map_or(0, |(_, e)| e);
        let right = next.map_or(self.capacity, |(s, _)| s);
        Around {
            left,
            right,
            prev,
            next,
        }
    }

    /// Adds the block `[start, start + max(size, 1))`.
    pub(crate) fn insert(&mut self, start: usize, size: usize) -> Result<(), Clash> {
        let end = start
            .checked_add(size.max(1))
            .filter(|&e| e <= self.capacity)
            .ok_or(Clash::OutOfRegion)?;
        let Around {
            left,
            right,
            prev,
            next,
        } = self.around(start);
        if let Some((s, e)) = prev.filter(|&(_, e)| e > start) {
            return Err(Clash::Overlap(s, e));
        }
        if let Some((s, e)) = next.filter(|&(s, _)| s < end) {
            return Err(Clash::Overlap(s, e));
        }
        self.remove_gap(right - left);
        self.add_gap(start - left);
        self.add_gap(right - end);
        self.intervals.insert(start, end);
        self.covered += end - start;
        Ok(())
    }

    /// Removes the live block starting at `start`; false if there is none.
    pub(crate) fn remove(&mut self, start: usize) -> bool {
        let Some(end) = self.intervals.remove(&start) else {
            return false;
        };
        let Around { left, right, .. } = self.around(start);
        self.remove_gap(start - left);
        self.remove_gap(right - end);
        self.add_gap(right - left);
        self.covered -= end - start;
        true
    }

    /// Highest end of any live block (0 when none).
    pub fn footprint(&self) -> usize {
        self.intervals.last_key_value().map_or(0, |(_, &e)| e)
    }

    /// Live blocks.
    pub fn len(&self) -> usize {
        self.intervals.len()
    }

    /// Whether no block is live.
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// `(free bytes, largest gap, gap count)` between live blocks.
    pub fn gap_figures(&self) -> (usize, usize, usize) {
        (
            self.capacity - self.covered,
            self.gaps.last_key_value().map_or(0, |(&l, _)| l),
            self.gap_count,
        )
    }

    /// The gaps as `(offset, len)` extents, in address order: O(n).
    pub fn gap_extents(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(self.gap_count);
        let mut cursor = 0;
        for (&s, &e) in &self.intervals {
            if s > cursor {
                out.push((cursor, s - cursor));
            }
            cursor = e;
        }
        if self.capacity > cursor {
            out.push((cursor, self.capacity - cursor));
        }
        out
    }

    /// Whether some gap holds `size` bytes at `align`; O(1) when the largest
    /// gap settles it, else O(n).
    pub fn gap_fits(&self, size: usize, align: usize) -> bool {
        let (_, largest, _) = self.gap_figures();
        if largest < size.max(1) {
            return false;
        }
        if largest >= size.max(1) + align.max(1) - 1 {
            return true;
        }
        fits(&self.gap_extents(), size, align)
    }
}

/// Where a replay's free-space figures came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FreeSource {
    /// The subject's own free extents.
    Subject,
    /// Gaps between live blocks.
    Gaps,
}

/// The deterministic figures of one replay (everything but time): the same
/// subject on the same trace gives equal figures — unless its time budget
/// stopped it ([`Summary::stopped`]), when they cover the events it reached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The subject's name.
    pub subject: String,
    /// The trace's name.
    pub trace: String,
    /// The subject's region size.
    pub capacity: usize,
    /// Events replayed (fewer than the trace's when [`Summary::stopped`]).
    pub events: usize,
    /// Alloc events.
    pub allocs: usize,
    /// Free events.
    pub frees: usize,
    /// Realloc events.
    pub reallocs: usize,
    /// Allocs and reallocs the subject refused.
    pub failed_requests: usize,
    /// Of those, allocs.
    pub failed_allocs: usize,
    /// Of those, reallocs (the block stayed live).
    pub failed_reallocs: usize,
    /// Failed requests for which a gap between live blocks could have held
    /// the request (size and alignment): space was there, the subject could
    /// not use it (headers, rounding, unmerged free blocks, its policy).
    pub failed_with_fitting_gap: usize,
    /// Failed requests for which one of the subject's own free extents could
    /// have held it; `None` when the subject does not report extents.
    pub failed_with_fitting_free_extent: Option<usize>,
    /// Failed requests the subject refused for want of bookkeeping room
    /// while a free block fitted ([`Refusal::NoDescriptor`](crate::subject::Refusal):
    /// sysarena's arena table had no spare descriptor); 0 for subjects that
    /// cannot tell.
    pub failed_no_descriptor: usize,
    /// Frees and reallocs skipped because their block's alloc had failed.
    pub skipped_events: usize,
    /// Blocks returned at an offset that is not a multiple of their
    /// alignment (only possible for subjects that do not honour alignment).
    pub misaligned_blocks: usize,
    /// Most requested bytes live at once.
    pub peak_live_bytes: usize,
    /// Most blocks live at once.
    pub peak_live_blocks: usize,
    /// Footprint when live bytes first reached their peak.
    pub footprint_at_peak: usize,
    /// Highest footprint at any time.
    pub max_footprint: usize,
    /// `footprint_at_peak / peak_live_bytes` (1.0 is perfect; 0 with an
    /// empty trace).
    pub footprint_ratio: f64,
    /// Johnstone & Wilson: `footprint_ratio - 1`.
    pub jw_fragmentation: f64,
    /// The highest external fragmentation over the samples.
    pub max_external_fragmentation: f64,
    /// Where free-space figures come from.
    pub free_source: FreeSource,
    /// The state after the last event replayed.
    pub end: Sample,
    /// Where and why the replay stopped before the end of the trace (its
    /// time budget, or Ctrl-C); `None` when it replayed every event.
    pub stopped: Option<crate::budget::Stopped>,
}

/// Time spent (not deterministic; kept apart from [`Summary`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Wall time of the whole replay, checks and sampling included.
    pub wall_ns: u64,
    /// Time inside the subject's alloc, free and realloc calls (each call
    /// timed with the replay's [`Clock`](crate::budget::Clock), so a few tens
    /// of ns of timer cost per call are included).
    pub subject_ns: u64,
    /// Subject calls made.
    pub calls: usize,
    /// `subject_ns / calls`.
    pub ns_per_op: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_follow_inserts_and_removes() {
        let mut s = LiveSet::new(100);
        assert_eq!(s.gap_figures(), (100, 100, 1));
        s.insert(10, 10).unwrap();
        assert_eq!(s.gap_figures(), (90, 80, 2));
        s.insert(40, 10).unwrap();
        assert_eq!(s.gap_figures(), (80, 50, 3));
        assert_eq!(s.insert(15, 10), Err(Clash::Overlap(10, 20)));
        assert_eq!(s.insert(35, 10), Err(Clash::Overlap(40, 50)));
        assert_eq!(s.insert(95, 10), Err(Clash::OutOfRegion));
        assert_eq!(s.footprint(), 50);
        assert_eq!(s.gap_extents(), vec![(0, 10), (20, 20), (50, 50)]);
        assert!(s.remove(10));
        assert_eq!(s.gap_figures(), (90, 50, 2));
        assert!(s.remove(40));
        assert_eq!(s.gap_figures(), (100, 100, 1));
        assert!(!s.remove(40));
        assert_eq!(s.footprint(), 0);
    }

    #[test]
    fn fits_respects_alignment() {
        assert!(fits(&[(1, 40)], 16, 16));
        assert!(!fits(&[(1, 40)], 16, 32));
        let mut s = LiveSet::new(64);
        s.insert(0, 1).unwrap();
        s.insert(40, 24).unwrap();
        // gap [1, 40): 39 bytes; 32 at align 32 starts at 32 and ends at 64: no.
        assert!(!s.gap_fits(32, 32));
        assert!(s.gap_fits(24, 8));
    }

    #[test]
    fn fits_from_judges_alignment_by_address_not_offset() {
        // Offsets from a base at 0x1000: offset 0xf000 is address 0x10000,
        // the only 64 KiB-aligned start in this extent.
        let extent = [(0, 0xf000 + 16)];
        assert!(fits_from(&extent, 16, 0x10000, 0x1000));
        assert!(!fits_from(&extent, 32, 0x10000, 0x1000));
        // The same extent by offset alone holds 32 bytes at offset 0.
        assert!(fits(&extent, 32, 0x10000));
        // An extent starting past the phase rounds up to the next one.
        assert!(!fits_from(&[(0xf001, 0x10000)], 16, 0x10000, 0x1000));
        assert!(fits_from(&[(0xf001, 0x10000 + 16)], 16, 0x10000, 0x1000));
    }
}
