//! Hostile input and the out-of-band metadata proof (issue 8, "Never
//! corrupt, never lose"), compiled into one binary.
//!
//! `cargo test -p sysarena --test hostile -- --nocapture hostile_inputs_table`
//! prints the table of hostile inputs and the error each produced; the same
//! table is in `docs/HARDENING.md`, and a test keeps the two in step.

/// The core tests' helpers (`check`), shared rather than copied.
#[path = "core/common.rs"]
#[allow(dead_code)] // not every helper is used here
mod shared;

mod hostile {
    pub mod common;
    mod inputs;
    mod out_of_band;
}
