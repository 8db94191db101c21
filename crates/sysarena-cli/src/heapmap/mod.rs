//! The heap map: one rendering model for every picture of a region.
//!
//! A region is drawn along its address range as a row of cells. Each arena
//! gets cells in proportion to its size, but never fewer than one — a hole
//! never vanishes, however large the region — and the largest arenas give
//! up the cells that small ones borrow. [`HeapMap::scale_note`] says how the
//! picture was scaled.

//!
//! [`TableStrip`] draws the arena table the same way; the colours, labels
//! and widths every picture shares are in one place ([`palette`], [`RGB`],
//! [`label`], [`parse_width`]), and so are the byte units ([`fmt_bytes`]).

mod strip;
mod style;
#[cfg(test)]
mod tests;
mod units;

pub use strip::{SlotKind, TableStrip};
pub use style::{
    CACHED_RGB, FREE_RGB, LABEL_NOTE, LARGEST_RGB, MAX_WIDTH, RGB, cell_fill, label, labels_repeat,
    palette, parse_width,
};
use units::fmt_bytes_f;
pub use units::{cached_note, count, fmt_bytes};

use std::fmt::Write as _;

use anstyle::{AnsiColor, Color, Style};
use sysarena::ArenaInfo;

/// What one cell shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// Requested bytes of an in-use arena.
    Used,
    /// Bytes an in-use arena reserves beyond the request (internal
    /// fragmentation).
    Slack,
    /// A free arena.
    Free,
    /// The largest free arena (highlighted).
    LargestFree,
    /// A cached arena: freed, but waiting whole in a quick list (the fast
    /// model's cache of small freed arenas) for the next request of its
    /// size; it merges with its free neighbours only when the lists are
    /// flushed. Never the largest free arena.
    Cached,
    /// A cell of a [bucketed](HeapMap::bucketed) map that is mostly in use
    /// but holds at least one free byte: holes smaller than a cell stay
    /// visible.
    Holes,
}

/// One cell of the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    /// What it shows.
    pub kind: CellKind,
    /// A stable key of the allocation it belongs to (colour and label).
    pub key: Option<usize>,
    /// Whether this is the first cell of its arena (labels go there).
    pub first: bool,
}

/// A region drawn as cells.
#[derive(Clone, Debug)]
pub struct HeapMap {
    /// The cells, in address order.
    pub cells: Vec<Cell>,
    /// Bytes in the region.
    pub capacity: usize,
    /// Whether some arenas got more cells than their size earns (small ones
    /// kept visible) or fewer (big ones shrunk to pay for them).
    pub distorted: bool,
    /// `Some(arenas)` when the map is [bucketed](HeapMap::bucketed): more
    /// arenas than cells, each cell one equal slice of the region.
    pub bucketed: Option<usize>,
}

