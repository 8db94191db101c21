//! The `sysarena` command: watch the arena model work and fail.

mod demo;
mod heapmap;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args, anstream::stdout().lock()),
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
