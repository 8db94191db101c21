//! Front-end tests (allocator-api2, HeapCell, C ABI from Rust).
