//! Integration tests of the `sysarena` binary, one test binary: each module
//! runs the built executable and checks its output and exit status.

mod golden;
mod refusals;
mod sim;
mod soak;
mod verbs;
