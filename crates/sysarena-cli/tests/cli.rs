//! Integration tests of the `sysarena` binary, one test binary: each module
//! runs the built executable and checks its output and exit status.

#[path = "cli/sim.rs"]
mod sim;
#[path = "cli/soak.rs"]
mod soak;
