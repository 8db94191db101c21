//! Runs C programs with the built library in `LD_PRELOAD`: the semantics
//! checks (errno, alignment, realloc, calloc, fork under threads, foreign
//! frees) and the larson-like stress test. They need a C compiler (`cc`).
//! The runs under an address-space limit are in `limit.rs`.

mod common;

use std::process::Command;

use common::{compile, run, scratch};

#[test]
fn c_semantics_hold_under_preload() {
    let exe = compile("semantics.c");
    let (stdout, stderr) = run(&exe, &[], &[("SYSARENA_EXPECT", "1")]);
    assert_eq!(stdout, "semantics ok\n");
    // The two foreign frees are reported once each, glibc-style.
    assert_eq!(
        stderr.matches("free(): invalid pointer\n").count(),
        2,
        "{stderr}"
    );
    let _ = std::fs::remove_file(exe);
}

/// The table of direct mappings holds 57,344 at most. Past that, a
/// request at or above the mmap threshold is served by the shards, and so
/// is a block reallocated past it: a full table never refuses memory the
/// shards have (the table caps the mappings, not the program).
#[test]
fn a_full_table_of_direct_mappings_falls_back_to_the_shards() {
    let exe = compile("enomem.c");
    let (stdout, _) = run(
        &exe,
        &["many", "60000", "8192"],
        &[("SYSARENA_MMAP_THRESHOLD", "4096"), ("SYSARENA_CHECK", "1")],
    );
    assert_eq!(stdout, "many ok\n");
    let _ = std::fs::remove_file(exe);
}

#[test]
fn stress_passes_blocks_between_threads() {
    let exe = compile("stress.c");
    let (stdout, _) = run(&exe, &["4", "50000", "500"], &[]);
    assert!(stdout.starts_with("stress ok threads=4"), "{stdout}");
    assert!(stdout.contains("freed=all"), "{stdout}");
    // One shard: every thread on one lock, frees crossing all the time.
    let (one, _) = run(&exe, &["4", "50000", "500"], &[("SYSARENA_SHARDS", "1")]);
    assert_eq!(one, stdout);
    let _ = std::fs::remove_file(exe);
}

/// A shard is built by the first thread that takes it: a program whose
/// main thread waits while one worker runs, on sixteen shards, builds one
/// (both start on shard 0), two at most if the worker once finds shard 0's
/// lock taken, and leaves the others' state (23 KB each) and tables
/// untouched. (With threads running side by side, one that finds its home
/// shard taken moves on and builds the next: how many are built then
/// depends on timing.)
#[test]
fn only_the_shards_threads_use_are_built() {
    let exe = compile("stress.c");
    let (stdout, stderr) = run(
        &exe,
        &["1", "20000", "300"],
        &[("SYSARENA_CHECK", "1"), ("SYSARENA_SHARDS", "16")],
    );
    assert!(stdout.starts_with("stress ok threads=1"), "{stdout}");
    let line = stderr
        .lines()
        .find(|l| l.contains("sysarena-malloc: check ok"))
        .unwrap_or_else(|| panic!("no check line: {stderr}"));
    // "... N shards consistent (M never used), ..."
    let number_before = |word: &str| -> usize {
        let at = line
            .find(word)
            .unwrap_or_else(|| panic!("{word:?}: {line}"));
        let digits = line[..at].trim_end();
        let start = digits
            .rfind(|c: char| !c.is_ascii_digit())
            .map_or(0, |k| k + 1);
        digits[start..].parse().unwrap_or_else(|_| panic!("{line}"))
    };
    let (built, unused) = (
        number_before("shards consistent"),
        number_before("never used"),
    );
    assert_eq!(built + unused, 16, "{line}");
    assert!(
        (1..=2).contains(&built),
        "main and one worker built {built}: {line}"
    );
    let _ = std::fs::remove_file(exe);
}

