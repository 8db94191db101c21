//! # sysarena-wasm — the playground's glue
//!
//! The real `sysarena` core compiled to `wasm32-unknown-unknown`, behind a
//! handful of plain `extern "C"` functions that pass text in and JSON out
//! through two byte buffers. No wasm-bindgen: the page needs a few calls and
//! two strings, which a dozen lines of JavaScript handle, and the `.wasm`
//! stays a single self-contained file with no generated JavaScript to keep
//! in step.
//!
//! What runs in the page is [`Session`]: a manager, the history of
//! operations that made it (undo, redo, a slider), and a command
//! interpreter that speaks `sysarena step`'s words (`alloc 100`, `free 0`,
//! `defrag`, `policy best-fit`, …) plus `relocate`. Every operation leaves
//! an explanation line ([`explain`]); every refused command leaves the
//! session as it was and says why.
//!
//! ## The calling convention
//! - `pg_input(len)` returns a pointer to `len` bytes the page fills with
//!   UTF-8 text (a command script, settings, a trace file).
//! - `pg_new()` makes a session and returns its number.
//! - `pg_exec(id)`, `pg_configure(id)`, `pg_load_trace(id, max)`,
//!   `pg_state(id, max_arenas, buckets)` read the input and return the
//!   length of their JSON answer, found at `pg_output()`.
//! - `pg_check(id)` says whether `pg_exec` would run the input's one
//!   command, without running it.
//! - `pg_adopt(dst, src)` starts a side-by-side panel where `src` is;
//!   `pg_script(id)` gives the history as commands for a shareable link.
//! - `pg_drop(id)` ends a session.
//!
//! ```
//! use sysarena_wasm::{Session, Settings};
//!
//! let mut s = Session::new(Settings { capacity: 400, descriptors: 8, ..Settings::default() })?;
//! for cmd in ["alloc 100", "alloc 100", "alloc 100", "alloc 100", "free 1", "free 3", "alloc 200"] {
//!     s.exec(cmd)?;
//! }
//! // 200 bytes are free in two arenas that are not neighbours:
//! assert!(s.log()[0].contains("although 200 B are free"));
//! assert!(s.log()[0].contains("`defrag` cannot help"));
//! s.exec("relocate")?;
//! s.exec("alloc 200")?;
//! assert!(s.log()[0].starts_with("✓ alloc(200) = #5 at offset 200"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bytes;
pub mod explain;
pub mod managers;
pub mod picture;
pub mod session;
pub mod view;

use std::cell::RefCell;

use serde::Serialize;
use sysarena::{Coalescing, Config, Policy};

pub use session::{InputError, Landed, LinkScript, Op, Owner, Session, Settings};

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

/// A refused line of a script: which line (0-based, counting only
/// commands) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    /// The index of the refused command among the script's commands.
    pub index: usize,
    /// The command as written.
    pub command: String,
    /// Why.
    pub error: InputError,
}

/// Runs the commands of `script` (one a line, or separated by `;`), stopping
/// at the first refused one: the commands before it stay applied, it and
/// those after it do not. Returns the log of the last command.
///
/// # Errors
/// The first refused command.
///
/// Time: O(commands), plus each command's own cost.
pub fn run_script(s: &mut Session, script: &str) -> Result<Vec<String>, ScriptError> {
    let mut index = 0;
    let mut log = Vec::new();
    for cmd in script.split(['\n', ';']) {
        let body = session::strip_comment(cmd);
        if body.is_empty() {
            continue;
        }
        if let Err(error) = s.exec(body) {
            return Err(ScriptError {
                index,
                command: body.to_owned(),
                error,
            });
        }
        log = s.log().to_vec();
        index += 1;
    }
    Ok(log)
}

/// Parses settings written as `capacity=1K descriptors=16 policy=first-fit
/// coalescing=deferred handles=1 pinned=1` (any subset, any order) on top of
/// `base`.
///
/// # Errors
/// The first unknown key or bad value, in words.
pub fn parse_settings(text: &str, base: Settings) -> Result<(Settings, bool), String> {
    let mut s = base;
    let mut pinned = false;
    for word in text.split_whitespace() {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!("`{word}`: settings are written key=value"));
        };
        match k {
            "capacity" | "region" => {
                s.capacity = session::parse_size(v)
                    .ok_or_else(|| format!("region size `{v}` is not a size (e.g. 1024, 64K)"))?;
            }
            "descriptors" | "table" => {
                s.descriptors = v
                    .parse()
                    .map_err(|_| format!("`{v}` is not a number of descriptors"))?;
            }
            "policy" => {
                let p: Policy = v.parse().map_err(|_| {
                    format!(
                        "policy `{v}`: first-fit, next-fit, best-fit, worst-fit or segregated-fit"
                    )
                })?;
                s.config = Config::new(p, s.config.coalescing);
            }
            "coalescing" => {
                let c: Coalescing = v
                    .parse()
                    .map_err(|_| format!("coalescing `{v}`: deferred or immediate"))?;
                s.config = Config::new(s.config.policy, c);
            }
            "pinned" => {
                pinned = parse_switch(v).ok_or_else(|| format!("pinned `{v}`: 1 or 0"))?;
            }
            "handles" => {
                s.handles = parse_switch(v)
                    .ok_or_else(|| format!("handles `{v}`: 1 (on) or 0 (off), or true/false"))?;
            }
            _ => return Err(format!("unknown setting `{k}`")),
        }
    }
    s.check()?;
    Ok((s, pinned))
}

