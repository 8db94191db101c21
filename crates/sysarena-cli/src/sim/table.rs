//! The tables the simulator verbs print: one row a subject.

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use sysarena_sim::metrics::Summary;

use sysarena_sim::budget::StopReason;

use std::io::{self, Write};

use sysarena_sim::trace::{Trace, TraceStats};

use super::args::OutputArgs;
use super::format::{bytes, bytes_exact, nanos, percent, thousands};
use super::run::{Outcome, Run, interrupt_flag, run_subjects};

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

/// The summary table of `replay` and `simulate`, printed a row at a time as
/// subjects finish: fixed column widths, chosen before any row is known from
/// the headers, the subjects' names and the region size.
#[derive(Clone, Debug)]
pub struct SummaryTable {
    widths: Vec<usize>,
}

/// The summary table's columns: header, right-aligned.
const SUMMARY_COLUMNS: [(&str, bool); 9] = [
    ("subject", false),
    ("peak live B", true),
    ("footprint at peak B", true),
    ("ratio", true),
    ("J&W frag", true),
    ("max ext frag", true),
    ("failed (gap fit)", true),
    ("ns/op", true),
    ("replayed", true),
];

impl SummaryTable {
    /// A table for these subjects over regions of `capacity` bytes.
    pub fn new(names: &[String], capacity: usize) -> Self {
        let name_width = names
            .iter()
            .map(|n| n.chars().count() + 1)
            .max()
            .unwrap_or(0);
        let bytes = thousands(capacity).len();
        let hints = [name_width, bytes, bytes, 7, 7, 6, 0, 6, 0];
        let widths = SUMMARY_COLUMNS
            .iter()
            .zip(hints)
            .map(|((h, _), hint)| h.chars().count().max(hint))
            .collect();
        SummaryTable { widths }
    }

    fn line(&self, cells: &[String]) -> String {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let width = self.widths.get(i).copied().unwrap_or(0);
            let pad = width.saturating_sub(cell.chars().count());
            if i > 0 {
                out.push_str("  ");
            }
            let right = SUMMARY_COLUMNS.get(i).is_some_and(|c| c.1);
            if right {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if i + 1 < cells.len() {
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        out.trim_end().to_owned()
    }

    /// The header and the rule under it.
    pub fn header(&self) -> String {
        let cells: Vec<String> = SUMMARY_COLUMNS.iter().map(|c| c.0.to_owned()).collect();
        let total = self.widths.iter().sum::<usize>() + 2 * (self.widths.len() - 1);
        format!("{}\n{}", self.line(&cells), "─".repeat(total))
    }

    /// One subject's row: its figures, or that it could not run (the reason
    /// goes under the table, so that a long message does not widen it).
    pub fn row(&self, o: &Outcome) -> String {
        match &o.result {
            Ok(r) => {
                let s = &r.summary;
                self.line(&[
                    subject_cell(&o.subject, s),
                    thousands(s.peak_live_bytes),
                    thousands(s.footprint_at_peak),
                    format!("{:.3}", s.footprint_ratio),
                    percent(s.jw_fragmentation),
                    percent(s.max_external_fragmentation),
                    failed_cell(s),
                    format!("{:.0}", r.timing.ns_per_op),
                    replayed_cell(s),
                ])
            }
            Err(_) => self.line(&[o.subject.clone(), "could not run (see below)".into()]),
        }
    }
}

/// `all`, or the share replayed and why it stopped: `41% budget`,
/// `12% Ctrl-C`.
pub fn replayed_cell(s: &Summary) -> String {
    match s.stopped {
        None => "all".into(),
        Some(st) => {
            let why = match st.reason {
                StopReason::TimeBudget { .. } => "budget",
                _ => "Ctrl-C",
            };
            format!("{:.0}% {why}", st.percent())
        }
    }
}

/// What the summary columns mean (printed under the table).
pub const SUMMARY_LEGEND: &str = "\
ratio = footprint at peak / peak live bytes (1.000 wastes nothing); J&W frag = ratio - 1
(Johnstone & Wilson); max ext frag = highest 1 - largest free / free bytes over the run;
failed (gap fit) = requests refused (of which a free gap of the region could have held them);
replayed = the share of the trace replayed (`budget`: the subject's time budget ran out).";

/// The sentences under a table: for subjects that could not run, why; for
/// subjects stopped early, where and why; for subjects that refused
/// requests, why and how much was free at the end; for subjects that
/// ignored alignment, how often; and the subjects Ctrl-C kept from running.
pub fn failure_notes(run: &Run) -> Vec<String> {
    let mut notes = Vec::new();
    for o in &run.outcomes {
        let r = match &o.result {
            Ok(r) => r,
            Err(e) => {
                notes.push(format!("{} could not run: {e}", o.subject));
                continue;
            }
        };
        let s = &r.summary;
        if let Some(st) = s.stopped {
            let why = match st.reason {
                StopReason::TimeBudget { .. } => format!(
                    "{}; its figures cover those events. Give it longer with \
                     --time-budget 5m, or no limit with --time-budget 0.",
                    st.reason
                ),
                _ => format!("{}; its figures cover those events.", st.reason),
            };
            notes.push(format!(
                "{} stopped after event {} of {} ({:.0}%): {why}",
                o.subject,
                thousands(st.at_event),
                thousands(st.of),
                st.percent(),
            ));
        }
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
                "{} of them while a free gap of the region (between or around its live blocks) was big enough",
                thousands(s.failed_with_fitting_gap)
            ));
        }
        if let Some(n) = s.failed_with_fitting_free_extent.filter(|&n| n > 0) {
            let mut part = format!("{} while one of its own free blocks was", thousands(n));
            if s.failed_no_descriptor > 0 {
                part.push_str(&format!(
                    " ({} of them because its arena table had no spare descriptor left to split that block)",
                    thousands(s.failed_no_descriptor)
                ));
            }
            why.push(part);
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
            bytes(end.free_bytes),
            bytes(s.capacity),
            thousands(end.free_blocks),
            bytes(end.largest_free),
        ));
    }
    notes
}

