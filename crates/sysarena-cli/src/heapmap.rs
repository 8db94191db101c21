//! The heap map: one rendering model for every picture of a region.
//!
//! A region is drawn along its address range as a row of cells. Each arena
//! gets cells in proportion to its size, but never fewer than one — a hole
//! never vanishes, however large the region — and the largest arenas give
//! up the cells that small ones borrow. [`HeapMap::scale_note`] says how the
//! picture was scaled.

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
        let largest = arenas
            .iter()
            .filter(|a| !a.in_use)
            .max_by_key(|a| (a.size, std::cmp::Reverse(a.offset)))
            .map(|a| a.offset);
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
                let kind = if Some(a.offset) == largest {
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
    /// is the in-use arena with the most bytes in it. O(arenas + width).
    pub fn bucketed(
        arenas: &[ArenaInfo],
        capacity: usize,
        width: usize,
        key: impl Fn(&ArenaInfo) -> Option<usize>,
    ) -> HeapMap {
        let width = width.max(1);
        let capacity_nz = capacity.max(1);
        let largest = arenas
            .iter()
            .filter(|a| !a.in_use)
            .max_by_key(|a| (a.size, std::cmp::Reverse(a.offset)))
            .map(|a| a.offset);
        // Per cell: used, slack, free, largest-free bytes, and the best key.
        #[derive(Clone, Copy, Default)]
        struct Acc {
            used: usize,
            slack: usize,
            free: usize,
            largest: usize,
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
                        if Some(a.offset) == largest {
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
                let key = match kind {
                    CellKind::Free | CellKind::LargestFree => None,
                    _ => a.key.and_then(|(_, k, _)| k),
                };
                Cell {
                    kind,
                    key,
                    first: a.first && !matches!(kind, CellKind::Free | CellKind::LargestFree),
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
    /// half used, half free; the largest free arena green. A block wide
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
            if edges && c.first && i > 0 && cw >= 2.0 {
                let edge = match c.kind {
                    CellKind::Free | CellKind::LargestFree => "#9a9a9a",
                    _ => "#ffffff",
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
                && c.kind != CellKind::Free
                && c.kind != CellKind::LargestFree
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
    /// arena `=`, slack `░`.
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
            };
            let _ = write!(out, "{style}{ch}{style:#}");
        }
        out
    }

    /// The legend for [`render_line`](Self::render_line).
    pub fn legend() -> &'static str {
        "A-Z allocation (█ its bytes, ░ slack: reserved, not requested)   ▏· a free arena   ▏= the largest free arena"
    }

    /// The legend of a bucketed map (adds `▚`).
    pub fn legend_bucketed() -> &'static str {
        "█ in use   ░ slack   ▚ in use with holes smaller than a cell   · free   = the largest free arena"
    }
}

/// The one-character code of a cell in [`HeapMap::run_length`]: `A`–`L`
/// an in-use cell of palette colour 0–11, `a`–`l` its slack, `M`–`X` a cell
/// with holes of that colour, `.` free, `=` the largest free arena.
pub fn cell_code(c: &Cell) -> char {
    let k = (c.key.unwrap_or(0) % RGB.len()) as u8;
    match c.kind {
        CellKind::Used => char::from(b'A' + k),
        CellKind::Slack => char::from(b'a' + k),
        CellKind::Holes => char::from(b'M' + k),
        CellKind::Free => '.',
        CellKind::LargestFree => '=',
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
    }
}

/// Colours of allocations in SVG and HTML (index = key mod 12).
pub const RGB: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#8c6d31", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#7f7fd5", "#17becf", "#843c39",
];
/// Free space in SVG and HTML.
pub const FREE_RGB: &str = "#e4e4e4";
/// The largest free arena in SVG and HTML.
pub const LARGEST_RGB: &str = "#8fd18f";

