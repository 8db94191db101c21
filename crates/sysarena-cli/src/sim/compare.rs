//! `sysarena compare (TRACE | --workload W)`: every subject on the same
//! input, ranked by the memory it needed.

use std::cmp::Ordering;
use std::io::{self, Write};
use std::path::PathBuf;

use clap::ArgGroup;
use serde::Serialize;
use sysarena_sim::metrics::Summary;
use sysarena_sim::subjects::DEFAULT_CAPACITY;
use sysarena_sim::trace::{Trace, TraceFormat, TraceStats};
use sysarena_sim::workload::{Workload, WorkloadParams};

use super::{Outcome, OutputArgs, SubjectArgs, TraceInfo, WorkloadArgs, table};

/// Options of `compare`.
#[derive(Clone, Debug, clap::Args)]
#[command(group(ArgGroup::new("input").required(true).args(["trace", "workload"])))]
#[command(after_help = super::workload_help())]
pub struct CompareArgs {
    /// A trace file to replay (native, malloc-lab `.rep` or OSTEP; gzip is
    /// detected).
    pub trace: Option<PathBuf>,
    /// Generate this workload instead of reading a trace (see the list
    /// below).
    #[arg(long, short, value_parser = super::parse_workload)]
    pub workload: Option<Workload>,
    #[command(flatten)]
    pub subjects: SubjectArgs,
    /// Region size of each subject [default: 128MiB for a trace; for a
    /// workload 64KiB for checkerboard, 1MiB otherwise; units K, M, G].
    #[arg(long, value_parser = super::format::parse_size)]
    pub capacity: Option<usize>,
    /// The trace's format: native, malloc-lab or ostep [default: guessed].
    #[arg(long, value_parser = super::parse_format, conflicts_with = "workload")]
    pub format: Option<TraceFormat>,
    /// Replay only the trace's first N events (`20000`, `20k`).
    #[arg(long, short = 'n', value_name = "N", value_parser = super::parse_events, conflicts_with = "workload")]
    pub max_events: Option<usize>,
    #[command(flatten)]
    pub workload_args: WorkloadArgs,
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
    /// Whether it served every request (those rank first).
    pub served_all: bool,
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
    (a.failed_requests > 0)
        .cmp(&(b.failed_requests > 0))
        .then(if a.failed_requests > 0 {
            a.failed_requests.cmp(&b.failed_requests)
        } else {
            Ordering::Equal
        })
        .then(a.footprint_ratio.total_cmp(&b.footprint_ratio))
}

/// Ranks the subjects that ran: those that served every request by
/// footprint ratio, then the others by how many requests they refused.
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
        .filter(|(_, r)| r.summary.failed_requests == 0)
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
            served_all: r.summary.failed_requests == 0,
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
    left_out: &'a [String],
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
    let (names, left_out) = match names {
        Some(n) => (n, Vec::new()),
        None => super::replay::default_subjects(trace.events.len()),
    };
    let outcomes = super::run_subjects(&trace, &names, capacity, &args.out, false);
    let ranking = rank(&outcomes);
    let stats = trace.stats();
    if args.out.json {
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
                left_out: &left_out,
                ranking: &ranking,
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
        writeln!(
            out,
            "{}",
            super::replay::left_out_note(&left_out, trace.events.len())
        )?;
    }
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
        ],
        &[true, false, true, true, true, true, true, true],
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
            crate::heapmap::fmt_bytes(r.footprint_at_peak),
            format!("{:.3}", r.footprint_ratio),
            if r.served_all {
                format!("{:.2}", r.footprint_vs_best)
            } else {
                "—".into()
            },
            table::failed_cell(s),
            format!("{:.0}", r.ns_per_op),
            format!("{:.1}", r.time_vs_best),
        ]);
    }
    for o in outcomes.iter().filter(|o| o.result.is_err()) {
        let e = o.result.as_ref().expect_err("filtered");
        t.add_row(vec!["—".into(), o.subject.clone(), format!("error: {e}")]);
    }
    writeln!(out, "\n{}\n", table::render(&t))?;
    writeln!(
        out,
        "ratio = footprint at peak / peak live bytes ({} peak live; 1.000 wastes nothing);\n\
         subjects that refused requests rank last, with no × best (their peak is not comparable).",
        super::format::bytes_exact(stats.peak_live_bytes)
    )?;
    for note in table::failure_notes(&outcomes) {
        writeln!(out, "{note}")?;
    }
    super::errors_to_result(&outcomes)
}
