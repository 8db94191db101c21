#!/usr/bin/env bash
# The browser playground, end to end: checks that the checked-in page
# (playground/sysarena-playground.html) is current, builds it afresh (the
# real core compiled to wasm32-unknown-unknown), opens it in headless
# Chromium with scenarios given in the URL fragment, and compares the stats
# line the page displays with what the core says natively for the same
# operations: `sysarena step` (the command line's own interpreter) and the
# glue's native replay (for `relocate`, which `step` lacks). The page's
# `#selftest` also drives its buttons, bad input, undo/redo, the slider, a
# side-by-side panel, SVG export and garbage traces, and fails on any page
# error. Screenshots (1280x800 and phone width) are kept in target/playground.
# Then measures a redraw on the first 100,000 events of the perl trace.
# Installs Debian's chromium and the wasm target if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
out=${PLAYGROUND_OUT:-target/playground}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true

bash playground/build.sh --check
page="$out/sysarena-playground.html"
bash playground/build.sh --out "$page"

cargo build -q -p sysarena-cli -p sysarena-wasm --examples
bin="${CARGO_TARGET_DIR:-target}/debug"

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chrome() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$profile" "$@" 2>>"$out/chromium.log"
}

passed=0
failed=0
# scenario NAME SETTINGS OPS EXPECTED
scenario() {
    local name=$1 settings=$2 ops=$3 expected=$4
    local frag
    frag="$(printf '%s' "$settings" | tr ' ' '&')&ops=$(printf '%s' "$ops" | tr ' ' '+')&selftest"
    # The page boots asynchronously (the WebAssembly core, then the
    # selftest): a virtual-time budget makes the dump wait for that work,
    # where a plain --dump-dom raced it (a loaded machine dumped the page
    # before its first operation).
    chrome --virtual-time-budget=60000 --dump-dom "file://$page#$frag" >"$out/$name.dom.html"
    local verdict shown
    verdict=$(grep -o '<p id="selftest-verdict">[^<]*' "$out/$name.dom.html" | sed 's/^<p id="selftest-verdict">//' || true)
    shown=$(grep -o '<p class="stats-line" id="stats-line-0">[^<]*' "$out/$name.dom.html" | sed 's/^.*id="stats-line-0">//' || true)
    echo "playground $name: ${verdict:-no verdict in the page}"
    echo "  page:     $shown"
    echo "  natively: $expected"
    if [[ "$verdict" == "selftest: PASS"* && -n "$shown" && "$shown" == "$expected" ]]; then
        passed=$((passed + 1))
    else
        echo "playground $name: FAILED" >&2
        failed=$((failed + 1))
    fi
}

# 1. The seed's story in `sysarena step`'s words; the command line computes
#    the expected stats with its own interpreter.
ops1="alloc 100;alloc 100;alloc 100;alloc 100;free 1;free 2;alloc 200;defrag;alloc 200;policy best-fit;free 0;alloc 50;coalescing immediate;free 3"
printf '%s\n' "$ops1" | tr ';' '\n' >"$out/classic.script"
want1=$("$bin/sysarena" step --capacity 400 --descriptors 8 --script "$out/classic.script" | grep '^stats:' | tail -1)
scenario classic "capacity=400 descriptors=8" "$ops1" "$want1"

# 2. The headline: fails with enough free bytes, defragment cannot help,
#    relocation does; aligned requests and segregated fit on the way.
ops2="alloc 100;alloc 100;alloc 100;alloc 100;free 1;free 3;alloc 200;defrag;alloc 200;relocate;alloc 200;free 0;policy segregated-fit;alloc 40 32;alloc 8"
want2=$("$bin/examples/replay" "capacity=400 descriptors=8" "$ops2")
scenario headline "capacity=400 descriptors=8" "$ops2" "$want2"

# 3. A bigger region with many operations, immediate coalescing.
ops3="coalescing immediate"
for i in $(seq 0 59); do ops3="$ops3;alloc $((i * 37 % 500 + 1)) $((1 << (i % 5)))"; done
for i in $(seq 0 3 59); do ops3="$ops3;free $i"; done
ops3="$ops3;policy worst-fit;alloc 700;defrag;relocate;alloc 4000"
want3=$("$bin/examples/replay" "capacity=64K descriptors=128" "$ops3")
scenario busy "capacity=64K descriptors=128" "$ops3" "$want3"

# 4. Handles (a Movable manager): bounded relocation passes; the native
#    replay runs the same Movable passes.
ops4=""
for i in $(seq 0 11); do ops4="$ops4;alloc $((i * 53 % 150 + 20))"; done
ops4="${ops4#;};free 0;free 2;free 5;free 7;free 9;pass 1;pass 2;alloc 300;pass 3;pass 3;alloc 300;defrag;relocate;alloc 100 64"
want4=$("$bin/examples/replay" "capacity=2K descriptors=32 handles=1" "$ops4")
scenario handles "capacity=2K descriptors=32 handles=1" "$ops4" "$want4"

# Screenshots: the headline with a side-by-side panel, at 1280x800 and at
# phone width.
frag="capacity=400&descriptors=8&ops=$(printf '%s' "$ops2" | tr ' ' '+' | cut -d';' -f1-7)&compare=best-fit/immediate"
chrome --window-size=1280,800 --screenshot="$out/playground-1280x800.png" "file://$page#$frag" >/dev/null
chrome --window-size=390,1600 --screenshot="$out/playground-phone.png" "file://$page#$frag" >/dev/null
for shot in playground-1280x800.png playground-phone.png; do
    if [ -s "$out/$shot" ]; then echo "playground: screenshot $out/$shot"; else echo "playground: no screenshot $shot" >&2; failed=$((failed + 1)); fi
done

# The redraw on the first 100,000 events of the perl trace (real time: no
# virtual time budget; the page writes its figures into #bench).
bash playground/build.sh --out "$out/bench.html" --bench traces/perl-wordfreq.trace.gz >/dev/null
# The page starts synchronously, so the measurement is in the DOM at load.
chrome --dump-dom "file://$out/bench.html#bench=100000" >"$out/bench.dom.html" || true
tr '\n' '\r' <"$out/bench.dom.html" | grep -o '<pre id="bench">[^<]*</pre>' | tr '\r' '\n' |
    sed 's/<[^>]*>//g' | tee "$out/bench.txt"
if ! grep -q '^bench: 100000 events' "$out/bench.txt" || ! grep -q 'page errors: 0' "$out/bench.txt"; then
    echo "playground: the perl trace did not scrub" >&2
    failed=$((failed + 1))
else
    passed=$((passed + 1))
fi

echo "playground: $(( $(date +%s) - started ))s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
