#!/usr/bin/env bash
# Boots the bare-metal examples (examples/firmware) under QEMU's mps2-an385
# (a Cortex-M3) and compares what they print over semihosting with the
# checked-in transcripts; runs the firmware workload on sysarena and on its
# peers (talc, embedded-alloc's LlffHeap and TlsfHeap, a bump baseline) and
# checks that each exits with success and the same checksum.
#
#   bash .ci/qemu.sh           check
#   bash .ci/qemu.sh --bless   rewrite examples/firmware/expected/*.txt
#
# Installs what it needs: qemu-system-arm (Debian) and the rustup target.
set -euo pipefail
cd "$(dirname "$0")/.."

FW=examples/firmware
TARGET=thumbv7m-none-eabi
BLESS=0
[ "${1:-}" = "--bless" ] && BLESS=1

if ! command -v qemu-system-arm >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null
fi
rustup target add "$TARGET" >/dev/null 2>&1 || rustup target add "$TARGET"

# Not --locked: examples/firmware/Cargo.lock pins the peers and the
# cortex-m crates, and cargo adds whatever a later core release needs.
echo "== building the firmware examples (release, $TARGET)"
(cd "$FW" && cargo build --release --quiet)
BIN="$FW/target/$TARGET/release"
QEMU=(qemu-system-arm -cpu cortex-m3 -machine mps2-an385 -nographic
      -semihosting-config enable=on,target=native -kernel)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0

# Runs one program under QEMU with a timeout; stdout to $work/$1.out.
boot() {
    local rc=0
    timeout 120 "${QEMU[@]}" "$BIN/$1" >"$work/$1.out" 2>"$work/$1.err" || rc=$?
    return $rc
}

# The firmware crate is its own workspace: the root's fmt and clippy
# checks do not see it.
if (cd "$FW" && cargo fmt --check && cargo clippy --release --quiet --all-targets -- -D warnings); then
    echo "ok: examples/firmware is formatted and clippy-clean"
    pass=$((pass + 1))
else
    echo "FAILED: examples/firmware fmt or clippy"
    fail=$((fail + 1))
fi

for prog in heap device; do
    rc=0
    boot "$prog" || rc=$?
    if [ $BLESS = 1 ]; then
        cp "$work/$prog.out" "$FW/expected/$prog.txt"
        echo "blessed $FW/expected/$prog.txt (exit $rc)"
    fi
    if [ $rc -eq 0 ] && diff -u "$FW/expected/$prog.txt" "$work/$prog.out"; then
        echo "ok: $prog boots, every check holds, output matches $FW/expected/$prog.txt"
        pass=$((pass + 1))
    else
        echo "FAILED: $prog (exit $rc); if the new output is intended, run: bash .ci/qemu.sh --bless"
        cat "$work/$prog.err"
        fail=$((fail + 1))
    fi
done

reference=""
for alloc in sysarena sysarena-bss talc llff tlsf bump; do
    prog="workload-$alloc"
    rc=0
    boot "$prog" || rc=$?
    sum=$(grep '^checksum' "$work/$prog.out" || true)
    [ -z "$reference" ] && reference=$sum
    if [ $rc -eq 0 ] && [ -n "$sum" ] && [ "$sum" = "$reference" ]; then
        echo "ok: $prog ($sum)"
        pass=$((pass + 1))
    else
        echo "FAILED: $prog (exit $rc, '$sum', sysarena's '$reference')"
        cat "$work/$prog.out" "$work/$prog.err"
        fail=$((fail + 1))
    fi
done

echo "qemu: $pass passed, $fail failed"
[ $fail -eq 0 ]
