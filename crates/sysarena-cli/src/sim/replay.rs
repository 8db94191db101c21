//! `sysarena replay TRACE`: a recorded trace against one or more subjects.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use sysarena_sim::trace::{Trace, TraceFormat};

use super::{OutputArgs, SubjectArgs, TraceInfo, table};

/// Options of `replay`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "\
With no --subjects, every subject runs. Each has a time budget (--time-budget,
30 s by default): one too slow for the trace stops where the budget runs out,
its row says how much it replayed and a note under the table where and why;
the others finish. Rows print as subjects finish; Ctrl-C stops the replays
still running and prints what is done (a second Ctrl-C quits at once).

Example: sysarena replay traces/sqlite3.trace.gz")]
pub struct ReplayArgs {
    /// The trace file: native (`a id size [align]`, `f id`, `r id size`),
    /// CS:APP malloc-lab `.rep` or an OSTEP op list; gzip is detected.
    pub trace: PathBuf,
    /// Which subjects run (`--subjects`; every subject when not given).
    #[command(flatten)]
    pub subjects: SubjectArgs,
    /// How the trace is read (format, first N events) and each region's size.
    #[command(flatten)]
    pub input: TraceArgs,
    /// Output form, parallelism and each subject's time budget.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// How a trace file is read and how large each subject's region is.
#[derive(Clone, Debug, clap::Args)]
pub struct TraceArgs {
    /// The trace's format: native, malloc-lab or ostep [default: guessed —
    /// `.rep`, or a first line that is a lone number, is malloc-lab; a first
    /// op starting with `+` or `-` is OSTEP; anything else native].
    #[arg(long, value_parser = super::parse_format)]
    pub format: Option<TraceFormat>,
    /// Replay only the first N events (`20000`, `20k`, `1M`); every prefix
    /// of a valid trace is valid.
    #[arg(long, short = 'n', value_name = "N", value_parser = super::parse_max_events)]
    pub max_events: Option<usize>,
    /// Region size of each subject [units K, M, G, T, P, E].
    #[arg(long, default_value = "128MiB", value_parser = super::format::parse_capacity)]
    pub capacity: usize,
}

#[derive(Serialize)]
struct Json<'a> {
    trace: TraceInfo<'a>,
    capacity: usize,
    time_budget_seconds: Option<f64>,
    not_run: &'a [String],
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
    super::check_not_empty(&trace, &args.trace.display().to_string())?;
    let names = names.unwrap_or_else(sysarena_sim::registry::names);
    let capacity = args.input.capacity;
    let stats = trace.stats();
    if args.out.json {
        let run = super::run_subjects(&trace, &names, capacity, &args.out, false, |_| Ok(()))?;
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
                time_budget_seconds: args.out.budget.time_budget.0.map(|d| d.as_secs_f64()),
                not_run: &run.not_run,
                results: super::json_outcomes(&run.outcomes, args.out.series),
            },
        )?;
        return super::finish(&run);
    }
    let run = table::stream_summary(&mut out, &trace, &names, capacity, &args.out, false)?;
    if let Some(line) = table::least_waste(&run.outcomes) {
        writeln!(out, "\n{line}")?;
    }
    super::finish(&run)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_region_is_the_simulators() {
        assert_eq!(
            crate::sim::format::parse_size("128MiB"),
            Ok(sysarena_sim::registry::DEFAULT_CAPACITY)
        );
    }
}
