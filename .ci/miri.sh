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
# so the parallel runs only interpret. Each run's results are printed when
# all have ended (.ci/jobs.sh); any failure fails the script.
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

# One build per feature set (cargo's build lock would serialise them anyway).
cargo +nightly miri test -p sysarena --tests --no-run
cargo +nightly miri test -p sysarena --all-features --test frontends --test global_stress --no-run

# Runs one part of the tests under Miri.
miri_part() {
    case $1 in
    core-integration) cargo +nightly miri test -p sysarena --test core ;;
    front-ends) cargo +nightly miri test -p sysarena --all-features --test frontends --test global_stress ;;
    core-unit) cargo +nightly miri test -p sysarena --lib -- \
        --skip manager::fits::tests --skip manager::segregated_fit::tests ;;
    core-doc) cargo +nightly miri test -p sysarena --doc ;;
    *)
        echo "no such part: $1" >&2
        return 1
        ;;
    esac
}

. .ci/jobs.sh
# The longest first.
in_parallel "${MIRI_JOBS:-$(nproc)}" '^test result|^running|FAILED|panicked|Undefined Behavior' \
    miri_part core-integration front-ends core-unit core-doc
echo "miri: every run passed"
