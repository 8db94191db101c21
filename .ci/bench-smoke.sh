#!/usr/bin/env bash
# Smoke test of the benchmarks: `sysarena-bench --quick` in release must run
# every workload and print every subject of its roster, with no subject
# failing to build or run. No timing is asserted (CI machines vary). The
# sysarena-only tables (heap efficiency with relocation, defragmentation by
# moving) must be there too, with no "error" cell.
# About 1.5 minutes on 2 cores from a cold target directory (most of it the
# release build).
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cargo build --release -p sysarena-bench
bin="${CARGO_TARGET_DIR:-target}/release/sysarena-bench"

# The recorded traces live in the repository (traces/); without
# them the trace workload is left out, and said so.
workloads=all
titles=("Random actions" "Heap efficiency" "Latency of alloc" "Latency of free")
csvs=(random_actions heap_efficiency heap_efficiency_moving latency)
if [ -f traces/sqlite3.trace.gz ]; then
    titles+=("Trace replay: time" "Trace replay: footprint")
    csvs+=(traces defrag)
else
    echo "bench-smoke: traces/sqlite3.trace.gz not found: trace replay left out" >&2
    workloads=random-actions,heap-efficiency,heap-efficiency-moving,latency
fi
# sysarena only (no peer moves live allocations): not in the per-subject check.
extra_titles=("Heap efficiency with relocation")
if [ "$workloads" = all ]; then
    extra_titles+=("Defragmentation by moving")
fi

"$bin" --quick --workload "$workloads" --csv "$out/csv" >"$out/results.md"
cat "$out/results.md"

fail=0
for title in "${titles[@]}"; do
    if ! grep -q "^### $title" "$out/results.md"; then
        echo "bench-smoke: no \"$title\" table" >&2
        fail=1
    fi
done
for title in "${extra_titles[@]}"; do
    grep -q "^### $title" "$out/results.md" || { echo "bench-smoke: no \"$title\" table" >&2; fail=1; }
done
# Every subject of the roster (listed by --help) appears in the tables.
subjects=$("$bin" --help | sed -n '/^subjects:/,/^$/p' | tail -n +2 | awk 'NF {print $1}') # the list ends at a blank line
[ -n "$subjects" ] || { echo "bench-smoke: --help lists no subjects" >&2; exit 1; }
for s in $subjects; do
    n=$(grep -c "^| $s " "$out/results.md" || true)
    if [ "$n" -lt "${#titles[@]}" ]; then
        echo "bench-smoke: subject $s is in only $n table rows" >&2
        fail=1
    fi
done
if grep -q "| *error *|" "$out/results.md"; then
    echo "bench-smoke: a subject failed (an \"error\" cell above)" >&2
    fail=1
fi
for f in "${csvs[@]}"; do
    [ -s "$out/csv/$f.csv" ] || { echo "bench-smoke: no $f.csv" >&2; fail=1; }
done
exit "$fail"
