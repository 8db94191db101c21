#!/usr/bin/env bash
# The flash and RAM figures of the README's "sysarena on a microcontroller"
# section: the firmware workload built with each allocator (release,
# opt-level "s", fat LTO, thumbv7m-none-eabi), then run under QEMU with the
# `measure-ram` feature to print what each allocator spends on metadata at
# the workload's peak.
#
#   bash examples/firmware/measure.sh          sizes and RAM
#   bash examples/firmware/measure.sh --size   sizes only (no QEMU)
set -euo pipefail
cd "$(dirname "$0")"
TARGET=thumbv7m-none-eabi

if command -v arm-none-eabi-size >/dev/null 2>&1; then
    SIZE=arm-none-eabi-size
elif command -v llvm-size >/dev/null 2>&1; then
    SIZE=llvm-size
else
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils-arm-none-eabi >/dev/null
    SIZE=arm-none-eabi-size
fi
rustup target add "$TARGET" >/dev/null 2>&1 || rustup target add "$TARGET"

cargo build --release --quiet
BIN=target/$TARGET/release

# section NAME FILE: the section's size in bytes (0 if absent).
section() {
    "$SIZE" -A "$2" | awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}

base_text=$(section .text "$BIN/workload-bump")
base_rodata=$(section .rodata "$BIN/workload-bump")
printf '%-14s %8s %8s %8s   %s\n' allocator .text .rodata .data "allocator's own (vs the bump baseline): .text / .rodata / .data"
for alloc in bump sysarena sysarena-bss talc llff tlsf; do
    f="$BIN/workload-$alloc"
    text=$(section .text "$f")
    rodata=$(section .rodata "$f")
    data=$(section .data "$f")
    printf '%-14s %8d %8d %8d   %d / %d / %d\n' "$alloc" "$text" "$rodata" "$data" \
        $((text - base_text)) $((rodata - base_rodata)) "$data"
done

[ "${1:-}" = "--size" ] && exit 0

if ! command -v qemu-system-arm >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null
fi
cargo build --release --quiet --features measure-ram --target-dir target/measure-ram
for alloc in sysarena sysarena-bss talc llff tlsf; do
    echo
    timeout 120 qemu-system-arm -cpu cortex-m3 -machine mps2-an385 -nographic \
        -semihosting-config enable=on,target=native \
        -kernel "target/measure-ram/$TARGET/release/workload-$alloc" | grep -v '^checksum'
done
