//! `sysarena compare (TRACE | --workload W)`: every subject on the same
//! input, ranked by the memory it needed.

use std::cmp::Ordering;
use std::io::{self, Write};
use std::path::PathBuf;

use clap::ArgGroup;
use serde::Serialize;
use sysarena_sim::metrics::Summary;
use sysarena_sim::registry::DEFAULT_CAPACITY;
use sysarena_sim::trace::{Trace, TraceFormat, TraceStats};
use sysarena_sim::workload::{Workload, WorkloadParams};

use super::{Outcome, OutputArgs, SubjectArgs, TraceInfo, WorkloadArgs, table};

/// Options of `compare`.
#[derive(Clone, Debug, clap::Args)]
#[command(group(ArgGroup::new("input").required(true).args(["trace", "workload"])))]
// The workload's knobs shape a generated workload only: with a trace they
// would be silently ignored (`--ops 1000` read as a limit on the events).
#[command(group(ArgGroup::new("knobs").multiple(true).conflicts_with("trace").args([
    "seed", "ops", "min_size", "max_size", "alloc_ratio", "realloc_ratio", "align",
])))]
#[command(after_help = super::workload_help())]
pub struct CompareArgs {
    /// A trace file to replay (native, malloc-lab `.rep` or OSTEP; gzip is
    /// detected).
    pub trace: Option<PathBuf>,
    /// Generate this workload instead of reading a trace (see the list
    /// below).
    #[arg(long, short, value_parser = super::parse_workload)]
    pub workload: Option<Workload>,
    /// Which subjects run (`--subjects`; every subject when not given).
    #[command(flatten)]
    pub subjects: SubjectArgs,
    /// Region size of each subject [default: 128MiB for a trace; for a
    /// workload 64KiB for checkerboard, 1MiB otherwise; units K, M, G, T, P, E].
    #[arg(long, value_parser = super::format::parse_capacity)]
    pub capacity: Option<usize>,
    /// The trace's format: native, malloc-lab or ostep [default: guessed].
    #[arg(long, value_parser = super::parse_format, conflicts_with = "workload")]
    pub format: Option<TraceFormat>,
    /// Replay only the trace's first N events (`20000`, `20k`).
    #[arg(long, short = 'n', value_name = "N", value_parser = super::parse_max_events, conflicts_with = "workload")]
    pub max_events: Option<usize>,
    /// The generated workload's knobs (seed, steps, sizes, ratios, alignment).
    #[command(flatten)]
    pub workload_args: WorkloadArgs,
    /// Output form, parallelism and each subject's time budget.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// One row of the ranking.
#[derive(Clone, Debug, Serialize)]
pub struct Rank {
    /// 1-based place.
    pub rank: usize,
    /// The subject.
    pub subject: String,
    /// Whether it replayed the whole trace (a subject stopped by its time
    /// budget or Ctrl-C ranks after every subject that did).
    pub complete: bool,
    /// Whether it served every request (those rank first).
    pub served_all: bool,
    /// Whether every block it served was aligned as asked (a subject that
    /// ignores alignment packs tighter than the others can: it ranks after
    /// every complete subject that kept it, with no `× best`).
    pub aligned: bool,
    /// Requests it refused.
    pub failed_requests: usize,
    /// Footprint at peak, bytes.
    pub footprint_at_peak: usize,
    /// Footprint at peak / peak live bytes.
    pub footprint_ratio: f64,
    /// `footprint_ratio` over the best one among subjects that served
    /// every request aligned as asked (below 1.0 for a subject that
    /// ignored alignment and packed tighter).
    pub footprint_vs_best: f64,
    /// Nanoseconds per subject call.
    pub ns_per_op: f64,
    /// `ns_per_op` over the fastest subject's.
    pub time_vs_best: f64,
}

fn rank_key(a: &Summary, b: &Summary) -> Ordering {
    a.stopped
        .is_some()
        .cmp(&b.stopped.is_some())
        .then((a.failed_requests > 0).cmp(&(b.failed_requests > 0)))
        .then(if a.failed_requests > 0 {
            a.failed_requests.cmp(&b.failed_requests)
        } else {
            Ordering::Equal
        })
        .then((a.misaligned_blocks > 0).cmp(&(b.misaligned_blocks > 0)))
        .then(a.footprint_ratio.total_cmp(&b.footprint_ratio))
}

/// Ranks the subjects that ran: those that replayed the whole trace and
/// served every request aligned as asked by footprint ratio, then those
/// that served it all but ignored alignment (their footprint is not like
/// for like), then those that refused requests by how many, then those
/// stopped early (their figures cover part of the trace).
pub fn rank(outcomes: &[Outcome]) -> Vec<Rank> {
    let mut ok: Vec<_> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok().map(|r| (o.subject.as_str(), r)))
        .collect();
    ok.sort_by(|a, b| rank_key(&a.1.summary, &b.1.summary).then(a.0.cmp(b.0)));
    // The best footprint: among subjects that served every request aligned
    // as asked, else among those that served every request, else all.
    let served: Vec<_> = ok
        .iter()
        .filter(|(_, r)| r.summary.failed_requests == 0 && r.summary.stopped.is_none())
        .collect();
    let aligned: Vec<_> = served
        .iter()
        .copied()
        .filter(|(_, r)| r.summary.misaligned_blocks == 0)
        .collect();
    let pool = if !aligned.is_empty() {
        aligned
    } else if !served.is_empty() {
        served
    } else {
        ok.iter().collect()
    };
    let best_ratio = pool
        .iter()
        .map(|(_, r)| r.summary.footprint_ratio)
        .filter(|&x| x > 0.0)
        .fold(f64::INFINITY, f64::min);
    let best_ns = ok
        .iter()
        .map(|(_, r)| r.timing.ns_per_op)
        .filter(|&x| x > 0.0)
        .fold(f64::INFINITY, f64::min);
    let vs = |x: f64, best: f64| if best.is_finite() { x / best } else { 0.0 };
    ok.iter()
        .enumerate()
        .map(|(i, (name, r))| Rank {
            rank: i + 1,
            subject: (*name).to_owned(),
            complete: r.summary.stopped.is_none(),
            served_all: r.summary.failed_requests == 0,
            aligned: r.summary.misaligned_blocks == 0,
            failed_requests: r.summary.failed_requests,
            footprint_at_peak: r.summary.footprint_at_peak,
            footprint_ratio: r.summary.footprint_ratio,
            footprint_vs_best: vs(r.summary.footprint_ratio, best_ratio),
            ns_per_op: r.timing.ns_per_op,
            time_vs_best: vs(r.timing.ns_per_op, best_ns),
        })
        .collect()
}

