//! `sysarena-bench`: sysarena against its peers on identical, seeded
//! workloads, in one process, each subject over its own 128 MiB region.
//!
//! The workloads (issue 3, "How it is measured"; 2b from issue 14):
//!
//! 1. **random actions** — operations per second on a stream of allocs,
//!    frees and reallocs, for max sizes 200 … 30000 ([`random_actions`]);
//! 2. **heap efficiency** — live requested bytes / region size at the
//!    first refused request, averaged over rounds ([`heap_efficiency`]);
//!    **heap efficiency with relocation** — the same stream against a
//!    `Movable` that, on a refused request, moves live allocations to
//!    gather its free space and asks again; scored when that is refused too
//!    ([`heap_efficiency_moving`]; sysarena only);
//! 3. **latency** — cycles per alloc, free and realloc call (rdtsc),
//!    p50/p99/p99.9/max, and realloc's again by path: in place smaller, in
//!    place larger, moved ([`latency`]);
//! 4. **traces** — replay of the recorded real traces: time, footprint at
//!    peak / peak live bytes and / the alignment floor ([`traces`]);
//! 5. **defrag** — the manager's cost of gathering all free space by moving
//!    live allocations after a real trace, against the classic defragment
//!    ([`defrag`]; sysarena only: no peer moves live allocations).
//!
//! Every subject is built by the simulator's adapters
//! (`sysarena_sim::registry`, [`roster`]); ratios are to talc. Run in
//! release:
//!
//! ```text
//! cargo run --release -p sysarena-bench -- [--quick] [--workload NAME] [--csv DIR]
//! ```

mod clock;
mod defrag;
mod heap_efficiency;
mod heap_efficiency_moving;
mod latency;
mod ops;
mod random_actions;
mod report;
mod rng;
mod roster;
mod traces;

use std::path::PathBuf;
use std::process::ExitCode;

use report::{Progress, Table};

/// The workloads, by command-line name.
const WORKLOADS: &[(&str, &str)] = &[
    (
        "random-actions",
        "operations per second on random allocs, frees and reallocs",
    ),
    (
        "heap-efficiency",
        "live requested bytes / region at the first failure",
    ),
    (
        "heap-efficiency-moving",
        "the same, a Movable that relocates on refusal and retries (sysarena only)",
    ),
    (
        "latency",
        "cycles per call, p50/p99/p99.9/max; realloc by path",
    ),
    ("traces", "replay of the real traces: time and footprint"),
    (
        "defrag",
        "defragmentation by moving after a real trace: the manager's cost",
    ),
];

/// Every flag: name, value, help. The help text is built from this table.
const FLAGS: &[(&str, &str, &str)] = &[
    (
        "--quick",
        "",
        "a short run for CI: small op counts, one trace prefix",
    ),
    (
        "--workload",
        "NAME[,NAME]",
        "run only these workloads (see below; default: all)",
    ),
    (
        "--csv",
        "DIR",
        "also write each result table as CSV into DIR",
    ),
    (
        "--subjects",
        "NAME[,NAME]",
        "run only these subjects (default: the whole roster)",
    ),
    (
        "--max",
        "N[,N]",
        "random actions: the max sizes (default 200,1000,3000,10000,30000)",
    ),
    (
        "--ops",
        "N",
        "random actions and latency: timed operations per trial",
    ),
    (
        "--trials",
        "N",
        "timed trials (random actions, latency, traces); the median is reported",
    ),
    (
        "--rounds",
        "N",
        "heap efficiency (both workloads): rounds per subject",
    ),
    (
        "--gather",
        "WAY[,WAY]",
        "heap efficiency moving: relocate (default) and/or passes (slow: ~1 min a round)",
    ),
    (
        "--latency-max",
        "N",
        "latency: the random-actions max size (default 1000)",
    ),
    (
        "--traces",
        "NAME[,NAME]",
        "traces to replay (default sqlite3,python-jsontool,perl-wordfreq)",
    ),
    (
        "--trace-dir",
        "DIR",
        "where the traces are (default: traces/ in the workspace root)",
    ),
    (
        "--prefix",
        "N",
        "replay only the first N events of each trace",
    ),
    ("--seed", "N", "the workloads' seed"),
    ("--help", "", "this text"),
];