/// The SVG fill of a cell (slack is the allocation's colour, paler).
pub fn cell_fill(c: &Cell) -> String {
    let k = c.key.unwrap_or(0) % RGB.len();
    match c.kind {
        CellKind::Used | CellKind::Holes => RGB[k].to_owned(),
        CellKind::Slack => format!("{}66", RGB[k]),
        CellKind::Free => FREE_RGB.to_owned(),
        CellKind::LargestFree => LARGEST_RGB.to_owned(),
    }
}

/// What one position of the arena table holds, for the table strip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// A descriptor of an in-use arena (with its allocation key).
    Used(Option<usize>),
    /// A descriptor of a free arena.
    Free,
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
            Some(_) => SlotKind::Free,
        };
        let cells = entries
            .chunks(per_cell)
            .map(|chunk| {
                let (mut u, mut f, mut s) = (0, 0, 0);
                let mut k = None;
                for e in chunk {
                    match kind(e) {
                        SlotKind::Used(key) => {
                            u += 1;
                            k = k.or(Some(key));
                        }
                        SlotKind::Free => f += 1,
                        SlotKind::Spare => s += 1,
                    }
                }
                if s >= u.max(f) && s > 0 {
                    SlotKind::Spare
                } else if u >= f {
                    SlotKind::Used(k.flatten())
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
    /// an in-use arena, `·` a free arena's, `_` a spare descriptor.
    pub fn render_plain(&self, label: impl Fn(usize) -> char) -> String {
        self.cells
            .iter()
            .map(|c| match c {
                SlotKind::Used(k) => label(k.unwrap_or(0)),
                SlotKind::Free => '·',
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

    /// The strip as runs, like [`HeapMap::run_length`]: `A`–`L` a
    /// descriptor of an in-use arena of that palette colour, `.` of a free
    /// arena, `_` a spare descriptor.
    pub fn run_length(&self) -> String {
        let code = |c: &SlotKind| match c {
            SlotKind::Used(k) => char::from(b'A' + (k.unwrap_or(0) % RGB.len()) as u8),
            SlotKind::Free => '.',
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

/// A stable colour for an allocation key.
pub fn palette(key: usize) -> Color {
    const COLOURS: [AnsiColor; 6] = [
        AnsiColor::Cyan,
        AnsiColor::Yellow,
        AnsiColor::Magenta,
        AnsiColor::Blue,
        AnsiColor::Red,
        AnsiColor::BrightCyan,
    ];
    Color::Ansi(COLOURS[key % COLOURS.len()])
}

/// `1536` → `1.5 KiB`.
pub fn fmt_bytes(n: usize) -> String {
    fmt_bytes_f(n as f64)
}

/// Bytes in the largest binary unit that keeps the number under 1024 (up to
/// EiB, which holds every `usize`); a fraction of a byte (a cell of a map
/// wider than its region) keeps two decimals, so nothing reads `0 B`.
fn fmt_bytes_f(n: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 && v > 0.0 && v < 1.0 {
        format!("{v:.2} B")
    } else if u == 0 {
        format!("{} {}", v.round(), UNITS[0])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `n` and `noun`, plural unless `n` is 1: `1 free arena`, `2 free arenas`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The widest heap map or strip any verb draws, in cells.
pub const MAX_WIDTH: usize = 4096;

/// Parses a picture width (`--width`): 1 to [`MAX_WIDTH`] cells.
pub fn parse_width(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(w) if (1..=MAX_WIDTH).contains(&w) => Ok(w),
        _ => Err(format!("`{s}` is not a width: 1 to {MAX_WIDTH} cells")),
    }
}

/// Labels of allocations: `A`–`Z` for keys 0–25, then `a`–`z` for 26–51;
/// past 52 the letters repeat ([`LABEL_NOTE`] says so under a map).
pub fn label(key: usize) -> char {
    let k = (key % 52) as u8;
    if k < 26 {
        char::from(b'A' + k)
    } else {
        char::from(b'a' + k - 26)
    }
}

/// Whether some of `keys` share a label (more than 52 allocations drawn).
pub fn labels_repeat(keys: impl IntoIterator<Item = usize>) -> bool {
    let mut seen = [false; 52];
    keys.into_iter().any(|k| {
        let i = k % 52;
        std::mem::replace(&mut seen[i], true)
    })
}

/// The line printed under a map whose labels repeat.
pub const LABEL_NOTE: &str = "(more than 52 blocks: labels A–Z, a–z repeat, so two cells with the same letter may be different blocks)";

#[cfg(test)]
mod tests {
    use super::*;

    fn arena(offset: usize, size: usize, in_use: bool) -> ArenaInfo {
        ArenaInfo {
            offset,
            size,
            used: if in_use { size } else { 0 },
            in_use,
            slot: 0,
        }
    }

    #[test]
    fn a_one_byte_hole_in_a_large_region_keeps_a_cell() {
        let arenas = [
            arena(0, 1 << 20, true),
            arena(1 << 20, 1, false),
            arena((1 << 20) + 1, 1 << 20, true),
        ];
        let map = HeapMap::new(&arenas, (2 << 20) + 1, 40, |a| Some(a.offset));
        assert_eq!(map.cells.len(), 40);
        assert_eq!(
            map.cells
                .iter()
                .filter(|c| c.kind == CellKind::LargestFree)
                .count(),
            1
        );
        assert!(map.distorted);
        assert!(map.scale_note().contains("no hole vanishes"));
    }

    #[test]
    fn proportional_when_it_can_be() {
        let arenas = [arena(0, 256, true), arena(256, 768, false)];
        let map = HeapMap::new(&arenas, 1024, 16, |_| Some(0));
        let used = map
            .cells
            .iter()
            .filter(|c| c.kind == CellKind::Used)
            .count();
        assert_eq!(used, 4);
        assert!(!map.distorted);
    }

    #[test]
    fn bucketed_keeps_every_hole_visible() {
        // 1000 used arenas of 100 bytes with a 1-byte hole after every 100th.
        let mut arenas = Vec::new();
        let mut off = 0;
        for i in 0..1000 {
            arenas.push(arena(off, 100, true));
            off += 100;
            if i % 100 == 99 {
                arenas.push(arena(off, 1, false));
                off += 1;
            }
        }
        let map = HeapMap::fit(&arenas, off, 50, |a| Some(a.offset));
        assert_eq!(map.cells.len(), 50);
        assert_eq!(map.bucketed, Some(arenas.len()));
        let holes = map
            .cells
            .iter()
            .filter(|c| c.kind == CellKind::Holes)
            .count();
        assert_eq!(holes, 10);
        assert!(map.scale_note().contains("holes"));
        let rle = map.run_length();
        assert!(rle.len() < 200, "{rle}");
    }

    #[test]
    fn run_length_round_trips_lengths() {
        let arenas = [arena(0, 256, true), arena(256, 768, false)];
        let map = HeapMap::new(&arenas, 1024, 16, |_| Some(0));
        assert_eq!(map.run_length(), "A4=12");
    }

    #[test]
    fn table_strip_counts_spares() {
        let entries = [
            sysarena::TableEntry {
                slot: 0,
                arena: Some(arena(0, 10, true)),
            },
            sysarena::TableEntry {
                slot: 1,
                arena: Some(arena(10, 10, false)),
            },
            sysarena::TableEntry {
                slot: 2,
                arena: None,
            },
        ];
        let strip = TableStrip::new(&entries, 3, 10, |_| Some(0));
        assert_eq!(strip.render_plain(|_| 'A'), "A·_");
        assert_eq!(strip.spare, 1);
        assert!(strip.note().contains("1 spare"));
        assert!(!strip.note().contains("the first"));
        // The same three descriptors drawn from a table of 65,536: the note
        // says the table's size, not the number drawn.
        let strip = TableStrip::new(&entries, 65_536, 10, |_| Some(0));
        assert_eq!(strip.spare, 65_534);
        assert!(
            strip.note().starts_with("arena table of 65536 descriptors: 2 describe arenas, 65534 spare; the strip shows the first 3"),
            "{}",
            strip.note()
        );
    }

    /// Splits ANSI output into (SGR parameters in force, character) pairs.
    fn styled_chars(s: &str) -> Vec<(String, char)> {
        let mut out = Vec::new();
        let mut sgr = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c == '\u{1b}' {
                let _ = it.next(); // '['
                let mut params = String::new();
                for c in it.by_ref() {
                    if c == 'm' {
                        break;
                    }
                    params.push(c);
                }
                if params == "0" || params.is_empty() {
                    sgr.clear();
                } else {
                    if !sgr.is_empty() {
                        sgr.push(';');
                    }
                    sgr.push_str(&params);
                }
            } else {
                out.push((sgr.clone(), c));
            }
        }
        out
    }

    #[test]
    fn colour_maps_paint_a_block_in_its_own_colour() {
        let arenas = [
            arena(0, 256, true),
            arena(256, 256, true),
            arena(512, 512, false),
        ];
        let map = HeapMap::new(&arenas, 1024, 16, |a| Some(a.offset / 256));
        let line = map.render_line(label);
        let cells = styled_chars(&line);
        assert_eq!(
            cells.iter().map(|&(_, c)| c).collect::<String>(),
            map.render_plain(label)
        );
        for (i, (sgr, ch)) in cells.iter().enumerate() {
            let params: Vec<&str> = sgr.split(';').collect();
            match ch {
                // A block's body: its own colour in the foreground (cyan 36
                // for key 0, yellow 33 for key 1), never black (30).
                '█' => {
                    let want = if i < 4 { "36" } else { "33" };
                    assert!(params.contains(&want), "cell {i}: {sgr:?}");
                    assert!(!params.contains(&"30"), "cell {i} black: {sgr:?}");
                }
                // The label: black on the block's colour (background 46/43).
                'A' => assert!(params.contains(&"46") && params.contains(&"30"), "{sgr:?}"),
                'B' => assert!(params.contains(&"43") && params.contains(&"30"), "{sgr:?}"),
                _ => {}
            }
        }
        assert_eq!(cells.iter().filter(|&&(_, c)| c == '█').count(), 6);
    }

    #[test]
    fn sizes_have_units_to_exbibytes_and_cells_keep_a_fraction() {
        assert_eq!(fmt_bytes(1536), "1.5 KiB");
        assert_eq!(fmt_bytes(1 << 50), "1.0 PiB");
        assert_eq!(fmt_bytes(1 << 62), "4.0 EiB");
        assert_eq!(fmt_bytes(usize::MAX), "16.0 EiB");
        let map = HeapMap::new(&[arena(0, 16, false)], 16, 64, |_| None);
        assert_eq!(map.scale_note(), "1 cell ≈ 0.25 B");
        assert_eq!(count(1, "free arena"), "1 free arena");
        assert_eq!(count(3, "free arena"), "3 free arenas");
    }

    #[test]
    fn an_empty_region_draws_an_empty_map() {
        let map = HeapMap::new(&[], 0, 64, |_| None);
        assert!(map.cells.is_empty());
        assert_eq!(map.scale_note(), "an empty region: no cells");
        let map = HeapMap::fit(&[], 0, 64, |_| None);
        assert!(map.scale_note().contains("empty"));
    }

    #[test]
    fn labels_go_past_z_and_say_when_they_repeat() {
        assert_eq!(label(0), 'A');
        assert_eq!(label(25), 'Z');
        assert_eq!(label(26), 'a');
        assert_eq!(label(51), 'z');
        assert_eq!(label(52), 'A');
        assert!(!labels_repeat(0..52));
        assert!(labels_repeat([0, 52]));
    }

    #[test]
    fn slack_is_drawn_inside_the_arena() {
        let mut a = arena(0, 512, true);
        a.used = 256;
        let map = HeapMap::new(&[a, arena(512, 512, false)], 1024, 8, |_| Some(1));
        let kinds: Vec<_> = map.cells.iter().map(|c| c.kind).collect();
        assert_eq!(
            &kinds[..4],
            &[
                CellKind::Used,
                CellKind::Used,
                CellKind::Slack,
                CellKind::Slack
            ]
        );
    }
}
