//! [`TraceStats`]: a trace's counts and peaks, without replaying it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::event::{Event, Id, Trace};

/// Counts and peaks of a trace, computed without replaying it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStats {
    /// Number of events.
    pub events: usize,
    /// `a` events.
    pub allocs: usize,
    /// `f` events.
    pub frees: usize,
    /// `r` events.
    pub reallocs: usize,
    /// The most requested bytes live at once: the least memory any allocator
    /// needs for this trace.
    pub peak_live_bytes: usize,
    /// The most blocks live at once (the arena descriptors a table needs).
    pub max_live_blocks: usize,
    /// Blocks still live at the end.
    pub live_blocks_at_end: usize,
    /// Bytes still live at the end.
    pub live_bytes_at_end: usize,
}

impl Trace {
    /// Counts and peaks (live bytes are requested sizes).
    pub fn stats(&self) -> TraceStats {
        let mut sizes: HashMap<Id, usize> = HashMap::new();
        let mut stats = TraceStats {
            events: self.events.len(),
            ..TraceStats::default()
        };
        // Summed in u128: a trace may ask for more than the address space
        // (`a 1 18446744073709551615`, twice); the totals saturate at
        // `usize::MAX` rather than overflow.
        let mut live_bytes = 0u128;
        let saturate = |n: u128| usize::try_from(n).unwrap_or(usize::MAX);
        for event in &self.events {
            match *event {
                Event::Alloc { id, size, .. } => {
                    stats.allocs += 1;
                    sizes.insert(id, size);
                    live_bytes += size as u128;
                }
                Event::Free { id } => {
                    stats.frees += 1;
                    live_bytes -= sizes.remove(&id).unwrap_or(0) as u128;
                }
                Event::Realloc { id, size } => {
                    stats.reallocs += 1;
                    if let Some(old) = sizes.get_mut(&id) {
                        live_bytes = live_bytes - *old as u128 + size as u128;
                        *old = size;
                    }
                }
            }
            stats.peak_live_bytes = stats.peak_live_bytes.max(saturate(live_bytes));
            stats.max_live_blocks = stats.max_live_blocks.max(sizes.len());
        }
        stats.live_blocks_at_end = sizes.len();
        stats.live_bytes_at_end = saturate(live_bytes);
        stats
    }
}
