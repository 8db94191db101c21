//! Integration tests of the simulator, compiled into one binary.

mod sim {
    mod budget;
    pub mod common;
    mod peers;
    mod replay;
    mod trace;
    mod workload;
}