#[derive(Serialize)]
#[serde(untagged)]
enum Input<'a> {
    Trace(TraceInfo<'a>),
    Workload {
        workload: &'static str,
        params: &'a WorkloadParams,
        trace: &'a str,
        stats: TraceStats,
    },
}

#[derive(Serialize)]
struct Json<'a> {
    input: Input<'a>,
    capacity: usize,
    time_budget_seconds: Option<f64>,
    not_run: &'a [String],
    ranking: &'a [Rank],
    results: Vec<super::JsonOutcome<'a>>,
}

/// Runs `compare`.
pub fn run(args: &CompareArgs, mut out: impl Write) -> io::Result<()> {
    let names = args.subjects.resolve()?;
    let (trace, capacity, params): (Trace, usize, Option<WorkloadParams>) =
        match (&args.trace, args.workload) {
            (_, Some(w)) => {
                args.workload_args.check()?;
                let capacity = args.capacity.unwrap_or_else(|| super::workload_capacity(w));
                let params = args.workload_args.params(capacity);
                (w.generate(&params), capacity, Some(params))
            }
            (Some(path), None) => (
                super::load_trace(path, args.format, args.max_events, args.out.quiet)?,
                args.capacity.unwrap_or(DEFAULT_CAPACITY),
                None,
            ),
            (None, None) => unreachable!("clap requires TRACE or --workload"),
        };
    super::check_not_empty(
        &trace,
        &match &args.trace {
            Some(path) => path.display().to_string(),
            None => "the generated workload".to_owned(),
        },
    )?;
    let names = names.unwrap_or_else(sysarena_sim::registry::names);
    let json = args.out.json;
    // Where the progress bar shows (a terminal, not --quiet), so do these.
    let chatty = !json && !args.out.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let run = super::run_subjects(&trace, &names, capacity, &args.out, false, |o| {
        if chatty {
            // The ranking needs every subject: until then, say who finished.
            eprintln!("{}", finished_line(o));
        }
        Ok(())
    })?;
    let outcomes = &run.outcomes;
    let ranking = rank(outcomes);
    let stats = trace.stats();
    if json {
        let input = match (&args.trace, args.workload, &params) {
            (_, Some(w), Some(p)) => Input::Workload {
                workload: w.name(),
                params: p,
                trace: &trace.name,
                stats,
            },
            (Some(path), _, _) => Input::Trace(TraceInfo {
                path,
                name: &trace.name,
                format: args.format.map(TraceFormat::name),
                max_events: args.max_events,
                stats,
            }),
            _ => unreachable!("one input"),
        };
        super::print_json(
            &mut out,
            &Json {
                input,
                capacity,
                time_budget_seconds: args.out.budget.time_budget.0.map(|d| d.as_secs_f64()),
                not_run: &run.not_run,
                ranking: &ranking,
                results: super::json_outcomes(outcomes, args.out.series),
            },
        )?;
        return super::finish(&run);
    }
    writeln!(out, "{}", table::trace_line(&trace.name, &stats, capacity))?;
    let mut t = table::new_table(
        &[
            "#",
            "subject",
            "footprint at peak",
            "ratio",
            "× best",
            "failed (gap fit)",
            "ns/op",
            "× fastest",
            "replayed",
        ],
        &[true, false, true, true, true, true, true, true, true],
    );
    for r in &ranking {
        let o = outcomes
            .iter()
            .find(|o| o.subject == r.subject)
            .expect("ranked from outcomes");
        let s = &o.result.as_ref().expect("ranked subjects ran").summary;
        t.add_row(vec![
            r.rank.to_string(),
            table::subject_cell(&r.subject, s),
            super::format::bytes(r.footprint_at_peak),
            format!("{:.3}", r.footprint_ratio),
            if r.served_all && r.complete && r.aligned {
                format!("{:.2}", r.footprint_vs_best)
            } else {
                "—".into()
            },
            table::failed_cell(s),
            format!("{:.0}", r.ns_per_op),
            format!("{:.1}", r.time_vs_best),
            table::replayed_cell(s),
        ]);
    }
    for o in outcomes.iter().filter(|o| o.result.is_err()) {
        t.add_row(vec![
            "—".into(),
            o.subject.clone(),
            "could not run (see below)".into(),
        ]);
    }
    writeln!(out, "\n{}\n", table::render(&t))?;
    writeln!(
        out,
        "ratio = footprint at peak / peak live bytes ({} peak live; 1.000 wastes nothing);\n\
         subjects that ignored alignment, refused requests or stopped early rank last, with no × best (their peak is not comparable).",
        super::format::bytes_exact(stats.peak_live_bytes)
    )?;
    for note in table::failure_notes(&run) {
        writeln!(out, "{note}")?;
    }
    if !run.not_run.is_empty() {
        writeln!(
            out,
            "not run (Ctrl-C came first): {}",
            run.not_run.join(", ")
        )?;
    }
    super::finish(&run)
}

