//! Links the library with `-z defs`: every symbol it uses must be defined
//! by what it links (libc), so a build that would fail to load — a stray
//! reference to the unwinder from a build without `std`, see the `preload`
//! profile in the workspace's `Cargo.toml` — fails to link instead.

fn main() {
    println!("cargo::rustc-cdylib-link-arg=-Wl,-z,defs");
}
