//! `soak`: a tiny bounded run succeeds and prints its summary; bad options
//! are refused.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sysarena");

#[test]
fn a_short_soak_passes_every_check() {
    let o = Command::new(BIN)
        .args([
            "soak",
            "--ops",
            "6000",
            "--epoch-ops",
            "1000",
            "--capacity",
            "256KiB",
            "--descriptors",
            "256",
            "--check-every",
            "250",
            "--seed",
            "3",
            "-q",
        ])
        .output()
        .expect("the sysarena binary runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("segregated-fit/immediate"), "{out}");
    assert!(
        out.contains("soak: ok — 6,000 operations in 6 epochs"),
        "{out}"
    );
}

#[test]
fn a_duration_bound_soak_stops_and_passes() {
    let o = Command::new(BIN)
        .args([
            "soak",
            "--duration",
            "300ms",
            "--policy",
            "best-fit",
            "--coalescing",
            "deferred",
            "--capacity",
            "64KiB",
            "-q",
        ])
        .output()
        .expect("the sysarena binary runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("best-fit/deferred"), "{out}");
    assert!(out.contains("soak: ok"), "{out}");
}

#[test]
fn unknown_policy_and_duration_are_refused() {
    for args in [
        ["soak", "--policy", "luck"],
        ["soak", "--duration", "forever"],
    ] {
        let o = Command::new(BIN).args(args).output().unwrap();
        assert!(!o.status.success(), "{args:?} was accepted");
    }
}

/// Ctrl-C (SIGINT, as a terminal sends it) ends a long soak with the
/// summary of what ran and a non-zero exit: it used to end the program at
/// once, printing nothing of what it had checked.
#[cfg(unix)]
#[test]
fn ctrl_c_ends_a_soak_with_its_summary() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let mut child = Command::new(BIN)
        .args(["soak", "--duration", "5m", "--policy", "best-fit", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sysarena binary runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // The header is written after the handler is in place.
    let mut header = String::new();
    stdout.read_line(&mut header).unwrap();
    assert!(header.starts_with("sysarena soak"), "{header}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let mut out = String::new();
    stdout.read_to_string(&mut out).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains("best-fit/deferred"), "{out}");
    assert!(out.contains("soak: interrupted (Ctrl-C) — "), "{out}");
    assert!(err.contains("no violation in what ran"), "{err}");
}
