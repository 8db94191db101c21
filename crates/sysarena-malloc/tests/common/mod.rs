//! What the integration tests share: the library under test, built once
//! per run, and the C programs of `tests/programs`, compiled and run with
//! it in `LD_PRELOAD`.

#![allow(dead_code)] // each test file uses some of these

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
pub fn library() -> PathBuf {
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

/// A file name of this test process's own in the temporary directory,
/// `sysarena-malloc-PID-NAME`, with any file left there by an earlier run
/// removed: where a program under test writes its trace or stats report.
pub fn scratch(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("sysarena-malloc-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

pub fn compile(name: &str) -> PathBuf {
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

pub fn run(exe: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, String) {
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
