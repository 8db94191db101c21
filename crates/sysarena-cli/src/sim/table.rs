//! The tables the simulator verbs print: one row a subject.

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use sysarena_sim::metrics::Summary;

use super::Outcome;
use super::format::{nanos, percent, thousands};

/// No borders, one rule under the header, two spaces between columns.
const PRESET: &str = "     ──            ";

/// A table in the house look; `right` marks the numeric columns.
pub fn new_table(header: &[&str], right: &[bool]) -> Table {
    let mut t = Table::new();
    t.load_preset(PRESET)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(Cell::new));
    for (i, &r) in right.iter().enumerate() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(if r {
                CellAlignment::Right
            } else {
                CellAlignment::Left
            });
            c.set_padding((0, 2));
        }
    }
    t
}

/// The table as text, without the trailing blanks of the padding.
pub fn render(t: &Table) -> String {
    t.lines()
        .map(|l| l.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The subject's name, with `*` when it returned misaligned blocks.
pub fn subject_cell(name: &str, s: &Summary) -> String {
    if s.misaligned_blocks > 0 {
        format!("{name}*")
    } else {
        name.to_owned()
    }
}

/// `3 (2 gap)`: failed requests, and how many of them a gap between live
/// blocks (a hole in the address range, its free neighbours merged) could
/// have held.
pub fn failed_cell(s: &Summary) -> String {
    if s.failed_requests == 0 {
        return "0".into();
    }
    format!(
        "{} ({} gap)",
        thousands(s.failed_requests),
        thousands(s.failed_with_fitting_gap)
    )
}

/// The summary table of `replay` and `simulate`.
pub fn summary_table(outcomes: &[Outcome]) -> Table {
    let mut t = new_table(
        &[
            "subject",
            "peak live B",
            "footprint at peak B",
            "ratio",
            "J&W frag",
            "max ext frag",
            "failed (gap fit)",
            "ns/op",
        ],
        &[false, true, true, true, true, true, true, true],
    );
    for o in outcomes {
        match &o.result {
            Ok(r) => {
                let s = &r.summary;
                t.add_row(vec![
                    subject_cell(&o.subject, s),
                    thousands(s.peak_live_bytes),
                    thousands(s.footprint_at_peak),
                    format!("{:.3}", s.footprint_ratio),
                    percent(s.jw_fragmentation),
                    percent(s.max_external_fragmentation),
                    failed_cell(s),
                    format!("{:.0}", r.timing.ns_per_op),
                ]);
            }
            Err(e) => {
                t.add_row(vec![o.subject.clone(), format!("error: {e}")]);
            }
        }
    }
    t
}

/// What the summary columns mean (printed under the table).
pub const SUMMARY_LEGEND: &str = "\
ratio = footprint at peak / peak live bytes (1.000 wastes nothing); J&W frag = ratio - 1
(Johnstone & Wilson); max ext frag = highest 1 - largest free / free bytes over the run;
failed (gap fit) = requests refused (of which a hole between live blocks could have held them).";

/// The sentences under a table: for subjects that refused requests, why and
/// how much was free at the end; for subjects that ignored alignment, how
/// often.
pub fn failure_notes(outcomes: &[Outcome]) -> Vec<String> {
    let mut notes = Vec::new();
    for o in outcomes {
        let Ok(r) = &o.result else { continue };
        let s = &r.summary;
        if s.misaligned_blocks > 0 {
            notes.push(format!(
                "* {} returned {} block(s) not aligned as asked (it does not honour alignment): its figures are not like for like.",
                o.subject,
                thousands(s.misaligned_blocks)
            ));
        }
        if s.failed_requests == 0 {
            continue;
        }
        let end = &s.end;
        let mut why = Vec::new();
        if s.failed_with_fitting_gap > 0 {
            why.push(format!(
                "{} of them while a hole between live blocks was big enough",
                thousands(s.failed_with_fitting_gap)
            ));
        }
        if let Some(n) = s.failed_with_fitting_free_extent.filter(|&n| n > 0) {
            why.push(format!(
                "{} while one of its own free blocks was",
                thousands(n)
            ));
        }
        let why = if why.is_empty() {
            ": no hole was big enough".to_owned()
        } else {
            format!("; {}", why.join(", "))
        };
        notes.push(format!(
            "{} refused {} request(s){why}. At the end {} of {} were free in {} block(s), the largest {}.",
            o.subject,
            thousands(s.failed_requests),
            crate::heapmap::fmt_bytes(end.free_bytes),
            crate::heapmap::fmt_bytes(s.capacity),
            thousands(end.free_blocks),
            crate::heapmap::fmt_bytes(end.largest_free),
        ));
    }
    notes
}

/// The summary table, its legend and a note on every subject that refused
/// requests: the body `replay` and `simulate` print.
pub fn write_summary(out: &mut impl std::io::Write, outcomes: &[Outcome]) -> std::io::Result<()> {
    writeln!(out, "\n{}\n", render(&summary_table(outcomes)))?;
    writeln!(out, "{SUMMARY_LEGEND}")?;
    for note in failure_notes(outcomes) {
        writeln!(out, "\n{note}")?;
    }
    Ok(())
}

/// The `least waste:` line: the subject with the lowest footprint ratio
/// among those that served every request, aligned as asked.
pub fn least_waste(outcomes: &[Outcome]) -> Option<String> {
    let best = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok().map(|r| (o, r)))
        .filter(|(_, r)| {
            let s = &r.summary;
            s.failed_requests == 0 && s.misaligned_blocks == 0 && s.peak_live_bytes > 0
        })
        .min_by(|a, b| {
            a.1.summary
                .footprint_ratio
                .total_cmp(&b.1.summary.footprint_ratio)
        })?;
    let (o, r) = best;
    Some(format!(
        "least waste: {} — footprint {} at peak for {} live (ratio {:.3}), {} per op",
        o.subject,
        crate::heapmap::fmt_bytes(r.summary.footprint_at_peak),
        crate::heapmap::fmt_bytes(r.summary.peak_live_bytes),
        r.summary.footprint_ratio,
        nanos(r.timing.ns_per_op),
    ))
}
