//! Tests of `sysarena defrag`.

use super::*;
use clap::Parser;

/// `sysarena defrag`'s options, parsed as the command line does.
#[derive(clap::Parser)]
struct P {
    #[command(flatten)]
    a: DefragArgs,
}

fn defrag(extra: &[&str]) -> String {
    let mut argv = vec!["defrag"];
    argv.extend_from_slice(extra);
    let p = P::parse_from(argv);
    let mut out = Vec::new();
    run(&p.a, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_classic_defragment_fails_and_passes_succeed() {
    let out = defrag(&[]);
    assert!(out.contains("✗ alloc("), "{out}");
    assert!(out.contains("merging cannot close a hole"), "{out}");
    assert!(out.contains("pass 1:"), "{out}");
    assert!(out.contains(") = offset "), "{out}");
    assert!(out.contains("after every pass and at the end"), "{out}");
}

#[test]
fn passes_stop_when_the_time_budget_runs_out_and_the_region_still_checks_out() {
    // A microsecond: spent before the first pass ends, so the run stops
    // after it, says so, and still checks every block and the accounting.
    let out = defrag(&["--time-budget", "0.000001"]);
    assert!(out.contains("pass 1:"), "{out}");
    assert!(
        out.contains("stopped after pass 1: the time budget of 1µs ran out"),
        "{out}"
    );
    assert!(!out.contains("pass 2:"), "{out}");
    assert!(out.contains("1 pass moved"), "{out}");
    assert!(out.contains("= capacity."), "{out}");
    // Without a budget the same scenario runs to its end.
    let whole = defrag(&["--time-budget", "0"]);
    assert!(!whole.contains("time budget"), "{whole}");
    assert!(whole.contains(") = offset "), "{whole}");
}

#[test]
fn bad_options_are_refused() {
    let p = P::parse_from(["defrag", "--min-block", "0"]);
    assert!(run(&p.a, Vec::new()).is_err());
    let p = P::parse_from(["defrag", "--max-moves", "0"]);
    assert!(run(&p.a, Vec::new()).is_err());
}

#[test]
fn limits_that_let_no_block_move_stop_with_a_message() {
    // Blocks of 256 B to 4 KiB; under every byte limit below the smallest
    // block the planner plans nothing and says it is blocked.
    for max_bytes in ["0", "100", "255", "1000"] {
        let out = defrag(&["--max-bytes", max_bytes]);
        assert!(
            out.contains("no progress is possible under these limits"),
            "--max-bytes {max_bytes}: {out}"
        );
    }
    let out = defrag(&["--max-bytes", "100"]);
    assert!(
        out.contains("every block that could move is larger than --max-bytes 100 B"),
        "{out}"
    );
    // The first pass that can plan nothing stops the run (the planner says
    // it is blocked; no second empty pass is tried).
    assert!(out.contains("pass 1: 0 moves"), "{out}");
    assert!(!out.contains("pass 2:"), "{out}");
}

#[test]
fn capacity_takes_units_and_is_bounded() {
    let p = P::parse_from(["defrag", "--capacity", "16K"]);
    assert_eq!(p.a.capacity, 16 << 10);
    for bad in ["0", "2G", "16T"] {
        assert!(
            P::try_parse_from(["defrag", "--capacity", bad]).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn a_trace_too_large_to_hold_is_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("sysarena-defrag-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in [
        ("max.trace", "a 1 18446744073709551615\n"),
        ("huge.trace", "a 1 99999999999\n"),
        (
            "two.trace",
            "a 1 18446744073709551615\na 2 18446744073709551615\n",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let p = P::parse_from(["defrag", "--trace", path.to_str().unwrap()]);
        let e = run(&p.a, Vec::new()).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains("--events"), "{name}: {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_real_trace_fragments_the_region() {
    let trace = concat!(env!("CARGO_MANIFEST_DIR"), "/../../traces/sqlite3.trace.gz");
    let out = defrag(&["--trace", trace, "--events", "3000", "--max-moves", "32"]);
    assert!(
        out.contains("Replay 3000 events of sqlite3.trace.gz"),
        "{out}"
    );
    assert!(out.contains("in use + free = "), "{out}");
}

#[test]
fn the_svg_has_a_row_per_frame() {
    let dir = std::env::temp_dir().join(format!("sysarena-defrag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("d.svg");
    let p = path.to_str().unwrap();
    defrag(&["--svg", p, "--max-moves", "16"]);
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("after the classic defragment"));
    assert!(svg.contains("after pass 1"));
    std::fs::remove_dir_all(&dir).unwrap();
}
