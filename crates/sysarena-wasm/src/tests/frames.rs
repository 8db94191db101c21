//! The view against the command line's golden frames: the stats line, the
//! picture and the heap map, for the classic and the fast model.

use super::*;
use crate::session::strip_comment;

#[test]
fn every_stats_line_matches_sysarena_steps_golden_frames() {
    // `sysarena step --capacity 400 --descriptors 8 --script step-classic.script`
    let script = include_str!("../../../sysarena-cli/tests/golden/step-classic.script");
    let golden = include_str!("../../../sysarena-cli/tests/golden/step-classic.txt");
    let expected: Vec<&str> = golden.lines().filter(|l| l.starts_with("stats:")).collect();
    assert_eq!(stats_after_each(&mut session(400, 8), script), expected);
}

/// The stats line before `script` and after each of its commands (one a
/// line, comments as `sysarena step` reads them).
fn stats_after_each(s: &mut Session, script: &str) -> Vec<String> {
    let mut got = vec![line(s)];
    for cmd in script.lines().map(strip_comment).filter(|c| !c.is_empty()) {
        s.exec(cmd).unwrap();
        got.push(line(s));
    }
    got
}

#[test]
fn every_stats_line_matches_the_fast_models_golden_frames() {
    // `sysarena step --policy segregated-fit --coalescing immediate
    // --capacity 1K --script step-fast.script`: cached bytes included.
    let script = include_str!("../../../sysarena-cli/tests/golden/step-fast.script");
    let golden = include_str!("../../../sysarena-cli/tests/golden/step-fast.txt");
    let expected: Vec<&str> = golden.lines().filter(|l| l.starts_with("stats:")).collect();
    let got = stats_after_each(&mut fast(1024), script);
    assert_eq!(got, expected);
    assert!(got.iter().any(|l| l.contains("(32 B cached in 1)")));
}

#[test]
fn the_view_carries_cached_arenas() {
    let mut s = fast(1024);
    run_script(&mut s, "alloc 32; alloc 32; alloc 960; free 0").unwrap();
    let v = serde_json::to_value(view::view(&s, 1000, 100, 16, 16)).unwrap();
    assert_eq!(v["stats"]["cached_bytes"], 32);
    assert_eq!(v["stats"]["cached_arenas"], 1);
    // [offset, size, used, slot, owner kind, owner number, cached]
    assert_eq!(v["arenas"][0], serde_json::json!([0, 32, 0, 0, 0, 0, 1]));
    assert_eq!(v["arenas"][1], serde_json::json!([32, 32, 32, 1, 1, 1, 0]));
    assert_eq!(v["free_list"], serde_json::json!([[0, 32, 1]]));
    // A cached arena is never the largest free one.
    assert_eq!(v["largest"], serde_json::Value::Null);
    assert_eq!(
        v["stats_line"],
        "stats: in use 992 B (requested 992 B, slack 0 B) in 2 arenas · free 32 B in 1 arena (32 B cached in 1), largest 32 B · external fragmentation 0% · descriptors 3 used, 13 spare of 16"
    );
}

#[test]
fn the_picture_draws_a_cached_arena_and_its_descriptor() {
    let mut s = fast(1024);
    run_script(&mut s, "alloc 32; alloc 32; free 0").unwrap();
    let svg = picture::svg(&s, "cached");
    assert!(
        svg.contains(r##"<rect x="0.0" y="28" width="25.0" height="70" fill="#9fa8bd" stroke="#57606a" stroke-width="0.5"><title>cached (waiting in a quick list): offset 0, 32 B, slot 0</title></rect>"##),
        "{svg}"
    );
    assert!(
        svg.contains(r##"<rect x="200.0" y="122.0" width="11" height="16" fill="#9fa8bd" stroke="#d0d7de"/><text x="205.5" y="134.0" font-size="11" text-anchor="middle" fill="#1b1f24">○</text>"##),
        "{svg}"
    );
}

#[test]
fn the_view_outlines_the_largest_free_arena_that_is_not_cached() {
    // 4 KiB: the lists may hold 256 B. A cached 256 B arena is the largest
    // free one for the stats; the picture outlines the 220 B one.
    let mut s = fast(4096);
    run_script(&mut s, "alloc 256; alloc 16; alloc 3604; free 0").unwrap();
    let st = s.manager().stats();
    assert_eq!((st.cached_arenas, st.largest_free), (1, 256));
    let v = serde_json::to_value(view::view(&s, 1000, 100, 16, 16)).unwrap();
    assert_eq!(v["largest"], serde_json::json!([3876, 220]));
    assert_eq!(v["stats"]["largest_free"], 256);
}
