//! Replays the recorded traces in `traces/` against every subject and
//! prints one line each: `cargo run --release -p sysarena-sim --example
//! replay_traces [TRACE...] [--subjects a,b]`. Each subject has the default
//! time budget (30 s); one that runs out says where it stopped.

use std::path::PathBuf;

use sysarena_sim::registry::{self, DEFAULT_CAPACITY};
use sysarena_sim::replay::{ReplayOptions, replay};
use sysarena_sim::trace::Trace;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut names = registry::names();
    if let Some(i) = args.iter().position(|a| a == "--subjects") {
        let Some(list) = args.get(i + 1) else {
            eprintln!(
                "usage: replay_traces [TRACE...] [--subjects a,b] (names or the groups all, sysarena, peers)"
            );
            std::process::exit(2);
        };
        let list: Vec<String> = list.split(',').map(str::to_owned).collect();
        names = registry::resolve(&list).unwrap_or_else(|e| {
            eprintln!("--subjects: {e}");
            std::process::exit(2);
        });
        args.drain(i..=i + 1);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../traces");
    let traces: Vec<PathBuf> = if args.is_empty() {
        ["sqlite3", "python-jsontool", "perl-wordfreq"]
            .iter()
            .map(|t| dir.join(format!("{t}.trace.gz")))
            .collect()
    } else {
        args.iter().map(PathBuf::from).collect()
    };
    for path in traces {
        let trace = match Trace::from_path(&path, None, None) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let stats = trace.stats();
        println!(
            "{}: {} events, peak live {} bytes",
            trace.name, stats.events, stats.peak_live_bytes
        );
        for name in &names {
            let mut s = match registry::by_name(name, DEFAULT_CAPACITY) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    continue;
                }
            };
            match replay(&trace, s.as_mut(), &ReplayOptions::default()) {
                Ok(r) => {
                    let m = &r.summary;
                    println!(
                        "  {:<36} footprint/peak {:>6.3}  failed {:>7} (gap fitted {:>7})  misaligned {:>7}  {:>7.1} ns/op  {:>6.2} s",
                        name,
                        m.footprint_ratio,
                        m.failed_requests,
                        m.failed_with_fitting_gap,
                        m.misaligned_blocks,
                        r.timing.ns_per_op,
                        r.timing.wall_ns as f64 / 1e9
                    );
                    if let Some(stopped) = m.stopped {
                        println!("  {:<36} {stopped}", "");
                    }
                }
                Err(e) => println!("  {name:<36} ERROR {e}"),
            }
        }
    }
}
