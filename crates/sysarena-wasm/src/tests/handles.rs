//! Handles: bounded passes, and a `Movable`'s own flush.

use super::*;

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
        if log[0].contains("converged") {
            break;
        }
        // A pass that planned fewer moves than its limit walked every
        // arena: it promises nothing more (the next plan tells).
        let planned: usize = log[0]
            .split("planned ")
            .nth(1)
            .and_then(|t| t.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no plan: {log:?}"));
        if planned < 2 {
            assert!(
                log[0].contains("every arena was looked at; run another pass to see"),
                "{log:?}"
            );
        } else {
            // Two moves, the limit: more may be left.
            assert!(
                log[0].contains("stopped at the move limit: another pass can move more"),
                "{log:?}"
            );
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