impl HeapMap {
    /// Builds the map of `arenas` (in address order, tiling `[0, capacity)`)
    /// in about `width` cells; more if there are more arenas than cells, so
    /// that every arena stays visible. `key` names the allocation an in-use
    /// arena belongs to, for stable colours.
    pub fn new(
        arenas: &[ArenaInfo],
        capacity: usize,
        width: usize,
        key: impl Fn(&ArenaInfo) -> Option<usize>,
    ) -> HeapMap {
        let width = width.max(arenas.len()).max(1);
        let per_cell = capacity.max(1) as f64 / width as f64;
        // Proportional share, at least one cell each.
        let mut cells_for: Vec<usize> = arenas
            .iter()
            .map(|a| ((a.size as f64 / per_cell).round() as usize).max(1))
            .collect();
        let mut total: usize = cells_for.iter().sum();
        let mut distorted = arenas
            .iter()
            .zip(&cells_for)
            .any(|(a, &c)| (c as f64 * per_cell - a.size as f64).abs() > per_cell);
        // Too many: take from the widest; too few: give to the widest.
        while total != width {
            // No arena at all (a region of 0 bytes): an empty map.
            let Some((widest, _)) = cells_for
                .iter()
                .enumerate()
                .max_by_key(|&(i, &c)| (c, std::cmp::Reverse(i)))
            else {
                break;
            };
            if total > width {
                if cells_for[widest] == 1 {
                    break;
                }
                cells_for[widest] -= 1;
                total -= 1;
            } else {
                cells_for[widest] += 1;
                total += 1;
            }
            distorted = true;
        }
        let largest = largest_free(arenas);
        let mut cells = Vec::with_capacity(total);
        for (a, &n) in arenas.iter().zip(&cells_for) {
            let k = key(a);
            if a.in_use {
                // Requested bytes first, then the slack, at least one cell
                // of slack when there is any and room for it.
                let mut used = ((a.used as f64 / a.size as f64) * n as f64).round() as usize;
                if a.used < a.size && n > 1 {
                    used = used.min(n - 1);
                }
                used = used.max(1);
                for c in 0..n {
                    let kind = if c < used {
                        CellKind::Used
                    } else {
                        CellKind::Slack
                    };
                    cells.push(Cell {
                        kind,
                        key: k,
                        first: c == 0,
                    });
                }
            } else {
                let kind = if a.cached {
                    CellKind::Cached
                } else if Some(a.offset) == largest {
                    CellKind::LargestFree
                } else {
                    CellKind::Free
                };
                for c in 0..n {
                    cells.push(Cell {
                        kind,
                        key: None,
                        first: c == 0,
                    });
                }
            }
        }
        HeapMap {
            cells,
            capacity,
            distorted,
            bucketed: None,
        }
    }

    /// The map of `arenas` in exactly `width` cells when they fit
    /// ([`HeapMap::new`]: proportional, every arena at least one cell), else
    /// [bucketed](HeapMap::bucketed). Pictures with a fixed size (SVG rows,
    /// report keyframes) use this.
    pub fn fit(
        arenas: &[ArenaInfo],
        capacity: usize,
        width: usize,
        key: impl Fn(&ArenaInfo) -> Option<usize>,
    ) -> HeapMap {
        if arenas.len() <= width.max(1) {
            HeapMap::new(arenas, capacity, width, key)
        } else {
            HeapMap::bucketed(arenas, capacity, width, key)
        }
    }

