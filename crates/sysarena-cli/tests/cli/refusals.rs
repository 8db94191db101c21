//! Input that asks for nothing, or for a name that does not exist, is
//! refused before any work is done, with a message that says what would be
//! accepted: never a run that reports success after checking nothing, and
//! never an error blamed on the wrong party.

use super::verbs::sysarena;

/// Runs `args`, expects exit status `code`, nothing on stdout, and every
/// one of `says` on stderr.
fn refused(args: &[&str], code: i32, says: &[&str]) {
    let o = sysarena(args);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {out}{err}");
    assert!(out.is_empty(), "{args:?} printed: {out}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    for s in says {
        assert!(err.contains(s), "{args:?}: no {s:?} in {err}");
    }
}

fn golden(name: &str) -> String {
    format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn defrag_of_zero_trace_events_is_refused_like_replay() {
    let trace = golden("tiny.trace");
    for args in [
        &["defrag", "--trace", &trace, "--events", "0"][..],
        &["replay", &trace, "-n", "0"],
    ] {
        refused(args, 2, &["replay at least one event"]);
    }
    let o = sysarena(&["defrag", "--trace", &trace, "--events", "1k"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_soak_of_zero_operations_or_no_time_is_refused() {
    for (flag, value) in [("--ops", "0"), ("--epoch-ops", "0"), ("--check-every", "0")] {
        refused(
            &["soak", flag, value, "-q"],
            2,
            &[flag, "give at least 1 operation"],
        );
    }
    for value in ["0", "0s", "0ms"] {
        refused(
            &["soak", "--duration", value, "-q"],
            2,
            &["--duration", "give a duration above zero"],
        );
    }
}

/// A soak over more bytes than one buffer can have says so (it said
/// `invalid parameters to Layout::from_size_align`).
#[test]
fn a_soak_larger_than_any_buffer_is_refused_with_the_capacity() {
    refused(
        &["soak", "--capacity", "8E", "-q"],
        1,
        &["--capacity 9223372036854775808 is too large for one buffer"],
    );
}

#[test]
fn an_unknown_policy_or_mode_is_answered_with_the_valid_names() {
    let policies = "first-fit, next-fit, best-fit, worst-fit or segregated-fit";
    for verb in ["demo", "defrag", "step", "soak"] {
        refused(&[verb, "--policy", "bogus"], 2, &["`bogus`", policies]);
    }
    for verb in ["demo", "step", "soak"] {
        refused(
            &[verb, "--coalescing", "bogus"],
            2,
            &["`bogus`", "deferred or immediate"],
        );
    }
    for verb in ["demo", "defrag", "step"] {
        let o = sysarena(&[verb, "--help"]);
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(
            help.contains(
                "[possible values: first-fit, next-fit, best-fit, worst-fit, segregated-fit]"
            ),
            "{verb} --help: {help}"
        );
        if verb != "defrag" {
            assert!(
                help.contains("[possible values: deferred, immediate]"),
                "{verb} --help: {help}"
            );
        }
    }
    // The core's aliases are still accepted.
    let o = sysarena(&["demo", "--policy", "tlsf", "--coalescing", "classic"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn demo_help_gives_the_range_of_block_counts() {
    let o = sysarena(&["demo", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(
        help.contains("Number of blocks that fill the region, 4 to 26"),
        "{help}"
    );
    refused(&["demo", "--blocks", "3"], 2, &["4..=26"]);
}

#[test]
fn record_refuses_an_unwritable_trace_before_running_the_program() {
    let dir = std::env::temp_dir().join(format!("sysarena-cli-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("ran");
    let script = format!("touch {}", marker.display());
    refused(
        &[
            "record",
            "-o",
            "/nonexistent/d/x.trace",
            "--",
            "sh",
            "-c",
            &script,
        ],
        1,
        &["cannot write the trace /nonexistent/d/x.trace"],
    );
    // A directory of that name cannot be the trace either.
    let d = dir.to_str().unwrap();
    refused(
        &["record", "-o", d, "--", "sh", "-c", &script],
        1,
        &["cannot write the trace"],
    );
    assert!(!marker.exists(), "the program ran");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn viz_and_report_without_input_ask_for_a_trace_or_a_workload() {
    for args in [
        &["viz", "--svg", "x.svg"][..],
        &["report", "-o", "r.html"],
        &["compare"],
    ] {
        refused(args, 2, &["<TRACE|--workload <WORKLOAD>>"]);
    }
    assert!(!std::path::Path::new("x.svg").exists());
}

#[test]
fn viz_refuses_a_step_past_the_end_or_for_a_picture_of_every_step() {
    let trace = golden("tiny.trace");
    let o = sysarena(&["viz", &trace, "-q", "--svg", "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = String::from_utf8_lossy(&o.stdout);
    let n = svg
        .split(" after ")
        .nth(1)
        .and_then(|s| s.split(" of ").nth(1))
        .and_then(|s| s.split(' ').next())
        .expect("the title says how many events");
    let past = (n.parse::<usize>().unwrap() + 1).to_string();
    for step in [&past[..], "99999999"] {
        refused(
            &["viz", &trace, "-q", "--step", step, "--svg", "-"],
            1,
            &[
                &format!("--step {step} is past the end"),
                &format!("(give 0 to {n})"),
            ],
        );
    }
    let o = sysarena(&["viz", &trace, "-q", "--step", n, "--svg", "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for kind in ["timeline", "curves"] {
        refused(
            &[
                "viz", &trace, "-q", "--kind", kind, "--step", "1", "--svg", "-",
            ],
            1,
            &["--step applies to --kind map and histogram only"],
        );
    }
}

#[test]
fn viz_and_report_refuse_a_view_larger_than_the_region() {
    for verb in [&["viz", "--svg", "-"][..], &["report", "-o", "unused.html"]] {
        let mut args = verb.to_vec();
        args.extend(["--workload", "random", "--ops", "300", "-q", "--view", "1G"]);
        refused(
            &args,
            1,
            &["--view 1.0 GiB is larger than the 1.0 MiB region"],
        );
    }
    assert!(!std::path::Path::new("unused.html").exists());
}

/// A generated workload's knobs with a trace would be silently ignored
/// (`compare TRACE --ops 1000` replayed the whole trace): refused.
#[test]
fn workload_knobs_with_a_trace_are_refused() {
    let trace = golden("tiny.trace");
    for args in [
        &["compare", &trace, "--ops", "1000", "-s", "talc"][..],
        &["compare", &trace, "--alloc-ratio", "0.9", "-s", "talc"],
        &["viz", &trace, "--ops", "100", "--svg", "-"],
        &["report", &trace, "--seed", "3", "-o", "-"],
    ] {
        refused(args, 2, &["cannot be used with"]);
    }
}
