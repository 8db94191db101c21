#!/usr/bin/env bash
# Bounded coverage-guided fuzzing (cargo-fuzz, libFuzzer) of every target in
# fuzz/: the core against a shadow model (chaos), Heap on real memory with
# byte patterns (heap_patterns), Movable with passes and relocation over a
# simulated device region (movable), the trace readers (trace_readers), the
# CLI's input parsing and step scripts (cli_input) and the C ABI (capi).
# chaos, heap_patterns and movable draw the fast model (Config::fast()) half
# of the time and check its quick lists (the fuzz crate's library, fuzz/src/quick.rs):
# a cached block is never handed out twice, a second free of it is refused,
# the cached bytes add up, and a refused request changes nothing but a flush.
#
# Each target starts from its checked-in seed corpus (fuzz/corpus/<target>,
# copied so the run does not grow it) and runs FUZZ_SECONDS (default 30);
# any crash, panic, leak or timeout fails the script, and libFuzzer leaves
# the input in fuzz/artifacts/<target>/. Targets run FUZZ_JOBS at a time
# (default: one per CPU). Total on a 2-core machine: about one to two
# minutes of build plus FUZZ_SECONDS per two targets.
#
# FUZZ_TARGETS="chaos capi" runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
seconds="${FUZZ_SECONDS:-30}"
# Every target in fuzz/Cargo.toml unless FUZZ_TARGETS names some.
targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"

# One build of every target, so the timed runs below only fuzz.
cargo +nightly fuzz build

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Fuzzes one target for FUZZ_SECONDS from a copy of its seed corpus.
fuzz_one() {
    local target=$1
    mkdir -p "$work/$target"
    if [ -d "fuzz/corpus/$target" ]; then
        cp -r "fuzz/corpus/$target/." "$work/$target/"
    fi
    # -timeout: a single input running longer than 10 s is a hang.
    cargo +nightly fuzz run "$target" "$work/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1
}

# libFuzzer runs one process per target: FUZZ_JOBS targets at a time
# (default: one per CPU), so on CI's two cores the six targets take three
# rounds of FUZZ_SECONDS instead of six. Each still fuzzes for the full
# FUZZ_SECONDS of its own.
. .ci/jobs.sh
# shellcheck disable=SC2086 # one word per target
if ! in_parallel "${FUZZ_JOBS:-$(nproc)}" \
    '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec)' \
    fuzz_one $targets; then
    echo "fuzz: a target failed; its input is in fuzz/artifacts/<target>/" >&2
    exit 1
fi
echo "fuzz: every target ran ${seconds}s without a crash"
