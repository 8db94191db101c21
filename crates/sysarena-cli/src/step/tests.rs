//! Tests of `sysarena step`: scripts run through the plain front end.

use super::*;
use clap::Parser;

#[derive(clap::Parser)]
struct P {
    #[command(flatten)]
    a: StepArgs,
}

pub(crate) fn args(extra: &[&str]) -> StepArgs {
    let mut argv = vec!["step"];
    argv.extend_from_slice(extra);
    P::parse_from(argv).a
}

#[test]
fn alloc_zero_is_the_librarys_zero_size_error() {
    let out = run_script(&args(&[]), "alloc 0\n").unwrap();
    assert!(out.contains("✗ alloc(0) for #0 (A)"), "{out}");
    assert!(out.contains("in use 0 B"), "{out}");
}

#[test]
fn zero_and_huge_tables_and_regions_are_refused() {
    for bad in [
        &["--capacity", "0"][..],
        &["--descriptors", "0"],
        &["--descriptors", "100000000000"],
        &["--width", "0"],
        &["--width", "100000000"],
    ] {
        let mut argv = vec!["step"];
        argv.extend_from_slice(bad);
        assert!(P::try_parse_from(argv).is_err(), "{bad:?}");
    }
    // Built by hand (as the fuzz target does), the run refuses them.
    let mut a = args(&[]);
    a.descriptors = Some(0);
    assert!(run_script(&a, "").is_err());
    a.descriptors = Some(100_000_000_000);
    assert!(run_script(&a, "").is_err());
    let mut a = args(&[]);
    a.capacity = Some(0);
    assert!(run_script(&a, "").is_err());
}

#[test]
fn redo_brings_back_what_prev_undid() {
    let out = run_script(
        &args(&["--capacity", "256"]),
        "alloc 64\nalloc 32\nprev 2\nredo\nredo\nredo\n",
    )
    .unwrap();
    assert!(out.contains("undid 2 operations"), "{out}");
    assert!(out.contains("redid 1 operation"), "{out}");
    let last = out.rsplit("──").next().unwrap();
    assert!(out.contains("? nothing to redo"), "{out}");
    // Both allocations are back: 96 bytes in use.
    let frames: Vec<&str> = out.split("\n── ").collect();
    let after_redos = frames[frames.len() - 2];
    assert!(after_redos.contains("in use 96 B"), "{after_redos}");
    assert!(!last.is_empty());
    // A new operation after an undo forgets what could be redone.
    let out = run_script(
        &args(&["--capacity", "256"]),
        "alloc 64\nprev\nalloc 16\nredo\n",
    )
    .unwrap();
    assert!(out.contains("? nothing to redo"), "{out}");
}

#[test]
fn a_quiz_typo_asks_again_and_a_wrong_answer_is_explained() {
    INTERACTIVE_QUIZ.with(|c| c.set(true));
    let out = run_script(
        &args(&["--quiz", "--capacity", "256"]),
        "alloc 64\n0\nalloc 32\n6o\n10\n",
    );
    INTERACTIVE_QUIZ.with(|c| c.set(false));
    let out = out.unwrap();
    assert!(
        out.contains("✓ right: it landed at offset 0 (score 1/1)"),
        "{out}"
    );
    assert!(
        out.contains("? `6o` is not an answer: type an offset (e.g. 64) or `fail`"),
        "{out}"
    );
    assert!(
        out.contains("✗ no: it landed at offset 64 (score 1/2)"),
        "{out}"
    );
    assert!(
        out.contains(
            "why: first fit takes the lowest-addressed free arena that fits; free arenas that fit: [64+192]"
        ),
        "{out}"
    );
}

