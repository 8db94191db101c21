//! `simulate`, `replay`, `compare`, `record`: help, JSON, malformed input,
//! and a real trace.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sysarena");

/// The recorded traces (`traces/` in the workspace root).
fn traces() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../traces")).to_path_buf()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the sysarena binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and expects success; returns stdout.
fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "sysarena {args:?} failed with {}:\n{}",
        o.status,
        stderr(&o)
    );
    stdout(&o)
}

/// Runs with `--json` and parses stdout.
fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = ok(&all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

/// A file in a fresh scratch directory for this test.
fn scratch(test: &str, name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sysarena-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn result<'a>(doc: &'a Value, subject: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["subject"] == subject)
        .unwrap_or_else(|| panic!("no result for {subject}"))
}

#[test]
fn every_verb_has_help() {
    for (verb, words) in [
        (
            "simulate",
            &[
                "WORKLOAD",
                "--subjects",
                "--seed",
                "--ops",
                "--min-size",
                "--max-size",
                "--alloc-ratio",
                "--capacity",
                "--json",
                "checkerboard",
            ][..],
        ),
        (
            "replay",
            &[
                "TRACE",
                "--subjects",
                "--format",
                "--max-events",
                "--capacity",
                "--json",
            ][..],
        ),
        ("compare", &["TRACE", "--workload", "--json", "plateau"][..]),
        ("record", &["--output", "--lib", "CMD", "--json"][..]),
    ] {
        let help = ok(&[verb, "--help"]);
        for w in words {
            assert!(
                help.contains(w),
                "`sysarena {verb} --help` lacks {w}:\n{help}"
            );
        }
    }
    let top = ok(&["--help"]);
    for verb in ["simulate", "replay", "compare", "record"] {
        assert!(top.contains(verb), "{top}");
    }
}

#[test]
fn simulate_checkerboard_fails_first_fit_with_half_the_region_free() {
    let args = [
        "simulate",
        "checkerboard",
        "--subjects",
        "sysarena/first-fit/deferred",
    ];
    let doc = json(&args);
    assert_eq!(doc["workload"], "checkerboard");
    assert_eq!(doc["capacity"], 65536);
    let s = &result(&doc, "sysarena/first-fit/deferred")["summary"];
    assert_eq!(s["failed_requests"], 1);
    assert_eq!(s["failed_with_fitting_gap"], 0);
    assert_eq!(s["peak_live_bytes"], 65536);
    assert_eq!(s["end"]["free_bytes"], 32768);
    assert_eq!(s["end"]["largest_free"], 4096);
    assert!(result(&doc, "sysarena/first-fit/deferred")["timing"]["ns_per_op"].is_number());

    let text = ok(&args);
    assert!(text.contains("sysarena/first-fit/deferred refused 1 request(s): no hole was big enough. At the end 32.0 KiB of 64.0 KiB were free in 8 block(s), the largest 4.0 KiB."), "{text}");
    // The heap map of the end state: eight blocks, eight holes.
    assert!(
        text.contains("|A███▏===B███▏···C███▏···D███▏···E███▏···F███▏···G███▏···H███▏···|"),
        "{text}"
    );
}

#[test]
fn simulate_is_reproducible_and_takes_every_flag() {
    let args = [
        "simulate",
        "uniform",
        "--subjects",
        "talc,sysarena/best-fit/immediate",
        "--seed",
        "7",
        "--ops",
        "3000",
        "--min-size",
        "32",
        "--max-size",
        "2K",
        "--alloc-ratio",
        "0.6",
        "--capacity",
        "512KiB",
    ];
    let a = json(&args);
    let b = json(&args);
    for subject in ["talc", "sysarena/best-fit/immediate"] {
        assert_eq!(
            result(&a, subject)["summary"],
            result(&b, subject)["summary"]
        );
        assert_eq!(result(&a, subject)["summary"]["capacity"], 512 * 1024);
    }
    assert_eq!(a["params"]["max_size"], 2048);
    assert_eq!(a["params"]["seed"], 7);
    assert!(a["results"][0].get("series").is_none());
    let with_series = json(&[&args[..], &["--series"]].concat());
    assert!(
        with_series["results"][0]["series"]
            .as_array()
            .is_some_and(|s| s.len() > 10)
    );
}

#[test]
fn compare_plateau_shows_who_copes_with_what_first_fit_cannot() {
    let doc = json(&[
        "compare",
        "--workload",
        "plateau",
        "--subjects",
        "sysarena/first-fit/deferred,sysarena/best-fit/deferred,sysarena/first-fit/immediate,rlsf,buddy",
    ]);
    let ranking = doc["ranking"].as_array().unwrap();
    assert_eq!(ranking.len(), 5);
    let last = ranking.last().unwrap();
    assert_eq!(last["subject"], "sysarena/first-fit/deferred");
    assert_eq!(last["served_all"], false);
    assert!(last["failed_requests"].as_u64().unwrap() > 0);
    for r in &ranking[..4] {
        assert_eq!(r["failed_requests"], 0, "{r}");
        assert!(r["footprint_vs_best"].as_f64().unwrap() >= 1.0);
    }
    assert_eq!(ranking[0]["footprint_vs_best"], 1.0);
    // Sorted by footprint ratio.
    let ratios: Vec<f64> = ranking[..4]
        .iter()
        .map(|r| r["footprint_ratio"].as_f64().unwrap())
        .collect();
    assert!(ratios.windows(2).all(|w| w[0] <= w[1]), "{ratios:?}");
    // Every failed request would have fitted a hole, had it been merged.
    let s = &result(&doc, "sysarena/first-fit/deferred")["summary"];
    assert_eq!(s["failed_requests"], s["failed_with_fitting_gap"]);
}

