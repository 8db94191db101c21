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
            let (widest, _) = cells_for
                .iter()
                .enumerate()
                .max_by_key(|&(i, &c)| (c, std::cmp::Reverse(i)))
                .expect("at least one arena");
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
        }
    }

    /// One line saying how the picture was scaled.
    pub fn scale_note(&self) -> String {
        let per = self.capacity as f64 / self.cells.len().max(1) as f64;
        let mut s = format!("1 cell ≈ {}", fmt_bytes_f(per));
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
                    let k = c.key.unwrap_or(0);
                    let ch = if c.first { label(k) } else { '█' };
                    let st = Style::new()
                        .bg_color(Some(palette(k)))
                        .fg_color(Some(Color::Ansi(AnsiColor::Black)))
                        .bold();
                    (st, ch)
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
            };
            let _ = write!(out, "{style}{ch}{style:#}");
        }
        out
    }

    /// The legend for [`render_line`](Self::render_line).
    pub fn legend() -> &'static str {
        "A-Z allocation (█ its bytes, ░ slack: reserved, not requested)   ▏· a free arena   ▏= the largest free arena"
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

fn fmt_bytes_f(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{} {}", v.round(), UNITS[0])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

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
