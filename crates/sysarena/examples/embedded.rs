//! The one-line global allocator in a `no_std` program. Built for a
//! bare-metal target it is `#![no_std]` and `#![no_main]`; on a hosted
//! target the same code runs as an ordinary program (`cargo run -p
//! sysarena --features global --example embedded`).
//!
//! `cargo build --example embedded --target thumbv7em-none-eabihf` fails:
//! Cargo builds the crate's dev-dependencies for an example, and proptest
//! does not build for a bare-metal target. CI (`.ci/frontends.sh`) builds
//! the library for the target, then this file with `rustc`:
//!
//! ```sh
//! cargo build -p sysarena --target thumbv7em-none-eabihf --no-default-features --features global
//! deps=target/thumbv7em-none-eabihf/debug
//! rustc --edition 2024 --target thumbv7em-none-eabihf --crate-type bin \
//!   -C panic=abort -C opt-level=s -C link-arg=--entry=sysarena_example_main \
//!   crates/sysarena/examples/embedded.rs \
//!   --extern sysarena=$deps/libsysarena.rlib -L dependency=$deps/deps
//! ```
#![cfg_attr(target_os = "none", no_std, no_main)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use sysarena::global::StaticHeap;

/// 64 KiB of memory and 512 arena descriptors, claimed on first use.
#[global_allocator]
static HEAP: StaticHeap<512, { 64 << 10 }> = StaticHeap::new();

/// Allocates, frees and checks; returns the bytes in use at the peak.
fn work() -> usize {
    let mut log: BTreeMap<u32, String> = BTreeMap::new();
    let mut peak = 0;
    for i in 0..200u32 {
        let mut s = String::new();
        for _ in 0..(i % 13) {
            s.push(char::from(b'a' + (i % 26) as u8));
        }
        log.insert(i, s);
        if i % 4 == 0 {
            log.remove(&(i / 2));
        }
        let v: Vec<u32> = (0..i).collect();
        assert_eq!(v.iter().sum::<u32>(), i * i.saturating_sub(1) / 2);
        peak = peak.max(HEAP.stats().in_use_bytes);
    }
    assert!(
        log.values()
            .all(|s| s.bytes().all(|b| b.is_ascii_lowercase()))
    );
    drop(log);
    assert!(HEAP.check_invariants().is_ok());
    peak
}

/// The entry point a board's start-up code calls.
#[cfg(target_os = "none")]
#[unsafe(no_mangle)]
pub extern "C" fn sysarena_example_main() -> usize {
    work()
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

#[cfg(not(target_os = "none"))]
fn main() {
    let peak = work();
    println!(
        "embedded example: peak {peak} bytes in use of {}",
        HEAP.stats().capacity
    );
}
