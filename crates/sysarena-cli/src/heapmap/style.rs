//! What every picture of a region shares: the colours of allocations (ANSI
//! for the terminal, RGB for SVG and HTML), their letters, and the widths a
//! picture may have.

use anstyle::{AnsiColor, Color};

use super::{Cell, CellKind};

/// Colours of allocations in SVG and HTML (index = key mod 12).
pub const RGB: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#8c6d31", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#7f7fd5", "#17becf", "#843c39",
];
/// Free space in SVG and HTML.
pub const FREE_RGB: &str = "#e4e4e4";
/// The largest free arena in SVG and HTML.
pub const LARGEST_RGB: &str = "#8fd18f";
/// A cached arena (free, waiting whole in a quick list) in SVG and HTML: a
/// darker, bluer grey than free space, and no allocation's colour.
pub const CACHED_RGB: &str = "#9fa8bd";

/// The SVG fill of a cell (slack is the allocation's colour, paler).
pub fn cell_fill(c: &Cell) -> String {
    let k = c.key.unwrap_or(0) % RGB.len();
    match c.kind {
        CellKind::Used | CellKind::Holes => RGB[k].to_owned(),
        CellKind::Slack => format!("{}66", RGB[k]),
        CellKind::Free => FREE_RGB.to_owned(),
        CellKind::LargestFree => LARGEST_RGB.to_owned(),
        CellKind::Cached => CACHED_RGB.to_owned(),
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
