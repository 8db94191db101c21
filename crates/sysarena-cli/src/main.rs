//! The `sysarena` binary: parses the command line and runs it with
//! [`sysarena_cli::run`]. Errors print as `sysarena: <message>` and exit
//! with 1; clap's own usage errors exit with 2.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sysarena_cli::Cli::parse();
    match sysarena_cli::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sysarena: {e}");
            ExitCode::FAILURE
        }
    }
}
