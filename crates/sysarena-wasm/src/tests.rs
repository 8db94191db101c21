//! The session against the command line's golden frames, the seed's
//! headline, undo and the slider, bad input, traces, and the exports.

use super::*;
use crate::view::stats_line;

fn session(capacity: usize, descriptors: usize) -> Session {
    Session::new(Settings {
        capacity,
        descriptors,
        ..Settings::default()
    })
    .unwrap()
}

fn line(s: &Session) -> String {
    stats_line(&s.manager().stats())
}

/// Everything observable about a session's manager.
fn snapshot(s: &Session) -> (String, Vec<sysarena::ArenaInfo>, Vec<sysarena::TableEntry>) {
    s.manager().check_invariants().unwrap();
    (
        line(s),
        s.manager().arenas().collect(),
        s.manager().table().collect(),
    )
}

#[test]
fn every_stats_line_matches_sysarena_steps_golden_frames() {
    // `sysarena step --capacity 400 --descriptors 8 --script step-classic.script`
    let script = include_str!("../../sysarena-cli/tests/golden/step-classic.script");
    let golden = include_str!("../../sysarena-cli/tests/golden/step-classic.txt");
    let expected: Vec<&str> = golden.lines().filter(|l| l.starts_with("stats:")).collect();
    let mut s = session(400, 8);
    let mut got = vec![line(&s)];
    for cmd in script.lines() {
        let body = cmd.split('#').next().unwrap().trim();
        if body.is_empty() {
            continue;
        }
        s.exec(body).unwrap();
        got.push(line(&s));
    }
    assert_eq!(got, expected);
}

#[test]
fn the_seeds_headline_fails_with_free_bytes_defrag_cannot_help_relocation_does() {
    let mut s = session(400, 8);
    run_script(
        &mut s,
        "alloc 100; alloc 100; alloc 100; alloc 100; free 1; free 3",
    )
    .unwrap();
    let log = run_script(&mut s, "alloc 200").unwrap();
    assert!(log[0].contains("although 200 B are free"), "{log:?}");
    assert!(log[0].contains("`defrag` cannot help"), "{log:?}");
    assert_eq!(s.landed(), Some(Landed::Failed));
    let log = run_script(&mut s, "defrag; alloc 200").unwrap();
    assert!(log[0].starts_with("✗ alloc(200) for #5 failed"), "{log:?}");
    let log = run_script(&mut s, "relocate").unwrap();
    assert!(log[0].contains("moved 1 live blocks"), "{log:?}");
    let log = run_script(&mut s, "alloc 200").unwrap();
    assert!(
        log[0].starts_with("✓ alloc(200) = #6 at offset 200"),
        "{log:?}"
    );
    // #2 moved from 200 to 100 and keeps its name.
    assert_eq!(s.owner(100), Some(Owner::Typed(2)));
    run_script(&mut s, "free 2").unwrap();
    assert_eq!(s.manager().arena_at(100).map(|a| a.in_use), Some(false));
    s.manager().check_invariants().unwrap();
}

#[test]
fn a_defrag_that_can_help_says_so() {
    let mut s = session(400, 8);
    let log = run_script(
        &mut s,
        "alloc 100; alloc 100; alloc 100; alloc 100; free 1; free 2; alloc 200",
    )
    .unwrap();
    assert!(log[0].contains("`defrag` would merge them"), "{log:?}");
}

#[test]
fn a_full_table_is_its_own_failure() {
    let mut s = session(1000, 2);
    let log = run_script(&mut s, "alloc 10; alloc 10").unwrap();
    assert!(log[0].contains("spare descriptor"), "{log:?}");
}

#[test]
fn explanations_name_the_policy_and_the_arena_taken() {
    let mut s = session(1000, 16);
    run_script(
        &mut s,
        "alloc 100; alloc 300; alloc 100; alloc 200; free 0; free 2; policy best-fit",
    )
    .unwrap();
    let log = run_script(&mut s, "alloc 50").unwrap();
    assert!(log[0].contains("best fit takes the smallest"), "{log:?}");
    assert!(log[0].contains("it took [0+100]"), "{log:?}");
    let log = run_script(&mut s, "alloc 60 64").unwrap();
    assert!(log[0].contains("align 64"), "{log:?}");
}