/// The line `compare` prints on stderr as a subject finishes (the ranking
/// waits for all of them).
fn finished_line(o: &Outcome) -> String {
    match &o.result {
        Ok(r) => match r.summary.stopped {
            None => format!(
                "finished {}: ratio {:.3}, {:.0} ns/op",
                o.subject, r.summary.footprint_ratio, r.timing.ns_per_op
            ),
            Some(st) => format!("stopped {}: {st}", o.subject),
        },
        Err(e) => format!("could not run {}: {e}", o.subject),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sysarena_sim::budget::TickClock;
    use sysarena_sim::registry;
    use sysarena_sim::replay::{Controls, ReplayOptions, replay_controlled};
    use sysarena_sim::workload::{Workload, WorkloadParams};

    use super::*;

    /// `name` on a plateau workload, with a budget of `budget` readings of a
    /// 1 ns tick clock.
    fn outcome(name: &str, budget: Option<u64>) -> Outcome {
        let trace = Workload::Plateau.generate(&WorkloadParams::default());
        let mut s = registry::by_name(name, 1 << 20).unwrap();
        let options = ReplayOptions {
            time_budget: budget.map(Duration::from_nanos),
            ..ReplayOptions::default()
        };
        let result = replay_controlled(
            &trace,
            s.as_mut(),
            &options,
            Controls {
                progress: &mut |_| {},
                clock: &mut TickClock::new(Duration::from_nanos(1)),
                stop: None,
            },
        )
        .map_err(|e| e.to_string());
        Outcome {
            subject: name.to_owned(),
            result,
            arenas: None,
        }
    }

    #[test]
    fn a_stopped_subject_ranks_after_every_complete_one_and_sets_no_best() {
        // buddy wastes the most of the three on the plateau; stopped early,
        // rlsf's figures cover a prefix and must not set the best.
        let outcomes = [
            outcome("rlsf", Some(1000)),
            outcome("buddy", None),
            outcome("talc", None),
        ];
        assert!(
            outcomes[0]
                .result
                .as_ref()
                .unwrap()
                .summary
                .stopped
                .is_some()
        );
        let ranking = rank(&outcomes);
        assert_eq!(ranking.len(), 3);
        assert_eq!(ranking[2].subject, "rlsf");
        assert!(!ranking[2].complete);
        assert!(ranking[..2].iter().all(|r| r.complete));
        assert_eq!(ranking[0].footprint_vs_best, 1.0);
        assert!(ranking[1].footprint_vs_best >= 1.0);
    }

    #[test]
    fn a_subject_that_ignores_alignment_ranks_after_every_aligned_one() {
        // offset-allocator hands out blocks at any offset: over a trace
        // that asks for alignment it packs tighter than the subjects that
        // keep it, and must not rank first or set the best.
        let trace = Trace::from_path(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../traces/python-jsontool.trace.gz"
            ),
            None,
            Some(20_000),
        )
        .unwrap();
        let outcomes: Vec<Outcome> = ["offset-allocator", "talc", "dlmalloc"]
            .iter()
            .map(|name| {
                let mut s = registry::by_name(name, DEFAULT_CAPACITY).unwrap();
                let result =
                    sysarena_sim::replay::replay(&trace, s.as_mut(), &ReplayOptions::default())
                        .map_err(|e| e.to_string());
                Outcome {
                    subject: (*name).to_owned(),
                    result,
                    arenas: None,
                }
            })
            .collect();
        let misaligned = |o: &Outcome| o.result.as_ref().unwrap().summary.misaligned_blocks;
        assert!(misaligned(&outcomes[0]) > 0, "the trace asks for alignment");
        let ranking = rank(&outcomes);
        assert_eq!(ranking[2].subject, "offset-allocator");
        assert!(!ranking[2].aligned && ranking[..2].iter().all(|r| r.aligned));
        assert_eq!(ranking[0].footprint_vs_best, 1.0);
    }
}
