//! The `sysarena` command: watch the arena model work and fail.

mod demo;
mod heapmap;
mod sim;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sysarena — an arena-based memory manager you can watch work and fail.
#[derive(Debug, Parser)]
#[command(name = "sysarena", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Walk through the classic model: fill, free every other block, fail
    /// with enough free bytes, defragment, succeed.
    Demo(demo::DemoArgs),
    /// Run a generated workload against one or more subjects (sysarena
    /// policies and peer allocators) and measure their fragmentation.
    Simulate(sim::simulate::SimulateArgs),
    /// Replay a trace file against one or more subjects (with no
    /// `--subjects`, every subject).
    Replay(sim::replay::ReplayArgs),
    /// Replay a trace or a workload against every subject: one table ranked
    /// by footprint, with ratios to the best.
    Compare(sim::compare::CompareArgs),
    /// Run a program with sysarena-malloc preloaded in trace mode and check
    /// the trace it records.
    Record(sim::record::RecordArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args, anstream::stdout().lock()),
        Command::Simulate(args) => sim::simulate::run(&args, anstream::stdout().lock()),
        Command::Replay(args) => sim::replay::run(&args, anstream::stdout().lock()),
        Command::Compare(args) => sim::compare::run(&args, anstream::stdout().lock()),
        Command::Record(args) => sim::record::run(&args, anstream::stdout().lock()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sysarena: {e}");
            ExitCode::FAILURE
        }
    }
}