#[test]
fn undo_redo_and_seek_give_the_state_a_fresh_replay_gives() {
    let script = "alloc 100; alloc 50 16; alloc 200; free 1; policy worst-fit; alloc 30; coalescing immediate; free 0; defrag; alloc 90; relocate; free 2; alloc 120";
    let mut full = session(1024, 12);
    run_script(&mut full, script).unwrap();
    let n = full.len();
    let mut states = Vec::new();
    for k in 0..=n {
        let mut s = session(1024, 12);
        let cmds: Vec<&str> = script.split(';').take(k).collect();
        run_script(&mut s, &cmds.join(";")).unwrap();
        states.push(snapshot(&s));
    }
    // The slider, backwards and forwards, in jumps.
    for &k in &[13, 0, 7, 3, 12, 5, 13, 1] {
        full.seek(k);
        assert_eq!(full.pos(), k);
        assert_eq!(snapshot(&full), states[k], "after seek({k})");
    }
    full.seek(4);
    run_script(&mut full, "undo 2; redo; next").unwrap();
    assert_eq!(snapshot(&full), states[4]);
    // A new operation drops the redo tail.
    run_script(&mut full, "defrag").unwrap();
    assert_eq!(full.len(), 5);
}

#[test]
fn bad_input_says_why_and_changes_nothing() {
    let mut s = session(400, 8);
    run_script(&mut s, "alloc 100; alloc 100; free 0").unwrap();
    let before = (snapshot(&s), s.len(), s.pos(), s.next_number());
    for bad in [
        "alloc",
        "alloc 0",
        "alloc 401",
        "alloc 100 3",
        "alloc ten",
        "alloc 99999999999999999999999",
        "alloc 18446744073709551615 4096",
        "free",
        "free 0",
        "free 7",
        "free @50",
        "free @0",
        "free @400",
        "free @x",
        "policy fastest",
        "coalescing sometimes",
        "frobnicate 3",
        "defrag now",
        "redo",
        "goto x",
        "undo many",
    ] {
        let e = s.exec(bad).unwrap_err();
        assert!(!e.message.is_empty());
        assert_eq!(
            (snapshot(&s), s.len(), s.pos(), s.next_number()),
            before,
            "`{bad}` changed the session"
        );
    }
    assert!(s.exec("alloc 0").unwrap_err().message.contains("zero"));
    assert!(
        s.exec("alloc 401")
            .unwrap_err()
            .message
            .contains("whole region")
    );
    assert!(
        s.exec("free @0")
            .unwrap_err()
            .message
            .contains("double free")
    );
    // A script stops at its first bad command and keeps what came before.
    let e = run_script(&mut s, "alloc 10; allco 10; alloc 20").unwrap_err();
    assert_eq!((e.index, e.command.as_str()), (1, "allco 10"));
    assert_eq!(s.len(), before.1 + 1);
}

#[test]
fn settings_are_checked_and_replay_the_history() {
    let mut s = session(400, 8);
    run_script(&mut s, "alloc 100; alloc 100; alloc 100").unwrap();
    assert!(parse_settings("capacity=0", s.settings()).is_err());
    assert!(parse_settings("descriptors=0", s.settings()).is_err());
    assert!(parse_settings("descriptors=9999999", s.settings()).is_err());
    assert!(parse_settings("colour=red", s.settings()).is_err());
    assert!(parse_settings("policy=fastest", s.settings()).is_err());
    let (set, pin) = parse_settings("capacity=250 policy=best-fit", s.settings()).unwrap();
    assert!(!pin);
    s.configure(set, pin).unwrap();
    // The third alloc no longer fits in 250 bytes.
    assert_eq!(s.manager().stats().used_arenas, 2);
    assert_eq!(s.config().policy, Policy::BestFit);
}

#[test]
fn a_pinned_panel_keeps_its_policy() {
    let mut s = session(400, 8);
    let (set, pin) = parse_settings("policy=worst-fit pinned=1", s.settings()).unwrap();
    s.configure(set, pin).unwrap();
    run_script(&mut s, "policy first-fit").unwrap();
    assert_eq!(s.config().policy, Policy::WorstFit);
    assert!(s.log()[0].contains("keeps worst-fit"));
}

#[test]
fn traces_load_in_every_format_and_garbage_is_refused() {
    let mut s = session(4096, 64);
    let n = s
        .load_trace(
            "t.trace",
            b"# native\na 1 64\na 2 100 16\nf 1\nr 2 300\n",
            None,
        )
        .unwrap();
    assert_eq!(n, 4);
    run_script(&mut s, "next; next 2").unwrap();
    assert_eq!(s.manager().stats().used_arenas, 1);
    run_script(&mut s, "goto 4").unwrap();
    assert_eq!(s.manager().stats().requested_bytes, 300);
    // A typed operation in the middle of a trace goes between its events:
    // the rest of the trace stays, and goto keeps both.
    run_script(&mut s, "goto 1; alloc 10").unwrap();
    assert_eq!((s.pos(), s.len()), (2, 5));
    run_script(&mut s, "goto 3").unwrap();
    assert_eq!((s.pos(), s.len()), (3, 5));
    assert_eq!(s.history()[1], Op::Alloc { size: 10, align: 1 });

    let lab = b"20000\n2\n4\n1\na 0 512\na 1 128\nf 0\nf 1\n";
    assert_eq!(s.load_trace("short.rep", lab, None).unwrap(), 4);
    assert_eq!(s.load_trace("ostep.txt", b"+10 +20 -0\n", None).unwrap(), 3);

    let before = (s.len(), s.pos(), s.trace().map(|t| t.name.clone()));
    for (name, bad) in [
        ("garbage.trace", &b"hello world\n"[..]),
        ("dup.trace", b"a 1 10\na 1 10\n"),
        ("stale.trace", b"f 9\n"),
        ("empty.trace", b"# nothing\n"),
        ("trunc.trace.gz", &[0x1f, 0x8b, 8, 0, 0, 0][..]),
        ("binary.trace", &[0xff, 0xfe, 0, 1, 2][..]),
    ] {
        let e = s.load_trace(name, bad, None).unwrap_err();
        assert!(!e.is_empty());
        assert_eq!(
            (s.len(), s.pos(), s.trace().map(|t| t.name.clone())),
            before,
            "{name}"
        );
    }
}

