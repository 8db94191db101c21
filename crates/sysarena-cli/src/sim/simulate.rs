//! `sysarena simulate WORKLOAD`: a seeded workload against one or more
//! subjects.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use sysarena_sim::trace::{Trace, TraceStats};
use sysarena_sim::workload::{Workload, WorkloadParams};

use super::format::{bytes, count, thousands};
use super::{OutputArgs, SubjectArgs, WorkloadArgs, table};
use crate::heapmap::HeapMap;

/// Options of `simulate`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = super::workload_help())]
pub struct SimulateArgs {
    /// The workload to generate (see the list below).
    #[arg(value_parser = super::parse_workload)]
    pub workload: Workload,
    /// Which subjects run (`--subjects`; every subject when not given).
    #[command(flatten)]
    pub subjects: SubjectArgs,
    /// Region size of each subject, which the workload also aims at
    /// [default: 64KiB for checkerboard, 1MiB otherwise; units K, M, G, T, P, E].
    #[arg(long, value_parser = super::format::parse_capacity)]
    pub capacity: Option<usize>,
    /// The generated workload's knobs (seed, steps, sizes, ratios, alignment).
    #[command(flatten)]
    pub workload_args: WorkloadArgs,
    /// Also write the generated trace to FILE (native format), to replay it
    /// later or elsewhere.
    #[arg(long, value_name = "FILE")]
    pub save_trace: Option<PathBuf>,
    /// Width of the heap maps drawn for sysarena subjects, 8 to 1000 cells
    /// (drawn when at most three subjects run and the table is small enough
    /// to draw).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(8..=1000))]
    pub width: u16,
    /// Output form, parallelism and each subject's time budget.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Heap maps are drawn for at most this many subjects.
const MAP_SUBJECTS: usize = 3;

#[derive(Serialize)]
struct Json<'a> {
    workload: &'static str,
    params: &'a WorkloadParams,
    trace: &'a str,
    stats: TraceStats,
    capacity: usize,
    time_budget_seconds: Option<f64>,
    not_run: &'a [String],
    results: Vec<super::JsonOutcome<'a>>,
}

/// Runs `simulate`.
pub fn run(args: &SimulateArgs, mut out: impl Write) -> io::Result<()> {
    args.workload_args.check()?;
    let capacity = args
        .capacity
        .unwrap_or_else(|| super::workload_capacity(args.workload));
    let params = args.workload_args.params(capacity);
    let names = args
        .subjects
        .resolve()?
        .unwrap_or_else(sysarena_sim::registry::names);
    let trace: Trace = args.workload.generate(&params);
    super::check_not_empty(&trace, &format!("the {} workload", args.workload))?;
    if let Some(path) = &args.save_trace {
        let file = std::fs::File::create(path)
            .map_err(|e| super::user_error(format!("{}: {e}", path.display())))?;
        trace
            .write_native(io::BufWriter::new(file))
            .map_err(|e| super::user_error(format!("{}: {e}", path.display())))?;
    }
    let want_maps = !args.out.json && names.len() <= MAP_SUBJECTS;
    let stats = trace.stats();
    if args.out.json {
        let run = super::run_subjects(&trace, &names, capacity, &args.out, false, |_| Ok(()))?;
        super::print_json(
            &mut out,
            &Json {
                workload: args.workload.name(),
                params: &params,
                trace: &trace.name,
                stats,
                capacity,
                time_budget_seconds: args.out.budget.time_budget.0.map(|d| d.as_secs_f64()),
                not_run: &run.not_run,
                results: super::json_outcomes(&run.outcomes, args.out.series),
            },
        )?;
        return super::finish(&run);
    }
    let run = table::stream_summary(&mut out, &trace, &names, capacity, &args.out, want_maps)?;
    for o in &run.outcomes {
        if let Some(arenas) = &o.arenas {
            draw_map(
                &mut out,
                &o.subject,
                arenas,
                capacity,
                usize::from(args.width),
            )?;
        }
    }
    if let Some(path) = &args.save_trace {
        writeln!(out, "\ntrace written to {}", path.display())?;
    }
    super::finish(&run)
}

/// Draws a sysarena subject's arenas at the end of the run with the shared
/// heap-map model.
fn draw_map(
    out: &mut impl Write,
    subject: &str,
    arenas: &[sysarena::ArenaInfo],
    capacity: usize,
    width: usize,
) -> io::Result<()> {
    if arenas.len() > width.max(1) * 2 {
        writeln!(
            out,
            "\n{subject}: {} arenas at the end, too many to draw (try --capacity 64KiB)",
            thousands(arenas.len())
        )?;
        return Ok(());
    }
    // Label in-use arenas A, B, C... in address order.
    let mut order = std::collections::HashMap::new();
    for a in arenas.iter().filter(|a| a.in_use) {
        let n = order.len();
        order.insert(a.offset, n);
    }
    let map = HeapMap::new(arenas, capacity, width, |a| order.get(&a.offset).copied());
    let line = map.render_line(crate::heapmap::label);
    let free: usize = arenas.iter().filter(|a| !a.in_use).map(|a| a.size).sum();
    // Cached arenas (the fast model's quick lists) are free but never the
    // largest the map marks (`Stats::largest_free` counts them too: the
    // line says which it means when they differ).
    let largest = arenas
        .iter()
        .filter(|a| !a.in_use && !a.cached)
        .map(|a| a.size)
        .max()
        .unwrap_or(0);
    let cached = sysarena::Stats {
        cached_bytes: arenas.iter().filter(|a| a.cached).map(|a| a.size).sum(),
        cached_arenas: arenas.iter().filter(|a| a.cached).count(),
        ..Default::default()
    };
    writeln!(out, "\n{subject} at the end ({}):", map.scale_note())?;
    writeln!(out, "  |{line}|")?;
    writeln!(
        out,
        "  {} free in {}{}, the largest {}{}",
        bytes(free),
        count(
            arenas.iter().filter(|a| !a.in_use).count(),
            "arena",
            "arenas"
        ),
        crate::heapmap::cached_note(&cached),
        if cached.cached_arenas > 0 {
            "not cached "
        } else {
            ""
        },
        bytes(largest)
    )?;
    writeln!(out, "  {}", HeapMap::legend())?;
    if map.has_cached() {
        writeln!(out, "  {}", HeapMap::legend_cached())?;
    }
    if crate::heapmap::labels_repeat(order.values().copied()) {
        writeln!(out, "  {}", crate::heapmap::LABEL_NOTE)?;
    }
    Ok(())
}
