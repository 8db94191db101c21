//! What the `sysarena` command parses from the user: size and count
//! arguments (`64KiB`, `20k`), policy, coalescing, format, workload and
//! subject names, every subcommand's flags (through clap, with the CLI's own
//! argument structs and value parsers), and the command scripts of
//! `sysarena step` (plain frames and the terminal view). Nothing may panic.
//!
//! The input is text, so that seeds are readable (invalid UTF-8 is
//! replaced):
//!
//! ```text
//! step --policy best-fit --capacity 4K      <- a subcommand and its flags
//! 64KiB 20k tlsf immediate                  <- words for the value parsers
//! trace tui 80x24                           <- options: step through a small trace, draw the terminal view
//! alloc 100                                 <- the rest: a `sysarena step` script
//! free 0
//! ```
//!
//! `sysarena-cli` is a binary crate, so its modules are compiled into this
//! target from their source files (`#[path]`), as `main.rs` compiles them;
//! nothing is copied. A module added to the CLI that these use must be
//! added here too (the build says so).
#![no_main]
#![allow(dead_code, unused_imports, missing_docs)]

#[path = "../../crates/sysarena-cli/src/heapmap.rs"]
mod heapmap;
#[path = "../../crates/sysarena-cli/src/report.rs"]
mod report;
#[path = "../../crates/sysarena-cli/src/sim/mod.rs"]
mod sim;
#[path = "../../crates/sysarena-cli/src/step.rs"]
mod step;
#[path = "../../crates/sysarena-cli/src/viz/mod.rs"]
mod viz;

use std::path::PathBuf;
use std::sync::OnceLock;

use clap::Parser;
use libfuzzer_sys::fuzz_target;
use sysarena::{Coalescing, Policy};
use sysarena_sim::trace::TraceFormat;

/// The subcommands whose flags are fuzzed (`demo` has its own few).
#[derive(Debug, Parser)]
#[command(name = "sysarena")]
enum Cli {
    Simulate(sim::simulate::SimulateArgs),
    Replay(sim::replay::ReplayArgs),
    Compare(sim::compare::CompareArgs),
    Record(sim::record::RecordArgs),
    Viz(viz::VizArgs),
    Report(report::ReportArgs),
    Step(step::StepArgs),
}

/// A small native trace for `step`'s trace commands, written once.
fn trace_file() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("sysarena-fuzz-{}.trace", std::process::id()));
        std::fs::write(
            &path,
            "a 1 100\na 2 50 8\nr 1 200\nf 2\na 3 10 64\nf 1\nf 3\na 4 0\n",
        )
        .unwrap();
        path
    })
}

fn script_file() -> PathBuf {
    std::env::temp_dir().join(format!("sysarena-fuzz-{}.script", std::process::id()))
}

fn parse_words(s: &str) {
    if let Ok(n) = sim::format::parse_size(s) {
        assert_eq!(sim::format::parse_size(&n.to_string()), Ok(n));
    }
    if let Ok(n) = viz::parse_size(s) {
        assert_eq!(viz::parse_size(&n.to_string()), Ok(n));
    }
    if let Ok(n) = sim::parse_events(s) {
        assert_eq!(sim::parse_events(&n.to_string()), Ok(n));
    }
    let _ = sim::parse_workload(s);
    if let Ok(f) = sim::parse_format(s) {
        assert_eq!(f.name().parse::<TraceFormat>(), Ok(f));
    }
    if let Ok(p) = s.parse::<Policy>() {
        assert_eq!(p.name().parse::<Policy>().ok(), Some(p));
    }
    if let Ok(c) = s.parse::<Coalescing>() {
        assert_eq!(c.name().parse::<Coalescing>().ok(), Some(c));
    }
    let _ = sysarena_sim::sysarena_subject::parse_name(s);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(4, '\n');
    let (flags, words, options) = (
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
    );
    let script = lines.next().unwrap_or("");
    for w in words.split_ascii_whitespace().take(16) {
        parse_words(w);
    }

    // Every subcommand's flags, through clap and the CLI's value parsers.
    let argv = std::iter::once("sysarena").chain(flags.split_ascii_whitespace().take(24));
    let step_args = match Cli::try_parse_from(argv) {
        Ok(Cli::Simulate(a)) => {
            let _ = a.workload_args.check();
            let _ = a.subjects.resolve();
            None
        }
        Ok(Cli::Step(a)) => Some(a),
        _ => None,
    };
    let with_trace = options.split_ascii_whitespace().any(|o| o == "trace");
    let tui = options.split_ascii_whitespace().find_map(|o| {
        let (w, h) = o.split_once('x')?;
        Some((
            w.parse::<u16>().ok()?.clamp(1, 160),
            h.parse::<u16>().ok()?.clamp(1, 60),
        ))
    });

    // `sysarena step`: the parsed flags when they were step's, clamped to a
    // size a fuzzer can draw, and the script.
    let mut args = step_args.unwrap_or_else(|| match Cli::try_parse_from(["sysarena", "step"]) {
        Ok(Cli::Step(a)) => a,
        other => panic!("`sysarena step` does not parse: {other:?}"),
    });
    args.descriptors = args.descriptors.map(|d| d.min(1024)).or(Some(64));
    args.width = args.width.min(200);
    args.snapshot = None;
    args.trace = with_trace.then(|| trace_file().clone());
    let script: String = script.lines().take(32).collect::<Vec<_>>().join("\n");
    if let Some((w, h)) = tui {
        let _ = step::render_tui_text(&args, &script, w, h);
    }
    let path = script_file();
    std::fs::write(&path, &script).unwrap();
    args.script = Some(path);
    let mut out = Vec::new();
    let _ = step::run(&args, &mut out);
    assert!(std::str::from_utf8(&out).is_ok());
});
