//! The options the simulator verbs share and their value parsers: output
//! form, parallelism and time budget ([`OutputArgs`]), the subject list
//! ([`SubjectArgs`]) and a generated workload's knobs ([`WorkloadArgs`]).

use std::io;
use std::time::Duration;

use sysarena_sim::budget::{self, ReplayClock};
use sysarena_sim::registry;
use sysarena_sim::trace::TraceFormat;
use sysarena_sim::workload::{Workload, WorkloadParams};

use super::format;
use super::ui::user_error;

/// Options every simulator verb shares: output form, parallelism and the
/// time budget.
#[derive(Clone, Debug, clap::Args)]
pub struct OutputArgs {
    /// Print one JSON document on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Include each subject's time series (about 2,000 samples) in the JSON.
    #[arg(long, requires = "json")]
    pub series: bool,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, short)]
    pub quiet: bool,
    /// Subjects replayed at once [default: one per CPU]; `--jobs 1` gives
    /// the steadiest ns/op.
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Each subject's time budget.
    #[command(flatten)]
    pub budget: BudgetArgs,
}

/// How long each subject may replay, and the clock that times it: shared
/// by the simulator's verbs and by `viz` and `report`.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct BudgetArgs {
    /// How long each subject may run (`30s`, `2m`, `500ms`; `0` for no
    /// limit). A subject that runs out stops there: its figures (and
    /// pictures) cover the events it reached, and say where and why; a
    /// table's row gives the share of the trace it replayed. The others
    /// finish.
    #[arg(long, value_name = "TIME", default_value = "30s", value_parser = parse_budget)]
    pub time_budget: Budget,
    /// Time each subject on a clock that advances NS nanoseconds at every
    /// reading (two readings a subject call) instead of the real one: the
    /// budget then counts work and stops at the same event on every machine
    /// (for tests).
    #[arg(long, hide = true, value_name = "NS")]
    pub tick_clock: Option<u64>,
}

impl BudgetArgs {
    /// The clock a subject's replay is timed on ([`ReplayClock`]).
    pub fn clock(&self) -> ReplayClock {
        ReplayClock::new(self.tick_clock.map(Duration::from_nanos))
    }
}

/// A time budget from the command line; `None` for no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget(pub Option<Duration>);

/// `--time-budget`: [`budget::parse_budget`], as a [`Budget`].
///
/// # Errors
/// A message naming the text when it is not a duration.
pub fn parse_budget(s: &str) -> Result<Budget, String> {
    budget::parse_budget(s).map(Budget)
}

/// `--subjects`: names, or the groups `all`, `sysarena`, `peers`.
#[derive(Clone, Debug, clap::Args)]
pub struct SubjectArgs {
    /// Comma-separated subjects: names from `sysarena/<policy>/<coalescing>`
    /// (policies first-fit, next-fit, best-fit, worst-fit, segregated-fit;
    /// coalescing deferred or immediate; add `+offsets` to free by offset
    /// without the allocation's hint, `+nomap` to keep no offset map and
    /// free by hint alone, `+defrag` to defragment on failure)
    /// and the peers talc, rlsf, buddy, linked-list, dlmalloc,
    /// offset-allocator, slab; or the groups `all`, `sysarena`, `peers`.
    /// Without it `simulate`, `replay` and `compare` run every subject, and
    /// `viz` and `report` draw four: sysarena/first-fit/deferred,
    /// sysarena/best-fit/immediate, talc, buddy.
    #[arg(long, short, value_delimiter = ',', value_name = "NAMES")]
    pub subjects: Option<Vec<String>>,
}

impl SubjectArgs {
    /// The subjects asked for, groups expanded, duplicates dropped, every
    /// name checked ([`registry::resolve`]); `None` when `--subjects` was
    /// not given. An empty list (`--subjects ""`) is an error in every verb.
    pub fn resolve(&self) -> io::Result<Option<Vec<String>>> {
        match &self.subjects {
            None => Ok(None),
            Some(list) => registry::resolve(list)
                .map(Some)
                .map_err(|e| user_error(format!("--subjects: {e}"))),
        }
    }
}

/// The knobs of a generated workload (`simulate`, `compare --workload`).
#[derive(Clone, Debug, clap::Args)]
pub struct WorkloadArgs {
    /// Seed of the generator: the same seed gives the same trace everywhere.
    #[arg(long, default_value_t = WorkloadParams::default().seed)]
    pub seed: u64,
    /// Steps to generate (about the number of events; `10k`, `1M`; at most
    /// 10M).
    #[arg(long, default_value = "10000", value_parser = parse_ops)]
    pub ops: usize,
    /// Smallest request [units: K, M, G, T, P, E].
    #[arg(long, default_value = "16", value_parser = format::parse_size)]
    pub min_size: usize,
    /// Largest request [units: K, M, G, T, P, E].
    #[arg(long, default_value = "4096", value_parser = format::parse_size)]
    pub max_size: usize,
    /// Probability that a step allocates rather than frees (0 to 1).
    #[arg(long, default_value_t = WorkloadParams::default().alloc_ratio, value_parser = parse_ratio)]
    pub alloc_ratio: f64,
    /// Probability that a step of `random` reallocates (0 to 1).
    #[arg(long, default_value_t = WorkloadParams::default().realloc_ratio, value_parser = parse_ratio)]
    pub realloc_ratio: f64,
    /// Alignment of every request (a power of two).
    #[arg(long, default_value_t = WorkloadParams::default().align, value_parser = parse_align)]
    pub align: usize,
}