    /// The map of `arenas` in exactly `width` equal slices of the address
    /// range, for regions with more arenas than cells. A cell shows what
    /// most of its bytes are, except that a mostly used cell with any free
    /// byte is [`CellKind::Holes`]: no hole vanishes, however small. Its key
    /// is the in-use arena with the most bytes in it. Cached arenas count as
    /// free bytes; a mostly free cell whose free bytes are mostly cached is
    /// [`CellKind::Cached`]. O(arenas + width).
    pub fn bucketed(
        arenas: &[ArenaInfo],
        capacity: usize,
        width: usize,
        key: impl Fn(&ArenaInfo) -> Option<usize>,
    ) -> HeapMap {
        let width = width.max(1);
        let capacity_nz = capacity.max(1);
        let largest = largest_free(arenas);
        // Per cell: used, slack, free (cached included), largest-free and
        // cached bytes, and the best key.
        #[derive(Clone, Copy, Default)]
        struct Acc {
            used: usize,
            slack: usize,
            free: usize,
            largest: usize,
            cached: usize,
            key: Option<(usize, Option<usize>, usize)>,
            first: bool,
        }
        let mut acc = vec![Acc::default(); width];
        let bound = |i: usize| (i as u128 * capacity_nz as u128 / width as u128) as usize;
        let cell_of = |off: usize| {
            ((off as u128 * width as u128) / capacity_nz as u128).min(width as u128 - 1) as usize
        };
        for a in arenas {
            let end = (a.offset + a.size).min(capacity);
            if a.offset >= end {
                continue;
            }
            let k = if a.in_use { key(a) } else { None };
            let used_end = a.offset + a.used.min(a.size);
            let first_cell = cell_of(a.offset);
            acc[first_cell].first |= a.in_use;
            let mut c = first_cell;
            loop {
                let lo = bound(c).max(a.offset);
                let hi = bound(c + 1).min(end);
                if lo < hi {
                    let cell = &mut acc[c];
                    if a.in_use {
                        let u = hi.min(used_end).saturating_sub(lo);
                        cell.used += u;
                        cell.slack += hi - lo - u;
                        if cell.key.is_none_or(|(b, _, _)| hi - lo > b) {
                            cell.key = Some((hi - lo, k, a.offset));
                        }
                    } else {
                        cell.free += hi - lo;
                        if a.cached {
                            cell.cached += hi - lo;
                        } else if Some(a.offset) == largest {
                            cell.largest += hi - lo;
                        }
                    }
                }
                if bound(c + 1) >= end || c + 1 == width {
                    break;
                }
                c += 1;
            }
        }
        let cells = acc
            .iter()
            .map(|a| {
                let total = a.used + a.slack + a.free;
                let kind = if a.free * 2 >= total.max(1) {
                    if a.largest * 2 >= a.free {
                        CellKind::LargestFree
                    } else if a.cached * 2 > a.free {
                        CellKind::Cached
                    } else {
                        CellKind::Free
                    }
                } else if a.free > 0 {
                    CellKind::Holes
                } else if a.used >= a.slack {
                    CellKind::Used
                } else {
                    CellKind::Slack
                };
                let key = if kind.is_free() {
                    None
                } else {
                    a.key.and_then(|(_, k, _)| k)
                };
                Cell {
                    kind,
                    key,
                    first: a.first && !kind.is_free(),
                }
            })
            .collect();
        HeapMap {
            cells,
            capacity,
            distorted: false,
            bucketed: Some(arenas.len()),
        }
    }

