//! `sysarena replay TRACE`: a recorded trace against one or more subjects.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use sysarena_sim::trace::{Trace, TraceFormat};

use super::format::thousands;
use super::{OutputArgs, SubjectArgs, TraceInfo, table};

/// Options of `replay`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "\
With no --subjects, every subject runs, except that on a trace of more than
100,000 events sysarena/next-fit/deferred is left out (its time grows with
the square of the trace); `--subjects all` includes it.

Example: sysarena replay traces/sqlite3.trace.gz")]
pub struct ReplayArgs {
    /// The trace file: native (`a id size [align]`, `f id`, `r id size`),
    /// CS:APP malloc-lab `.rep` or an OSTEP op list; gzip is detected.
    pub trace: PathBuf,
    #[command(flatten)]
    pub subjects: SubjectArgs,
    #[command(flatten)]
    pub input: TraceArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// How a trace file is read and how large each subject's region is.
#[derive(Clone, Debug, clap::Args)]
pub struct TraceArgs {
    /// The trace's format: native, malloc-lab or ostep [default: guessed —
    /// `.rep` is malloc-lab, a first op starting with `+` or `-` is OSTEP,
    /// anything else native].
    #[arg(long, value_parser = super::parse_format)]
    pub format: Option<TraceFormat>,
    /// Replay only the first N events (`20000`, `20k`, `1M`); every prefix
    /// of a valid trace is valid.
    #[arg(long, short = 'n', value_name = "N", value_parser = super::parse_events)]
    pub max_events: Option<usize>,
    /// Region size of each subject [units K, M, G].
    #[arg(long, default_value = "128MiB", value_parser = super::format::parse_size)]
    pub capacity: usize,
}

/// Subjects left out of the default set on long traces: next fit with
/// deferred coalescing never merges, so its free arenas grow with the trace
/// and its roving search walks them — time grows with the square of the
/// trace. Measured on `sqlite3.trace.gz` (release build): 1.3 s for the
/// first 50k events, 6.9 s for 100k, 30 s for 200k; the full 1.1 M events
/// did not finish in 300 s (every other subject takes 0.5–8 s). `--subjects
/// all` includes it.
pub const SLOW_SUBJECTS: &[&str] = &["sysarena/next-fit/deferred"];

/// Traces longer than this leave [`SLOW_SUBJECTS`] out by default.
pub const SLOW_THRESHOLD: usize = 100_000;

/// The default subject set for a trace of `events` events, and the names
/// left out.
pub fn default_subjects(events: usize) -> (Vec<String>, Vec<String>) {
    let all = sysarena_sim::subjects::names();
    if events <= SLOW_THRESHOLD {
        return (all, Vec::new());
    }
    all.into_iter()
        .partition(|n| !SLOW_SUBJECTS.contains(&n.as_str()))
}

/// The note printed when subjects were left out.
pub fn left_out_note(left_out: &[String], events: usize) -> String {
    format!(
        "note: left out {}: its time grows with the square of the trace (minutes on {} events);\n      \
         add `--subjects all` to include it, or `--max-events 100k` to replay a prefix",
        left_out.join(", "),
        thousands(events)
    )
}

#[derive(Serialize)]
struct Json<'a> {
    trace: TraceInfo<'a>,
    capacity: usize,
    left_out: &'a [String],
    results: Vec<super::JsonOutcome<'a>>,
}

/// Runs `replay`.
pub fn run(args: &ReplayArgs, mut out: impl Write) -> io::Result<()> {
    let names = args.subjects.resolve()?;
    let trace: Trace = super::load_trace(
        &args.trace,
        args.input.format,
        args.input.max_events,
        args.out.quiet,
    )?;
    let (names, left_out) = match names {
        Some(n) => (n, Vec::new()),
        None => default_subjects(trace.events.len()),
    };
    let capacity = args.input.capacity;
    let outcomes = super::run_subjects(&trace, &names, capacity, &args.out, false);
    let stats = trace.stats();
    if args.out.json {
        super::print_json(
            &mut out,
            &Json {
                trace: TraceInfo {
                    path: &args.trace,
                    name: &trace.name,
                    format: args.input.format.map(TraceFormat::name),
                    max_events: args.input.max_events,
                    stats,
                },
                capacity,
                left_out: &left_out,
                results: super::json_outcomes(&outcomes, args.out.series),
            },
        )?;
        return super::errors_to_result(&outcomes);
    }
    writeln!(
        out,
        "{}",
        super::simulate::trace_line(&trace.name, &stats, capacity)
    )?;
    if !left_out.is_empty() {
        writeln!(out, "{}", left_out_note(&left_out, trace.events.len()))?;
    }
    table::write_summary(&mut out, &outcomes)?;
    if let Some(line) = table::least_waste(&outcomes) {
        writeln!(out, "\n{line}")?;
    }
    super::errors_to_result(&outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_region_is_the_simulators() {
        assert_eq!(
            crate::sim::format::parse_size("128MiB"),
            Ok(sysarena_sim::subjects::DEFAULT_CAPACITY)
        );
    }

    #[test]
    fn slow_subjects_are_real_names_and_left_out_only_on_long_traces() {
        let names = sysarena_sim::subjects::names();
        for s in SLOW_SUBJECTS {
            assert!(names.iter().any(|n| n == s), "{s}");
        }
        assert!(default_subjects(1000).1.is_empty());
        let (kept, left) = default_subjects(SLOW_THRESHOLD + 1);
        assert_eq!(left.len(), SLOW_SUBJECTS.len());
        assert_eq!(kept.len() + left.len(), names.len());
    }
}
