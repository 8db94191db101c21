#!/usr/bin/env bash
# End-to-end test of `sysarena report` in a real browser: builds a report of
# the first 20k events of a recorded trace, opens it in headless Chromium
# with `#selftest` (the page moves its own slider, checks that the heap map
# changed and that no script error was raised, and writes the verdict into
# the DOM), reads the verdict back with --dump-dom, and saves a screenshot.
# Fails unless the page says PASS. Installs Debian's chromium if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
out=${BROWSER_OUT:-target/browser}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver fonts-dejavu-core >/dev/null
fi

trace=traces/python-jsontool.trace.gz
if [ ! -f "$trace" ]; then
    echo "browser: $trace not found" >&2
    exit 1
fi

# The debug build: `cargo test --workspace` has built it already in CI.
cargo build -q -p sysarena-cli
report="$out/report.html"
"${CARGO_TARGET_DIR:-target}/debug/sysarena" report "$trace" --max-events 20000 -o "$report"

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chrome() {
    timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$profile" --virtual-time-budget=10000 "$@" \
        2>>"$out/chromium.log"
}

chrome --dump-dom "file://$report#selftest" >"$out/dom.html"
verdict=$(grep -o '<p id="selftest-verdict">[^<]*' "$out/dom.html" | sed 's/^<p id="selftest-verdict">//' || true)
echo "browser: ${verdict:-no verdict in the page}"

chrome --window-size=1400,1100 --screenshot="$out/report.png" "file://$report#selftest" >/dev/null
if [ ! -s "$out/report.png" ]; then
    echo "browser: no screenshot" >&2
    exit 1
fi
echo "browser: screenshot $out/report.png ($(( $(date +%s) - started ))s)"

case "$verdict" in
    "selftest: PASS"*) echo "1 passed, 0 failed" ;;
    *) echo "0 passed, 1 failed"; exit 1 ;;
esac
