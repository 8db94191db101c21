//! Every verb as a new user meets it: `--help`, shell completions, and the
//! errors (with exit status 1 or 2, never a panic or an abort) for values
//! that make no sense.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sysarena");

fn sysarena(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the sysarena binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const VERBS: [&str; 11] = [
    "demo",
    "defrag",
    "simulate",
    "replay",
    "compare",
    "record",
    "viz",
    "report",
    "step",
    "soak",
    "completions",
];

#[test]
fn every_verb_takes_help() {
    for verb in VERBS {
        let o = sysarena(&[verb, "--help"]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{verb} --help: {err}");
        assert!(out.contains("Usage: sysarena"), "{verb} --help: {out}");
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef sysarena"),
        ("fish", "complete -c sysarena"),
    ] {
        let o = sysarena(&["completions", shell]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: {out}");
        for verb in ["demo", "defrag", "step", "soak", "viz", "report", "replay"] {
            assert!(out.contains(verb), "{shell} completions lack {verb}");
        }
    }
    let o = sysarena(&["completions", "powershell-9"]);
    assert_eq!(o.status.code(), Some(2));
}
