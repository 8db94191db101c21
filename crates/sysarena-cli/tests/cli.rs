//! Integration tests of the `sysarena` binary, one test binary: each module
//! runs the built executable and checks its output and exit status.

#[path = "cli/golden.rs"]
mod golden;
#[path = "cli/sim.rs"]
mod sim;
#[path = "cli/soak.rs"]
mod soak;
#[path = "cli/verbs.rs"]
mod verbs;
