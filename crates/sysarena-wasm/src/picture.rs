//! The heap map as a standalone SVG picture, drawn natively from a session
//! — the book's pictures (`book/pictures.sh`). The same marks as the
//! playground: in-use arenas filled and labelled `#N`, slack striped, free
//! arenas hatched, the largest free arena outlined, cached arenas (the fast
//! model's quick lists) solid grey-blue; the arena table strip below
//! (letter: in-use, `·`: free, `○`: cached, `_`: spare) and the stats line.

use std::fmt::Write as _;

use crate::session::{Owner, Session, owner_name};
use crate::view::{fmt_bytes, stats_line};

/// A cached arena's fill, as in the playground and `sysarena viz`.
const CACHED: &str = "#9fa8bd";

const PALETTE: [&str; 8] = [
    "#4e79a7", "#e15759", "#59a14f", "#b07aa1", "#9c755f", "#f28e2b", "#76b7b2", "#7f7f7f",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The picture of `s` now, with `caption` above the map.
///
/// Time: O(arenas + descriptors shown).
pub fn svg(s: &Session, caption: &str) -> String {
    let m = s.manager();
    let st = m.stats();
    let (w, h, top) = (800.0f64, 70.0f64, 28.0f64);
    let cap = st.capacity.max(1) as f64;
    let x = |o: usize| o as f64 / cap * w;
    let slots: Vec<_> = m.table().take(48).collect();
    let height = top + h + 84.0;
    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {height}" width="{w}" height="{height}" font-family="DejaVu Sans, sans-serif" role="img" aria-label="{}">
<title>{}</title>
<defs><pattern id="free" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><rect width="2" height="6" fill="#8a96a3"/></pattern><pattern id="slack" width="5" height="5" patternUnits="userSpaceOnUse"><rect width="5" height="5" fill="#c6d4e4"/><rect width="2" height="5" fill="#4e79a7"/></pattern></defs>
<rect width="100%" height="100%" fill="#fff"/>
<text x="0" y="18" font-size="15" fill="#1b1f24">{}</text>
"##,
        esc(&stats_line(&st)),
        esc(caption),
        esc(caption)
    );
    let mut largest: Option<(usize, usize)> = None;
    for a in m.arenas() {
        let (x0, aw) = (x(a.offset), x(a.size).max(0.6));
        let tip = match s.owner(a.offset) {
            Some(ow) if a.in_use => format!(
                "{}: offset {}, {}, {} requested, slot {}",
                owner_name(ow),
                a.offset,
                fmt_bytes(a.size),
                fmt_bytes(a.used),
                a.slot
            ),
            _ => format!(
                "{}: offset {}, {}, slot {}",
                if a.cached {
                    "cached (waiting in a quick list)"
                } else {
                    "free"
                },
                a.offset,
                fmt_bytes(a.size),
                a.slot
            ),
        };
        if a.cached {
            let _ = writeln!(
                o,
                r##"<rect x="{x0:.1}" y="{top}" width="{aw:.1}" height="{h}" fill="{CACHED}" stroke="#57606a" stroke-width="0.5"><title>{}</title></rect>"##,
                esc(&tip)
            );
            if aw > 70.0 {
                let _ = writeln!(
                    o,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13" fill="#1b1f24">cached {}</text>"##,
                    x0 + aw / 2.0,
                    top + h / 2.0 + 5.0,
                    fmt_bytes(a.size)
                );
            }
            continue;
        }
        if !a.in_use {
            if largest.is_none_or(|(_, l)| a.size > l) {
                largest = Some((a.offset, a.size));
            }
            let _ = writeln!(
                o,
                r##"<rect x="{x0:.1}" y="{top}" width="{aw:.1}" height="{h}" fill="url(#free)" stroke="#57606a" stroke-width="0.5"><title>{}</title></rect>"##,
                esc(&tip)
            );
            if aw > 70.0 {
                let _ = writeln!(
                    o,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13" fill="#1b1f24">free {}</text>"##,
                    x0 + aw / 2.0,
                    top + h / 2.0 + 5.0,
                    fmt_bytes(a.size)
                );
            }
            continue;
        }
        let n = match s.owner(a.offset) {
            Some(Owner::Typed(n)) => n,
            Some(Owner::Traced(id)) => id as usize,
            None => 0,
        };
        let colour = PALETTE[n % PALETTE.len()];
        let wu = aw * a.used as f64 / a.size.max(1) as f64;
        let _ = write!(
            o,
            r##"<rect x="{x0:.1}" y="{top}" width="{aw:.1}" height="{h}" fill="url(#slack)" stroke="#fff" stroke-width="0.7"><title>{}</title></rect>
<rect x="{x0:.1}" y="{top}" width="{wu:.1}" height="{h}" fill="{colour}"/>
"##,
            esc(&tip)
        );
        if aw > 30.0 {
            let label = s.owner(a.offset).map_or_else(String::new, owner_name);
            let _ = writeln!(
                o,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="15" fill="#fff">{}</text>"##,
                x0 + wu.min(aw) / 2.0,
                top + h / 2.0 + 5.0,
                esc(&label)
            );
        }
    }
    if let Some((off, size)) = largest {
        let (x0, aw) = (x(off), x(size).max(1.0));
        let _ = writeln!(
            o,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#000" stroke-width="2.5"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">▲ largest free</text>"##,
            x0 + 1.0,
            top + 1.0,
            (aw - 2.0).max(0.5),
            h - 2.0,
            (x0 + aw / 2.0).clamp(60.0, w - 60.0),
            top + h + 14.0
        );
    }
    let _ = writeln!(
        o,
        r##"<text x="0" y="{:.1}" font-size="11" fill="#57606a">0</text><text x="{w}" y="{:.1}" font-size="11" fill="#57606a" text-anchor="end">{}</text>"##,
        top + h + 14.0,
        top + h + 14.0,
        fmt_bytes(st.capacity)
    );
    // The arena table strip.
    let ty = top + h + 24.0;
    let _ = writeln!(
        o,
        r##"<text x="0" y="{:.1}" font-size="11" fill="#57606a">arena table ({} descriptors, {} spare):</text>"##,
        ty + 12.0,
        st.descriptors,
        st.spare_descriptors
    );
    for (i, e) in slots.iter().enumerate() {
        let cx = 200.0 + i as f64 * 12.5;
        let (fill, ch, fg) = match e.arena {
            None => ("#f6f8fa", "_".to_owned(), "#8c959f"),
            Some(a) if a.cached => (CACHED, "○".to_owned(), "#1b1f24"),
            Some(a) if !a.in_use => ("url(#free)", "·".to_owned(), "#1b1f24"),
            Some(a) => {
                let n = match s.owner(a.offset) {
                    Some(Owner::Typed(n)) => n,
                    Some(Owner::Traced(id)) => id as usize,
                    None => 0,
                };
                (
                    PALETTE[n % PALETTE.len()],
                    char::from(b'A' + (n % 26) as u8).to_string(),
                    "#fff",
                )
            }
        };
        let _ = writeln!(
            o,
            r##"<rect x="{cx:.1}" y="{ty:.1}" width="11" height="16" fill="{fill}" stroke="#d0d7de"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="{fg}">{ch}</text>"##,
            cx + 5.5,
            ty + 12.0
        );
    }
    let line = stats_line(&st);
    let (a, b) = line.split_at(line.find(" · external").unwrap_or(line.len()));
    let _ = writeln!(
        o,
        r##"<text x="0" y="{:.1}" font-size="11" fill="#57606a">{}</text>
<text x="0" y="{:.1}" font-size="11" fill="#57606a">{}</text>
</svg>"##,
        ty + 34.0,
        esc(a),
        ty + 50.0,
        esc(b.trim_start_matches(" · "))
    );
    o
}
