#!/usr/bin/env bash
# Builds the playground: the sysarena core compiled to wasm32-unknown-unknown
# (crates/sysarena-wasm), inlined as base64 with the page's script and style
# into ONE html file that works offline from file://.
#
#   bash playground/build.sh            writes playground/sysarena-playground.html
#   bash playground/build.sh --check    fails if that file is not current
#   bash playground/build.sh --out F    writes F instead
#   bash playground/build.sh --bench T  also embeds trace T (for the redraw
#                                       measurement: open F#bench=100000)
#
# "Current" is judged by a digest of the sources the page is made from (the
# core, the glue, the trace reader, this folder), written into the page; the
# wasm bytes themselves depend on the compiler version and are not compared.
set -euo pipefail
cd "$(dirname "$0")/.."

out=playground/sysarena-playground.html
check=0
trace=
while [ $# -gt 0 ]; do
    case "$1" in
        --check) check=1 ;;
        --out) out=$2; shift ;;
        --bench) trace=$2; shift ;;
        *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

sources() {
    git ls-files -co --exclude-standard -- \
        crates/sysarena/src crates/sysarena/Cargo.toml \
        crates/sysarena-wasm crates/sysarena-sim/src/trace.rs crates/sysarena-sim/src/trace \
        playground/index.html playground/app.js playground/style.css playground/build.sh |
        LC_ALL=C sort
}
digest=$(sources | while read -r f; do printf '%s\n' "$f"; cat "$f"; done | sha256sum | cut -c1-16)

if [ "$check" = 1 ]; then
    have=$(grep -o 'name="sysarena-sources" content="[0-9a-f]*"' "$out" 2>/dev/null | grep -o '[0-9a-f]\{16\}' || true)
    if [ "$have" != "$digest" ]; then
        echo "playground: $out is not current (sources $digest, page ${have:-none}); run: bash playground/build.sh" >&2
        exit 1
    fi
    echo "playground: $out is current ($digest)"
    exit 0
fi

rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' ||
    rustup target add wasm32-unknown-unknown
# Small and self-contained: size-optimised, no debug info, abort on panic.
CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=true \
CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_PANIC=abort CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
    cargo build -q -p sysarena-wasm --release --target wasm32-unknown-unknown
wasm="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/sysarena_wasm.wasm"

mkdir -p "$(dirname "$out")"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line; do
    case "$line" in
        '<!--SOURCES-->')
            printf '<meta name="sysarena-sources" content="%s">\n' "$digest"
            printf '<!-- Built by playground/build.sh from the sources above; do not edit. -->\n' ;;
        '<!--STYLE-->') printf '<style>\n'; cat playground/style.css; printf '</style>\n' ;;
        '<!--WASM-->')
            printf '<script>window.SYSARENA_WASM="'; base64 -w0 "$wasm"; printf '";</script>\n'
            if [ -n "$trace" ]; then
                printf '<script>window.SYSARENA_TRACE_NAME="%s";window.SYSARENA_TRACE="' "$(basename "$trace")"
                base64 -w0 "$trace"; printf '";</script>\n'
            fi ;;
        '<!--SCRIPT-->') printf '<script>\n'; cat playground/app.js; printf '</script>\n' ;;
        *) printf '%s\n' "$line" ;;
    esac
done <playground/index.html >"$tmp"
mv "$tmp" "$out"
trap - EXIT
# mktemp made it 0600; a web server or mdbook's copy must be able to serve it.
chmod 644 "$out"
echo "playground: $out ($(wc -c <"$out") bytes, wasm $(wc -c <"$wasm") bytes, sources $digest)"
