//! `sysarena soak`: hours of random operations on a real [`Heap`], checked
//! as they go (issue 8, "never corrupt, never lose").
//!
//! The soak runs epochs of `--epoch-ops` operations, each on a fresh heap
//! over the same buffer, cycling round-robin through the chosen policies and
//! coalescing modes. Every operation is drawn from a seeded generator:
//! allocate (random size, log-uniform, and alignment up to 4 KiB; a deferred
//! heap that cannot serve a request defragments once and retries), free,
//! realloc, defragment, relocate. Every block carries a pattern of its own
//! in every byte. The checks:
//!
//! - after every operation, the O(1) ones: the accounting adds up
//!   (`in_use + free == capacity`, every descriptor counted once), the heap
//!   holds exactly the soak's live blocks and requested bytes, a new block is
//!   aligned, inside the region and at least as large as asked, a block is
//!   intact when freed or reallocated (every byte) and a realloc kept its
//!   prefix (a failed one changed nothing);
//! - when a request fails with no fitting arena, that no free arena could in
//!   fact hold it at its alignment (every policy promises this);
//! - every `--check-every` operations, after every defragment and relocate,
//!   and at the end of each epoch: `check_invariants()`, every live block's
//!   bytes, its arena (in use, with the requested size), and that no two
//!   blocks overlap;
//! - at the end of each epoch, after freeing everything: the heap is one
//!   free arena again.
//!
//! The first violation stops the soak with the seed, epoch, configuration
//! and operation, so that it can be replayed (`--seed`, `--ops`), and the
//! command exits non-zero.
//!
//! While it runs, a terminal shows a progress bar; a stderr that is not a
//! terminal (a log, a CI job) gets a plain progress line every minute
//! instead, so that an hours-long soak is seen to be alive.
use std::alloc::Layout;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sysarena::{
    AllocError, ArenaManager, Coalescing, Config, Heap, OomReason, Policy, ReallocError, Slot,
};

use crate::heapmap::fmt_bytes;
use crate::sim::format::{parse_size, thousands};

/// `sysarena soak`'s options.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// How long to run: `90s`, `30m`, `2h`, `1h30m` (default 30s, or
    /// unbounded when `--ops` is given).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many operations (`1000000`, `1M`); with
    /// `--duration`, whichever comes first.
    #[arg(long, value_parser = parse_ops)]
    pub ops: Option<u64>,
    /// Seed of the operation generator: the same seed and `--ops` replay
    /// the same operations.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A policy (`first-fit`, `next-fit`, `best-fit`, `worst-fit`,
    /// `segregated-fit`) or `all`, taken round-robin.
    #[arg(long, default_value = "all", value_parser = parse_policies)]
    pub policy: Policies,
    /// A coalescing mode (`deferred`, `immediate`) or `all`.
    #[arg(long, default_value = "all", value_parser = parse_coalescings)]
    pub coalescing: Coalescings,
    /// Bytes in the heap's region (`64KiB`, `4M`).
    #[arg(long, default_value = "4MiB", value_parser = parse_size)]
    pub capacity: usize,
    /// Descriptors in the arena table, 1 to 1,048,576.
    #[arg(long, default_value_t = 4096, value_parser = crate::step::parse_descriptors)]
    pub descriptors: usize,
    /// Operations per epoch (one configuration, one fresh heap).
    #[arg(long, default_value_t = 200_000, value_parser = parse_ops)]
    pub epoch_ops: u64,
    /// Run the full check (invariants, every block's bytes, overlaps) every
    /// this many operations.
    #[arg(long, default_value_t = 20_000, value_parser = parse_ops)]
    pub check_every: u64,
    /// No progress: no bar on a terminal, and no line a minute on a
    /// stderr that is not one (a log, a CI job).
    #[arg(short, long)]
    pub quiet: bool,
}

/// The policies to cycle through (clap value).
#[derive(Clone, Debug)]
pub struct Policies(Vec<Policy>);

/// The coalescing modes to cycle through (clap value).
#[derive(Clone, Debug)]
pub struct Coalescings(Vec<Coalescing>);

fn parse_policies(s: &str) -> Result<Policies, String> {
    if s == "all" {
        return Ok(Policies(Policy::ALL.to_vec()));
    }
    crate::names::parse_policy(s)
        .map(|p| Policies(vec![p]))
        .map_err(|e| format!("{e} (or `all`)"))
}

fn parse_coalescings(s: &str) -> Result<Coalescings, String> {
    if s == "all" {
        return Ok(Coalescings(Coalescing::ALL.to_vec()));
    }
    crate::names::parse_coalescing(s)
        .map(|c| Coalescings(vec![c]))
        .map_err(|e| format!("{e} (or `all`)"))
}

