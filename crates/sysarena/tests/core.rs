//! The core's integration tests, compiled into one binary.

mod core {
    pub mod common;
    mod defrag;
    mod heap;
    mod model;
    mod ops;
    mod policies;
}
