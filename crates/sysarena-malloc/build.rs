//! Links the library with `-z defs`: every symbol it uses must be defined
//! by what it links (libc), so a build that would fail to load — a stray
//! reference to the unwinder from a build without `std`, see the `preload`
//! profile in the workspace's `Cargo.toml` — fails to link instead.
//!
//! And with `hot.ld`: the code that programs run goes together ahead of the
//! PLT, the rest after it, so that a process maps about 88 KB of the
//! library's code instead of all 150 KB (`hot_ld.py` says how and why; its
//! `check` runs in `.ci/malloc.sh`). The script uses `INSERT`, which both
//! `lld` (Rust's default linker on x86-64 Linux) and GNU `ld` take.

use std::path::Path;

fn main() {
    println!("cargo::rustc-cdylib-link-arg=-Wl,-z,defs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hot.ld");
    println!("cargo::rerun-if-changed={}", script.display());
    println!("cargo::rerun-if-env-changed=SYSARENA_MALLOC_LAYOUT");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    // `SYSARENA_MALLOC_LAYOUT=none` links without the script, for callgrind
    // (why: `hot_ld.py`'s `build`).
    let laid_out = std::env::var("SYSARENA_MALLOC_LAYOUT").as_deref() != Ok("none");
    if linux_gnu && laid_out && script.exists() {
        println!("cargo::rustc-cdylib-link-arg=-Wl,-T,{}", script.display());
    }
}
