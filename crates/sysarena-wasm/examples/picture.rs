//! Draws a scenario's heap map as SVG (the book's pictures; see
//! `book/pictures.sh`).
//!
//! `cargo run -p sysarena-wasm --example picture -- "capacity=400 descriptors=8" "alloc 100;free 0" "caption" > out.svg`

use sysarena_wasm::{Session, Settings, parse_settings, picture, run_script};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [settings, ops, caption] = args.as_slice() else {
        eprintln!("usage: picture SETTINGS OPS CAPTION");
        std::process::exit(2);
    };
    let (set, pinned) = parse_settings(settings, Settings::default()).unwrap_or_else(|e| {
        eprintln!("picture: {e}");
        std::process::exit(2);
    });
    let mut s = Session::new(set).expect("checked settings");
    s.configure(set, pinned).expect("checked settings");
    if let Err(e) = run_script(&mut s, ops) {
        eprintln!(
            "picture: command {} `{}`: {}",
            e.index + 1,
            e.command,
            e.error
        );
        std::process::exit(1);
    }
    print!("{}", picture::svg(&s, caption));
}
