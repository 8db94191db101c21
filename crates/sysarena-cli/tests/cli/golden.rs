//! Golden tests of the pictures and text frames: `sysarena step` frames,
//! the terminal view, and the SVG pictures of `sysarena viz`, each
//! rendered by the built binary and compared with a checked-in file under
//! `tests/golden/`. Run with `UPDATE_GOLDEN=1` to rewrite the files after a
//! deliberate change (and review the diff).

use std::path::{Path, PathBuf};
use std::process::Command;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Runs the binary in `tests/golden/` and returns its standard output.
fn sysarena(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sysarena"))
        .args(args)
        .current_dir(golden_dir())
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "sysarena {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Compares `actual` with the golden file `name`, or rewrites it when
/// `UPDATE_GOLDEN` is set.
fn golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let (i, (e, a)) = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .find(|(_, (e, a))| e != a)
            .unwrap_or((
                expected.lines().count().min(actual.lines().count()),
                ("<end>", "<end>"),
            ));
        panic!(
            "{name} differs from its golden file at line {}:\n expected: {e}\n   actual: {a}\n({} vs {} lines; UPDATE_GOLDEN=1 rewrites it)",
            i + 1,
            expected.lines().count(),
            actual.lines().count()
        );
    }
}

#[test]
fn step_frames_of_the_classic_story() {
    let out = sysarena(&[
        "step",
        "--script",
        "step-classic.script",
        "--capacity",
        "400",
        "--descriptors",
        "8",
        "--width",
        "40",
    ]);
    assert!(out.contains("external fragmentation"));
    golden("step-classic.txt", &out);
}

#[test]
fn step_quiz_asks_then_answers() {
    let out = sysarena(&[
        "step",
        "--quiz",
        "--script",
        "step-quiz.script",
        "--capacity",
        "512",
        "--policy",
        "best-fit",
        "--width",
        "32",
    ]);
    assert!(out.contains("quiz: alloc(100)"));
    assert!(out.contains("answer:"));
    golden("step-quiz.txt", &out);
}

#[test]
fn step_frames_of_the_fast_model_show_the_quick_lists() {
    let out = sysarena(&[
        "step",
        "--script",
        "step-fast.script",
        "--policy",
        "segregated-fit",
        "--coalescing",
        "immediate",
        "--capacity",
        "1K",
        "--width",
        "32",
    ]);
    assert!(out.contains("cached: it waits, whole, in the quick list of 32 B arenas"));
    assert!(out.contains("taken back from the quick list of 32 B arenas"));
    assert!(out.contains("(32 B cached in 1)"));
    golden("step-fast.txt", &out);
}

#[test]
fn the_terminal_view_of_the_fast_model() {
    let out = sysarena(&[
        "step",
        "--script",
        "step-fast-tui.script",
        "--policy",
        "segregated-fit",
        "--coalescing",
        "immediate",
        "--capacity",
        "1K",
        "--snapshot",
        "100x32",
    ]);
    assert!(out.contains("cached"));
    golden("step-fast-tui.txt", &out);
}

#[test]
fn step_through_a_trace() {
    let out = sysarena(&[
        "step",
        "tiny.trace",
        "--capacity",
        "1K",
        "--descriptors",
        "12",
        "--width",
        "40",
        "--script",
        "step-trace.script",
    ]);
    golden("step-trace.txt", &out);
}

#[test]
fn the_terminal_view() {
    let out = sysarena(&[
        "step",
        "--script",
        "step-classic.script",
        "--capacity",
        "400",
        "--descriptors",
        "8",
        "--snapshot",
        "100x32",
    ]);
    assert!(out.contains("arena table"));
    golden("step-tui.txt", &out);
}

fn viz(kind: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "viz",
        "--workload",
        "checkerboard",
        "--capacity",
        "64K",
        "--svg",
        "-",
        "--kind",
        kind,
        "--subjects",
        "sysarena/first-fit/deferred,sysarena/first-fit/immediate,talc",
    ];
    args.extend_from_slice(extra);
    let svg = sysarena(&args);
    assert!(svg.starts_with("<svg"), "{kind}: not an SVG");
    assert!(svg.trim_end().ends_with("</svg>"), "{kind}: not closed");
    svg
}

#[test]
fn svg_heap_map_at_a_step() {
    golden(
        "map-checkerboard.svg",
        &viz("map", &["--step", "24", "--width", "64"]),
    );
}

#[test]
fn svg_heap_map_over_time() {
    golden(
        "timeline-checkerboard.svg",
        &viz("timeline", &["--rows", "30"]),
    );
}

#[test]
fn svg_curves() {
    golden("curves-checkerboard.svg", &viz("curves", &[]));
}

#[test]
fn svg_histogram() {
    golden(
        "histogram-checkerboard.svg",
        &viz("histogram", &["--step", "20"]),
    );
}

#[test]
fn report_is_one_offline_file() {
    let dir = std::env::temp_dir().join(format!("sysarena-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("r.html");
    sysarena(&[
        "report",
        "--workload",
        "plateau",
        "--ops",
        "5000",
        "--keyframes",
        "100",
        "-o",
        path.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(html.contains("id=\"slider\""));
    for bad in ["http://", "https://", "<link", "src=\"", "@import"] {
        assert!(
            !html.contains(bad),
            "the report refers outside itself: {bad}"
        );
    }
}
