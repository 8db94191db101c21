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
                "--time-budget",
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
                "--time-budget",
                "Ctrl-C",
            ][..],
        ),
        (
            "compare",
            &["TRACE", "--workload", "--json", "--time-budget", "plateau"][..],
        ),
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
fn simulate_draws_the_fast_models_cached_arenas_and_counts_them() {
    let out = ok(&[
        "simulate",
        "uniform",
        "-s",
        "sysarena/segregated-fit/immediate",
        "--ops",
        "2000",
        "--capacity",
        "16K",
        "--max-size",
        "256",
        "-q",
    ]);
    let map = out
        .lines()
        .skip_while(|l| !l.starts_with("sysarena/segregated-fit/immediate at the end"))
        .collect::<Vec<_>>();
    assert!(map.len() >= 5, "no map:\n{out}");
    // The map shows cached arenas, the free line counts them, and the
    // legend under the classic one names them.
    assert!(map[1].contains('○'), "{}", map[1]);
    let free = map[2];
    let cached = free
        .split_once(" (")
        .and_then(|(_, r)| r.split_once(" cached in "))
        .map(|(bytes, _)| bytes);
    assert!(
        cached.is_some_and(|b| b.ends_with(" B") || b.ends_with("KiB")),
        "{free}"
    );
    assert_eq!(
        map[4],
        "  ○∘ a cached arena: freed, waiting whole in a quick list for the next request of its size (it merges with free neighbours only when the lists are flushed)"
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
        stderr(&o).contains("cargo build --profile preload -p sysarena-malloc"),
        "{}",
        stderr(&o)
    );
    let o = run(&["record"]);
    assert_ne!(o.status.code(), Some(0));
}

/// The recorder as shipped, `libsysarena_malloc.so` (another crate's
/// cdylib: `cargo build --profile preload -p sysarena-malloc`). The tests
/// that need it are `#[ignore]`d and run by `.ci/record.sh`, which builds it.
fn release_lib() -> PathBuf {
    let lib = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/sysarena")
        .join("preload/libsysarena_malloc.so");
    assert!(
        lib.is_file(),
        "{} is not built: run `cargo build --profile preload -p sysarena-malloc` (.ci/record.sh does)",
        lib.display()
    );
    lib
}

