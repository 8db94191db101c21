//! The `sysarena` command as a library: every verb's options (clap
//! argument structs) and its `run` function, so that the binary
//! (`src/main.rs`) is a thin shell and the `cli_input` fuzz target and the
//! tests drive the same code.
//!
//! Each verb is one module: [`demo`], [`defrag`], [`step`], [`soak`],
//! [`viz`], [`report`], and the simulator verbs under [`sim`]. [`heapmap`]
//! is the one picture of a region they all draw. [`Cli`] is the whole
//! command line; [`run`] runs one parsed command.
//!
//! Layers, each importing only those before it: [`heapmap`], [`names`] → [`sim`] →
//! [`viz`] → [`demo`], [`defrag`], [`report`], [`step`] → [`soak`] →
//! [`completions`] (which reads the whole command line, [`Cli`]).

pub mod completions;
pub mod defrag;
pub mod demo;
pub mod heapmap;
pub mod names;
pub mod report;
pub mod sim;
pub mod soak;
pub mod step;
pub mod viz;

use std::io;

use clap::{Parser, Subcommand};

/// sysarena — an arena-based memory manager you can watch work and fail.
#[derive(Debug, Parser)]
#[command(name = "sysarena", version, about, long_about = None)]
pub struct Cli {
    /// The verb.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Walk through the classic model: fill, free every other block, fail
    /// with enough free bytes, defragment, succeed.
    Demo(demo::DemoArgs),
    /// Defragment by moving live blocks, in bounded passes, on a simulated
    /// device region: the classic defragment fails, the passes succeed.
    Defrag(defrag::DefragArgs),
    /// Run a generated workload against one or more subjects (sysarena
    /// policies and peer allocators) and measure their fragmentation.
    Simulate(sim::simulate::SimulateArgs),
    /// Replay a trace file against one or more subjects (with no
    /// `--subjects`, every subject, each within its time budget).
    Replay(sim::replay::ReplayArgs),
    /// Replay a trace or a workload against every subject: one table ranked
    /// by footprint, with ratios to the best footprint and the fastest time.
    Compare(sim::compare::CompareArgs),
    /// Run a program with sysarena-malloc preloaded in trace mode and check
    /// the trace it records.
    Record(sim::record::RecordArgs),
    /// Draw SVG pictures of a trace or workload: the heap map at a step,
    /// the heap map over time, fragmentation curves, free-block histogram.
    Viz(viz::VizArgs),
    /// Write one self-contained HTML report (no network): a slider over
    /// the operations, every subject's heap map, curves, histogram, summary.
    Report(report::ReportArgs),
    /// Step through operations by hand or through a trace, watching the heap
    /// map, the arena table, the free list and the stats (`--quiz` asks
    /// first; `--script` or piped input prints text frames).
    Step(step::StepArgs),
    /// Run random alloc/free/realloc/defragment/relocate on a real heap for
    /// a long time, checking every block's bytes and the invariants; exits
    /// non-zero on the first violation.
    Soak(soak::SoakArgs),
    /// Print a shell completion script for bash, zsh or fish on standard
    /// output (e.g. `sysarena completions bash > ~/.local/share/bash-completion/completions/sysarena`).
    Completions(completions::CompletionsArgs),
}

/// Runs one parsed command, writing its output to standard output (colours
/// stripped when it is not a terminal).
pub fn run(command: Command) -> io::Result<()> {
    match command {
        Command::Demo(args) => demo::run(&args, anstream::stdout().lock()),
        Command::Defrag(args) => defrag::run(&args, anstream::stdout().lock()),
        Command::Simulate(args) => sim::simulate::run(&args, anstream::stdout().lock()),
        Command::Replay(args) => sim::replay::run(&args, anstream::stdout().lock()),
        Command::Compare(args) => sim::compare::run(&args, anstream::stdout().lock()),
        Command::Record(args) => sim::record::run(&args, anstream::stdout().lock()),
        Command::Viz(args) => viz::run(&args, anstream::stdout().lock()),
        Command::Report(args) => report::run(&args, anstream::stdout().lock()),
        Command::Step(args) => step::run(&args, io::stdout().lock()),
        Command::Soak(args) => soak::run(&args, anstream::stdout().lock()),
        Command::Completions(args) => completions::run(&args, io::stdout().lock()),
    }
}