/// The parsed command line.
#[derive(Clone, Debug)]
struct Options {
    quick: bool,
    workloads: Vec<String>,
    csv: Option<PathBuf>,
    subjects: Vec<String>,
    maxes: Vec<usize>,
    ops: Option<usize>,
    trials: Option<usize>,
    rounds: Option<usize>,
    gather: Vec<heap_efficiency_moving::Gather>,
    latency_max: usize,
    traces: Vec<String>,
    trace_dir: PathBuf,
    prefix: Option<usize>,
    seed: u64,
}

fn help() -> String {
    let mut s = String::from(
        "sysarena-bench: sysarena against its peers on identical seeded workloads\n\n\
         usage: cargo run --release -p sysarena-bench -- [FLAGS]\n\nflags:\n",
    );
    for (flag, value, text) in FLAGS {
        s.push_str(&format!("  {:<28} {text}\n", format!("{flag} {value}")));
    }
    s.push_str("\nworkloads:\n");
    for (name, text) in WORKLOADS {
        s.push_str(&format!("  {name:<28} {text}\n"));
    }
    s.push_str("\nsubjects:\n");
    for name in roster::ROSTER {
        s.push_str(&format!("  {name}\n"));
    }
    s.push_str(
        "\na sysarena subject also takes a suffix:\n  \
         +offsets  every free and realloc by offset alone (no hint), as malloc's must\n  \
         +nomap    no offset map: every free and realloc by hint\n  \
         +defrag   a refused request defragments and retries\n",
    );
    s
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.replace('_', "")
        .parse()
        .map_err(|_| format!("{flag}: `{v}` is not a number"))
}