#[test]
#[ignore = "needs the shipped libsysarena_malloc.so (preload profile); run by .ci/record.sh"]
fn record_writes_a_valid_trace_when_the_library_is_built() {
    let lib = release_lib();
    let out = scratch("record", "ls.trace", "stale");
    let text = ok(&[
        "record",
        "-q",
        "--json",
        "--lib",
        lib.to_str().unwrap(),
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
#[ignore = "needs the shipped libsysarena_malloc.so (preload profile); run by .ci/record.sh"]
fn record_passes_on_a_failing_exit_status_and_keeps_the_trace() {
    let lib = release_lib();
    let out = scratch("record-status", "ls.trace", "");
    let o = run(&[
        "record",
        "-q",
        "--lib",
        lib.to_str().unwrap(),
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

#[test]
#[ignore = "needs the shipped libsysarena_malloc.so (preload profile); run by .ci/record.sh"]
fn record_of_a_shell_pipeline_points_to_the_busy_child() {
    let lib = release_lib();
    let out = scratch("record-sh", "sh.trace", "");
    let text = ok(&[
        "record",
        "-q",
        "--lib",
        lib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "ls / | wc -l",
    ]);
    let busy = text
        .lines()
        .skip_while(|l| !l.contains("Replay the busiest"))
        .nth(1)
        .unwrap_or_else(|| panic!("no pointer to a child trace:\n{text}"));
    let child = busy.trim().strip_prefix("sysarena replay ").unwrap();
    assert!(child.starts_with(out.to_str().unwrap()), "{text}");
    let doc = json(&["replay", child, "-s", "talc"]);
    assert!(result(&doc, "talc")["summary"]["allocs"].as_u64().unwrap() > 0);
}

/// `record`'s handling of the traces a program leaves, without the
/// recorder: the "program" writes them itself (the recorder's file names
/// come from `SYSARENA_TRACE`), and a library path that is no library only
/// makes the loader complain.
#[test]
fn record_points_to_the_child_that_allocated_and_removes_empty_ones() {
    let fake_lib = scratch("record-children", "not-a-library.so", "");
    let out = fake_lib.with_file_name("run.trace");
    let script = "printf '# parent\\n' > \"$SYSARENA_TRACE\"; \
                  printf 'a 1 10\\na 2 20\\nf 1\\n' > \"$SYSARENA_TRACE.4242\"; \
                  printf 'a 1 5\\n' > \"$SYSARENA_TRACE.4243\"; \
                  printf '# nothing\\n' > \"$SYSARENA_TRACE.4244\"";
    let text = ok(&[
        "record",
        "-q",
        "--lib",
        fake_lib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ]);
    let busy = format!("{}.4242", out.display());
    assert!(text.contains("itself made no allocation"), "{text}");
    assert!(
        text.contains(&format!("  sysarena replay {busy}")),
        "{text}"
    );
    assert!(
        text.contains("removed 1 child trace with no events"),
        "{text}"
    );
    assert!(!Path::new(&format!("{}.4244", out.display())).exists());
    // The busiest child is listed first.
    let first_child = text
        .lines()
        .find(|l| l.starts_with("child process: "))
        .unwrap();
    assert!(first_child.contains(&busy), "{text}");

    let doc: Value = serde_json::from_str(&ok(&[
        "record",
        "-q",
        "--json",
        "--lib",
        fake_lib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ]))
    .unwrap();
    assert_eq!(doc["replay"], busy.as_str());
    assert_eq!(doc["removed_empty_children"], 1);
    assert_eq!(doc["children"].as_array().unwrap().len(), 2);
}

/// Ctrl-C at a terminal reaches the whole process group: the recorded
/// program ends, and `record` lives on to check the trace and say how the
/// program ended (it died with the program, printing nothing). The
/// "program" writes its trace itself and sends SIGINT to its group, in a
/// group of its own so that the test runner is not hit.
#[cfg(unix)]
#[test]
fn ctrl_c_during_record_ends_the_program_and_the_trace_is_checked() {
    use std::os::unix::process::CommandExt;
    let fake_lib = scratch("record-ctrl-c", "not-a-library.so", "");
    let out = fake_lib.with_file_name("run.trace");
    let script = "printf 'a 1 10\\na 2 20\\nf 1\\n' > \"$SYSARENA_TRACE\"; kill -INT 0; sleep 5";
    let o = Command::new(BIN)
        .args([
            "record",
            "-q",
            "--lib",
            fake_lib.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            script,
        ])
        .process_group(0)
        .output()
        .expect("the sysarena binary runs");
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("3 events"), "{}", stdout(&o));
    assert!(stderr(&o).contains("(SIGINT)"), "{}", stderr(&o));
    assert!(stderr(&o).contains("(the trace is kept)"), "{}", stderr(&o));
}

/// Runs with a tick clock: every clock reading advances 1 µs, so a budget
/// counts subject calls (two readings each), not seconds.
fn ticked(args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--tick-clock", "1000", "-q"]);
    run(&all)
}

#[test]
fn a_subject_out_of_budget_stops_and_says_where() {
    let trace = traces().join("sqlite3.trace.gz");
    let trace = trace.to_str().unwrap();
    // 20,000 events; a budget of 10 ms on the tick clock is about 5,000
    // subject calls: the subject stops at the same event, every run.
    let args = [
        "replay",
        trace,
        "-n",
        "20k",
        "-s",
        "talc,linked-list",
        "--time-budget",
        "10ms",
    ];
    let o = ticked(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let row = text
        .lines()
        .find(|l| l.starts_with("linked-list"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.ends_with("% budget"), "{row}");
    assert!(
        text.contains("linked-list stopped after event ")
            && text.contains(" of 20,000 (")
            && text.contains("its time budget of 10 ms ran out"),
        "{text}"
    );
    // A stopped subject is no candidate for least waste.
    assert!(!text.contains("least waste: linked-list"), "{text}");

    let mut j = args.to_vec();
    j.push("--json");
    let doc: Value = serde_json::from_str(&stdout(&ticked(&j))).unwrap();
    let stopped = &result(&doc, "linked-list")["summary"]["stopped"];
    assert_eq!(stopped["reason"], "time_budget");
    assert_eq!(stopped["of"], 20000);
    let at = stopped["at_event"].as_u64().unwrap();
    assert!((4_000..6_000).contains(&at), "{stopped}");
    assert_eq!(result(&doc, "linked-list")["summary"]["events"], at);
    assert_eq!(doc["time_budget_seconds"], 0.01);
    // On the tick clock every subject pays the same per call: talc stops at
    // the same event.
    assert_eq!(result(&doc, "talc")["summary"]["stopped"], *stopped);
    // The same work on the same clock stops at the same event.
    let again: Value = serde_json::from_str(&stdout(&ticked(&j))).unwrap();
    assert_eq!(
        result(&again, "linked-list")["summary"]["stopped"],
        *stopped
    );

    // With no budget every subject replays everything.
    let mut none = j.clone();
    none[7] = "0";
    let doc: Value = serde_json::from_str(&stdout(&ticked(&none))).unwrap();
    assert!(doc["time_budget_seconds"].is_null());
    for s in ["talc", "linked-list"] {
        assert!(result(&doc, s)["summary"]["stopped"].is_null(), "{s}");
        assert_eq!(result(&doc, s)["summary"]["events"], 20000);
    }
}

#[test]
fn bad_budgets_are_refused() {
    for bad in ["soon", "-1s", "10 parsecs"] {
        let flag = format!("--time-budget={bad}");
        let o = run(&["simulate", "uniform", &flag]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&o).contains("is not a duration"),
            "{bad}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn ctrl_c_keeps_the_finished_rows_and_names_what_did_not_run() {
    use std::io::{BufRead, BufReader};
    let trace = traces().join("sqlite3.trace.gz");
    // Next fit with deferred coalescing first, alone: its time grows with
    // the square of the trace (about 30 s for 200,000 events in a release
    // build), so the interrupt finds it running; talc never starts.
    let mut child = Command::new(BIN)
        .args([
            "replay",
            trace.to_str().unwrap(),
            "-n",
            "200k",
            "-s",
            "sysarena/next-fit/deferred,talc",
            "--jobs",
            "1",
            "--time-budget",
            "0",
            "-q",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    // The header's rule: the handler is installed and the replays start.
    for line in lines.by_ref() {
        let line = line.unwrap();
        let rule = line.starts_with('─');
        seen.push(line);
        if rule {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    seen.extend(lines.map(Result::unwrap));
    let o = child.wait_with_output().unwrap();
    let text = seen.join("\n");
    assert_eq!(o.status.code(), Some(1), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("sysarena/next-fit/deferred"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.ends_with("% Ctrl-C"), "{row}");
    assert!(
        text.contains("sysarena/next-fit/deferred stopped after event "),
        "{text}"
    );
    assert!(text.contains("not run (Ctrl-C came first): talc"), "{text}");
    assert!(
        stderr(&o).contains("interrupted (Ctrl-C)") && stderr(&o).contains("not run: talc"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_empty_subject_list_is_the_same_error_in_every_verb() {
    let trace = traces().join("sqlite3.trace.gz");
    let trace = trace.to_str().unwrap();
    for args in [
        &["simulate", "uniform", "--subjects", ""][..],
        &["replay", trace, "-n", "10", "--subjects", ""][..],
        &["compare", "--workload", "plateau", "--subjects", " , "][..],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&o).trim(),
            "sysarena: --subjects: the list of subjects is empty: name at least one subject, \
             or a group (all, sysarena, peers)",
            "{args:?}"
        );
    }
}

#[test]
fn a_subject_that_cannot_start_is_named_once_and_keeps_the_table_narrow() {
    // 1 PiB: no peer can have its region allocated.
    let o = run(&[
        "simulate",
        "uniform",
        "--capacity",
        "1P",
        "-s",
        "talc,sysarena/first-fit/immediate",
        "--ops",
        "100",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains("1.0 PiB region per subject"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("talc") && l.ends_with("could not run (see below)")),
        "{text}"
    );
    assert!(
        text.contains("talc could not run: cannot allocate a region of 1125899906842624 bytes"),
        "{text}"
    );
    // The table keeps its width: no row is longer than the header's rule.
    let rule = text.lines().find(|l| l.starts_with('─')).unwrap();
    let widest = text
        .lines()
        .skip_while(|l| !l.starts_with("subject"))
        .take_while(|l| !l.is_empty())
        .map(|l| l.chars().count())
        .max()
        .unwrap();
    assert!(widest <= rule.chars().count(), "{text}");
    let err = stderr(&o);
    assert!(err.contains("sysarena: talc: cannot allocate"), "{err}");
    assert!(!err.contains("talc: talc"), "{err}");
}

#[test]
fn nothing_to_replay_is_said_not_tabled() {
    let empty = scratch("empty", "empty.trace", "# no events\n");
    let o = run(&["replay", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("empty.trace has no events: nothing to replay"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());
    for verb in ["replay", "compare"] {
        let o = run(&[verb, empty.to_str().unwrap(), "-n", "0"]);
        assert_eq!(o.status.code(), Some(2), "{verb}");
        assert!(
            stderr(&o).contains("replay at least one event"),
            "{verb}: {}",
            stderr(&o)
        );
    }
    let o = run(&["simulate", "uniform", "--ops", "0"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_malloc_lab_file_by_any_name_and_a_byte_order_mark_replay() {
    let lab = scratch(
        "lab-any-name",
        "short1.txt",
        "\u{feff}20000\n2\n3\n1\na 0 10\na 1 20\nf 0\n",
    );
    let doc = json(&["replay", lab.to_str().unwrap(), "-s", "talc"]);
    assert_eq!(result(&doc, "talc")["summary"]["allocs"], 2);
    let native = scratch("bom", "bom.trace", "\u{feff}a 1 10\nf 1\n");
    let doc = json(&["replay", native.to_str().unwrap(), "-s", "talc"]);
    assert_eq!(result(&doc, "talc")["summary"]["frees"], 1);
}

#[test]
fn a_missing_trace_is_worded_the_same_in_every_verb() {
    for verb in ["replay", "compare"] {
        let o = run(&[verb, "/no/such/trace"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).starts_with("sysarena: /no/such/trace: read error: "),
            "{verb}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn workloads_are_bounded() {
    let o = run(&["simulate", "uniform", "--ops", "18446744073709551615"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is more steps than a workload may have (at most 10,000,000"),
        "{}",
        stderr(&o)
    );
    for bad in [&["--capacity", "0"][..], &["--width", "100000000"][..]] {
        let mut args = vec!["simulate", "uniform", "-s", "sysarena/first-fit/deferred"];
        args.extend(bad);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{bad:?}");
    }
}

#[test]
fn simulate_ramp_says_why_sysarena_refused() {
    // Deferred coalescing leaves the ramp's 1 MiB region in thousands of
    // free arenas: its 8,192-descriptor table runs out while a free arena
    // fits.
    let text = ok(&["simulate", "ramp", "-s", "sysarena/first-fit/deferred"]);
    assert!(
        text.contains(
            "445 while one of its own free blocks was (445 of them because its arena table \
             had no spare descriptor left to split that block)"
        ),
        "{text}"
    );
}
