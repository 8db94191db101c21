//! The session against the command line's golden frames, the seed's
//! headline, undo and the slider, bad input, traces, and the exports, one
//! concept a file; the helpers every file shares are here.

use super::*;
use crate::view::stats_line;

fn session(capacity: usize, descriptors: usize) -> Session {
    Session::new(Settings {
        capacity,
        descriptors,
        ..Settings::default()
    })
    .unwrap()
}

fn line(s: &Session) -> String {
    stats_line(&s.manager().stats())
}

/// Everything observable about a session's manager.
fn snapshot(s: &Session) -> (String, Vec<sysarena::ArenaInfo>, Vec<sysarena::TableEntry>) {
    s.manager().check_invariants().unwrap();
    (
        line(s),
        s.manager().arenas().collect(),
        s.manager().table().collect(),
    )
}

/// A session of the fast model (quick lists) over `capacity` bytes.
fn fast(capacity: usize) -> Session {
    Session::new(Settings {
        capacity,
        descriptors: 16,
        config: sysarena::Config::fast(),
        handles: false,
    })
    .unwrap()
}

mod explanations;
mod exports;
mod frames;
mod handles;
mod history;
mod traces;