/// What goes under the summary table: its legend and a note on every
/// subject that could not run, stopped early or refused requests.
pub fn write_summary_notes(out: &mut impl std::io::Write, run: &Run) -> std::io::Result<()> {
    writeln!(out, "\n{SUMMARY_LEGEND}")?;
    for note in failure_notes(run) {
        writeln!(out, "\n{note}")?;
    }
    if !run.not_run.is_empty() {
        writeln!(
            out,
            "\nnot run (Ctrl-C came first): {}",
            run.not_run.join(", ")
        )?;
    }
    Ok(())
}

/// The `least waste:` line: the subject with the lowest footprint ratio
/// among those that replayed the whole trace and served every request,
/// aligned as asked.
pub fn least_waste(outcomes: &[Outcome]) -> Option<String> {
    let best = outcomes
        .iter()
        .filter_map(|o| o.complete().map(|r| (o, r)))
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
        bytes(r.summary.footprint_at_peak),
        bytes(r.summary.peak_live_bytes),
        r.summary.footprint_ratio,
        nanos(r.timing.ns_per_op),
    ))
}

/// The one-line description of a trace and its region.
pub fn trace_line(name: &str, stats: &TraceStats, capacity: usize) -> String {
    format!(
        "{name}: {} events ({} allocs, {} frees, {} reallocs), peak live {} in at most {} blocks; {} region per subject",
        thousands(stats.events),
        thousands(stats.allocs),
        thousands(stats.frees),
        thousands(stats.reallocs),
        bytes_exact(stats.peak_live_bytes),
        thousands(stats.max_live_blocks),
        bytes(capacity),
    )
}

/// Prints the trace's line and the summary table a row at a time as the
/// subjects finish, then the legend and the notes: the body of `replay` and
/// `simulate`.
pub fn stream_summary(
    out: &mut impl Write,
    trace: &Trace,
    names: &[String],
    capacity: usize,
    args: &OutputArgs,
    keep_arenas: bool,
) -> io::Result<Run> {
    // Ctrl-C is caught from here on: the rows printed are kept.
    interrupt_flag();
    let stats = trace.stats();
    writeln!(out, "{}", trace_line(&trace.name, &stats, capacity))?;
    let t = SummaryTable::new(names, capacity);
    writeln!(out, "\n{}", t.header())?;
    out.flush()?;
    let run = run_subjects(trace, names, capacity, args, keep_arenas, |o| {
        writeln!(out, "{}", t.row(o))?;
        out.flush()
    })?;
    write_summary_notes(out, &run)?;
    Ok(run)
}
