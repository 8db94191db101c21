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
