//! What the `sysarena` command parses from the user: size and count
//! arguments (`64KiB`, `20k`), widths, table sizes, durations, policy,
//! coalescing, format, workload and subject names, the whole command line
//! of every verb (through clap and the CLI library's own `Cli`), every
//! verb run on what it parsed (bounded so a run stays short), and the
//! command scripts of `sysarena step` (plain frames and the terminal view).
//! Nothing may panic, abort or run without end.
//!
//! The input is text, so that seeds are readable (invalid UTF-8 is
//! replaced):
//!
//! ```text
//! step --policy best-fit --capacity 4K      <- a command line: any verb and its flags
//! 64KiB 20k tlsf immediate                  <- words for the value parsers
//! trace tui 80x24                           <- options: use a small trace, draw the terminal view
//! alloc 100                                 <- the rest: a `sysarena step` script
//! free 0
//! ```
//!
//! The CLI is a library (`sysarena_cli`): this target parses with its `Cli`
//! and calls its verbs, the same code the binary runs.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use clap::Parser;
use libfuzzer_sys::fuzz_target;
use sysarena::{Coalescing, Policy};
use sysarena_cli::{Cli, Command, defrag, demo, heapmap, report, sim, soak, step, viz};
use sysarena_sim::trace::TraceFormat;

/// A small native trace for the verbs that read one, written once.
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

