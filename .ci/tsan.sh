#!/usr/bin/env bash
# ThreadSanitizer over the threaded allocator tests (issue 8), called from
# .ci/run:
#  - sysarena's `global_stress` (8 threads on one LockedHeap: patterns,
#    realloc, cross-thread frees, invariants checked while running) and
#    `global_alloc` (sysarena as the test binary's #[global_allocator]);
#  - sysarena-malloc's in-process stress (`threads`: the library's malloc,
#    calloc, memalign family, realloc and free from 8 threads, blocks
#    crossing threads, every shard checked at the end). TSan intercepts
#    malloc itself, so it cannot run a program under LD_PRELOAD; this test
#    calls the same functions directly from a binary that keeps the system
#    allocator, so the shard locks, home shards and slab layer are checked.
# std is rebuilt with the sanitizer (-Zbuild-std, nightly + rust-src), so
# every access, std's included, is instrumented. Any report fails the run.
# Built at opt-level 1 (debug assertions stay on): the instrumented stresses
# then run 6 to 17 times more operations in the same seconds than at
# opt-level 0. About three minutes on 2 cores the first time (building std),
# under half a minute after.
#
# usage: .ci/tsan.sh    (SYSARENA_STRESS_SECS: seconds per stress, default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/tsan}
TARGET=x86_64-unknown-linux-gnu

if [[ $(uname -m) != x86_64 || $(uname -s) != Linux ]]; then
    echo "tsan: skipped (the sanitizer run is set up for $TARGET only)"
    exit 0
fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup component add --toolchain nightly rust-src

export RUSTFLAGS="-Zsanitizer=thread" RUSTDOCFLAGS="-Zsanitizer=thread" CARGO_INCREMENTAL=0
export CARGO_PROFILE_DEV_OPT_LEVEL=1
# Stop at the first race; tests still fail on a report either way.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
export SYSARENA_STRESS_SECS=${SYSARENA_STRESS_SECS:-2}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

status=0
tsan() {
    echo "== $*"
    cargo +nightly test -q -Zbuild-std --target "$TARGET" "$@" -- --nocapture 2>&1 | tee -a "$LOG" ||
        status=1
}
tsan -p sysarena --features global --test global_stress --test global_alloc
tsan -p sysarena-malloc --lib threads

if grep -q 'WARNING: ThreadSanitizer' "$LOG"; then
    echo "tsan: FAILED: ThreadSanitizer reported a problem (above)"
    exit 1
fi
if ((status)); then
    echo "tsan: FAILED"
    exit 1
fi
echo "tsan: no data race reported"