/// [`number`], at least 1 (a run of 0 trials or operations measures
/// nothing).
fn positive<T: std::str::FromStr + PartialOrd + From<u8>>(
    flag: &str,
    v: &str,
) -> Result<T, String> {
    let n: T = number(flag, v)?;
    if n < T::from(1u8) {
        return Err(format!("{flag}: give at least 1, not `{v}`"));
    }
    Ok(n)
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        quick: false,
        workloads: Vec::new(),
        csv: None,
        subjects: Vec::new(),
        maxes: vec![200, 1000, 3000, 10000, 30000],
        ops: None,
        trials: None,
        rounds: None,
        gather: vec![heap_efficiency_moving::Gather::Relocate],
        latency_max: 1000,
        traces: traces::TRACES.iter().map(|s| (*s).to_owned()).collect(),
        trace_dir: default_trace_dir(),
        prefix: None,
        seed: 0x5eed_a7e4a,
    };
    let mut named_traces = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let Some((_, value, _)) = FLAGS.iter().find(|(f, _, _)| *f == flag) else {
            return Err(format!("unknown argument `{arg}` (try --help)"));
        };
        let v = if value.is_empty() {
            if inline.is_some() {
                return Err(format!("{flag} takes no value (`{arg}`)"));
            }
            String::new()
        } else {
            match inline.or_else(|| it.next().cloned()) {
                Some(v) => v,
                None => return Err(format!("{flag} needs a value ({value})")),
            }
        };
        match flag {
            "--help" => return Ok(None),
            "--quick" => o.quick = true,
            "--workload" => o.workloads.extend(list(&v)),
            "--csv" => o.csv = Some(PathBuf::from(v)),
            "--subjects" => {
                let names = list(&v);
                if names.is_empty() {
                    return Err(format!("--subjects: `{v}` names no subject"));
                }
                o.subjects.extend(names);
            }
            "--max" => {
                o.maxes = list(&v)
                    .iter()
                    .map(|m| number(flag, m))
                    .collect::<Result<_, _>>()?;
                if let Some(m) = o.maxes.iter().find(|&&m| m <= 16) {
                    return Err(format!("--max: {m} must exceed 16"));
                }
            }
            "--ops" => o.ops = Some(positive(flag, &v)?),
            "--trials" => o.trials = Some(positive(flag, &v)?),
            "--rounds" => o.rounds = Some(positive(flag, &v)?),
            "--gather" => {
                o.gather = list(&v)
                    .iter()
                    .map(|w| {
                        heap_efficiency_moving::Gather::parse(w).ok_or_else(|| {
                            format!("--gather: `{w}` is not a way (relocate, passes)")
                        })
                    })
                    .collect::<Result<_, _>>()?;
                if o.gather.is_empty() {
                    return Err("--gather: name a way (relocate, passes)".into());
                }
            }
            "--latency-max" => {
                o.latency_max = number(flag, &v)?;
                if o.latency_max <= 16 {
                    return Err("--latency-max must exceed 16".into());
                }
            }
            "--traces" => {
                o.traces = list(&v);
                named_traces = true;
            }
            "--trace-dir" => o.trace_dir = PathBuf::from(v),
            "--prefix" => o.prefix = Some(number(flag, &v)?),
            // The tables print the seed in hex: it pastes back.
            "--seed" => {
                o.seed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                    Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16)
                        .map_err(|_| format!("{flag}: `{v}` is not a number"))?,
                    None => number(flag, &v)?,
                }
            }
            _ => unreachable!("every flag in FLAGS is handled"),
        }
    }
    if o.workloads.iter().any(|w| w == "all") {
        o.workloads.clear();
    }
    if o.workloads.is_empty() {
        o.workloads = WORKLOADS.iter().map(|(n, _)| (*n).to_owned()).collect();
    }
    for w in &o.workloads {
        if !WORKLOADS.iter().any(|(n, _)| n == w) {
            let known: Vec<&str> = WORKLOADS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "unknown workload `{w}` (known: {})",
                known.join(", ")
            ));
        }
    }
    if o.subjects.is_empty() {
        o.subjects = roster::ROSTER.iter().map(|s| (*s).to_owned()).collect();
    } else {
        // Every name checked (and the groups `all`, `sysarena`, `peers`
        // expanded) before anything runs: a typo ran the whole benchmark
        // with `error` cells and exited 0.
        o.subjects =
            sysarena_sim::registry::resolve(&o.subjects).map_err(|e| format!("--subjects: {e}"))?;
    }
    if o.quick {
        if o.prefix.is_none() {
            o.prefix = Some(20_000);
        }
        // `--quick` shortens the default run to one trace; traces named
        // with `--traces` all run.
        if !named_traces && o.traces.len() > 1 {
            o.traces.truncate(1);
        }
    }
    if o.workloads.iter().any(|w| w == "traces") {
        for t in &o.traces {
            let path = o.trace_dir.join(format!("{t}.trace.gz"));
            if !path.is_file() {
                return Err(format!(
                    "--traces: no trace `{t}` ({} is not a file)",
                    path.display()
                ));
            }
        }
    }
    Ok(Some(o))
}

/// `traces/` in the workspace root: the root this binary was built in, else
/// the current directory or its parent (the first that exists; the built-in
/// one when none does).
fn default_trace_dir() -> PathBuf {
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../traces");
    let cwd = std::env::current_dir().unwrap_or_default();
    [built.clone(), cwd.join("traces"), cwd.join("../traces")]
        .into_iter()
        .find(|d| d.is_dir())
        .unwrap_or(built)
}