/// Every value parser: what one accepts must read back the same.
fn parse_words(s: &str) {
    if let Ok(n) = sim::format::parse_size(s) {
        assert_eq!(sim::format::parse_size(&n.to_string()), Ok(n));
    }
    if let Ok(n) = viz::parse_size(s) {
        assert_eq!(viz::parse_size(&n.to_string()), Ok(n));
    }
    for parse in [
        sim::format::parse_capacity,
        viz::parse_view,
        viz::parse_frames,
        heapmap::parse_width,
        demo::parse_block_size,
        defrag::parse_region,
        step::parse_descriptors,
    ] {
        if let Ok(n) = parse(s) {
            assert!(n > 0, "{s} parsed to 0");
            assert_eq!(parse(&n.to_string()), Ok(n));
        }
    }
    if let Ok(n) = sim::parse_events(s) {
        assert_eq!(sim::parse_events(&n.to_string()), Ok(n));
    }
    if let Ok(n) = sim::parse_max_events(s) {
        assert!(n > 0);
        assert_eq!(sim::parse_max_events(&n.to_string()), Ok(n));
    }
    let _ = soak::parse_duration(s);
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

/// Bounds a picture's source so that a run is short: a small workload or
/// the small trace, a small region.
fn bound_source(s: &mut viz::SourceArgs, with_trace: bool) {
    s.ops = s.ops.min(200);
    s.capacity = s.capacity.map(|c| c.min(1 << 20));
    s.max_events = s.max_events.map(|n| n.min(500));
    s.quiet = true;
    if s.workload.is_none() {
        s.trace = with_trace.then(|| trace_file().clone());
        if s.trace.is_none() {
            s.workload = Some(sysarena_sim::workload::Workload::Uniform);
        }
    }
}

/// At most two subjects (every subject when none are named is too slow
/// for a fuzzer), named ones kept when they resolve.
fn bound_subjects(s: &mut sim::SubjectArgs) {
    let names = match s.resolve() {
        Ok(Some(names)) => names,
        // A bad list stays, to be refused by the verb.
        Err(_) => return,
        Ok(None) => vec!["talc".to_owned(), "sysarena/first-fit/deferred".to_owned()],
    };
    s.subjects = Some(names.into_iter().take(2).collect());
}

/// One thread, no progress bar, no series, no tick clock's long budget.
fn bound_output(o: &mut sim::OutputArgs) {
    o.quiet = true;
    o.jobs = Some(1);
    o.series = false;
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
    let with_trace = options.split_ascii_whitespace().any(|o| o == "trace");
    let tui = options.split_ascii_whitespace().find_map(|o| {
        let (w, h) = o.split_once('x')?;
        Some((
            w.parse::<u16>().ok()?.clamp(1, 160),
            h.parse::<u16>().ok()?.clamp(1, 60),
        ))
    });

    // Every verb's command line through clap; what parses is run, bounded
    // to a size a fuzzer can afford (the bounds only shrink what parsed).
    let argv = std::iter::once("sysarena").chain(flags.split_ascii_whitespace().take(24));
    let mut step_args = None;
    match Cli::try_parse_from(argv).map(|c| c.command) {
        Ok(Command::Demo(a)) => {
            let _ = demo::run(&a, Vec::new());
        }
        Ok(Command::Defrag(mut a)) => {
            a.capacity = a.capacity.min(64 << 10);
            a.events = a.events.min(1000);
            a.trace = a.trace.and(with_trace.then(|| trace_file().clone()));
            a.svg = None;
            let _ = defrag::run(&a, Vec::new());
        }
        Ok(Command::Simulate(mut a)) => {
            let _ = a.workload_args.check();
            bound_subjects(&mut a.subjects);
            bound_output(&mut a.out);
            a.workload_args.ops = a.workload_args.ops.min(200);
            a.capacity = Some(a.capacity.unwrap_or(64 << 10).min(1 << 20));
            a.save_trace = None;
            a.width = a.width.min(200);
            let _ = sim::simulate::run(&a, Vec::new());
        }
        Ok(Command::Replay(mut a)) => {
            bound_subjects(&mut a.subjects);
            bound_output(&mut a.out);
            a.trace = trace_file().clone();
            a.input.format = None;
            a.input.max_events = a.input.max_events.map(|n| n.min(500));
            a.input.capacity = a.input.capacity.min(1 << 20);
            let _ = sim::replay::run(&a, Vec::new());
        }
        Ok(Command::Compare(mut a)) => {
            bound_subjects(&mut a.subjects);
            bound_output(&mut a.out);
            if a.workload.is_none() {
                a.trace = Some(trace_file().clone());
                a.format = None;
            }
            a.max_events = a.max_events.map(|n| n.min(500));
            a.workload_args.ops = a.workload_args.ops.min(200);
            a.capacity = Some(a.capacity.unwrap_or(64 << 10).min(1 << 20));
            let _ = sim::compare::run(&a, Vec::new());
        }
        Ok(Command::Viz(mut a)) => {
            bound_source(&mut a.source, with_trace);
            a.rows = a.rows.min(20);
            a.width = a.width.min(200);
            let _ = viz::render(&a);
        }
        Ok(Command::Report(mut a)) => {
            bound_source(&mut a.source, with_trace);
            a.keyframes = a.keyframes.min(20);
            a.width = a.width.min(200);
            let _ = report::render(&a);
        }
        Ok(Command::Soak(mut a)) => {
            a.duration = None;
            a.ops = Some(a.ops.unwrap_or(2000).min(2000));
            a.capacity = a.capacity.min(256 << 10);
            a.descriptors = a.descriptors.min(512);
            a.epoch_ops = a.epoch_ops.min(1000);
            a.check_every = a.check_every.min(1000);
            a.quiet = true;
            // A refusal of the options is fine; a violation is a finding
            // (soak reports it as an error, not a panic).
            let mut out = Vec::new();
            if soak::run(&a, &mut out).is_err() {
                let out = String::from_utf8_lossy(&out);
                assert!(!out.contains("soak: VIOLATION"), "{out}");
            }
        }
        Ok(Command::Completions(a)) => {
            let mut out = Vec::new();
            let _ = sysarena_cli::completions::run(&a, &mut out);
            assert!(std::str::from_utf8(&out).is_ok());
        }
        Ok(Command::Step(a)) => step_args = Some(a),
        Ok(Command::Record(_)) | Err(_) => {}
    }

    // `sysarena step`: the parsed flags when they were step's, clamped to a
    // size a fuzzer can draw, and the script.
    let mut args = step_args.unwrap_or_else(|| match Cli::try_parse_from(["sysarena", "step"]) {
        Ok(Cli {
            command: Command::Step(a),
        }) => a,
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
