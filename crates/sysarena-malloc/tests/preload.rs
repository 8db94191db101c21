//! Runs C programs with the built library in `LD_PRELOAD`: the semantics
//! checks (errno, alignment, realloc, calloc, fork under threads, foreign
//! frees) and the larson-like stress test. Skipped (with a note) where no C
//! compiler is installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The cdylib under test. `cargo test` does not build a cdylib for
/// integration tests (and one left in the target directory by an earlier
/// `cargo build` may be stale), so this builds it once per run (nothing to
/// do when it is up to date) into its own target directory, which avoids
/// waiting on the lock of the build that runs these tests: in the debug
/// profile for `cargo test` (with `std`, overflow checks and unwinding),
/// and as shipped — the `preload` profile, without `std` — for
/// `cargo test --release`.
fn library() -> PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/<test> -> target/<profile>
        let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
        let own = profile_dir.join("preload-lib");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "-p", "sysarena-malloc", "--target-dir"])
            .arg(&own)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if release {
            cargo.args(["--profile", "preload"]);
        }
        let status = cargo
            .status()
            .expect("run cargo to build the preload library");
        assert!(
            status.success(),
            "building libsysarena_malloc.so failed: {status}"
        );
        own.join(if release { "preload" } else { "debug" })
            .join("libsysarena_malloc.so")
    })
    .clone()
}

