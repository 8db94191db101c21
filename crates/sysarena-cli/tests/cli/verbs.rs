//! Every verb as a new user meets it: `--help`, shell completions, and the
//! errors (with exit status 1 or 2, never a panic or an abort) for values
//! that make no sense.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sysarena");

/// Runs the binary with `args`.
pub(crate) fn sysarena(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the sysarena binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const VERBS: [&str; 11] = [
    "demo",
    "defrag",
    "simulate",
    "replay",
    "compare",
    "record",
    "viz",
    "report",
    "step",
    "soak",
    "completions",
];

#[test]
fn every_verb_takes_help() {
    for verb in VERBS {
        let o = sysarena(&[verb, "--help"]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{verb} --help: {err}");
        assert!(out.contains("Usage: sysarena"), "{verb} --help: {out}");
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef sysarena"),
        ("fish", "complete -c sysarena"),
    ] {
        let o = sysarena(&["completions", shell]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: {out}");
        for verb in ["demo", "defrag", "step", "soak", "viz", "report", "replay"] {
            assert!(out.contains(verb), "{shell} completions lack {verb}");
        }
    }
    let o = sysarena(&["completions", "powershell-9"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Runs `args`, expects a refusal with `code` and a message containing
/// `says`, and no panic or abort.
fn refused(args: &[&str], code: i32, says: &str) {
    let o = sysarena(args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {out}{err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(err.contains(says), "{args:?}: {err}");
}

#[test]
fn bad_numbers_on_the_command_line_are_refused_not_panics() {
    // clap refuses them while parsing: exit status 2.
    for (args, says) in [
        (&["demo", "--block-size", "0"][..], "at least 1 byte"),
        (
            &["demo", "--block-size", "4611686018427387904"],
            "larger than",
        ),
        (
            &["demo", "--block-size", "18446744073709551615"],
            "larger than",
        ),
        (&["demo", "--width", "100000000"], "not a width"),
        (&["demo", "--width", "0"], "not a width"),
        (
            &["defrag", "--capacity", "16G"],
            "larger than the largest simulated region",
        ),
        (&["defrag", "--capacity", "0"], "0 bytes"),
        (&["defrag", "--width", "100000000"], "not a width"),
        (
            &["step", "--descriptors", "100000000000"],
            "not a table size",
        ),
        (&["step", "--descriptors", "0"], "at least 1 descriptor"),
        (&["step", "--capacity", "0"], "at least 1 byte"),
        (&["soak", "--descriptors", "0"], "at least 1 descriptor"),
        (
            &["soak", "--descriptors", "100000000000"],
            "not a table size",
        ),
        (
            &["viz", "--workload", "uniform", "--svg", "-", "--view", "0"],
            "0 bytes",
        ),
        (
            &[
                "viz",
                "--workload",
                "uniform",
                "--svg",
                "-",
                "--capacity",
                "0",
            ],
            "at least 1 byte",
        ),
        (
            &[
                "viz",
                "--workload",
                "uniform",
                "--svg",
                "-",
                "--width",
                "100000000",
            ],
            "not a width",
        ),
        (
            &["viz", "--workload", "uniform", "--svg", "-", "--rows", "0"],
            "not a count",
        ),
        (
            &[
                "report",
                "--workload",
                "uniform",
                "-o",
                "x.html",
                "--view",
                "0",
            ],
            "0 bytes",
        ),
        (
            &[
                "report",
                "--workload",
                "uniform",
                "-o",
                "x.html",
                "--capacity",
                "0",
            ],
            "at least 1 byte",
        ),
        (
            &[
                "report",
                "--workload",
                "uniform",
                "-o",
                "x.html",
                "--keyframes",
                "0",
            ],
            "not a count",
        ),
        (
            &[
                "report",
                "--workload",
                "uniform",
                "-o",
                "x.html",
                "--width",
                "100000000",
            ],
            "not a width",
        ),
    ] {
        refused(args, 2, says);
    }
}

#[test]
fn a_huge_or_empty_snapshot_grid_is_refused() {
    for grid in ["65535x65535", "0x10", "10x0", "100"] {
        refused(
            &["step", "--script", "/dev/null", "--snapshot", grid],
            1,
            "--snapshot wants COLSxROWS",
        );
    }
    let o = sysarena(&["step", "--script", "/dev/null", "--snapshot", "40x12"]);
    assert!(o.status.success(), "{}", text(&o).1);
}

#[test]
fn a_trace_too_large_for_defrag_is_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("sysarena-cli-huge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in [
        ("max.trace", "a 1 18446744073709551615\n"),
        ("huge.trace", "a 1 99999999999\n"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        refused(&["defrag", "--trace", path.to_str().unwrap()], 1, name);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn output_files_that_cannot_be_written_are_named() {
    refused(
        &[
            "viz",
            "--workload",
            "uniform",
            "--ops",
            "50",
            "--svg",
            "/nonexistent/x.svg",
        ],
        1,
        "cannot write /nonexistent/x.svg",
    );
    refused(
        &[
            "report",
            "--workload",
            "uniform",
            "--ops",
            "50",
            "-o",
            "/nonexistent/x.html",
        ],
        1,
        "cannot write /nonexistent/x.html",
    );
    refused(
        &["defrag", "--svg", "/nonexistent/d.svg"],
        1,
        "cannot write /nonexistent/d.svg",
    );
}

/// `viz` and `report` take the workload's request sizes, as `simulate`
/// and `compare` do: the book's buddy picture needs blocks that are not a
/// power of two.
#[test]
fn viz_takes_the_workloads_request_sizes() {
    let o = sysarena(&[
        "viz",
        "--workload",
        "checkerboard",
        "--capacity",
        "64K",
        "--max-size",
        "3000",
        "-s",
        "buddy",
        "-q",
        "--svg",
        "-",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("sizes=16..=3000"), "{out}");
    // 21 blocks of 3,000 bytes fill 64 KiB; the last request is 6,000.
    assert!(out.contains("(6000 B) → FAILED"), "{out}");
    refused(
        &[
            "viz",
            "--workload",
            "uniform",
            "--min-size",
            "5000",
            "--max-size",
            "3000",
            "--svg",
            "-",
        ],
        1,
        "--min-size 5000 must be at least 1 and at most --max-size 3000",
    );
    refused(
        &["viz", "x.trace", "--max-size", "3000", "--svg", "-"],
        2,
        "cannot be used with",
    );
}

#[test]
fn viz_and_report_take_subject_groups_short_flags_and_quiet() {
    let o = sysarena(&[
        "viz",
        "--workload",
        "uniform",
        "--ops",
        "300",
        "-n",
        "100",
        "-s",
        "peers",
        "-q",
        "--svg",
        "-",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("after 100 of 100 events"), "{out}");
    for peer in ["talc", "rlsf", "buddy"] {
        assert!(out.contains(peer), "{peer} missing");
    }
    assert!(!out.contains("sysarena/"), "peers only");
    refused(
        &["viz", "--workload", "uniform", "-s", "", "--svg", "-"],
        1,
        "the list of subjects is empty",
    );
    refused(
        &["viz", "--workload", "uniform", "-s", "nope", "--svg", "-"],
        1,
        "unknown subject `nope`",
    );
    // Nothing to draw is said, not drawn.
    refused(
        &["viz", "--workload", "uniform", "-n", "0", "--svg", "-"],
        2,
        "replay at least one event",
    );
    refused(
        &[
            "report",
            "--workload",
            "uniform",
            "--ops",
            "0",
            "-o",
            "x.html",
        ],
        2,
        "generate at least one step",
    );
    // As many steps as the simulator's verbs take, and no more: each is
    // replayed twice per subject.
    refused(
        &[
            "viz",
            "--workload",
            "random",
            "--ops",
            "10000001",
            "--svg",
            "-",
        ],
        2,
        "at most 10,000,000",
    );
    // A peer that cannot get its region says so once, by name.
    let o = sysarena(&[
        "viz",
        "--workload",
        "uniform",
        "--ops",
        "50",
        "--capacity",
        "1000000000G",
        "-s",
        "talc",
        "--svg",
        "-",
    ]);
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("talc: ") && !err.contains("talc: talc"),
        "{err}"
    );
    let html = std::env::temp_dir().join(format!("sysarena-cli-{}.html", std::process::id()));
    let o = sysarena(&[
        "report",
        "--workload",
        "peaks",
        "--ops",
        "300",
        "-s",
        "sysarena",
        "-q",
        "-o",
        html.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("sysarena/segregated-fit/immediate"));
    assert!(!page.contains("\"talc\""));
    std::fs::remove_file(&html).unwrap();
}

/// The README says which verbs take `--json`; each of those does, and the
/// others do not pretend to.
#[test]
fn the_readme_json_promise_is_kept() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let promise = "`simulate`, `replay`, `compare` and `record` take `--json`";
    assert!(readme.contains(promise), "README lost its --json sentence");
    for verb in VERBS {
        let o = sysarena(&[verb, "--help"]);
        let json = text(&o).0.contains("--json");
        let promised = matches!(verb, "simulate" | "replay" | "compare" | "record");
        assert_eq!(json, promised, "{verb}: --json in help = {json}");
    }
}

#[test]
fn a_short_soak_says_what_it_covered() {
    let o = sysarena(&[
        "soak",
        "--ops",
        "2000",
        "--epoch-ops",
        "1000",
        "--capacity",
        "64K",
        "-q",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("covering 2 of 10 configurations"), "{out}");
    assert!(out.contains("soak: not reached: "), "{out}");
}

/// The README shows the demo's output; it is what `sysarena demo` prints.
#[test]
fn the_readme_shows_what_demo_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme
        .find("sysarena demo — the arena model")
        .expect("the README shows the demo");
    let end = start + readme[start..].find("\n```").expect("the block ends");
    let o = sysarena(&["demo"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out.trim_end(), readme[start..end].trim_end());
}

/// Runs the binary under a file-size limit of 20 blocks with SIGXFSZ
/// ignored, so a long write fails with `EFBIG` part-way.
#[cfg(unix)]
fn sysarena_with_small_file_limit(args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg("ulimit -f 20 && trap '' XFSZ && exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(args)
        .output()
        .expect("bash runs")
}

#[cfg(unix)]
#[test]
fn a_failed_write_leaves_no_partial_file_and_keeps_the_old_one() {
    let dir = std::env::temp_dir().join(format!("sysarena-cli-partial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("part.svg");
    let html = dir.join("part.html");
    std::fs::write(&html, "old").unwrap();
    let source = ["--workload", "random", "--ops", "3000", "-q"];
    for (out, verb) in [
        (&svg, &["viz", "--kind", "timeline", "--svg"][..]),
        (&html, &["report", "-o"]),
    ] {
        let mut args = verb.to_vec();
        args.push(out.to_str().unwrap());
        args.extend(source);
        let o = sysarena_with_small_file_limit(&args);
        let err = text(&o).1;
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("cannot write"), "{err}");
    }
    assert!(!svg.exists(), "a partial picture was left behind");
    assert_eq!(std::fs::read_to_string(&html).unwrap(), "old");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["part.html"], "temporary files were left behind");
    // Without the limit the same commands replace the file whole.
    let o = sysarena(&[
        "report",
        "-o",
        html.to_str().unwrap(),
        "--workload",
        "random",
        "--ops",
        "300",
        "-q",
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `simulate`'s heap map labels allocations A–Z then a–z, as its legend
/// says (it went A–Z and back to A), and says so when labels repeat.
#[test]
fn simulate_labels_follow_the_legend() {
    let o = sysarena(&[
        "simulate",
        "uniform",
        "--capacity",
        "16KiB",
        "--ops",
        "300",
        "--max-size",
        "300",
        "-s",
        "sysarena/best-fit/immediate",
        "--width",
        "120",
        "-q",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let map = out
        .lines()
        .find(|l| l.starts_with("  |"))
        .unwrap_or_else(|| panic!("no map in {out}"));
    let letters: Vec<char> = map.chars().filter(char::is_ascii_alphabetic).collect();
    assert!(letters.len() > 26, "{map}");
    assert_eq!(letters[26], 'a', "{map}");
    assert!(out.contains("A-Z, a-z allocation"), "{out}");
}
