#!/usr/bin/env bash
# Front-end checks (issue 4) that `cargo test --workspace` does not cover:
#  1. the no_std build of the core and of the global/allocator-api2/capi
#     front ends for a bare-metal target (thumbv7em-none-eabihf);
#  2. the front-end test binaries, which need features the default
#     workspace build may not turn on (`global_alloc`: sysarena as the
#     #[global_allocator]; `frontends`: allocator-api2, HeapCell, C ABI);
#  3. the C side: the cbindgen header staleness check and demo.c compiled
#     with the system C compiler and run (sysarena-capi's tests; the
#     cbindgen crate is a dev-dependency, so nothing is installed for it).
# Called from .ci/run; installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
step() { printf '\n== %s (%ss)\n' "$*" "$((SECONDS - start))"; }

step "no_std build for thumbv7em-none-eabihf"
target=thumbv7em-none-eabihf
if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
fi
cargo build -p sysarena --target "$target" --no-default-features
cargo build -p sysarena --target "$target" --no-default-features \
  --features global,allocator-api2,capi

step "front-end tests with every sysarena feature"
cargo test -p sysarena --all-features --test global_alloc --test frontends

step "C ABI: header staleness (cbindgen) and demo.c"
if ! command -v "${CC:-cc}" >/dev/null 2>&1; then
  echo "no C compiler (${CC:-cc}); installing gcc" >&2
  apt-get update -qq && apt-get install -y -qq gcc >/dev/null
fi
cargo test -p sysarena-capi

step "front ends done"