/// An on/off setting: `1`, `true`, `yes`, `on` or `0`, `false`, `no`,
/// `off` (any case); `None` for anything else.
pub fn parse_switch(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The page's state: the input and output buffers and the sessions.
#[derive(Debug, Default)]
struct Playground {
    input: Vec<u8>,
    output: Vec<u8>,
    sessions: Vec<Option<Session>>,
}

thread_local! {
    static PG: RefCell<Playground> = RefCell::new(Playground::default());
}

/// The answer of `pg_exec`.
#[derive(Debug, Serialize)]
struct ExecAnswer {
    ok: bool,
    /// The refused command's message.
    error: Option<String>,
    /// Its index among the script's commands.
    index: Option<usize>,
    /// The refused command, as written (its comment left out).
    command: Option<String>,
    log: Vec<String>,
    /// `"none"`, `"failed"` or the offset the last allocation landed at.
    landed: serde_json::Value,
}

fn answer(pg: &mut Playground, v: &impl Serialize) -> usize {
    pg.output = serde_json::to_vec(v).unwrap_or_else(|e| {
        format!(
            "{{\"ok\":false,\"error\":\"{}\"}}",
            e.to_string().replace('"', "'")
        )
        .into_bytes()
    });
    pg.output.len()
}

fn no_session(pg: &mut Playground, id: u32) -> usize {
    answer(
        pg,
        &serde_json::json!({ "ok": false, "error": format!("no session {id}") }),
    )
}

/// A buffer of `len` bytes for the page to write its text into (valid
/// until the next `pg_input`).
#[unsafe(no_mangle)]
pub extern "C" fn pg_input(len: usize) -> *mut u8 {
    PG.with_borrow_mut(|pg| {
        pg.input.clear();
        pg.input.resize(len, 0);
        pg.input.as_mut_ptr()
    })
}

/// Where the last answer's bytes are.
#[unsafe(no_mangle)]
pub extern "C" fn pg_output() -> *const u8 {
    PG.with_borrow(|pg| pg.output.as_ptr())
}

/// A new session with the default settings (1 KiB, 16 descriptors, the
/// classic model); returns its number.
#[unsafe(no_mangle)]
pub extern "C" fn pg_new() -> u32 {
    PG.with_borrow_mut(|pg| {
        let s = Session::new(Settings::default()).expect("the defaults are valid");
        pg.sessions.push(Some(s));
        (pg.sessions.len() - 1) as u32
    })
}

/// Ends session `id`.
#[unsafe(no_mangle)]
pub extern "C" fn pg_drop(id: u32) {
    PG.with_borrow_mut(|pg| {
        if let Some(s) = pg.sessions.get_mut(id as usize) {
            *s = None;
        }
    })
}

/// Runs the input as a script on session `id`; answers
/// `{ok, error, index, log, landed}`.
#[unsafe(no_mangle)]
pub extern "C" fn pg_exec(id: u32) -> usize {
    PG.with_borrow_mut(|pg| {
        let text = String::from_utf8_lossy(&pg.input).into_owned();
        let Some(Some(s)) = pg.sessions.get_mut(id as usize) else {
            return no_session(pg, id);
        };
        let result = run_script(s, &text);
        let landed = match s.landed() {
            None => serde_json::Value::from("none"),
            Some(Landed::Failed) => serde_json::Value::from("failed"),
            Some(Landed::At(o)) => serde_json::Value::from(o),
        };
        let a = match result {
            Ok(log) => ExecAnswer {
                ok: true,
                error: None,
                index: None,
                command: None,
                log,
                landed,
            },
            Err(e) => ExecAnswer {
                ok: false,
                error: Some(e.error.message),
                index: Some(e.index),
                command: Some(e.command),
                log: Vec::new(),
                landed,
            },
        };
        answer(pg, &a)
    })
}

/// Checks the input, one command, as `pg_exec` would run it on session
/// `id`, without running it (the quiz asks only what would run); answers
/// `{ok, error}`.
#[unsafe(no_mangle)]
pub extern "C" fn pg_check(id: u32) -> usize {
    PG.with_borrow_mut(|pg| {
        let text = String::from_utf8_lossy(&pg.input).into_owned();
        let Some(Some(s)) = pg.sessions.get(id as usize) else {
            return no_session(pg, id);
        };
        let v = match s.check(&text) {
            Ok(()) => serde_json::json!({ "ok": true }),
            Err(e) => serde_json::json!({ "ok": false, "error": e.message }),
        };
        answer(pg, &v)
    })
}

/// Applies the input's settings (`capacity=… descriptors=… policy=…
/// coalescing=… pinned=…`) to session `id` and replays its history on them;
/// answers `{ok, error}`.
#[unsafe(no_mangle)]
pub extern "C" fn pg_configure(id: u32) -> usize {
    PG.with_borrow_mut(|pg| {
        let text = String::from_utf8_lossy(&pg.input).into_owned();
        let Some(Some(s)) = pg.sessions.get_mut(id as usize) else {
            return no_session(pg, id);
        };
        let r = parse_settings(&text, s.settings()).and_then(|(set, pin)| s.configure(set, pin));
        let v = match r {
            Ok(()) => serde_json::json!({ "ok": true }),
            Err(e) => serde_json::json!({ "ok": false, "error": e }),
        };
        answer(pg, &v)
    })
}

/// Loads the input as a trace file into session `id`: the first line is
/// the file's name, the rest its bytes (plain or gzip). Reads at most
/// `max_events` (0: all). Answers `{ok, error, events, log}`.
#[unsafe(no_mangle)]
pub extern "C" fn pg_load_trace(id: u32, max_events: usize) -> usize {
    PG.with_borrow_mut(|pg| {
        let input = std::mem::take(&mut pg.input);
        let (name, bytes) = match input.iter().position(|&b| b == b'\n') {
            Some(i) => (
                String::from_utf8_lossy(&input[..i]).into_owned(),
                &input[i + 1..],
            ),
            None => ("trace".to_owned(), &input[..]),
        };
        let Some(Some(s)) = pg.sessions.get_mut(id as usize) else {
            return no_session(pg, id);
        };
        let max = (max_events > 0).then_some(max_events);
        let v = match s.load_trace(&name, bytes, max) {
            Ok(n) => serde_json::json!({ "ok": true, "events": n, "log": s.log() }),
            Err(e) => serde_json::json!({ "ok": false, "error": e }),
        };
        answer(pg, &v)
    })
}

/// Makes session `dst` take session `src`'s trace, history and position
/// (a new side-by-side panel); answers `{ok, error}`.
#[unsafe(no_mangle)]
pub extern "C" fn pg_adopt(dst: u32, src: u32) -> usize {
    PG.with_borrow_mut(|pg| {
        let (d, s) = (dst as usize, src as usize);
        let ok = d != s
            && matches!(pg.sessions.get(d), Some(Some(_)))
            && matches!(pg.sessions.get(s), Some(Some(_)));
        if !ok {
            return no_session(pg, dst);
        }
        let source = pg.sessions[s].take().expect("checked");
        if let Some(target) = pg.sessions[d].as_mut() {
            target.adopt(&source);
        }
        pg.sessions[s] = Some(source);
        answer(pg, &serde_json::json!({ "ok": true }))
    })
}

/// Session `id`'s history as a `;`-separated command script that a link
/// replays exactly (see [`Session::link_script`]); answers `{script, pos,
/// len, left_out, traced}`, `pos` and `len` counted in the script's
/// commands.
#[unsafe(no_mangle)]
pub extern "C" fn pg_script(id: u32) -> usize {
    PG.with_borrow_mut(|pg| {
        let Some(Some(s)) = pg.sessions.get(id as usize) else {
            return no_session(pg, id);
        };
        let l = s.link_script();
        let v = serde_json::json!({
            "ok": true,
            "script": l.script,
            "pos": l.pos,
            "len": l.len,
            "left_out": l.left_out,
            "traced": s.trace().is_some(),
        });
        answer(pg, &v)
    })
}

/// Session `id`'s view as JSON (see [`view::View`]): every arena when
/// there are at most `max_arenas`, else the heap map in `buckets` buckets.
#[unsafe(no_mangle)]
pub extern "C" fn pg_state(id: u32, max_arenas: usize, buckets: usize) -> usize {
    PG.with_borrow_mut(|pg| {
        let Some(Some(s)) = pg.sessions.get(id as usize) else {
            return no_session(pg, id);
        };
        let v = view::view(s, max_arenas, buckets, 64, 64);
        answer(pg, &v)
    })
}

/// The book's chapters (`book/src`): their Rust examples are compiled and run
/// as doctests, so the course stays true to the crate.
#[cfg(doctest)]
mod book {
    #[doc = include_str!("../../../book/src/introduction.md")]
    mod introduction {}
    #[doc = include_str!("../../../book/src/model.md")]
    mod model {}
    #[doc = include_str!("../../../book/src/first-fit.md")]
    mod first_fit {}
    #[doc = include_str!("../../../book/src/fragmentation.md")]
    mod fragmentation {}
    #[doc = include_str!("../../../book/src/defragment.md")]
    mod defragment {}
    #[doc = include_str!("../../../book/src/fits.md")]
    mod fits {}
    #[doc = include_str!("../../../book/src/coalescing.md")]
    mod coalescing {}
    #[doc = include_str!("../../../book/src/segregated-fit.md")]
    mod segregated_fit {}
    #[doc = include_str!("../../../book/src/buddy-slab.md")]
    mod buddy_slab {}
    #[doc = include_str!("../../../book/src/relocation.md")]
    mod relocation {}
    #[doc = include_str!("../../../book/src/real-programs.md")]
    mod real_programs {}
    #[doc = include_str!("../../../book/src/embedded.md")]
    mod embedded {}
}

#[cfg(test)]
mod tests;
