#!/usr/bin/env bash
# Regenerates the pictures in docs/ with the tool itself (see docs/VIZ.md).
# Needs Debian's chromium for the PNG screenshot of the report.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p sysarena-cli
sysarena="${CARGO_TARGET_DIR:-target}/release/sysarena"
trace=traces/python-jsontool.trace.gz
src=(--max-events 20000 --capacity 2M)

"$sysarena" viz "$trace" "${src[@]}" --kind timeline --rows 120 --svg docs/heap-timeline.svg
"$sysarena" viz "$trace" "${src[@]}" --kind map --step 12000 --svg docs/heap-map.svg
"$sysarena" viz "$trace" "${src[@]}" --kind curves --svg docs/curves.svg
"$sysarena" viz "$trace" "${src[@]}" --kind histogram --step 12000 --svg docs/histogram.svg
"$sysarena" report "$trace" "${src[@]}" -o target/report.html

"$sysarena" defrag --svg docs/defrag.svg >docs/defrag.txt

"$sysarena" step --script docs/step-demo.script --capacity 400 --descriptors 8 --width 40 >docs/step-frames.txt
"$sysarena" step --script docs/step-demo.script --capacity 400 --descriptors 8 --snapshot 100x32 >docs/step-view.txt

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --virtual-time-budget=10000 --window-size=1400,1250 \
    --screenshot="$PWD/docs/report.png" "file://$PWD/target/report.html#selftest" 2>/dev/null
echo "docs/: heap-timeline.svg heap-map.svg curves.svg histogram.svg defrag.svg defrag.txt report.png step-frames.txt step-view.txt"