/// The region size `simulate` and `compare --workload` use by default: the
/// workload generator's own default. `checkerboard` gets
/// [`CHECKERBOARD_CAPACITY`], small enough to draw.
pub const WORKLOAD_CAPACITY: usize = 1 << 20;

/// The default region for `checkerboard`: sixteen 4 KiB blocks.
pub const CHECKERBOARD_CAPACITY: usize = 64 << 10;

impl WorkloadArgs {
    /// The generator's parameters for a region of `capacity` bytes.
    pub fn params(&self, capacity: usize) -> WorkloadParams {
        WorkloadParams {
            seed: self.seed,
            ops: self.ops,
            min_size: self.min_size,
            max_size: self.max_size,
            align: self.align,
            alloc_ratio: self.alloc_ratio,
            realloc_ratio: self.realloc_ratio,
            capacity,
        }
    }

    /// Checks what clap cannot: the size range.
    pub fn check(&self) -> io::Result<()> {
        check_size_range(self.min_size, self.max_size)
    }
}

/// `--min-size` and `--max-size` of a generated workload (`simulate`,
/// `compare`, `viz`, `report`): at least 1, in order. O(1).
pub fn check_size_range(min_size: usize, max_size: usize) -> io::Result<()> {
    if min_size == 0 || min_size > max_size {
        return Err(user_error(format!(
            "--min-size {min_size} must be at least 1 and at most --max-size {max_size}"
        )));
    }
    Ok(())
}

/// The default region for a workload.
pub fn workload_capacity(workload: Workload) -> usize {
    match workload {
        Workload::Checkerboard => CHECKERBOARD_CAPACITY,
        _ => WORKLOAD_CAPACITY,
    }
}

/// Workload names and their one-line descriptions, for help texts.
pub fn workload_help() -> String {
    let mut s = String::from("Workloads:\n");
    for w in Workload::ALL {
        s.push_str(&format!("  {:<13} {}\n", w.name(), w.description()));
    }
    s
}

/// Parses a workload name (clap value parser).
pub fn parse_workload(s: &str) -> Result<Workload, String> {
    s.parse::<Workload>().map_err(|e| e.to_string())
}

/// Parses a trace format name (clap value parser).
pub fn parse_format(s: &str) -> Result<TraceFormat, String> {
    s.parse::<TraceFormat>()
}

/// Parses `--ops`: 1 to [`MAX_OPS`](sysarena_sim::workload::MAX_OPS).
///
/// # Errors
/// A message naming the text when it is not a count in that range.
pub fn parse_ops(s: &str) -> Result<usize, String> {
    use sysarena_sim::workload::MAX_OPS;
    match parse_events(s)? {
        0 => Err(format!("`{s}`: generate at least one step")),
        n if n > MAX_OPS => Err(format!(
            "`{s}` is more steps than a workload may have (at most {}; a longer run is a trace: \
             record or write one and replay it)",
            format::thousands(MAX_OPS)
        )),
        n => Ok(n),
    }
}

fn parse_count(s: &str) -> Result<usize, String> {
    let digits: String = s.chars().filter(|&c| c != '_' && c != ',').collect();
    digits
        .parse::<usize>()
        .map_err(|_| format!("`{s}` is not a count"))
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{s}` is not a probability between 0 and 1")),
    }
}

fn parse_align(s: &str) -> Result<usize, String> {
    match format::parse_size(s)? {
        a if a.is_power_of_two() => Ok(a),
        a => Err(format!("alignment {a} is not a power of two")),
    }
}

/// Parses `--max-events` (`20000`, `20_000`, `20k`): at least 1.
pub fn parse_max_events(s: &str) -> Result<usize, String> {
    match parse_events(s)? {
        0 => Err(format!("`{s}`: replay at least one event")),
        n => Ok(n),
    }
}

/// Parses a count of events (`20000`, `20_000`, `20k`, `1M`).
pub fn parse_events(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mul) = match t.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1_000),
        None => match t.strip_suffix(['m', 'M']) {
            Some(n) => (n, 1_000_000),
            None => (t, 1),
        },
    };
    parse_count(num)?
        .checked_mul(mul)
        .ok_or_else(|| format!("`{s}` is too large"))
}
