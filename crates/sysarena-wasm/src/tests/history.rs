//! The session's history: undo, redo and the slider, settings that replay
//! it, commands and their refusals, and the links that replay it.

use super::*;

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
