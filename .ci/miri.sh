#!/usr/bin/env bash
# Miri with strict provenance: undefined behaviour checks over the core's
# tests (unit, integration and doc tests) and the front ends' (`frontends`:
# the pointer layer, the allocator-api2 impl and the C ABI; `global_stress`:
# the threaded global allocator, a shorter run under Miri). Called from
# .ci/run, which installs Miri.
#
# Miri interprets on one thread, so the runs go MIRI_JOBS at a time
# (default: one per CPU): on CI's two cores the core's integration tests
# (about six minutes) run beside the rest. Both feature sets are built first,
# so the parallel runs only interpret. Each run's output is printed when it
# ends; any failure fails the script.
#
# The work-counting tests of the fits build checkerboards of thousands of
# arenas to show that a cost does not grow with the heap: safe code only,
# minutes under Miri, checked natively by the test step; they are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-strict-provenance}"

if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "cargo +nightly miri is not installed (rustup component add --toolchain nightly miri rust-src)" >&2
    exit 1
fi

# name|cargo arguments|test-harness arguments; the longest first.
runs=(
    "core integration tests|-p sysarena --test core|"
    "front ends|-p sysarena --all-features --test frontends --test global_stress|"
    "core unit tests|-p sysarena --lib|--skip manager::fits::tests --skip manager::segregated_fit::tests"
    "core doc tests|-p sysarena --doc|"
)

# One build per feature set (cargo's build lock would serialise them anyway).
cargo +nightly miri test -p sysarena --tests --no-run
cargo +nightly miri test -p sysarena --all-features --test frontends --test global_stress --no-run

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Runs entry $1 of `runs`; its output and exit status go to $work.
miri_one() {
    local k=$1 name args harness status=0 t0=$SECONDS
    IFS='|' read -r name args harness <<<"${runs[k]}"
    # shellcheck disable=SC2086 # the arguments are words on purpose
    cargo +nightly miri test $args -- $harness >"$work/$k.log" 2>&1 || status=$?
    echo "$status $((SECONDS - t0))" >"$work/$k.status"
}

jobs_max="${MIRI_JOBS:-$(nproc)}"
for k in "${!runs[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
        wait -n || true
    done
    echo "--- miri: ${runs[k]%%|*}"
    miri_one "$k" &
done
wait

failed=0
for k in "${!runs[@]}"; do
    read -r status secs <"$work/$k.status"
    echo "--- ${runs[k]%%|*} (${secs}s)"
    grep -E '^test result|^running|FAILED|panicked|Undefined Behavior' "$work/$k.log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 80 "$work/$k.log" >&2
        echo "miri: ${runs[k]%%|*} failed" >&2
        failed=1
    fi
done
if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "miri: every run passed"
