//! The `sysarena` command.
fn main() {}