/// Parses a count of operations (`--ops`, `--epoch-ops`, `--check-every`):
/// at least one, since a soak of no operations checks nothing.
fn parse_ops(s: &str) -> Result<u64, String> {
    match crate::sim::parse_events(s)? {
        0 => Err(format!(
            "`{s}`: give at least 1 operation (0 would check nothing)"
        )),
        n => Ok(n as u64),
    }
}

/// Parses `90s`, `1.5m`, `2h`, `1h30m`, `500ms`, `1d`; a bare number is
/// seconds. A duration of zero is refused: a soak that runs for no time
/// checks nothing.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("`{s}` is not a duration (try 30s, 10m, 2h or 1h30m)");
    if t.is_empty() {
        return Err(bad());
    }
    let mut total = 0.0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(n);
        let u = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(u);
        let value: f64 = num.parse().map_err(|_| bad())?;
        let scale = match unit.trim() {
            "" if next.is_empty() => 1.0,
            "ms" => 1e-3,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = next;
    }
    match Duration::try_from_secs_f64(total).map_err(|_| bad())? {
        Duration::ZERO => Err(format!(
            "`{s}` is no time at all, so nothing would be checked: give a duration above zero"
        )),
        d => Ok(d),
    }
}

/// The first thing found wrong.
#[derive(Debug)]
pub(super) struct Violation(pub(super) String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Violation(format!($($fmt)+)));
        }
    };
}

mod block;
mod checks;
mod epoch;
mod summary;
#[cfg(test)]
mod tests;

use block::{Block, Region, Rng, corrupt};
use epoch::{Counts, Epoch};
use summary::{Progress, draw, summary};

/// Where a violation happened, for replaying it.
struct Failure {
    epoch: u64,
    config: Config,
    op: u64,
    total_ops: u64,
    what: String,
}

