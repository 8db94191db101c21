#!/usr/bin/env bash
# Front-end checks (issue 4), called from .ci/run:
#  1. the no_std build of the core with every front end (global,
#     allocator-api2, capi) for a bare-metal target, thumbv7em-none-eabihf,
#     and examples/embedded.rs (the one-line StaticHeap in a no_std
#     binary) linked for it, its heap checked to lie in .bss; and
#     `global` with allocator-api2 for thumbv6m-none-eabi, a target
#     without compare-and-swap (HeapCell only: no spin lock there);
#  2. the front-end tests: `global_alloc` (sysarena as the test binary's
#     #[global_allocator], eight threads of Vec/String/BTreeMap/HashMap
#     churn), `global_static` (the same on the README's one-line
#     StaticHeap, plus a region added later), `frontends` (allocator-api2 collections, HeapCell, the OOM
#     rescue, bad frees, the C ABI from Rust), `header` (include/sysarena.h
#     equals what cbindgen generates now — the cbindgen crate is a
#     dev-dependency, so nothing is installed for it) and `c_demo`
#     (examples/demo.c and examples/block.c compiled with the system C
#     compiler, examples/block.cpp with the C++ compiler, all with
#     -Wall -Wextra -Werror, and run).
# `cargo test --workspace` runs the same four targets (sysarena-capi turns
# the features on); step 2 selects them with the same feature resolution,
# so after the workspace tests it rebuilds nothing and takes seconds, and
# run alone it still checks everything.
# Miri over the `frontends` tests and the threaded `global_stress` runs in
# .ci/miri.sh, beside the core's Miri runs.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
step() { printf '\n== %s (%ss)\n' "$*" "$((SECONDS - start))"; }

step "no_std build of the front ends for thumbv7em-none-eabihf"
target=thumbv7em-none-eabihf
if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
fi
cargo build -p sysarena --target "$target" --no-default-features \
  --features global,allocator-api2,capi

step "global and allocator-api2 for thumbv6m-none-eabi (no compare-and-swap: HeapCell only)"
if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx thumbv6m-none-eabi || rustup target add thumbv6m-none-eabi
fi
cargo check -p sysarena --target thumbv6m-none-eabi --no-default-features \
  --features global,allocator-api2

step "the one-line global allocator in a no_std program for $target"
# examples/embedded.rs: `#[global_allocator] static HEAP: StaticHeap<..>`
# in a #![no_std] #![no_main] binary. Cargo would build the crate's
# dev-dependencies for an example (proptest does not build for a bare-metal
# target), so rustc links it against the library built just above. The
# heap must lie in .bss: no space in the binary (or flash).
cargo build -p sysarena --target "$target" --no-default-features --features global
deps="target/$target/debug"
mkdir -p target/embedded-example
rustc --edition 2024 --target "$target" --crate-type bin --crate-name embedded \
  -C panic=abort -C opt-level=s -C link-arg=--entry=sysarena_example_main \
  crates/sysarena/examples/embedded.rs \
  --extern sysarena="$deps/libsysarena.rlib" -L dependency="$deps/deps" \
  -o target/embedded-example/embedded
bss=$(readelf -S -W target/embedded-example/embedded | awk '$2 == ".bss" || $3 == ".bss" {print $1 $2}' | tr -d '[]' | sed 's/\.bss//')
readelf -s -W target/embedded-example/embedded | awk -v bss="$bss" '
  /embedded4HEAP/ { found = 1; if ($7 != bss) { print "HEAP is not in .bss: " $0; exit 1 } print "HEAP in .bss: " $3 " bytes" }
  END { if (!found) { print "no HEAP symbol"; exit 1 } }'

step "front-end tests, C header staleness, C demo"
if ! command -v "${CC:-cc}" >/dev/null 2>&1 || ! command -v "${CXX:-c++}" >/dev/null 2>&1; then
  echo "no C or C++ compiler (${CC:-cc}, ${CXX:-c++}); installing gcc and g++" >&2
  apt-get update -qq && apt-get install -y -qq gcc g++ >/dev/null
fi
cargo test --workspace --test global_alloc --test global_static --test frontends --test header --test c_demo

step "front ends done"
