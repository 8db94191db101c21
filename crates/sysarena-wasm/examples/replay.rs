//! Replays a playground scenario natively and prints its stats line — what
//! the page must display for the same operations (the browser test compares
//! the two).
//!
//! `cargo run -p sysarena-wasm --example replay -- "capacity=400 descriptors=8" "alloc 100;free 0"`

use sysarena_wasm::{Session, Settings, parse_settings, run_script, view};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (settings, ops) = match args.as_slice() {
        [s, o] => (s.as_str(), o.as_str()),
        _ => {
            eprintln!("usage: replay SETTINGS OPS");
            std::process::exit(2);
        }
    };
    let (set, pinned) = parse_settings(settings, Settings::default()).unwrap_or_else(|e| {
        eprintln!("replay: {e}");
        std::process::exit(2);
    });
    let mut s = Session::new(set).expect("checked settings");
    s.configure(set, pinned).expect("checked settings");
    if let Err(e) = run_script(&mut s, ops) {
        eprintln!(
            "replay: command {} `{}`: {}",
            e.index + 1,
            e.command,
            e.error
        );
        std::process::exit(1);
    }
    println!("{}", view::stats_line(&s.manager().stats()));
}
