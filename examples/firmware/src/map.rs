//! A one-line text heap map and a one-line summary of [`Stats`], both
//! written into a [`Line`](crate::Line).
//!
//! The map cuts the region into [`COLUMNS`] equal columns:
//!
//! | char | the column's bytes |
//! | --- | --- |
//! | `#` | all in use |
//! | `.` | all free |
//! | `+` | some in use, some free |
//! | `\|` | a free arena starts here right after another free arena: two free neighbours the classic model has not merged yet |

use core::fmt::{self, Write};

use sysarena::{ArenaInfo, Stats};

/// Columns in a heap map.
pub const COLUMNS: usize = 64;

/// Writes the map of a region of `capacity` bytes whose arenas, in address
/// order, are `arenas`, between `[` and `]`.
///
/// # Errors
/// Only those of `out`.
pub fn write_map(
    out: &mut impl Write,
    capacity: usize,
    arenas: impl Iterator<Item = ArenaInfo>,
) -> fmt::Result {
    // Per column: bytes in use, bytes free, and whether an unmerged free
    // neighbour starts there.
    let mut used = [0usize; COLUMNS];
    let mut free = [0usize; COLUMNS];
    let mut seam = [false; COLUMNS];
    let column = |offset: usize| (offset * COLUMNS / capacity.max(1)).min(COLUMNS - 1);
    let mut previous_free = false;
    for a in arenas {
        if !a.in_use && previous_free {
            seam[column(a.offset)] = true;
        }
        previous_free = !a.in_use;
        // Spread the arena's bytes over the columns it covers.
        let end = a.offset + a.size;
        let mut at = a.offset;
        while at < end {
            let c = column(at);
            let column_end = ((c + 1) * capacity).div_ceil(COLUMNS).max(at + 1);
            let n = column_end.min(end) - at;
            if a.in_use {
                used[c] += n;
            } else {
                free[c] += n;
            }
            at += n;
        }
    }
    out.write_char('[')?;
    for c in 0..COLUMNS {
        let ch = if seam[c] {
            '|'
        } else {
            match (used[c] > 0, free[c] > 0) {
                (true, false) => '#',
                (false, true) => '.',
                (true, true) => '+',
                (false, false) => ' ',
            }
        };
        out.write_char(ch)?;
    }
    out.write_char(']')
}

/// Writes the numbers a firmware developer watches: free bytes, the largest
/// free arena, arenas in use and free, spare descriptors, and external
/// fragmentation (`1 - largest / free`, in percent; integers only, so no
/// float formatting is linked in).
///
/// # Errors
/// Only those of `out`.
pub fn write_stats(out: &mut impl Write, s: &Stats) -> fmt::Result {
    let frag = (s.largest_free * 100)
        .checked_div(s.free_bytes)
        .map_or(0, |largest| 100 - largest);
    write!(
        out,
        "free {} B, largest {} B, {} in use, {} free arena{}, {} spare of {} descriptors, fragmentation {}%",
        s.free_bytes,
        s.largest_free,
        s.used_arenas,
        s.free_arenas,
        if s.free_arenas == 1 { "" } else { "s" },
        s.spare_descriptors,
        s.descriptors,
        frag
    )
}

/// Prints two lines: `what` and the [`Stats`], then the heap map, indented.
pub fn show(what: &str, stats: &Stats, arenas: impl Iterator<Item = ArenaInfo>) {
    let mut line = crate::Line::new();
    // Writing to a `Line` cannot fail: it cuts instead.
    let _ = write!(line, "{what}: ");
    let _ = write_stats(&mut line, stats);
    line.print();
    let mut line = crate::Line::new();
    let _ = line.write_str("  ");
    let _ = write_map(&mut line, stats.capacity, arenas);
    line.print();
}