/// The CPU model from /proc/cpuinfo, if any.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Howard Hinnant's civil_from_days.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{}", help());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sysarena-bench: {e}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("sysarena-bench: warning: a debug build; measure with --release");
    }
    let subjects: Vec<&str> = o.subjects.iter().map(String::as_str).collect();
    let wants = |w: &str| o.workloads.iter().any(|x| x == w);
    let trials = o.trials.unwrap_or(if o.quick { 1 } else { 3 });
    println!("# sysarena-bench results\n");
    println!(
        "- command: `sysarena-bench{}` (`cargo run --release -p sysarena-bench --` and the same arguments)",
        args.iter().map(|a| format!(" {a}")).collect::<String>()
    );
    println!(
        "- machine: {}, {} logical CPUs, {}",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    println!("- date: {} (UTC)", today());
    println!(
        "- mode: {}{}; subjects over their own {} MiB region each; ratios are to talc",
        if o.quick { "quick" } else { "full" },
        if cfg!(debug_assertions) {
            " (DEBUG BUILD: timings mean nothing)"
        } else {
            ""
        },
        roster::CAPACITY >> 20
    );
    println!();
    let mut progress = Progress::new();
    let mut all: Vec<(String, Vec<Table>, Table)> = Vec::new();
    if wants("random-actions") {
        let p = random_actions::Params {
            maxes: o.maxes.clone(),
            warmup: if o.quick { 2_000 } else { 200_000 },
            ops: o.ops.unwrap_or(if o.quick { 20_000 } else { 2_000_000 }),
            trials,
            seed: o.seed,
        };
        let [speed, ratios, csv] = random_actions::run(&subjects, &p, &mut progress);
        show(&mut progress, &[&ratios, &speed]);
        all.push(("random_actions.csv".into(), vec![ratios, speed], csv));
    }
    if wants("heap-efficiency") {
        let p = heap_efficiency::Params {
            rounds: o.rounds.unwrap_or(if o.quick { 2 } else { 50 }),
            seed: o.seed,
        };
        let [t, csv] = heap_efficiency::run(&subjects, &p, &mut progress);
        show(&mut progress, &[&t]);
        all.push(("heap_efficiency.csv".into(), vec![t], csv));
    }
    if wants("heap-efficiency-moving") {
        let p = heap_efficiency_moving::Params {
            rounds: o.rounds.unwrap_or(if o.quick { 2 } else { 50 }),
            gather: o.gather.clone(),
            seed: o.seed,
        };
        let [t, csv] = heap_efficiency_moving::run(&p, &mut progress);
        show(&mut progress, &[&t]);
        all.push(("heap_efficiency_moving.csv".into(), vec![t], csv));
    }
    if wants("latency") {
        let p = latency::Params {
            max: o.latency_max,
            warmup: if o.quick { 2_000 } else { 100_000 },
            ops: o.ops.unwrap_or(if o.quick { 20_000 } else { 1_000_000 }),
            trials,
            seed: o.seed,
        };
        let mut tables = latency::run(&subjects, &p, &mut progress);
        let csv = tables.pop().expect("latency returns its CSV last");
        show(&mut progress, &tables.iter().collect::<Vec<_>>());
        println!(
            "(time-stamp counter: {:.3} ticks per ns)\n",
            latency::ticks_per_ns()
        );
        all.push(("latency.csv".into(), tables, csv));
    }
    if wants("traces") {
        let p = traces::Params {
            dir: o.trace_dir.clone(),
            traces: o.traces.clone(),
            prefix: o.prefix,
            trials,
        };
        let mut tables = traces::run(&subjects, &p, &mut progress);
        let csv = tables.pop().expect("traces returns its CSV last");
        show(&mut progress, &tables.iter().collect::<Vec<_>>());
        all.push(("traces.csv".into(), tables, csv));
    }
    if wants("defrag") {
        let p = defrag::Params {
            dir: o.trace_dir.clone(),
            traces: o.traces.clone(),
            prefix: o.prefix.unwrap_or(50_000),
            trials,
        };
        let [t, csv] = defrag::run(&p, &mut progress);
        show(&mut progress, &[&t]);
        all.push(("defrag.csv".into(), vec![t], csv));
    }
    progress.clear();
    eprintln!("sysarena-bench: done in {:.1}s", progress.elapsed());
    if let Some(dir) = &o.csv {
        for (file, _, csv) in &all {
            if let Err(e) = csv.write_csv(dir, file) {
                eprintln!(
                    "sysarena-bench: cannot write {}: {e}",
                    dir.join(file).display()
                );
                return ExitCode::FAILURE;
            }
        }
        eprintln!("sysarena-bench: CSV written to {}", dir.display());
    }
    ExitCode::SUCCESS
}

fn show(progress: &mut Progress, tables: &[&Table]) {
    progress.clear();
    for t in tables {
        println!("{}", t.to_markdown());
    }
}