#[test]
fn the_classic_failure_and_its_rescue() {
    let out = run_script(
        &args(&["--capacity", "400", "--width", "40"]),
        "alloc 100\nalloc 100\nalloc 100\nalloc 100\nfree 1\nfree 2\nalloc 200\ndefrag\nalloc 200\n",
    )
    .unwrap();
    assert!(out.contains("✗ alloc(200)"), "{out}");
    assert!(out.contains("external fragmentation"), "{out}");
    assert!(out.contains("merged 1 free arena,"), "{out}");
    assert!(out.contains("✓ alloc(200) = #5 (F) at offset 100"), "{out}");
    assert!(out.contains("spare"), "{out}");
}

#[test]
fn prev_undoes_and_quiz_answers() {
    let out = run_script(
        &args(&["--quiz", "--capacity", "256"]),
        "alloc 64\nalloc 64\nprev\nalloc 32\n",
    )
    .unwrap();
    assert!(out.contains("answer: offset 64"), "{out}");
    assert!(out.contains("undid 1 operation"), "{out}");
    // After the undo the next alloc lands where #1 was.
    assert!(out.contains("✓ alloc(32) = #1 (B) at offset 64"), "{out}");
}

#[test]
fn too_few_descriptors_is_its_own_failure() {
    let out = run_script(
        &args(&["--capacity", "1024", "--descriptors", "2"]),
        "alloc 10\nalloc 10\n",
    )
    .unwrap();
    assert!(out.contains("spare"), "{out}");
    assert!(out.contains("✗ alloc(10)"), "{out}");
}

