#!/usr/bin/env bash
# Wall time and peak RSS of real programs under sysarena-malloc vs glibc's
# malloc, measured alternately in the same run (/usr/bin/time -f "%e %M"),
# best of N runs each; and the throughput of the multi-threaded stress test.
# Prints a table of ratios (sysarena / glibc: below 1 is better for time and
# memory, above 1 is better for throughput).
#
# usage: crates/sysarena-malloc/bench.sh [runs=3]
#        SYSARENA_LIB=other.so crates/sysarena-malloc/bench.sh   (measure another
#        build of the library, e.g. an older commit's, instead of this tree's)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS=${1:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/malloc}
PROGRAMS=$ROOT/crates/sysarena-malloc/tests/programs
[[ -x /usr/bin/time ]] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
if [[ -n ${SYSARENA_LIB:-} ]]; then
    LIB=$(realpath "$SYSARENA_LIB")
else
    cargo build --release -q -p sysarena-malloc
    LIB=$CARGO_TARGET_DIR/release/libsysarena_malloc.so
fi
echo "library: $LIB"
uptime
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PY=$(python3 -c 'import sys; print(sys.executable)')
python3 "$PROGRAMS/gen_c.py" 400 >"$WORK/big.c"
python3 - "$WORK/sort.in" <<'PY'
import random, sys
rng = random.Random(1)
with open(sys.argv[1], "w") as f:
    for i in range(600_000):
        f.write("%08x %s %d\n" % (rng.getrandbits(32), "w" * rng.randrange(1, 30), i))
PY
gcc -O2 -pthread -o "$WORK/stress" "$PROGRAMS/stress.c"
HEAD=$(git rev-parse HEAD)

# measure PRELOAD CMD...: prints "seconds maxrss_kb" (best time, its RSS... and the max RSS over runs).
measure() {
    local pre=$1
    shift
    local best="" rss=0
    for _ in $(seq "$RUNS"); do
        env ${pre:+LD_PRELOAD=$pre} /usr/bin/time -f "%e %M" -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" || {
            cat "$WORK/err" >&2
            return 1
        }
        read -r t m <"$WORK/t"
        if [[ -z $best ]] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
        ((m > rss)) && rss=$m
    done
    echo "$best $rss"
}

printf '%-10s %9s %9s %7s   %10s %10s %7s\n' program glibc_s sysarena_s time× glibc_MB sysarena_MB rss×
row() {
    local name=$1
    shift
    read -r tg mg < <(measure "" "$@")
    read -r ts ms < <(measure "$LIB" "$@")
    awk -v n="$name" -v tg="$tg" -v ts="$ts" -v mg="$mg" -v ms="$ms" 'BEGIN{
        printf "%-10s %9.2f %9.2f %7.2f   %10.1f %10.1f %7.2f\n", n, tg, ts, (tg>0?ts/tg:0), mg/1024, ms/1024, ms/mg }'
}
row python env PYTHONMALLOC=malloc "$PY" "$PROGRAMS/work.py"
row python-obm "$PY" "$PROGRAMS/work.py"
(cd "$WORK" && row gcc gcc -O2 -c big.c -o big.o)
row sort env LC_ALL=C sort "$WORK/sort.in"
row git git log --stat "$HEAD"
row stress "$WORK/stress" 4 300000 2000

# Throughput of the larson-like test (malloc+free pairs per second, best run).
tput() {
    local best=0
    for _ in $(seq "$RUNS"); do
        local r
        r=$(env ${1:+LD_PRELOAD=$1} "$WORK/stress" "$2" 300000 2000 2>&1 >/dev/null | awk '/pairs/{print $2}')
        best=$(awk -v a="$best" -v b="$r" 'BEGIN{print (b>a?b:a)}')
    done
    echo "$best"
}
echo
printf '%-22s %12s %12s %7s\n' "stress (pairs/s)" glibc sysarena ratio
for th in 1 2 4 8; do
    g=$(tput "" "$th")
    s=$(tput "$LIB" "$th")
    awk -v th="$th" -v g="$g" -v s="$s" 'BEGIN{printf "%-22s %12.0f %12.0f %7.2f\n", th " threads", g, s, s/g}'
done