#[test]
fn the_perl_trace_scrubs() {
    let bytes = include_bytes!("../../../traces/perl-wordfreq.trace.gz");
    let mut s = Session::new(Settings {
        capacity: 16 << 20,
        descriptors: 1 << 16,
        ..Settings::default()
    })
    .unwrap();
    let n = s
        .load_trace("perl-wordfreq.trace.gz", bytes, Some(5000))
        .unwrap();
    assert_eq!(n, 5000);
    s.seek(5000);
    let at_end = snapshot(&s);
    s.seek(2500);
    s.seek(5000);
    assert_eq!(snapshot(&s), at_end);
    let v = serde_json::to_value(view::view(&s, 100, 256, 64, 64)).unwrap();
    assert_eq!(v["buckets"].as_array().map(Vec::len), Some(256));
    assert!(v["arenas"].is_null());
}

#[test]
fn the_exports_answer_json() {
    fn put(text: &str) {
        pg_input(text.len());
        PG.with_borrow_mut(|pg| pg.input.copy_from_slice(text.as_bytes()));
    }
    fn out(len: usize) -> serde_json::Value {
        PG.with_borrow(|pg| {
            assert_eq!(pg.output.len(), len);
            serde_json::from_slice(&pg.output).unwrap()
        })
    }
    let id = pg_new();
    put("capacity=400 descriptors=8");
    assert_eq!(out(pg_configure(id))["ok"], true);
    put("capacity=lots");
    assert!(
        out(pg_configure(id))["error"]
            .as_str()
            .unwrap()
            .contains("not a size")
    );
    put("alloc 100\nalloc 100\nalloc 100; alloc 100; free 1; free 3; alloc 200");
    let a = out(pg_exec(id));
    assert_eq!(a["ok"], true);
    assert_eq!(a["landed"], "failed");
    put("alloc 0");
    let a = out(pg_exec(id));
    assert_eq!(
        (a["ok"].clone(), a["index"].clone()),
        (false.into(), 0.into())
    );
    let v = out(pg_state(id, 1000, 100));
    assert_eq!(v["stats"]["free_bytes"], 200);
    assert_eq!(v["arenas"].as_array().unwrap().len(), 4);
    assert_eq!(v["table"].as_array().unwrap().len(), 8);
    let expected = PG.with_borrow(|pg| line(pg.sessions[id as usize].as_ref().unwrap()));
    assert_eq!(v["stats_line"], expected);
    put("tiny.trace\na 1 10\nf 1\n");
    assert_eq!(out(pg_load_trace(id, 0))["events"], 2);
    put("bad.trace\nz 1\n");
    assert_eq!(out(pg_load_trace(id, 0))["ok"], false);
    pg_drop(id);
    put("defrag");
    assert_eq!(out(pg_exec(id))["ok"], false);
}

#[test]
fn the_script_replays_to_the_same_state_and_panels_follow() {
    let mut s = session(1024, 12);
    run_script(&mut s, "alloc 100; alloc 50 16; free 0; policy best-fit; coalescing immediate; alloc 30; free @112; defrag; relocate; undo").unwrap();
    let script = s.script();
    let mut t = session(1024, 12);
    run_script(&mut t, &script).unwrap();
    t.seek(s.pos());
    assert_eq!(snapshot(&t), snapshot(&s));
    assert_eq!(t.len(), s.len());

    let mut panel = session(1024, 12);
    let (set, pin) = parse_settings("policy=worst-fit pinned=1", panel.settings()).unwrap();
    panel.configure(set, pin).unwrap();
    panel.adopt(&s);
    assert_eq!((panel.pos(), panel.len()), (s.pos(), s.len()));
    // #2 is live in the main panel; the follower records the free anyway.
    s.exec("redo").unwrap();
    panel.exec("redo").unwrap();
    panel.exec("free 9").unwrap();
    assert_eq!(panel.len(), s.pos() + 1);
}

