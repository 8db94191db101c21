//! The core's integration tests, compiled into one binary.

mod core {
    pub mod common;
    mod defrag;
    mod heap;
    mod liveness;
    mod model;
    mod ops;
    mod policies;
}
