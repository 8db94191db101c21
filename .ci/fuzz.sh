#!/usr/bin/env bash
# A short coverage-guided fuzz run of the core (cargo-fuzz, libFuzzer).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
seconds="${FUZZ_SECONDS:-60}"
cargo +nightly fuzz run chaos -- -max_total_time="$seconds" -max_len=4096