    /// The map as runs of `(code, length)`, one code a cell (see
    /// [`cell_code`]), joined as `code` + `length` when the run is
    /// longer than one: `"A3.12=40"`. Compact enough to embed hundreds of
    /// keyframes in a report.
    pub fn run_length(&self) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < self.cells.len() {
            let code = cell_code(&self.cells[i]);
            let mut j = i + 1;
            while j < self.cells.len() && cell_code(&self.cells[j]) == code {
                j += 1;
            }
            out.push(code);
            if j - i > 1 {
                let _ = write!(out, "{}", j - i);
            }
            i = j;
        }
        out
    }

    /// The map as one plain line (no colours), as
    /// [`render_line`](Self::render_line) draws it.
    pub fn render_plain(&self, label: impl Fn(usize) -> char) -> String {
        self.cells.iter().map(|c| plain_char(c, &label)).collect()
    }

    /// The map as SVG rectangles in the box `(x, y, w, h)`: runs of equal
    /// cells become one rectangle; slack is drawn pale, a cell with holes
    /// half used, half free; the largest free arena green, a cached arena
    /// grey-blue ([`CACHED_RGB`]). A block wide
    /// enough for a letter carries its label ([`label`]), and a thin edge
    /// separates neighbouring blocks.
    pub fn svg_rects(&self, x: f64, y: f64, w: f64, h: f64) -> String {
        self.svg_rects_with(x, y, w, h, true)
    }

    /// As [`svg_rects`](Self::svg_rects); with `edges` false, arenas of the
    /// same colour are not separated (compact rows for the timeline).
    pub fn svg_rects_with(&self, x: f64, y: f64, w: f64, h: f64, edges: bool) -> String {
        let mut out = String::new();
        let n = self.cells.len().max(1) as f64;
        let cw = w / n;
        let mut i = 0;
        while i < self.cells.len() {
            let code = cell_code(&self.cells[i]);
            let mut j = i + 1;
            while j < self.cells.len()
                && cell_code(&self.cells[j]) == code
                && !(edges && self.cells[j].first)
            {
                j += 1;
            }
            let c = self.cells[i];
            let x0 = x + i as f64 * cw;
            let wd = (j - i) as f64 * cw;
            let fill = cell_fill(&c);
            let _ = write!(
                out,
                r#"<rect x="{x0:.1}" y="{y:.1}" width="{wd:.1}" height="{h:.1}" fill="{fill}"/>"#
            );
            if c.kind == CellKind::Holes {
                let _ = write!(
                    out,
                    r#"<rect x="{x0:.1}" y="{:.1}" width="{wd:.1}" height="{:.1}" fill="{FREE_RGB}"/>"#,
                    y + h / 2.0,
                    h / 2.0
                );
            }
            // Two neighbouring blocks that share one of the twelve colours
            // always get an edge, however narrow the cells, so they never
            // read as one block.
            let same_colour =
                i > 0 && cell_code(&self.cells[i - 1]) == code && self.cells[i - 1].key != c.key;
            if edges && c.first && i > 0 && (cw >= 2.0 || same_colour) {
                let edge = if c.kind.is_free() {
                    "#9a9a9a"
                } else {
                    "#ffffff"
                };
                let _ = write!(
                    out,
                    r#"<rect x="{x0:.1}" y="{y:.1}" width="0.8" height="{h:.1}" fill="{edge}"/>"#
                );
            }
            // The allocation's label, as the text map shows it, where the
            // block is wide enough to hold a letter: two neighbours that
            // share one of the twelve colours still read as two blocks.
            if edges
                && c.first
                && !c.kind.is_free()
                && wd >= 9.0
                && h >= 10.0
                && let Some(k) = c.key
            {
                let _ = write!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" font-size="{:.0}" fill="#ffffff">{}</text>"##,
                    x0 + 2.0,
                    y + h / 2.0 + h.min(20.0) * 0.18,
                    h.min(20.0) * 0.5,
                    label(k)
                );
            }
            i = j;
        }
        out
    }

    /// One line saying how the picture was scaled.
    pub fn scale_note(&self) -> String {
        if self.cells.is_empty() || self.capacity == 0 {
            return "an empty region: no cells".to_owned();
        }
        let per = self.capacity as f64 / self.cells.len() as f64;
        let mut s = format!("1 cell ≈ {}", fmt_bytes_f(per));
        if let Some(n) = self.bucketed {
            let _ = write!(
                s,
                "; {n} arenas in {} cells: each cell shows most of its bytes, and a used cell with any free byte is marked as holding holes",
                self.cells.len()
            );
        }
        if self.distorted {
            s.push_str("; small arenas are widened to one cell so no hole vanishes");
        }
        s
    }

    /// The map as one line of coloured cells (ANSI; `anstream` strips the
    /// colours when the output is not a terminal). In-use cells show the
    /// allocation's label at its first cell, free cells `·`, the largest free
    /// arena `=`, slack `░`, a cached arena `○` then `∘`.
    pub fn render_line(&self, label: impl Fn(usize) -> char) -> String {
        let mut out = String::new();
        for c in &self.cells {
            let (style, ch) = match c.kind {
                CellKind::Used => {
                    // The label sits in black on the allocation's colour;
                    // the block's other cells are `█` in that colour, so a
                    // block reads as one coloured bar on any background.
                    let k = c.key.unwrap_or(0);
                    if c.first {
                        let st = Style::new()
                            .bg_color(Some(palette(k)))
                            .fg_color(Some(Color::Ansi(AnsiColor::Black)))
                            .bold();
                        (st, label(k))
                    } else {
                        (Style::new().fg_color(Some(palette(k))), '█')
                    }
                }
                CellKind::Slack => (
                    Style::new().fg_color(Some(palette(c.key.unwrap_or(0)))),
                    '░',
                ),
                CellKind::Free => (
                    Style::new().fg_color(Some(Color::Ansi(AnsiColor::BrightBlack))),
                    if c.first { '▏' } else { '·' },
                ),
                CellKind::LargestFree => (
                    Style::new()
                        .fg_color(Some(Color::Ansi(AnsiColor::Green)))
                        .bold(),
                    if c.first { '▏' } else { '=' },
                ),
                CellKind::Holes => (
                    Style::new().fg_color(Some(palette(c.key.unwrap_or(0)))),
                    '▚',
                ),
                CellKind::Cached => (
                    Style::new().fg_color(Some(Color::Ansi(AnsiColor::BrightBlue))),
                    plain_char(c, &label),
                ),
            };
            let _ = write!(out, "{style}{ch}{style:#}");
        }
        out
    }

    /// The legend for [`render_line`](Self::render_line).
    pub fn legend() -> &'static str {
        "A-Z, a-z allocation (█ its bytes, ░ slack: reserved, not requested)   ▏· a free arena   ▏= the largest free arena"
    }

    /// The legend of a bucketed map (adds `▚`).
    pub fn legend_bucketed() -> &'static str {
        "█ in use   ░ slack   ▚ in use with holes smaller than a cell   · free   = the largest free arena"
    }

    /// What [`legend`](Self::legend) and
    /// [`legend_bucketed`](Self::legend_bucketed) add when cached arenas
    /// may be drawn (the fast model): pictures of the other models keep
    /// their legend as it was. A bucketed map counts cached bytes as free
    /// and draws a cell as cached when most of its free bytes are.
    pub fn legend_cached() -> &'static str {
        "○∘ a cached arena: freed, waiting whole in a quick list for the next request of its size (it merges with free neighbours only when the lists are flushed)"
    }

    /// Whether some cell shows a cached arena.
    pub fn has_cached(&self) -> bool {
        self.cells.iter().any(|c| c.kind == CellKind::Cached)
    }
}