#[test]
fn a_free_under_immediate_coalescing_says_whether_it_merged() {
    let mut s = session(400, 8);
    run_script(
        &mut s,
        "coalescing immediate; alloc 100; alloc 100; alloc 100",
    )
    .unwrap();
    // #1's right neighbour is #2 (in use), its left #0 (in use).
    let log = run_script(&mut s, "free 1").unwrap();
    assert!(log[0].contains("no free neighbour"), "{log:?}");
    // #2 sits between the free #1 and the free tail: all three merge.
    let log = run_script(&mut s, "free 2").unwrap();
    assert!(
        log[0].contains("merged it with its free neighbours into [100+300]"),
        "{log:?}"
    );
    // #0 merges with the free arena on its right, starting where it starts.
    let log = run_script(&mut s, "free 0").unwrap();
    assert!(log[0].contains("into [0+400]"), "{log:?}");
}

#[test]
fn with_handles_bounded_passes_close_the_holes_and_names_follow_the_moves() {
    let mut s = session(1000, 32);
    let (set, pin) = parse_settings("handles=1", s.settings()).unwrap();
    s.configure(set, pin).unwrap();
    let mut script = String::new();
    for _ in 0..10 {
        script.push_str("alloc 100;");
    }
    for n in (0..10).step_by(2) {
        script.push_str(&format!("free {n};"));
    }
    run_script(&mut s, &script).unwrap();
    let log = run_script(&mut s, "alloc 200").unwrap();
    assert!(log[0].contains("`defrag` cannot help"), "{log:?}");
    // Policy changes belong to the settings of a Movable manager.
    assert!(
        s.exec("policy best-fit")
            .unwrap_err()
            .message
            .contains("settings")
    );
    assert!(s.exec("pass 0").is_err());
    let mut passes = 0;
    loop {
        let log = run_script(&mut s, "pass 2").unwrap();
        passes += 1;
        s.manager().check_invariants().unwrap();
        // Every typed allocation still names a live arena at its offset.
        for n in [1, 3, 5, 7, 9] {
            let off = s
                .manager()
                .arenas()
                .find(|a| a.in_use && s.owner(a.offset) == Some(Owner::Typed(n)))
                .map(|a| a.offset);
            assert!(off.is_some(), "#{n} lost after pass {passes}: {log:?}");
        }
        if !log[0].contains("another pass") {
            assert!(log[0].contains("converged"), "{log:?}");
            break;
        }
        assert!(passes < 20, "passes do not end: {log:?}");
    }
    assert_eq!(s.manager().stats().largest_free, 500);
    let log = run_script(&mut s, "alloc 200; free 9").unwrap();
    assert!(log[0].contains("free #9"), "{log:?}");
    // The slider replays passes exactly.
    let end = snapshot(&s);
    let pos = s.pos();
    s.seek(3);
    s.seek(pos);
    assert_eq!(snapshot(&s), end);
    // And the link carries them.
    let mut t = session(1000, 32);
    t.configure(set, pin).unwrap();
    run_script(&mut t, &s.script()).unwrap();
    assert_eq!(snapshot(&t), end);
}

#[test]
fn passes_need_handles() {
    let mut s = session(400, 8);
    let e = s.exec("pass").unwrap_err();
    assert!(e.message.contains("handles"), "{e:?}");
}

/// A session of the fast model (quick lists) over `capacity` bytes.
fn fast(capacity: usize) -> Session {
    Session::new(Settings {
        capacity,
        descriptors: 16,
        config: sysarena::Config::fast(),
        handles: false,
    })
    .unwrap()
}