#[test]
fn compare_needs_a_trace_or_a_workload() {
    let o = run(&["compare"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--workload"), "{}", stderr(&o));
}

#[test]
fn malformed_traces_are_reported_with_file_and_line() {
    let path = scratch(
        "malformed",
        "bad.trace",
        "# a comment\na 1 100\na 2 64\nf 1\nf 7\n",
    );
    let o = run(&["replay", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        format!(
            "sysarena: {}:5: free of unknown or dead block 7",
            path.display()
        )
    );
    assert!(stdout(&o).is_empty());

    let rep = scratch("malformed", "lab.rep", "20000\n2\n3\n1\na 0 10\nx 0\n");
    let o = run(&["compare", rep.to_str().unwrap(), "--json"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("lab.rep:6: unknown operation `x`"),
        "{}",
        stderr(&o)
    );

    let ostep = scratch("malformed", "ops.txt", "+10,-0,-0\n");
    let o = run(&["replay", ostep.to_str().unwrap(), "--format", "ostep"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("ops.txt:1: free of unknown or dead block 0"),
        "{}",
        stderr(&o)
    );

    let o = run(&["replay", "/no/such/trace"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).starts_with("sysarena: /no/such/trace: "),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn an_ostep_op_list_replays() {
    let ops = scratch("ostep", "ops.txt", "+10,+20,-0,+5\n");
    let doc = json(&[
        "replay",
        ops.to_str().unwrap(),
        "--subjects",
        "sysarena/first-fit/deferred,talc",
    ]);
    let s = &result(&doc, "talc")["summary"];
    assert_eq!(s["allocs"], 3);
    assert_eq!(s["peak_live_bytes"], 30);
}

#[test]
fn unknown_subjects_are_refused_with_the_list() {
    let o = run(&["simulate", "uniform", "--subjects", "nope"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("unknown subject `nope`"));
    assert!(stderr(&o).contains("rlsf"));
}

#[test]
fn replay_sqlite_prefix_reports_every_subject() {
    let trace = traces().join("sqlite3.trace.gz");
    let trace = trace.to_str().unwrap();
    let names: Vec<String> = {
        // Every subject, by asking for the group.
        let doc = json(&[
            "replay",
            trace,
            "--max-events",
            "20000",
            "--subjects",
            "all",
            "-q",
        ]);
        let results = doc["results"].as_array().unwrap();
        assert_eq!(doc["trace"]["stats"]["events"], 20000);
        assert_eq!(doc["trace"]["max_events"], 20000);
        let peak = doc["trace"]["stats"]["peak_live_bytes"].clone();
        for r in results {
            assert!(r.get("error").is_none(), "{r}");
            let s = &r["summary"];
            assert_eq!(s["events"], 20000, "{}", r["subject"]);
            if s["failed_requests"] == 0 {
                assert_eq!(s["peak_live_bytes"], peak, "{}", r["subject"]);
                assert!(s["footprint_ratio"].as_f64().unwrap() >= 1.0);
            }
        }
        results
            .iter()
            .map(|r| r["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    for expected in [
        "sysarena/first-fit/deferred",
        "sysarena/segregated-fit/immediate",
        "talc",
        "rlsf",
        "buddy",
        "linked-list",
        "dlmalloc",
        "offset-allocator",
        "slab",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    // Without --subjects: every subject on a short trace, in a table.
    let text = ok(&["replay", trace, "-n", "20k"]);
    for name in &names {
        assert!(
            text.lines().any(|l| l.starts_with(name.as_str())),
            "{name} missing:\n{text}"
        );
    }
    assert!(text.contains("sqlite3.trace.gz: 20,000 events"), "{text}");
    assert!(text.contains("least waste: "), "{text}");
    assert!(!text.contains("note: left out"), "{text}");
}

#[test]
fn record_says_how_to_build_the_library() {
    let o = run(&[
        "record",
        "--lib",
        "/no/such/libsysarena_malloc.so",
        "--",
        "true",
    ]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("cargo build --release -p sysarena-malloc"),
        "{}",
        stderr(&o)
    );
    let o = run(&["record"]);
    assert_ne!(o.status.code(), Some(0));
}

#[test]
fn record_writes_a_valid_trace_when_the_library_is_built() {
    // The library is another crate's cdylib; this checks it when it is
    // built beside this binary (`cargo build --release -p sysarena-malloc`).
    let exe = Path::new(BIN);
    let lib = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("release/libsysarena_malloc.so");
    if !lib.is_file() {
        eprintln!("skipped: {} is not built", lib.display());
        return;
    }
    let out = scratch("record", "ls.trace", "stale");
    let text = ok(&[
        "record",
        "-q",
        "--json",
        "-o",
        out.to_str().unwrap(),
        "--",
        "ls",
        "-l",
        "/",
    ]);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["success"], true);
    assert_eq!(doc["exit_code"], 0);
    assert!(
        doc["trace"]["stats"]["allocs"].as_u64().unwrap() > 0,
        "{doc}"
    );
    let replayed = json(&["replay", out.to_str().unwrap(), "--subjects", "talc"]);
    assert_eq!(result(&replayed, "talc")["summary"]["failed_requests"], 0);
}

#[test]
fn record_passes_on_a_failing_exit_status_and_keeps_the_trace() {
    let exe = Path::new(BIN);
    let lib = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("release/libsysarena_malloc.so");
    if !lib.is_file() {
        eprintln!("skipped: {} is not built", lib.display());
        return;
    }
    let out = scratch("record-status", "ls.trace", "");
    let o = run(&[
        "record",
        "-q",
        "-o",
        out.to_str().unwrap(),
        "--",
        "ls",
        "/no/such/dir",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("`ls /no/such/dir` exited with status 2 (the trace is kept)"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains(" events ("), "{}", stdout(&o));
}
