//! SVG pictures: the heap map at a step and the heap map over time are
//! emitted directly from the [`HeapMap`] model as
//! rectangles; the curves and the histogram are drawn with plotters' SVG
//! backend ([`super::plots`]).

use std::fmt::Write as _;

use super::capture::SubjectRun;
use crate::heapmap::{CACHED_RGB, FREE_RGB, HeapMap, LARGEST_RGB, RGB, fmt_bytes};

/// Escapes text for XML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const FONT: &str = r#"font-family="DejaVu Sans, Helvetica, Arial, sans-serif""#;

fn header(out: &mut String, w: f64, h: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" {FONT} font-size="12" shape-rendering="crispEdges">"#
    );
    let _ = write!(out, "<title>{}</title>", esc(title));
    let _ = write!(out, r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##);
}

fn text(out: &mut String, x: f64, y: f64, size: u32, weight: &str, s: &str) {
    let _ = write!(
        out,
        r##"<text x="{x:.1}" y="{y:.1}" font-size="{size}" font-weight="{weight}" fill="#222">{}</text>"##,
        esc(s)
    );
}

/// The legend row; `cached` adds the cached arenas' colour (only pictures
/// that show one name it, so the others stay as they were).
fn legend(out: &mut String, x: f64, y: f64, cached: bool) {
    let mut items: Vec<(&str, &str)> = vec![
        (RGB[0], "in use (colour per allocation)"),
        ("#4e79a766", "slack (reserved, not requested)"),
        (FREE_RGB, "free"),
        (LARGEST_RGB, "largest free"),
        ("#4e79a7|", "in use with holes < 1 cell"),
    ];
    if cached {
        items.push((CACHED_RGB, "cached (quick list)"));
    }
    let mut cx = x;
    for (fill, label) in items {
        if let Some(f) = fill.strip_suffix('|') {
            let _ = write!(
                out,
                r#"<rect x="{cx}" y="{}" width="12" height="5" fill="{f}"/><rect x="{cx}" y="{}" width="12" height="5" fill="{FREE_RGB}"/>"#,
                y - 10.0,
                y - 5.0
            );
        } else {
            let _ = write!(
                out,
                r#"<rect x="{cx}" y="{}" width="12" height="10" fill="{fill}"/>"#,
                y - 10.0
            );
        }
        text(out, cx + 16.0, y, 11, "normal", label);
        cx += 16.0 + label.len() as f64 * 6.2 + 14.0;
    }
}

/// What a caption says about the event that led to a frame.
pub fn describe_last(
    last: Option<(sysarena_sim::trace::Event, super::tracker::Outcome)>,
) -> String {
    use super::tracker::Outcome;
    use sysarena_sim::trace::Event;
    let Some((ev, out)) = last else {
        return "start".to_owned();
    };
    let what = match ev {
        Event::Alloc { id, size, .. } => format!("alloc #{id} ({size} B)"),
        Event::Free { id } => format!("free #{id}"),
        Event::Realloc { id, size } => format!("realloc #{id} to {size} B"),
    };
    let how = match out {
        Outcome::Placed(off) => format!(" → offset {off}"),
        Outcome::Failed => " → FAILED".to_owned(),
        Outcome::Freed => String::new(),
        Outcome::Skipped => " (skipped: its alloc failed)".to_owned(),
    };
    format!("{what}{how}")
}

/// The heap map of every run at frame `index`, one band a subject, with
/// the arena-table strip under a sysarena subject's map.
pub fn heap_map_svg(
    runs: &[SubjectRun],
    index: usize,
    view: usize,
    capacity: usize,
    title: &str,
) -> String {
    let w = 960.0;
    let left = 20.0;
    let mw = w - 2.0 * left;
    let band = |r: &SubjectRun| {
        if r.frames[index].table.is_some() {
            130.0
        } else {
            96.0
        }
    };
    let h = 70.0 + runs.iter().map(band).sum::<f64>() + 20.0;
    let mut out = String::new();
    header(&mut out, w, h, title);
    text(&mut out, left, 24.0, 16, "bold", title);
    let mut note = format!(
        "addresses [0, {}) of a {} region across",
        fmt_bytes(view),
        fmt_bytes(capacity)
    );
    // Only when it is true: a `--view` may cut live blocks off.
    if view < capacity && runs.iter().all(|r| r.frames[index].reach <= view) {
        note.push_str(" (no subject's blocks reach further)");
    }
    text(&mut out, left, 42.0, 11, "normal", &note);
    legend(
        &mut out,
        left,
        60.0,
        runs.iter().any(|r| r.frames[index].map.has_cached()),
    );
    let mut y = 78.0;
    for r in runs {
        let f = &r.frames[index];
        let (free, largest, blocks) = f.free;
        text(
            &mut out,
            left,
            y + 12.0,
            13,
            "bold",
            &format!(
                "{} — step {}: {}",
                r.name,
                f.step,
                f.stopped
                    .map_or_else(|| describe_last(f.last), |stop| stop.to_string())
            ),
        );
        out.push_str(&f.map.svg_rects(left, y + 18.0, mw, 28.0));
        let _ = write!(
            out,
            r##"<rect x="{left}" y="{}" width="{mw}" height="28" fill="none" stroke="#555" stroke-width="0.8"/>"##,
            y + 18.0
        );
        let ext = if free == 0 {
            0.0
        } else {
            1.0 - largest as f64 / free as f64
        };
        let src = if r.exact {
            "its free arenas"
        } else {
            "gaps between live blocks (its free list is private)"
        };
        text(
            &mut out,
            left,
            y + 60.0,
            11,
            "normal",
            &format!(
                "live {} · free {} in {}, largest {} · external fragmentation {:.0}% · free space from {src}",
                fmt_bytes(f.live_bytes),
                fmt_bytes(free),
                crate::heapmap::count(blocks, "block"),
                fmt_bytes(largest),
                ext * 100.0,
            ),
        );
        text(&mut out, left, y + 74.0, 10, "normal", &f.map.scale_note());
        if let Some(t) = &f.table {
            out.push_str(&t.svg_rects(left, y + 82.0, mw, 12.0));
            text(
                &mut out,
                left,
                y + 108.0,
                11,
                "normal",
                &format!(
                    "{} (white: spare; colour: in-use arena; grey: free arena)",
                    t.note()
                ),
            );
        }
        y += band(r);
    }
    out.push_str("</svg>\n");
    out
}