/// Runs `sysarena soak`.
pub fn run(args: &SoakArgs, mut out: impl Write) -> io::Result<()> {
    let configs: Vec<Config> = args
        .policy
        .0
        .iter()
        .flat_map(|&p| args.coalescing.0.iter().map(move |&c| Config::new(p, c)))
        .collect();
    let duration = match (args.duration, args.ops) {
        (Some(d), _) => Some(d),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(30)),
    };
    let max_ops = args.ops.unwrap_or(u64::MAX);
    let epoch_ops = args.epoch_ops;
    let check_every = args.check_every;
    // The parsers refuse these on the command line; a caller that builds
    // the options itself gets the same refusal, not a run that checks
    // nothing (or a silently changed count).
    for (flag, zero) in [
        ("--ops", max_ops == 0),
        ("--duration", duration == Some(Duration::ZERO)),
        ("--epoch-ops", epoch_ops == 0),
        ("--check-every", check_every == 0),
    ] {
        if zero {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{flag} 0 checks nothing: give more than zero"),
            ));
        }
    }
    if args.capacity < 64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--capacity must be at least 64 bytes",
        ));
    }
    if args.descriptors == 0 || args.descriptors > crate::step::MAX_DESCRIPTORS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--descriptors {}: give 1 to {}",
                args.descriptors,
                crate::step::MAX_DESCRIPTORS
            ),
        ));
    }
    let region = Region::new(args.capacity)?;
    // Ctrl-C from here on (the header below says it is caught) ends the
    // soak at its next look at the clock, with the summary of what ran; a
    // second Ctrl-C exits at once.
    let stop = crate::sim::interrupt_flag();

    writeln!(
        out,
        "sysarena soak — seed {}, {}, capacity {}, {} descriptors, {} configuration(s) round-robin, {} operations per epoch",
        args.seed,
        match (duration, args.ops) {
            (Some(d), Some(n)) => format!("{d:.0?} or {} operations", thousands(n as usize)),
            (Some(d), None) => format!("{d:.0?}"),
            (None, Some(n)) => format!("{} operations", thousands(n as usize)),
            (None, None) => unreachable!("a duration is set when --ops is not"),
        },
        fmt_bytes(args.capacity),
        args.descriptors,
        configs.len(),
        thousands(epoch_ops as usize),
    )?;
    out.flush()?;

    let mut progress = Progress::new(args.quiet, duration);
    let started = Instant::now();
    let deadline = duration.map(|d| started + d);
    let mut per_config = vec![Counts::default(); configs.len()];
    let mut total_ops = 0u64;
    let mut epoch = 0u64;
    let mut failure: Option<Failure> = None;
    let mut last_draw = Instant::now();
    let mut done = false;
    let mut interrupted = false;

    while !done {
        if total_ops >= max_ops || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let ci = (epoch % configs.len() as u64) as usize;
        let config = configs[ci];
        let table = vec![Slot::EMPTY; args.descriptors];
        let manager = ArenaManager::from_table(table, args.capacity, config)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        // SAFETY: the region is `args.capacity` bytes the soak owns; one heap
        // at a time uses it (the previous epoch's is dropped, all its blocks
        // freed); it outlives the heap.
        let heap = unsafe { Heap::from_manager(region.base, manager) };
        let counts = &mut per_config[ci];
        counts.epochs += 1;
        let mut e = Epoch {
            heap,
            config,
            capacity: args.capacity,
            rng: Rng(args.seed ^ epoch.wrapping_mul(0xA076_1D64_78BD_642F)),
            live: Vec::new(),
            requested: 0,
            serial: 0,
            target: 0.5,
            counts,
        };
        let mut op = 0u64;
        let result = panic::catch_unwind(AssertUnwindSafe(|| -> Result<(), Violation> {
            while op < epoch_ops {
                if total_ops >= max_ops {
                    done = true;
                    break;
                }
                if op.is_multiple_of(1024) {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        done = true;
                        break;
                    }
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        interrupted = true;
                        done = true;
                        break;
                    }
                    if now - last_draw >= Duration::from_millis(200) {
                        last_draw = now;
                        draw(
                            &mut progress,
                            started,
                            duration,
                            config,
                            total_ops,
                            e.requested,
                            &per_config_snapshot(&e),
                        );
                    }
                }
                e.step(op)?;
                op += 1;
                total_ops += 1;
                e.counts.ops += 1;
                if op.is_multiple_of(check_every) {
                    e.full_check(true)?;
                }
            }
            e.finish()
        }));
        let what = match result {
            Ok(Ok(())) => None,
            Ok(Err(v)) => Some(v.0),
            Err(payload) => Some(format!(
                "panicked: {}",
                payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)")
            )),
        };
        if let Some(what) = what {
            failure = Some(Failure {
                epoch,
                config,
                op,
                total_ops,
                what,
            });
            // The heap may be broken: leak it with its blocks rather than
            // run anything more on it.
            std::mem::forget(e);
            break;
        }
        drop(e);
        epoch += 1;
    }
    progress.bar.finish_and_clear();
    let elapsed = started.elapsed();

    summary(&mut out, &configs, &per_config, total_ops, elapsed)?;
    match failure {
        None => {
            // A short run may not reach every configuration: say which it
            // covered, so `ok` never claims more than was tested.
            let covered = per_config.iter().filter(|c| c.ops > 0).count();
            let missed: Vec<String> = configs
                .iter()
                .zip(&per_config)
                .filter(|(_, c)| c.ops == 0)
                .map(|(c, _)| format!("{}/{}", c.policy, c.coalescing))
                .collect();
            writeln!(
                out,
                "soak: {} — {} operations in {}, covering {} of {} configuration{}, every check passed",
                if interrupted {
                    "interrupted (Ctrl-C)"
                } else {
                    "ok"
                },
                thousands(total_ops as usize),
                crate::heapmap::count(epoch as usize, "epoch"),
                covered,
                configs.len(),
                if configs.len() == 1 { "" } else { "s" },
            )?;
            if !missed.is_empty() {
                writeln!(
                    out,
                    "soak: not reached: {} (each configuration runs --epoch-ops {} operations in turn; raise --duration or --ops, or lower --epoch-ops, to cover them)",
                    missed.join(", "),
                    thousands(epoch_ops as usize)
                )?;
            }
            if interrupted {
                out.flush()?;
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "soak interrupted (Ctrl-C) before its end: no violation in what ran",
                ));
            }
            Ok(())
        }
        Some(f) => {
            writeln!(
                out,
                "soak: VIOLATION in epoch {} ({}/{}), operation {} of the epoch ({} overall): {}\n\
                 replay: sysarena soak --seed {} --ops {} --policy {} --coalescing {} --capacity {} --descriptors {} --epoch-ops {} --check-every {}",
                f.epoch,
                f.config.policy,
                f.config.coalescing,
                f.op,
                f.total_ops,
                f.what,
                args.seed,
                f.total_ops + 1,
                args.policy_arg(),
                args.coalescing_arg(),
                args.capacity,
                args.descriptors,
                epoch_ops,
                check_every,
            )?;
            out.flush()?;
            Err(io::Error::other("soak found a violation"))
        }
    }
}

/// The counts an epoch in progress has added to its configuration (the
/// bar's live-bytes and failure figures).
fn per_config_snapshot(e: &Epoch<'_>) -> Counts {
    *e.counts
}

impl SoakArgs {
    fn policy_arg(&self) -> String {
        match self.policy.0.as_slice() {
            [p] => p.to_string(),
            _ => "all".into(),
        }
    }
    fn coalescing_arg(&self) -> String {
        match self.coalescing.0.as_slice() {
            [c] => c.to_string(),
            _ => "all".into(),
        }
    }
}
