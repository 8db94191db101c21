#!/usr/bin/env bash
# Front-end checks (issue 4), called from .ci/run:
#  1. the no_std build of the core with every front end (global,
#     allocator-api2, capi) for a bare-metal target, thumbv7em-none-eabihf;
#  2. the front-end tests: `global_alloc` (sysarena as the test binary's
#     #[global_allocator], eight threads of Vec/String/BTreeMap/HashMap
#     churn), `frontends` (allocator-api2 collections, HeapCell, the OOM
#     rescue, bad frees, the C ABI from Rust), `header` (include/sysarena.h
#     equals what cbindgen generates now — the cbindgen crate is a
#     dev-dependency, so nothing is installed for it) and `c_demo`
#     (examples/demo.c compiled with the system C compiler and run).
# `cargo test --workspace` runs the same four targets (sysarena-capi turns
# the features on); step 2 selects them with the same feature resolution,
# so after the workspace tests it rebuilds nothing and takes seconds, and
# run alone it still checks everything;
#  3. Miri with strict provenance over the `frontends` tests and the
#     threaded `global_stress` (a shorter run under Miri).
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

step "front-end tests, C header staleness, C demo"
if ! command -v "${CC:-cc}" >/dev/null 2>&1; then
  echo "no C compiler (${CC:-cc}); installing gcc" >&2
  apt-get update -qq && apt-get install -y -qq gcc >/dev/null
fi
cargo test --workspace --test global_alloc --test frontends --test header --test c_demo

step "Miri (strict provenance): the front-end tests"
# The pointer layer under the front ends, the allocator-api2 impl and the C
# ABI, checked for UB. .ci/run installs Miri; skipped when it is missing.
if cargo +nightly miri --version >/dev/null 2>&1; then
  MIRIFLAGS="-Zmiri-strict-provenance" \
    cargo +nightly miri test -p sysarena --all-features --test frontends --test global_stress
else
  echo "cargo +nightly miri not installed: skipped"
fi

step "front ends done"