impl CellKind {
    /// Whether the cell shows free bytes only (a free, the largest free or
    /// a cached arena): no allocation, no label.
    pub fn is_free(self) -> bool {
        matches!(
            self,
            CellKind::Free | CellKind::LargestFree | CellKind::Cached
        )
    }
}

/// The largest free arena's offset; cached arenas never count (as in
/// [`Stats::largest_free`](sysarena::Stats::largest_free)), ties go to the
/// lowest address.
fn largest_free(arenas: &[ArenaInfo]) -> Option<usize> {
    arenas
        .iter()
        .filter(|a| !a.in_use && !a.cached)
        .max_by_key(|a| (a.size, std::cmp::Reverse(a.offset)))
        .map(|a| a.offset)
}

/// The one-character code of a cell in [`HeapMap::run_length`]: `A`–`L`
/// an in-use cell of palette colour 0–11, `a`–`l` its slack, `M`–`X` a cell
/// with holes of that colour, `.` free, `=` the largest free arena, `~` a
/// cached arena.
pub fn cell_code(c: &Cell) -> char {
    let k = (c.key.unwrap_or(0) % RGB.len()) as u8;
    match c.kind {
        CellKind::Used => char::from(b'A' + k),
        CellKind::Slack => char::from(b'a' + k),
        CellKind::Holes => char::from(b'M' + k),
        CellKind::Free => '.',
        CellKind::LargestFree => '=',
        CellKind::Cached => '~',
    }
}

fn plain_char(c: &Cell, label: &impl Fn(usize) -> char) -> char {
    match c.kind {
        CellKind::Used if c.first => label(c.key.unwrap_or(0)),
        CellKind::Used => '█',
        CellKind::Slack => '░',
        CellKind::Holes => '▚',
        CellKind::Free if c.first => '▏',
        CellKind::Free => '·',
        CellKind::LargestFree if c.first => '▏',
        CellKind::LargestFree => '=',
        CellKind::Cached if c.first => '○',
        CellKind::Cached => '∘',
    }
}
