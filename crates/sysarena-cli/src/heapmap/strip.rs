//! The arena table drawn as a strip: one cell a descriptor (or an equal run
//! of them), in table order — in-use arenas, free arenas (cached ones
//! apart) and the spare descriptors a split needs.

use std::fmt::Write as _;

use sysarena::ArenaInfo;

use super::{CACHED_RGB, FREE_RGB, RGB, count};

/// What one position of the arena table holds, for the table strip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// A descriptor of an in-use arena (with its allocation key).
    Used(Option<usize>),
    /// A descriptor of a free arena.
    Free,
    /// A descriptor of a cached arena (free, waiting in a quick list).
    Cached,
    /// A spare descriptor: describes no arena.
    Spare,
}

/// The arena table drawn as a strip, one cell a descriptor in table order
/// (or, for a big table, one cell per equal run of descriptors showing the
/// most common kind). Spare descriptors are what a split needs: when none
/// is left, an allocation fails even with a fitting free arena.
#[derive(Clone, Debug)]
pub struct TableStrip {
    /// The cells.
    pub cells: Vec<SlotKind>,
    /// Descriptors per cell.
    pub per_cell: usize,
    /// Descriptors in use (describing an arena).
    pub used: usize,
    /// Spare descriptors in the whole table.
    pub spare: usize,
    /// Descriptors the strip draws (the table's first ones; every one past
    /// them is spare).
    pub shown: usize,
}

impl TableStrip {
    /// The strip of `entries` (the first descriptors of a table of `total`,
    /// in table order; the rest are spare) in at most `width` cells.
    pub fn new(
        entries: &[sysarena::TableEntry],
        total: usize,
        width: usize,
        key: impl Fn(&ArenaInfo) -> Option<usize>,
    ) -> TableStrip {
        let per_cell = entries.len().div_ceil(width.max(1)).max(1);
        let kind = |e: &sysarena::TableEntry| match e.arena {
            None => SlotKind::Spare,
            Some(a) if a.in_use => SlotKind::Used(key(&a)),
            Some(a) if a.cached => SlotKind::Cached,
            Some(_) => SlotKind::Free,
        };
        let cells = entries
            .chunks(per_cell)
            .map(|chunk| {
                let (mut u, mut f, mut c, mut s) = (0, 0, 0, 0);
                let mut k = None;
                for e in chunk {
                    match kind(e) {
                        SlotKind::Used(key) => {
                            u += 1;
                            k = k.or(Some(key));
                        }
                        SlotKind::Free => f += 1,
                        SlotKind::Cached => c += 1,
                        SlotKind::Spare => s += 1,
                    }
                }
                // Cached descriptors count with the free ones; the cell is
                // cached when they are most of those.
                if s >= u.max(f + c) && s > 0 {
                    SlotKind::Spare
                } else if u >= f + c {
                    SlotKind::Used(k.flatten())
                } else if c > f {
                    SlotKind::Cached
                } else {
                    SlotKind::Free
                }
            })
            .collect();
        let used = entries.iter().filter(|e| e.arena.is_some()).count();
        let total = total.max(entries.len());
        TableStrip {
            cells,
            per_cell,
            used,
            spare: total - used,
            shown: entries.len(),
        }
    }

    /// The strip as plain text: the allocation's label for a descriptor of
    /// an in-use arena, `·` a free arena's, `○` a cached arena's, `_` a
    /// spare descriptor.
    pub fn render_plain(&self, label: impl Fn(usize) -> char) -> String {
        self.cells
            .iter()
            .map(|c| match c {
                SlotKind::Used(k) => label(k.unwrap_or(0)),
                SlotKind::Free => '·',
                SlotKind::Cached => '○',
                SlotKind::Spare => '_',
            })
            .collect()
    }

    /// The strip as SVG rectangles in the box `(x, y, w, h)`.
    pub fn svg_rects(&self, x: f64, y: f64, w: f64, h: f64) -> String {
        let mut out = String::new();
        let cw = w / self.cells.len().max(1) as f64;
        for (i, c) in self.cells.iter().enumerate() {
            let fill = match c {
                SlotKind::Used(k) => RGB[k.unwrap_or(0) % RGB.len()],
                SlotKind::Free => FREE_RGB,
                SlotKind::Cached => CACHED_RGB,
                SlotKind::Spare => "#ffffff",
            };
            let _ = write!(
                out,
                r##"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{fill}" stroke="#999" stroke-width="0.3"/>"##,
                x + i as f64 * cw,
                cw
            );
        }
        out
    }

    /// The strip as runs, like [`HeapMap::run_length`](super::HeapMap::run_length): `A`–`L` a
    /// descriptor of an in-use arena of that palette colour, `.` of a free
    /// arena, `~` of a cached arena, `_` a spare descriptor.
    pub fn run_length(&self) -> String {
        let code = |c: &SlotKind| match c {
            SlotKind::Used(k) => char::from(b'A' + (k.unwrap_or(0) % RGB.len()) as u8),
            SlotKind::Free => '.',
            SlotKind::Cached => '~',
            SlotKind::Spare => '_',
        };
        let mut out = String::new();
        let mut i = 0;
        while i < self.cells.len() {
            let c = code(&self.cells[i]);
            let mut j = i + 1;
            while j < self.cells.len() && code(&self.cells[j]) == c {
                j += 1;
            }
            out.push(c);
            if j - i > 1 {
                let _ = write!(out, "{}", j - i);
            }
            i = j;
        }
        out
    }

    /// Whether some cell shows a cached arena's descriptor.
    pub fn has_cached(&self) -> bool {
        self.cells.contains(&SlotKind::Cached)
    }

    /// What the strip's characters mean, as `step` prints it under the
    /// strip; `○` is named only when the strip shows a cached arena.
    pub fn key_note(&self) -> &'static str {
        if self.has_cached() {
            "(letter: in-use arena, ·: free arena, ○: cached arena, _: spare)"
        } else {
            "(letter: in-use arena, ·: free arena, _: spare)"
        }
    }

    /// One line saying what the strip shows.
    pub fn note(&self) -> String {
        let total = self.used + self.spare;
        let mut s = format!(
            "arena table of {}: {}, {} spare",
            count(total, "descriptor"),
            if self.used == 1 {
                "1 describes an arena".to_owned()
            } else {
                format!("{} describe arenas", self.used)
            },
            self.spare
        );
        if self.shown < total {
            let _ = write!(
                s,
                "; the strip shows the first {} (all after them are spare)",
                self.shown
            );
        }
        if self.per_cell > 1 {
            let _ = write!(s, "; 1 cell = {} descriptors", self.per_cell);
        }
        s
    }
}
