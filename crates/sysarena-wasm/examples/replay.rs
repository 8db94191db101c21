//! Replays a playground scenario natively and prints its stats line — what
//! the page must display for the same operations (the browser test compares
//! the two).
//!
//! `cargo run -p sysarena-wasm --example replay -- "capacity=400 descriptors=8" "alloc 100;free 0"`
//!
//! With `--link FRAGMENT` it reads a playground link's fragment
//! (`capacity=400&ops=alloc+100;free+0&quiz=alloc+50`) as the page does and
//! fails on anything the page would complain about: the book's links are
//! checked this way.

use sysarena_wasm::{Session, Settings, parse_settings, run_script, view};

fn fail(msg: String) -> ! {
    eprintln!("replay: {msg}");
    std::process::exit(1);
}

/// `+` is a space; `%XX` a byte.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn session(settings: &str) -> Session {
    let (set, pinned) = parse_settings(settings, Settings::default()).unwrap_or_else(|e| fail(e));
    let mut s = Session::new(set).expect("checked settings");
    s.configure(set, pinned).expect("checked settings");
    s
}

fn replay(s: &mut Session, ops: &str, what: &str) {
    if let Err(e) = run_script(s, ops) {
        fail(format!(
            "{what}: command {} `{}`: {}",
            e.index + 1,
            e.command,
            e.error
        ));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, fragment] if flag == "--link" => {
            let mut settings = Vec::new();
            let (mut ops, mut quiz, mut compare) = (String::new(), String::new(), String::new());
            for pair in fragment
                .trim_start_matches('#')
                .split('&')
                .filter(|p| !p.is_empty())
            {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let v = decode(v);
                match k {
                    "capacity" | "descriptors" | "policy" | "coalescing" | "handles" => {
                        settings.push(format!("{k}={v}"));
                    }
                    "ops" => ops = v,
                    "quiz" => quiz = v,
                    "compare" => compare = v,
                    "at" => {
                        v.parse::<usize>()
                            .unwrap_or_else(|_| fail(format!("at: `{v}` is not a number")));
                    }
                    _ => fail(format!("unknown key `{k}`")),
                }
            }
            let settings = settings.join(" ");
            let mut s = session(&settings);
            replay(&mut s, &ops, "ops");
            let panels: Vec<&str> = compare.split(',').filter(|p| !p.is_empty()).collect();
            if panels.len() > 3 {
                fail(format!(
                    "compare: at most 3 extra panels (got {})",
                    panels.len()
                ));
            }
            for panel in panels {
                let (p, c) = panel.split_once('/').unwrap_or((panel, "deferred"));
                let mut t = session(&format!("{settings} policy={p} coalescing={c} pinned=1"));
                replay(&mut t, &ops, "compare");
            }
            // The page asks only allocations it would run.
            for q in quiz.split(';').map(str::trim).filter(|q| !q.is_empty()) {
                let word = q.split_whitespace().next().unwrap_or("");
                if !matches!(word, "alloc" | "a" | "malloc") {
                    fail(format!("quiz: `{q}` is not an allocation"));
                }
                if let Err(e) = s.check(q) {
                    fail(format!("quiz: `{q}`: {e}"));
                }
                replay(&mut s, q, "quiz");
            }
            println!("{}", view::stats_line(&s.manager().stats()));
        }
        [settings, ops] => {
            let mut s = session(settings);
            replay(&mut s, ops, "ops");
            println!("{}", view::stats_line(&s.manager().stats()));
        }
        _ => fail("usage: replay SETTINGS OPS | replay --link FRAGMENT".to_owned()),
    }
}
