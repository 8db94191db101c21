//! The core's integration tests, compiled into one binary: the model and
//! its operations, the policies, the pointer layer, relocation and the
//! liveness of passes (`core`), and hostile input with the out-of-band
//! metadata proof (`hostile`, issue 8: "Never corrupt, never lose").
//!
//! `cargo test -p sysarena --test core -- --nocapture hostile_inputs_table`
//! prints the table of hostile inputs and the error each produced; the same
//! table is in `docs/HARDENING.md`, and a test keeps the two in step.
//!
//! The helpers every suite shares (a deterministic `Rng`, byte patterns,
//! aligned regions) come from the dev-only `sysarena-testkit` crate.

mod common;
mod defrag;
mod defrag_cases;
mod heap;
mod hints;
mod hostile;
mod in_place;
mod liveness;
mod model;
mod ops;
mod policies;
mod table_growth;