#[test]
fn every_stats_line_matches_the_fast_models_golden_frames() {
    // `sysarena step --policy segregated-fit --coalescing immediate
    // --capacity 1K --script step-fast.script`: cached bytes included.
    let script = include_str!("../../sysarena-cli/tests/golden/step-fast.script");
    let golden = include_str!("../../sysarena-cli/tests/golden/step-fast.txt");
    let expected: Vec<&str> = golden.lines().filter(|l| l.starts_with("stats:")).collect();
    let mut s = fast(1024);
    let mut got = vec![line(&s)];
    for cmd in script.lines() {
        let body = cmd.split('#').next().unwrap().trim();
        if body.is_empty() {
            continue;
        }
        s.exec(body).unwrap();
        got.push(line(&s));
    }
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
fn the_explanations_tell_the_quick_lists_story() {
    let mut s = fast(1024);
    run_script(&mut s, "alloc 32; alloc 32; alloc 960").unwrap();
    assert_eq!(
        run_script(&mut s, "free 0").unwrap(),
        [
            "✓ free #0 at offset 0; cached: it waits, whole, in the quick list of 32 B arenas for the next request of that size (its free neighbours merge with it only when the lists are flushed)"
        ]
    );
    assert_eq!(
        run_script(&mut s, "alloc 32").unwrap(),
        [
            "✓ alloc(32) = #3 at offset 0 (arena of 32 B in slot 0): taken back from the quick list of 32 B arenas — the one freed last, handed out whole with no search and no split"
        ]
    );
    run_script(&mut s, "free 3; free 1").unwrap();
    assert_eq!(
        run_script(&mut s, "alloc 64").unwrap(),
        [
            "✓ alloc(64) = #4 at offset 0 (arena of 64 B in slot 0): no free arena fitted, so the quick lists were flushed first: 2 cached arenas (64 B) freed for real, merging with their free neighbours; then the request was tried again"
        ]
    );
    run_script(&mut s, "free 4").unwrap();
    assert_eq!(
        run_script(&mut s, "flush").unwrap(),
        [
            "flush: 1 cached arena (64 B) freed for real, each merging with its free neighbours; free arenas 1 → 1, largest free 64 B → 64 B"
        ]
    );
    assert_eq!(
        run_script(&mut s, "flush").unwrap(),
        ["flush: the quick lists are empty"]
    );
    run_script(&mut s, "coalescing deferred").unwrap();
    let log = run_script(&mut s, "coalescing immediate").unwrap();
    assert_eq!(
        log[0],
        format!(
            "now segregated-fit with immediate coalescing: {}; {}",
            explain::policy_rule(sysarena::Policy::SegregatedFit),
            explain::quick_lists()
        )
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
fn flush_on_a_movable_says_it_flushes_itself() {
    let mut s = Session::new(Settings {
        capacity: 1024,
        descriptors: 16,
        config: sysarena::Config::fast(),
        handles: true,
    })
    .unwrap();
    run_script(&mut s, "alloc 32; alloc 32; free 0").unwrap();
    assert_eq!(
        run_script(&mut s, "flush").unwrap(),
        [
            "flush: a handle-based (Movable) manager flushes its quick lists itself, before out of memory, `defrag` and passes"
        ]
    );
    // Outside the fast model there is nothing to flush.
    let mut classic = session(400, 8);
    assert_eq!(
        run_script(&mut classic, "flush").unwrap(),
        [
            "flush: nothing to do: only the fast model (segregated-fit with immediate coalescing) keeps quick lists"
        ]
    );
}

#[test]
fn a_near_size_take_is_explained() {
    let mut s = fast(64 * 1024);
    run_script(&mut s, "alloc 1040; alloc 16").unwrap();
    assert_eq!(
        run_script(&mut s, "free 0").unwrap(),
        [
            "✓ free #0 at offset 0; cached: it waits, whole, in the quick list of 1.0 KiB arenas for the next request of that size or of a size at most a 64th smaller (its free neighbours merge with it only when the lists are flushed)"
        ]
    );
    assert_eq!(
        run_script(&mut s, "alloc 1024").unwrap(),
        [
            "✓ alloc(1024) = #2 at offset 0 (arena of 1.0 KiB in slot 0): taken from the quick list of 1040 B arenas, a near size — the list of 1024 B arenas was empty, and these are at most a 64th larger; handed out whole with no search and no split"
        ]
    );
}

#[test]
fn a_policy_change_in_the_middle_of_a_trace_keeps_the_trace_and_the_cursor() {
    let mut s = session(4096, 64);
    let trace = b"a 1 64\na 2 100\nf 1\na 3 32\nf 2\na 4 500\nf 3\nf 4\n";
    assert_eq!(s.load_trace("t.trace", trace, None).unwrap(), 8);
    run_script(&mut s, "goto 4").unwrap();
    let log = run_script(&mut s, "policy segregated-fit").unwrap();
    assert!(log[0].starts_with("now segregated-fit"), "{log:?}");
    // Nothing dropped, nothing said about dropping.
    assert_eq!((s.pos(), s.len()), (5, 9));
    assert_eq!(log.len(), 1, "{log:?}");
    // The slider moves over the whole trace and keeps the change.
    run_script(&mut s, "goto 9").unwrap();
    assert_eq!((s.pos(), s.len()), (9, 9));
    assert_eq!(s.config().policy, Policy::SegregatedFit);
    s.seek(2);
    assert_eq!(s.config().policy, Policy::FirstFit);
    s.seek(7);
    assert_eq!(s.config().policy, Policy::SegregatedFit);
    // Undoing the change and picking another replaces it (the undone one
    // is dropped and the log says so); the events after it stay.
    run_script(&mut s, "goto 4").unwrap();
    let log = run_script(&mut s, "policy best-fit").unwrap();
    assert_eq!((s.pos(), s.len()), (5, 9));
    assert!(
        log[1].contains("the 1 undone operation after this point was dropped")
            && log[1].contains("the trace's events stay"),
        "{log:?}"
    );
    run_script(&mut s, "next 4").unwrap();
    assert_eq!(s.config().policy, Policy::BestFit);
    assert_eq!(s.manager().stats().used_arenas, 0);
}

#[test]
fn a_new_operation_after_undo_says_what_it_dropped() {
    let mut s = session(400, 8);
    run_script(&mut s, "alloc 100; alloc 50; alloc 20; undo 2").unwrap();
    let log = run_script(&mut s, "alloc 30").unwrap();
    assert!(log[0].starts_with("✓ alloc(30)"), "{log:?}");
    assert!(
        log[1].contains("the 2 undone operations after this point were dropped"),
        "{log:?}"
    );
    assert_eq!(s.len(), 2);
    // A redo of the same operation drops nothing.
    run_script(&mut s, "undo").unwrap();
    let log = run_script(&mut s, "alloc 30").unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
}

#[test]
fn a_free_the_quick_lists_cannot_take_says_their_budget_is_full() {
    // 400 B: the lists may hold 25 B, so a freed 32 B arena is not cached.
    let mut s = Session::new(Settings {
        capacity: 400,
        descriptors: 8,
        config: sysarena::Config::fast(),
        handles: false,
    })
    .unwrap();
    let log = run_script(&mut s, "alloc 32; alloc 32; free 0").unwrap();
    assert_eq!(s.manager().stats().cached_arenas, 0);
    assert_eq!(
        log[0],
        "✓ free #0 at offset 0; not cached: the quick lists' budget (25 B, a 16th of the region) is full — 0 B cached, and 32 B more would pass it; no free neighbour to merge with"
    );
    // The rule says the budget too.
    assert!(explain::quick_lists().contains("a 16th of the region"));
    // On 1 KiB the budget is 64 B: one 32 B arena is cached, the second
    // also fits (64 B), a third does not.
    let mut s = fast(1024);
    run_script(
        &mut s,
        "alloc 32; alloc 8; alloc 32; alloc 8; alloc 32; alloc 8",
    )
    .unwrap();
    run_script(&mut s, "free 0; free 2").unwrap();
    assert_eq!(s.manager().stats().cached_bytes, 64);
    let log = run_script(&mut s, "free 4").unwrap();
    assert!(
        log[0].contains(
            "not cached: the quick lists' budget (64 B, a 16th of the region) is full — 64 B cached"
        ),
        "{log:?}"
    );
    // A size the lists never cache says nothing of the budget.
    let mut s = fast(1024);
    let log = run_script(&mut s, "alloc 33; alloc 8; free 0").unwrap();
    assert!(!log[0].contains("not cached"), "{log:?}");
}

#[test]
fn no_spare_descriptor_suggests_defrag_only_when_it_returns_descriptors() {
    // The model chapter's exercise: one free arena, nothing to merge.
    let mut s = session(400, 8);
    let log = run_script(
        &mut s,
        "alloc 100; alloc 50; alloc 10; alloc 10; alloc 10; alloc 10; alloc 10; alloc 10",
    )
    .unwrap();
    assert!(log[0].contains("needs a spare descriptor"), "{log:?}");
    assert!(
        log[0].contains("`defrag` cannot help: there is only one free arena"),
        "{log:?}"
    );
    assert!(log[0].contains("a larger arena table"), "{log:?}");
    assert!(!log[0].contains("`relocate` would"), "{log:?}");
    // Two free arenas apart: relocation joins them, defrag cannot.
    let mut s = session(400, 6);
    let log = run_script(
        &mut s,
        "alloc 50; alloc 50; alloc 50; alloc 50; alloc 50; free 1; free 3; alloc 10",
    )
    .unwrap();
    assert!(
        log[0].contains("`defrag` cannot help: none of the 3 free arenas are neighbours"),
        "{log:?}"
    );
    assert!(
        log[0]
            .contains("`relocate` would join the 3 free arenas into one and return 2 descriptors"),
        "{log:?}"
    );
    // Neighbours: defrag returns descriptors and says how many.
    let mut s = session(400, 6);
    let log = run_script(
        &mut s,
        "alloc 50; alloc 50; alloc 50; alloc 50; alloc 50; free 1; free 2; alloc 10",
    )
    .unwrap();
    assert!(
        log[0].contains("`defrag` merges free neighbours and returns their descriptors (1 descriptor would come back)"),
        "{log:?}"
    );
    run_script(&mut s, "undo; defrag; alloc 10").unwrap();
    assert!(s.log()[0].starts_with("✓ alloc(10)"), "{:?}", s.log());
}

#[test]
fn an_alignment_failure_names_alignment_not_defrag() {
    let mut s = session(300, 8);
    run_script(&mut s, "alloc 130; alloc 20; alloc 150; free 1; free 2").unwrap();
    let log = run_script(&mut s, "alloc 128 128").unwrap();
    assert!(log[0].contains("alignment 128 is the cause"), "{log:?}");
    assert!(!log[0].contains("would merge them"), "{log:?}");
    assert!(
        log[0].contains("`defrag` cannot help: the longest run of neighbouring free arenas, [130+170], reaches its first 128-aligned offset at 256 and leaves 44 B there, short of the 128 B it needs"),
        "{log:?}"
    );
    assert!(
        log[0].contains(
            "nor would `relocate`: the free bytes already lie in that one arena at the end"
        ),
        "{log:?}"
    );
    // After defrag: one piece, large enough, and alignment the cause.
    let log = run_script(&mut s, "defrag; alloc 128 128").unwrap();
    assert!(
        log[0]
            .contains("the largest free arena (170 B) is large enough: alignment 128 is the cause"),
        "{log:?}"
    );
    assert!(!log[0].contains("1 pieces"), "{log:?}");
    assert!(
        log[0].contains(
            "`defrag` cannot help: there is nothing to merge: the largest free arena, [130+170]"
        ),
        "{log:?}"
    );
    // Where relocation would move the free bytes, its one free arena at
    // the end is checked with the same aligned fit: on 1000 B it starts at
    // 700 and has no 256-aligned offset with 256 B after it …
    let mut s = session(1000, 8);
    let log = run_script(
        &mut s,
        "alloc 300; alloc 300; alloc 400; free 1; alloc 200 256",
    )
    .unwrap();
    assert!(log[0].contains("alignment 256 is the cause"), "{log:?}");
    assert!(
        log[0].contains("not even `relocate` would: its one free arena at the end, [700+300], reaches its first 256-aligned offset at 768 and leaves 232 B there"),
        "{log:?}"
    );
    // … while on 1024 B it starts at 724 and holds it at 768.
    let mut s = session(1024, 8);
    let log = run_script(
        &mut s,
        "alloc 300; alloc 300; alloc 424; free 1; alloc 200 256",
    )
    .unwrap();
    assert!(
        log[0].contains("`relocate` moves the live blocks and makes one free arena of 300 B"),
        "{log:?}"
    );
    let log = run_script(&mut s, "relocate; alloc 200 256").unwrap();
    assert!(
        log[0].starts_with("✓ alloc(200, align 256) = #4 at offset 768"),
        "{log:?}"
    );
    // Where the merged run does hold the aligned request, defrag is right.
    let mut s = session(400, 8);
    let log = run_script(
        &mut s,
        "alloc 100; alloc 100; alloc 100; alloc 100; free 1; free 2; alloc 100 64",
    )
    .unwrap();
    assert!(log[0].contains("[100+200]"), "{log:?}");
    assert!(log[0].contains("`defrag` would merge them"), "{log:?}");
    assert!(log[0].contains("in 2 pieces"), "{log:?}");
    run_script(&mut s, "defrag; alloc 100 64").unwrap();
    assert!(
        s.log()[0].starts_with("✓ alloc(100, align 64) = #5 at offset 128"),
        "{:?}",
        s.log()
    );
}

#[test]
fn hash_names_an_allocation_and_a_comment_needs_a_space_before_it() {
    assert_eq!(session::strip_comment("free #1"), "free #1");
    assert_eq!(session::strip_comment("alloc 100 # the first"), "alloc 100");
    assert_eq!(session::strip_comment("alloc 100 #first"), "alloc 100");
    assert_eq!(session::strip_comment("# a comment"), "");
    assert_eq!(session::strip_comment("  #1 is a comment too"), "");
    let mut s = session(400, 8);
    run_script(&mut s, "alloc 100; alloc 100 # the second; free #1").unwrap();
    assert!(
        s.log()[0].starts_with("✓ free #1 at offset 100"),
        "{:?}",
        s.log()
    );
    // A link's `ops=free+%231` decodes to this.
    run_script(&mut s, "free #0 # and a comment").unwrap();
    assert_eq!(s.manager().stats().used_arenas, 0);
}

#[test]
fn check_refuses_what_exec_would_and_changes_nothing() {
    let mut s = session(400, 8);
    run_script(&mut s, "alloc 100").unwrap();
    for bad in [
        "alloc -5",
        "alloc 0",
        "allco 5",
        "free 3",
        "alloc 10; alloc 20",
    ] {
        assert!(s.check(bad).is_err(), "{bad}");
    }
    for good in ["alloc 50", "free 0", "free #0", "defrag", "undo"] {
        s.check(good).unwrap();
    }
    assert_eq!((s.pos(), s.len()), (1, 1));
}

#[test]
fn a_link_replays_exactly_after_handles_are_toggled() {
    // Handles on, passes, then handles off: the passes change nothing on a
    // plain manager and a link would refuse them, so the link leaves them
    // out (and says how many).
    let on = Settings {
        capacity: 1000,
        descriptors: 32,
        handles: true,
        ..Settings::default()
    };
    let mut s = Session::new(on).unwrap();
    run_script(&mut s, "alloc 100; alloc 100; alloc 100; free 0; pass 1").unwrap();
    let off = Settings {
        handles: false,
        ..on
    };
    s.configure(off, false).unwrap();
    let l = s.link_script();
    assert_eq!(l.script, "alloc 100;alloc 100;alloc 100;free 0");
    assert_eq!((l.pos, l.len, l.left_out), (4, 4, 1));
    let mut t = Session::new(off).unwrap();
    run_script(&mut t, &l.script).unwrap();
    assert_eq!(snapshot(&t), snapshot(&s));

    // A policy change, then handles on: the Movable keeps its policy (set
    // in the settings), the change is left out.
    let mut s = session(1000, 32);
    run_script(&mut s, "alloc 100; policy best-fit; alloc 50").unwrap();
    let movable = Settings {
        handles: true,
        config: sysarena::Config::new(Policy::BestFit, sysarena::Coalescing::Deferred),
        ..s.settings()
    };
    s.configure(movable, false).unwrap();
    let l = s.link_script();
    assert_eq!(l.script, "alloc 100;alloc 50");
    let mut t = Session::new(movable).unwrap();
    run_script(&mut t, &l.script).unwrap();
    assert_eq!(snapshot(&t), snapshot(&s));

    // A smaller region: an allocation fails there, so its free is skipped
    // and left out of the link; `at` counts the link's commands.
    let mut s = session(400, 8);
    run_script(
        &mut s,
        "alloc 100; alloc 200; alloc 50; free 1; free 0; undo",
    )
    .unwrap();
    let small = Settings {
        capacity: 250,
        ..s.settings()
    };
    s.configure(small, false).unwrap();
    let l = s.link_script();
    assert_eq!(l.script, "alloc 100;alloc 200;alloc 50;free 0");
    assert_eq!((l.pos, l.len, l.left_out), (3, 4, 1));
    let mut t = Session::new(small).unwrap();
    run_script(&mut t, &l.script).unwrap();
    t.seek(l.pos);
    assert_eq!(snapshot(&t), snapshot(&s));
    // A region smaller than a typed request is refused: no link could
    // replay it.
    let e = s
        .configure(
            Settings {
                capacity: 150,
                ..small
            },
            false,
        )
        .unwrap_err();
    assert!(e.contains("`alloc 200`"), "{e}");
    assert_eq!(s.settings().capacity, 250);
}

#[test]
fn on_off_settings_accept_their_spellings_and_refuse_the_rest() {
    let base = Settings::default();
    for on in ["1", "true", "True", "yes", "on"] {
        assert!(
            parse_settings(&format!("handles={on}"), base)
                .unwrap()
                .0
                .handles
        );
    }
    for off in ["0", "false", "no", "OFF"] {
        assert!(
            !parse_settings(&format!("handles={off}"), base)
                .unwrap()
                .0
                .handles
        );
    }
    let e = parse_settings("handles=maybe", base).unwrap_err();
    assert!(e.contains("handles `maybe`"), "{e}");
    assert!(parse_settings("pinned=2", base).is_err());
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

#[test]
fn pg_check_and_pg_script_answer_json() {
    fn put(text: &str) {
        pg_input(text.len());
        PG.with_borrow_mut(|pg| pg.input.copy_from_slice(text.as_bytes()));
    }
    fn out(len: usize) -> serde_json::Value {
        PG.with_borrow(|pg| serde_json::from_slice(&pg.output).unwrap_or_else(|_| panic!("{len}")))
    }
    let id = pg_new();
    put("capacity=400 descriptors=8");
    assert_eq!(out(pg_configure(id))["ok"], true);
    put("alloc -5");
    let a = out(pg_check(id));
    assert_eq!(a["ok"], false);
    assert!(a["error"].as_str().unwrap().contains("not a size"));
    put("alloc 50");
    assert_eq!(out(pg_check(id))["ok"], true);
    // Checking ran nothing.
    put("alloc 100; allco 5");
    let a = out(pg_exec(id));
    assert_eq!(
        (a["index"].clone(), a["command"].clone()),
        (1.into(), "allco 5".into())
    );
    put("");
    let l = out(pg_script(id));
    assert_eq!(
        (l["script"].clone(), l["pos"].clone(), l["len"].clone()),
        ("alloc 100".into(), 1.into(), 1.into())
    );
    pg_drop(id);
}