#[test]
fn next_with_a_huge_count_stops_at_the_end() {
    // Found by the `cli_input` fuzz target: `cursor + count` overflowed.
    let dir = std::env::temp_dir().join(format!("sysarena-step-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("huge-next.trace");
    std::fs::write(&trace, "a 1 100\na 2 50\nf 1\n").unwrap();
    let out = run_script(
        &args(&[trace.to_str().unwrap()]),
        "next\nnext 18446744073709551615\n",
    )
    .unwrap();
    assert!(out.contains("applied events up to step 3"), "{out}");
}

#[test]
fn the_terminal_view_renders() {
    let s = render_tui_text(
        &args(&["--capacity", "512"]),
        "alloc 100\nalloc 50\nfree 0\n",
        100,
        30,
    )
    .unwrap();
    assert!(s.contains("arena table"), "{s}");
    assert!(s.contains("free list"), "{s}");
}

#[test]
fn the_arrows_undo_and_redo() {
    let (mut st, descriptors) = new_state(&args(&["--capacity", "256"])).unwrap();
    let mut table = vec![Slot::EMPTY; descriptors];
    let mut m = st.fresh(&mut table);
    assert_eq!(tui::arrow_command(true, &st), "next");
    assert_eq!(tui::arrow_command(false, &st), "prev");
    let _ = st.exec(&mut m, "alloc 64");
    if let Flow::Rebuild = st.exec(&mut m, tui::arrow_command(false, &st)) {
        m = st.fresh(&mut table);
        st.replay(&mut m);
    }
    // After ←, → redoes what ← undid.
    assert_eq!(tui::arrow_command(true, &st), "redo");
    let _ = st.exec(&mut m, tui::arrow_command(true, &st));
    assert_eq!(m.stats().in_use_bytes, 64);
    assert_eq!(tui::arrow_command(true, &st), "next");
}

/// `step`'s arguments for the fast model in a region of `capacity`.
fn fast(capacity: &str) -> StepArgs {
    args(&[
        "--policy",
        "segregated-fit",
        "--coalescing",
        "immediate",
        "--capacity",
        capacity,
    ])
}

#[test]
fn the_quiz_explains_a_quick_list_hit() {
    let out = run_script(
        &args(&[
            "--quiz",
            "--policy",
            "segregated-fit",
            "--coalescing",
            "immediate",
        ]),
        "alloc 32\nalloc 32\nfree 0\nalloc 32\n",
    )
    .unwrap();
    assert!(
        out.contains("\n  why: the quick list of 32 B arenas holds [0+32]: the one freed last is handed back whole, with no search (if its address suits the alignment)\n"),
        "{out}"
    );
    assert!(out.contains("\n  answer: offset 0\n"), "{out}");
}

#[test]
fn the_quiz_says_a_flush_comes_before_out_of_memory() {
    // 32 B cached at 0, 32 B in use at 32, 960 B in use: 64 B fits nowhere
    // until the cached arena merges — and then it still does not.
    let out = run_script(
        &args(&[
            "--quiz",
            "--policy",
            "segregated-fit",
            "--coalescing",
            "immediate",
        ]),
        "alloc 32\nalloc 32\nalloc 960\nfree 0\nalloc 64\n",
    )
    .unwrap();
    assert!(
        out.contains("\n  why: no free arena outside the quick lists holds 64 bytes at alignment 1, so the lists are flushed (their arenas merge with free neighbours) and the request is tried once more\n"),
        "{out}"
    );
    assert!(
        out.contains("\n    before answering out of memory, the quick lists were flushed and the request tried again: 1 cached arena (32 B) freed for real, merging with its free neighbours\n"),
        "{out}"
    );
}

#[test]
fn a_policy_change_flushes_the_quick_lists_and_says_so() {
    let out = run_script(&fast("1K"), "alloc 32\nalloc 32\nfree 0\npolicy best-fit\n").unwrap();
    assert!(
        out.contains("\n  now best-fit with immediate coalescing\n    the quick lists were flushed first: 1 cached arena (32 B) freed for real, merging with its free neighbours\n"),
        "{out}"
    );
}

#[test]
fn switching_to_the_fast_model_tells_of_its_quick_lists() {
    let out = run_script(&args(&[]), "policy segregated-fit\ncoalescing immediate\n").unwrap();
    assert!(
        out.contains("\n  now segregated-fit with immediate coalescing\n    the fast model: a freed arena under 8.0 KiB whose size is a multiple of 8 is cached — it waits, whole, in the quick list of its size for the next request of that size (or, from 512 B, of a size at most a 64th smaller)\n"),
        "{out}"
    );
    // Not before: segregated fit with deferred coalescing keeps no lists.
    assert_eq!(out.matches("the fast model").count(), 1, "{out}");
}

#[test]
fn flush_outside_the_fast_model_says_there_is_nothing_to_do() {
    let out = run_script(&args(&[]), "alloc 32\nfree 0\nflush\n").unwrap();
    assert!(
        out.contains("\n  flush: nothing to do: only the fast model (segregated-fit with immediate coalescing) keeps quick lists\n"),
        "{out}"
    );
    // The classic model says nothing about quick lists when it frees.
    assert!(!out.contains("cached"), "{out}");
}

#[test]
fn a_cached_cell_in_the_terminal_view_is_light_blue() {
    use ratatui::style::{Color, Style};
    let cell = |first| Cell {
        kind: CellKind::Cached,
        key: None,
        first,
    };
    assert_eq!(
        tui::cell_style(&cell(true)),
        (Style::default().fg(Color::LightBlue), '○')
    );
    assert_eq!(
        tui::cell_style(&cell(false)),
        (Style::default().fg(Color::LightBlue), '∘')
    );
}

#[test]
fn a_near_size_take_is_told_and_foretold() {
    // 1,040 B cached at 0; a 1,024 B request finds its own list empty and
    // takes the 1,040 B arena (a 64th larger at most); 1,056 B would not be.
    let script = "alloc 1040\nalloc 16\nfree 0\nalloc 1024\n";
    let mut a = fast("64K");
    a.quiz = true;
    let out = run_script(&a, script).unwrap();
    assert!(
        out.contains("\n  why: the quick list of 1024 B arenas is empty, but from 512 B a request may take a near size: the list of 1040 B arenas (at most a 64th larger) holds [0+1040], and the one freed last is handed out whole, with no search (if its address suits the alignment)\n"),
        "{out}"
    );
    let out = run_script(&fast("64K"), script).unwrap();
    assert!(
        out.contains("\n    cached: it waits, whole, in the quick list of 1.0 KiB arenas (free, but not merged with its neighbours); the next alloc of that size (or of a size at most a 64th smaller) takes it back\n"),
        "{out}"
    );
    assert!(
        out.contains("\n  ✓ alloc(1024) = #2 (C) at offset 0 (arena of 1.0 KiB in slot 0)\n    taken from the quick list of 1040 B arenas, a near size: the list of 1024 B arenas was empty, and these are at most a 64th larger — handed out whole, no search, no split\n"),
        "{out}"
    );
    // Beyond the slack the request is split from the free top instead.
    let out = run_script(&fast("64K"), "alloc 1056\nalloc 16\nfree 0\nalloc 1024\n").unwrap();
    assert!(!out.contains("near size"), "{out}");
    assert!(
        out.contains("✓ alloc(1024) = #2 (C) at offset 1072"),
        "{out}"
    );
}

/// A native trace written to a temporary file, named after the test.
fn temp_trace(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sysarena-step-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join(format!("{name}.trace"));
    std::fs::write(&trace, text).unwrap();
    trace
}

#[test]
fn a_trace_block_freed_by_hand_is_not_freed_again_by_the_trace() {
    // id 1 at 0, id 2 at 100; `free @0` frees id 1 by hand; id 3 then
    // lands at 0. The trace's `f 1` must not free id 3, and `r 1` must not
    // move it.
    let trace = temp_trace("hand-free", "a 1 100\na 2 50\na 3 100\nr 1 200\nf 1\nf 3\n");
    let t = trace.to_str().unwrap();
    let out = run_script(&args(&[t]), "next 2\nfree @0\nnext\nnext\nnext\nnext\n").unwrap();
    assert!(out.contains("✓ free id 1 (B) at offset 0"), "{out}");
    assert!(out.contains("✓ alloc(100) = id 3 (D) at offset 0"), "{out}");
    assert!(
        out.contains("realloc id 1: its block was already freed by hand (a typed `free`), skipped"),
        "{out}"
    );
    assert!(
        out.contains("free id 1: its block was already freed by hand (a typed `free`), skipped"),
        "{out}"
    );
    // id 3 is still there for the trace's own free, and nothing double-frees.
    assert!(out.contains("✓ free id 3 (D) at offset 0"), "{out}");
    assert!(!out.contains('✗'), "{out}");
    // Undo and redo rebuild the same view.
    let out = run_script(&args(&[t]), "next 2\nfree @0\nnext 4\nprev 4\nredo 4\n").unwrap();
    assert!(!out.contains('✗'), "{out}");
    assert!(out.ends_with_frame_with("requested 50 B"), "{out}");
}

/// The last frame of a run's output.
trait LastFrame {
    fn ends_with_frame_with(&self, needle: &str) -> bool;
}

impl LastFrame for String {
    fn ends_with_frame_with(&self, needle: &str) -> bool {
        self.rsplit("\n── ")
            .next()
            .is_some_and(|f| f.contains(needle))
    }
}

#[test]
fn free_n_reaches_a_trace_id_and_says_when_it_is_ambiguous() {
    let trace = temp_trace("free-id", "a 0 100\na 1 50\nf 1\n");
    let t = trace.to_str().unwrap();
    // `free 1` frees the trace's id 1 when no typed #1 lives.
    let out = run_script(&args(&[t]), "next 2\nfree 1\nnext\n").unwrap();
    assert!(out.contains("✓ free id 1 (B) at offset 112"), "{out}");
    assert!(
        out.contains("free id 1: its block was already freed by hand"),
        "{out}"
    );
    // With a typed #0 and the trace's id 0 both live, `free 0` asks which.
    let out = run_script(&args(&[t]), "next\nalloc 10\nfree 0\nfree @112\n").unwrap();
    assert!(
        out.contains(
            "? `free 0` is ambiguous: type `free @112` for #0 or `free @0` for the trace's id 0"
        ),
        "{out}"
    );
    assert!(out.contains("✓ free #0 (A) at offset 112"), "{out}");
    let out = run_script(&args(&[t]), "free 7\n").unwrap();
    assert!(
        out.contains("? no live allocation 7: no typed #7, and the trace's id 7 is not live"),
        "{out}"
    );
}

#[test]
fn a_bad_number_is_refused_with_the_usage_and_changes_nothing() {
    let trace = temp_trace("bad-numbers", "a 1 100\na 2 50\nf 1\nf 2\n");
    let t = trace.to_str().unwrap();
    for (cmd, says) in [
        ("goto abc", "? `abc` is not a number: usage: goto STEP"),
        ("goto -1", "? `-1` is not a number: usage: goto STEP"),
        ("goto", "? usage: goto STEP"),
        ("next abc", "? `abc` is not a number: usage: next [N]"),
        ("next -1", "? `-1` is not a number: usage: next [N]"),
        ("prev abc", "? `abc` is not a number: usage: prev [N]"),
        ("redo abc", "? `abc` is not a number: usage: redo [N]"),
        (
            "alloc 100 abc",
            "? `abc` is not a number: usage: alloc SIZE [ALIGN]",
        ),
        (
            "alloc x",
            "? `x` is not a number: usage: alloc SIZE [ALIGN]",
        ),
        ("free @abc", "? `@abc` is not an offset: usage: free N"),
        ("free abc", "? `abc` is not a number: usage: free N"),
    ] {
        // Two events applied, one undone (so `redo` has something to lose).
        let out = run_script(&args(&[t]), &format!("next\nnext\nprev\n{cmd}\n")).unwrap();
        assert!(out.contains(says), "{cmd}: {out}");
        let frames: Vec<&str> = out.split("\n── ").collect();
        let (before, after) = (frames[frames.len() - 2], frames[frames.len() - 1]);
        assert!(before.contains("step 1 of 4"), "{cmd}: {before}");
        assert!(after.contains("step 1 of 4"), "{cmd}: {after}");
        assert!(after.contains("requested 100 B"), "{cmd}: {after}");
        // The undone event can still be redone.
        let out = run_script(&args(&[t]), &format!("next\nnext\nprev\n{cmd}\nredo\n")).unwrap();
        assert!(out.contains("redid 1 operation"), "{cmd}: {out}");
    }
    // A missing count still means 1.
    let out = run_script(&args(&[t]), "next\nnext\nprev\nredo\n").unwrap();
    assert!(out.contains("redid 1 operation"), "{out}");
}

#[test]
fn an_unreadable_script_fails_naming_it_before_any_frame() {
    let dir = std::env::temp_dir().join(format!("sysarena-step-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut a = args(&[]);
    a.script = Some(dir.clone());
    let mut out = Vec::new();
    let e = run(&a, &mut out).unwrap_err();
    assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
}

/// `free #1` names allocation #1, as the map and the table do (the `#`
/// began a comment, so it read as `free` and was refused); a comment
/// still starts at `#` after a space or at the start of a line.
#[test]
fn free_hash_n_names_the_allocation_and_comments_still_work() {
    let out = run_script(
        &args(&["--capacity", "256"]),
        "# a script\nalloc 16\nalloc 32 # the second\nfree #1\n",
    )
    .unwrap();
    assert!(!out.contains("usage: free"), "{out}");
    assert!(!out.contains("? "), "{out}");
    assert!(out.contains("in use 16 B"), "{out}");
    let out = run_script(&args(&["--capacity", "256"]), "alloc 16\nfree #7\n").unwrap();
    assert!(out.contains("no live allocation #7"), "{out}");
}