fn compile(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(name);
    // One executable per call: tests run in parallel, and each removes its
    // own when done.
    static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let out = std::env::temp_dir().join(format!(
        "sysarena-malloc-{}-{}-{}",
        std::process::id(),
        name.trim_end_matches(".c"),
        SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let status = Command::new("cc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .status();
    match status {
        Ok(s) if s.success() => out,
        Ok(s) => panic!("cc failed on {name}: {s}"),
        Err(e) => panic!("no C compiler to build {name} ({e}): install gcc or clang as `cc`"),
    }
}

fn run(exe: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let lib = library();
    assert!(lib.exists(), "{} not built", lib.display());
    let out = Command::new(exe)
        .args(args)
        .env("LD_PRELOAD", &lib)
        .envs(env.iter().copied())
        .output()
        .expect("run test program");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{} failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        exe.display(),
        out.status
    );
    (stdout, stderr)
}

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

    let file =
        std::env::temp_dir().join(format!("sysarena-malloc-{}-reused-fds", std::process::id()));
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
    let trace =
        std::env::temp_dir().join(format!("sysarena-malloc-{}-fork.trace", std::process::id()));
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
    let dir = std::env::temp_dir();
    let trace = dir.join(format!("sysarena-malloc-{}.trace", std::process::id()));
    let stats = dir.join(format!("sysarena-malloc-{}.stats", std::process::id()));
    let _ = std::fs::remove_file(&stats);
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
    let dir = std::env::temp_dir();
    let mut seen = Vec::new();
    for tcache in ["1", "0"] {
        let stats = dir.join(format!(
            "sysarena-malloc-{}-exits-{tcache}.stats",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&stats);
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

/// Runs `exe ARGS` under `ulimit -v 500000`: under glibc if `preload` is
/// `None`, else under the library with `SYSARENA_CHECK=1` and those
/// variables too.
fn under_limit(
    exe: &Path,
    args: &[&str],
    preload: Option<&[(&str, &std::ffi::OsStr)]>,
) -> std::process::Output {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "ulimit -v 500000 && exec \"$0\" \"$@\""])
        .arg(exe)
        .args(args);
    if let Some(env) = preload {
        cmd.env("LD_PRELOAD", library())
            .env("SYSARENA_CHECK", "1")
            .envs(env.iter().copied());
    }
    cmd.output().expect("run a program under ulimit -v")
}

/// Runs `exe args` under [`under_limit`] with glibc, then with the library
/// (its stats report appended to `stats`): each must exit 0 and print
/// `stdout`, and the library's check must pass.
fn passes_under_limit_with_and_without(exe: &Path, args: &[&str], stats: &Path, stdout: &str) {
    for preload in [false, true] {
        let env = [("SYSARENA_STATS", stats.as_os_str())];
        let out = under_limit(exe, args, preload.then_some(&env[..]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{args:?} (preload: {preload}) failed: {stderr}"
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), stdout, "{args:?}");
        if preload {
            assert!(stderr.contains("sysarena-malloc: check ok"), "{stderr}");
        }
    }
}

/// Under an address-space limit the heap starts with half the space left
/// and maps more shards as it fills (`src/shard/grow.rs`): a program of
/// small blocks alone reaches most of what it reaches under glibc (436 MiB
/// of 200-byte blocks at `ulimit -v 500000`; 187 MiB before the shards
/// grew, now 385), and every shard, the added ones too, checks
/// consistent at exit.
#[test]
fn under_an_address_space_limit_the_shards_grow_as_small_blocks_fill_them() {
    let exe = compile("enomem.c");
    let reached = |preload: bool| -> (u64, String) {
        let out = under_limit(&exe, &["fill", "200"], preload.then_some(&[][..]));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "enomem failed: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "enomem ok\n");
        // "enomem: N blocks, M MiB before ENOMEM"
        let mib = stderr
            .lines()
            .find_map(|l| l.strip_suffix(" MiB before ENOMEM"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no figure: {stderr}"));
        (mib, stderr)
    };
    let (glibc, _) = reached(false);
    let (ours, stderr) = reached(true);
    assert!(
        ours * 10 >= glibc * 8,
        "{ours} MiB against glibc's {glibc} MiB: {stderr}"
    );
    assert!(stderr.contains("sysarena-malloc: check ok"), "{stderr}");
    let _ = std::fs::remove_file(exe);
}

/// Under `ulimit -v 500000` shard 0 starts with 1 MiB mapped and grows in
/// place as it fills; `split.c` splits that mapping first (as RDMA
/// registration does: `madvise(MADV_DONTFORK)` on a page of a block), so it
/// can never grow again. The heap must go on in other shards, and not retry
/// the growth on every call that finds shard 0 full: 2,000 threads, one
/// after another, each start there (a thread whose shard is full then
/// moves), and each one's first call tried to grow it (a program whose
/// threads kept shard 0 made 300,000 refused `mremap` calls in 100,000
/// calls, 13–20 times slower). The stats report counts the refusals: at
/// most one per 1,024 calls that would grow it.
#[test]
fn under_an_address_space_limit_a_split_first_mapping_is_not_grown_again_and_again() {
    let exe = compile("split.c");
    let stats = std::env::temp_dir().join(format!("sysarena-split-{}.txt", std::process::id()));
    passes_under_limit_with_and_without(&exe, &[], &stats, "split ok\n");
    let report = std::fs::read_to_string(&stats).expect("the stats report");
    let _ = std::fs::remove_file(&stats);
    let refused: u64 = report
        .split("shard mappings grown in place: ")
        .nth(1)
        .and_then(|r| {
            r.split(" refused)")
                .next()?
                .rsplit('(')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no growth figures: {report}"));
    assert!((1..=20).contains(&refused), "{refused} refusals: {report}");
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

/// Under `ulimit -v 500000`, the heap gives address space back as glibc's
/// does, and the program's own `mmap` after its frees succeeds: `enomem
/// refill MIB MAP SIZE` fills MIB MiB, frees it all, maps MAP MiB itself,
/// then fills again. 300 MiB of small blocks (and of the mix, 16 B to
/// 64 KiB) then 150 MiB (the emptied shards retire; it failed while they
/// stayed mapped); 120 MiB then 300 MiB (the thread's cache held the last
/// slots of a shard, which now drains); 60 MiB then 380 MiB (the start-up
/// shards past shard 0 start unmapped); 1 MiB then 440 MiB (shard 0 starts
/// with 1 MiB mapped and grows in place as it fills: mapped whole, it left
/// 380 MiB at most; glibc leaves 470). Every shard checks out at exit, and
/// the stats report counts the memory given back.
#[test]
fn under_an_address_space_limit_emptied_shards_give_their_memory_back() {
    let exe = compile("enomem.c");
    let stats = std::env::temp_dir().join(format!("sysarena-refill-{}.txt", std::process::id()));
    let cases = [
        ("300", "150", "200"),
        ("300", "150", "0"),
        ("120", "300", "200"),
        ("60", "380", "200"),
        ("1", "440", "200"),
    ];
    for (fill, map, size) in cases {
        passes_under_limit_with_and_without(
            &exe,
            &["refill", fill, map, size],
            &stats,
            "refill ok\n",
        );
    }
    let report = std::fs::read_to_string(&stats).expect("the stats report");
    let _ = std::fs::remove_file(&stats);
    let given: Vec<u64> = report
        .lines()
        .filter_map(|l| l.split("memory of retired shards unmapped: ").nth(1))
        .filter_map(|r| r.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(given.len(), cases.len(), "{report}");
    // The first two fill shards past shard 0 and free them, twice: at
    // least two shards' worth (2 × 64 MiB) each; the third, one shard.
    assert!(
        given[..2].iter().all(|&b| b >= 128 << 20),
        "{given:?}: {report}"
    );
    assert!(given[2] >= 64 << 20, "{given:?}: {report}");
    let _ = std::fs::remove_file(exe);
}