/// A stack of heap maps, one row each with a caption above and a stats line
/// below: the same region at several moments (e.g. before and after each
/// defragmentation pass).
pub fn rows_svg(rows: &[(&str, &HeapMap, &str)], title: &str) -> String {
    let w = 960.0;
    let left = 20.0;
    let mw = w - 2.0 * left;
    let band = 78.0;
    let h = 70.0 + rows.len() as f64 * band + 10.0;
    let mut out = String::new();
    header(&mut out, w, h, title);
    text(&mut out, left, 24.0, 16, "bold", title);
    if let Some((_, map, _)) = rows.first() {
        text(&mut out, left, 42.0, 11, "normal", &map.scale_note());
    }
    legend(
        &mut out,
        left,
        60.0,
        rows.iter().any(|(_, m, _)| m.has_cached()),
    );
    let mut y = 78.0;
    for (caption, map, stats) in rows {
        text(&mut out, left, y + 12.0, 13, "bold", caption);
        out.push_str(&map.svg_rects_with(left, y + 18.0, mw, 28.0, true));
        let _ = write!(
            out,
            r##"<rect x="{left}" y="{}" width="{mw}" height="28" fill="none" stroke="#555" stroke-width="0.8"/>"##,
            y + 18.0
        );
        text(&mut out, left, y + 60.0, 11, "normal", stats);
        y += band;
    }
    out.push_str("</svg>\n");
    out
}

/// The heap map over time: one column a subject, time down (one row a
/// keyframe), addresses across.
pub fn timeline_svg(runs: &[SubjectRun], view: usize, capacity: usize, title: &str) -> String {
    let n = runs.len().max(1) as f64;
    let rows = runs.first().map_or(0, |r| r.frames.len());
    let row_h = if rows > 0 {
        (600.0 / rows as f64).floor().clamp(1.0, 8.0)
    } else {
        4.0
    };
    let left = 70.0;
    let gap = 16.0;
    let w = 1000.0;
    let col = (w - left - 10.0 - gap * (n - 1.0)) / n;
    let top = 96.0;
    let h = top + rows as f64 * row_h + 30.0;
    let mut out = String::new();
    header(&mut out, w, h, title);
    text(&mut out, 10.0, 24.0, 16, "bold", title);
    let first_map: Option<&HeapMap> = runs.first().and_then(|r| r.frames.first().map(|f| &f.map));
    text(
        &mut out,
        10.0,
        42.0,
        11,
        "normal",
        &format!(
            "time runs down, one row per sampled step ({rows} rows); addresses [0, {}) of a {} region run across; {}",
            fmt_bytes(view),
            fmt_bytes(capacity),
            first_map.map(|m| m.scale_note()).unwrap_or_default()
        ),
    );
    legend(
        &mut out,
        10.0,
        60.0,
        runs.iter()
            .flat_map(|r| &r.frames)
            .any(|f| f.map.has_cached()),
    );
    for (c, r) in runs.iter().enumerate() {
        let x = left + c as f64 * (col + gap);
        text(&mut out, x, top - 8.0, 12, "bold", &r.name);
        for (i, f) in r.frames.iter().enumerate() {
            // Past a stop the rows stay empty, under one line that says why.
            if let Some(stop) = f.stopped {
                if i == 0 || r.frames[i - 1].stopped.is_none() {
                    let _ = write!(
                        out,
                        r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#444"><tspan x="{:.1}">stopped after event {}:</tspan><tspan x="{:.1}" dy="12">{}</tspan></text>"##,
                        x + 4.0,
                        top + i as f64 * row_h + 12.0,
                        x + 4.0,
                        stop.at_event,
                        x + 4.0,
                        esc(&stop.reason.to_string()),
                    );
                }
                continue;
            }
            // One colour for every allocation here: equal neighbours merge
            // into one rectangle, which keeps a 200-row picture small.
            let mut map = f.map.clone();
            for c in &mut map.cells {
                c.key = None;
            }
            out.push_str(&map.svg_rects_with(x, top + i as f64 * row_h, col, row_h + 0.05, false));
        }
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{top}" width="{col:.1}" height="{:.1}" fill="none" stroke="#555" stroke-width="0.8"/>"##,
            rows as f64 * row_h
        );
    }
    // Step labels down the left.
    if let Some(r) = runs.first() {
        let every = (rows / 10).max(1);
        for (i, f) in r.frames.iter().enumerate().step_by(every) {
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#444">{}</text>"##,
                left - 6.0,
                top + i as f64 * row_h + row_h / 2.0 + 3.0,
                f.wanted
            );
        }
        let _ = write!(
            out,
            r##"<text x="12" y="{:.1}" font-size="10" fill="#444">step ↓</text>"##,
            top + 10.0
        );
    }
    out.push_str("</svg>\n");
    out
}