/// Small blocks at alignments above 16 (`aligned.c`: `posix_memalign`
/// among a thousand live blocks) are aligned and the heap checks out
/// after them: at 64 from slab slots, at 4096 for 100 bytes from the 4 KiB
/// class, past 4 KiB from the heap.
#[test]
fn small_aligned_blocks_are_aligned_and_the_shards_check_out() {
    let exe = compile("aligned.c");
    for args in [
        ["64", "256", "200000", "1000"],
        ["4096", "100", "20000", "1000"],
        ["128", "6000", "100000", "1000"],
    ] {
        let (stdout, stderr) = run(&exe, &args, &[("SYSARENA_CHECK", "1")]);
        assert_eq!(stdout, "aligned ok\n", "{args:?}: {stderr}");
        assert!(stderr.contains("sysarena-malloc: check ok"), "{stderr}");
    }
    let _ = std::fs::remove_file(exe);
}

#[test]
fn mixed_stress_agrees_with_glibc_and_every_shard_checks_out() {
    let exe = compile("stress.c");
    // Every allocation function, realloc in place and across threads, every
    // byte verified; the totals depend only on the seeds.
    let args = ["4", "20000", "300", "1"];
    let glibc = Command::new(&exe).args(args).output().unwrap();
    assert!(glibc.status.success());
    let (stdout, stderr) = run(&exe, &args, &[("SYSARENA_CHECK", "1")]);
    assert_eq!(stdout, String::from_utf8_lossy(&glibc.stdout));
    assert!(stdout.contains("mix=1 allocs="), "{stdout}");
    assert!(stderr.contains("sysarena-malloc: check ok"), "{stderr}");
    // Bounded by time, on one lock, no slab layer, the classic model.
    let (timed, stderr) = run(
        &exe,
        &["4", "100000000", "300", "1", "0.5"],
        &[
            ("SYSARENA_CHECK", "1"),
            ("SYSARENA_SHARDS", "1"),
            ("SYSARENA_SLAB", "0"),
            ("SYSARENA_POLICY", "first-fit"),
            ("SYSARENA_COALESCING", "deferred"),
        ],
    );
    assert_eq!(timed, "stress ok threads=4 mix=1 freed=all\n");
    assert!(
        stderr.contains("check ok") && stderr.contains("1 shards consistent"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(exe);
}

/// A program that closes stderr before it exits (coreutils' `ls`, `sort`
/// and `cat` do) still gets its `SYSARENA_CHECK` line, on the stderr it
/// started with; and a program that put its own file where the library
/// keeps that copy gets nothing written into the file.
#[test]
fn the_check_line_outlives_a_closed_stderr_and_never_lands_in_a_reused_descriptor() {
    let exe = compile("closes_stderr.c");
    let (stdout, stderr) = run(&exe, &[], &[("SYSARENA_CHECK", "1")]);
    assert_eq!(stdout, "closes_stderr ok\n");
    assert!(
        stderr.starts_with("sysarena-malloc: check ok"),
        "no check line after stderr was closed: {stderr:?}"
    );

    let file = scratch("reused-fds");
    let (stdout, stderr) = run(&exe, &[file.to_str().unwrap()], &[("SYSARENA_CHECK", "1")]);
    assert_eq!(stdout, "closes_stderr ok\n");
    let written = std::fs::read(&file).expect("the program created the file");
    assert!(
        written.is_empty(),
        "the check line went into the program's own file: {:?}",
        String::from_utf8_lossy(&written)
    );
    // Its stderr was closed and the copy was replaced: the line has
    // nowhere to go, and the exit status says the check passed.
    assert_eq!(stderr, "");
    let _ = std::fs::remove_file(file);
    let _ = std::fs::remove_file(exe);
}

/// A forked child that ends with `_exit` (no exit handler runs) still
/// leaves its calls in its trace: a child's first lines are written at once.
#[test]
fn a_forked_childs_trace_survives_its_exit() {
    let exe = compile("fork_trace.c");
    let trace = scratch("fork.trace");
    let (stdout, _) = run(&exe, &[], &[("SYSARENA_TRACE", trace.to_str().unwrap())]);
    let mut lines = stdout.lines();
    let child = lines.next().expect("the child's pid");
    assert_eq!(lines.next(), Some("fork_trace ok"));
    let own = std::path::PathBuf::from(format!("{}.{child}", trace.display()));
    let text = std::fs::read_to_string(&own).expect("the child's trace file");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    let a: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!((a[0], a[2], a.len()), ("a", "22", 4), "{text:?}");
    assert_eq!(lines[1], format!("f {}", a[1]), "{text:?}");
    let _ = std::fs::remove_file(&trace);
    let _ = std::fs::remove_file(own);
    let _ = std::fs::remove_file(exe);
}

#[test]
fn trace_and_stats_are_written() {
    let exe = compile("stress.c");
    let trace = scratch("stress.trace");
    let stats = scratch("stress.stats");
    run(
        &exe,
        &["2", "2000", "100"],
        &[
            ("SYSARENA_TRACE", trace.to_str().unwrap()),
            ("SYSARENA_STATS", stats.to_str().unwrap()),
            ("SYSARENA_POLICY", "best-fit"),
        ],
    );
    let text = std::fs::read_to_string(&trace).unwrap();
    let mut live = std::collections::HashSet::new();
    let mut next = 1u64;
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let id: u64 = f[1].parse().unwrap();
        match (f[0], f.len()) {
            ("a", 4) => {
                assert_eq!(id, next, "{line}");
                next += 1;
                live.insert(id);
            }
            ("f", 2) => assert!(live.remove(&id), "{line}"),
            ("r", 3) => assert!(live.contains(&id), "{line}"),
            _ => panic!("bad trace line {line:?}"),
        }
    }
    // 2 threads x 2000 rounds, plus the program's own blocks.
    assert!(next > 4000, "{next}");
    let report = std::fs::read_to_string(&stats).unwrap();
    assert!(report.contains("policy best-fit"), "{report}");
    assert!(report.contains("footprint"), "{report}");
    let _ = std::fs::remove_file(trace);
    let _ = std::fs::remove_file(stats);
    let _ = std::fs::remove_file(exe);
}

/// Per report in a stats file: the bytes of slab slots in use and of those
/// in thread caches, and the number of caches listed.
fn slab_and_cache_bytes(stats: &str) -> Vec<(u64, u64, u64)> {
    let number_before = |line: &str, what: &str| -> u64 {
        let i = line
            .find(what)
            .unwrap_or_else(|| panic!("{what} in {line}"));
        let head = line[..i].trim_end();
        let head = head.strip_suffix('(').unwrap_or(head).trim_end();
        let start = head.rfind([' ', '(']).map_or(0, |k| k + 1);
        head[start..]
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let slab: Vec<u64> = stats
        .lines()
        .filter(|l| l.starts_with("slab layer: "))
        .map(|l| number_before(l, " bytes at their class sizes), "))
        .collect();
    let caches: Vec<(u64, u64)> = stats
        .lines()
        .filter(|l| l.starts_with("thread caches: "))
        .map(|l| {
            (
                number_before(l, " bytes at their class sizes, counted"),
                number_before(l, " caches;"),
            )
        })
        .collect();
    assert_eq!(slab.len(), caches.len(), "{stats}");
    slab.iter()
        .zip(&caches)
        .map(|(&s, &(c, n))| (s, c, n))
        .collect()
}

#[test]
fn blocks_of_exited_threads_and_forked_children_are_not_stranded() {
    let exe = compile("exits.c");
    let mut seen = Vec::new();
    for tcache in ["1", "0"] {
        let stats = scratch(&format!("exits-{tcache}.stats"));
        let (stdout, stderr) = run(
            &exe,
            &[],
            &[
                ("SYSARENA_TCACHE", tcache),
                ("SYSARENA_CHECK", "1"),
                ("SYSARENA_STATS", stats.to_str().unwrap()),
            ],
        );
        assert_eq!(stdout, "exits ok\n");
        // The child and the parent, each consistent.
        assert_eq!(stderr.matches("check ok").count(), 2, "{stderr}");
        let text = std::fs::read_to_string(&stats).unwrap();
        let _ = std::fs::remove_file(&stats);
        let reports = slab_and_cache_bytes(&text);
        assert_eq!(reports.len(), 2, "{text}");
        for &(_, cached, caches) in &reports {
            if tcache == "1" {
                // Only the exiting thread's own cache is left: the four
                // threads' caches went back when they exited (parent) or
                // when the child was forked without them.
                assert_eq!(caches, 1, "{text}");
            } else {
                assert_eq!((cached, caches), (0, 0), "{text}");
            }
        }
        // Slots in use, less those sitting in a cache: the program's live
        // small blocks.
        seen.push(
            reports
                .iter()
                .map(|&(used, cached, _)| used - cached)
                .collect::<Vec<_>>(),
        );
    }
    // With caches, as many bytes are the program's as without: nothing is
    // stranded in a cache that no thread owns.
    assert_eq!(seen[0], seen[1]);
    let _ = std::fs::remove_file(exe);
}

/// A program that registers its `fork` handlers before its first `malloc`
/// and allocates in all of them forks without deadlocking: the library's
/// own handlers are registered as it loads, before any of the program's.
#[test]
fn a_main_thread_that_exits_first_leaves_no_cache() {
    let exe = compile("main_exits.c");
    let stats = scratch("main-exits.stats");
    let (stdout, stderr) = run(
        &exe,
        &[],
        &[
            ("SYSARENA_CHECK", "1"),
            ("SYSARENA_STATS", stats.to_str().unwrap()),
        ],
    );
    assert_eq!(stdout, "main_exits ok\n", "{stderr}");
    assert_eq!(stderr.matches("check ok").count(), 1, "{stderr}");
    let text = std::fs::read_to_string(&stats).unwrap();
    let _ = std::fs::remove_file(&stats);
    let reports = slab_and_cache_bytes(&text);
    // No cache is left: the main thread's, which held its freed blocks,
    // went back at its `pthread_exit`, and the worker's when it returned
    // (the last thread's exit, which then ends the process). Had the main
    // thread's stayed, it would be listed, with its blocks in it.
    assert_eq!(reports.len(), 1, "{text}");
    let (_, cached, caches) = reports[0];
    assert_eq!((cached, caches), (0, 0), "{text}");
    let _ = std::fs::remove_file(exe);
}

#[test]
fn fork_handlers_registered_before_the_first_malloc_do_not_deadlock() {
    let exe = compile("atfork.c");
    let (stdout, _) = run(&exe, &[], &[]);
    assert_eq!(stdout, "atfork ok\n");
    let _ = std::fs::remove_file(exe);
}

/// Calls that succeed leave `errno` alone, under a contended shard lock
/// (a failed FUTEX_WAIT left EAGAIN) as without.
#[test]
fn successful_calls_leave_errno_alone() {
    let exe = compile("errno_kept.c");
    let (stdout, _) = run(&exe, &[], &[]);
    assert_eq!(stdout, "errno changed 0 times\n");
    let _ = std::fs::remove_file(exe);
}

/// glibc's inspection and trimming calls answer with the library's figures:
/// `info.c` checks `mallinfo2` and `mallinfo` follow its blocks (small,
/// and one direct mapping), that `malloc_trim` gives back a checkerboard of
/// freed 8 KiB blocks (at least 6 MB less resident), and the shape of
/// `malloc_stats` and `malloc_info`. The same program passes under glibc:
/// the calls keep glibc's meaning.
#[test]
fn mallinfo_malloc_trim_and_the_reports_answer_as_glibc_does() {
    let exe = compile("info.c");
    let glibc = Command::new(&exe).output().expect("run info");
    let glibc_err = String::from_utf8_lossy(&glibc.stderr);
    assert!(
        glibc.status.success(),
        "info fails under glibc: {glibc_err}"
    );
    let (stdout, stderr) = run(&exe, &[], &[("SYSARENA_CHECK", "1")]);
    assert_eq!(stdout, "info ok\n");
    for (who, err) in [("glibc", &*glibc_err), ("sysarena", &*stderr)] {
        for line in [
            "Arena 0:\nsystem bytes     = ",
            "Total (incl. mmap):\nsystem bytes     = ",
            "max mmap regions =          1\n",
        ] {
            assert!(
                err.contains(line),
                "{who}'s malloc_stats lacks {line:?}: {err}"
            );
        }
    }
    assert!(stderr.contains("sysarena-malloc: check ok"), "{stderr}");
    let _ = std::fs::remove_file(exe);
}
