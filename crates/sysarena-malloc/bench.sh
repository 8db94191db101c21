#!/usr/bin/env bash
# sysarena-malloc against glibc, jemalloc and mimalloc (Debian's
# libjemalloc2 and libmimalloc2.0, installed when missing), all preloaded
# the same way (glibc: nothing preloaded).
#
# 1. Real programs, single- and multi-threaded (and two of ours: the
#    stress, and small blocks at alignment 64, tests/programs/aligned.c):
#    wall time (best of N) and peak RSS (max of N) per allocator, as
#    ratios to glibc. Wall time is
#    read from bash's EPOCHREALTIME (microseconds) around the run, not from
#    /usr/bin/time's %e, which counts in 10 ms steps (6 % of a 0.17 s
#    `sort`); /usr/bin/time gives the peak RSS. The allocators
#    take turns within each round (interleaved), so load on the machine
#    hits them alike. Each program's stdout under every allocator must be
#    identical to glibc's (checked on every run; a difference fails the
#    script).
# 2. A larson-style stress (tests/programs/larson.c: threads replace random
#    blocks of random sizes, one block in eight freed by another thread) at
#    1, 2, 4 and 8 threads and sizes up to 512 B, 1 KiB and 4 KiB:
#    throughput (best of N) as a ratio to glibc's, and peak RSS at 8
#    threads.
#
# usage: crates/sysarena-malloc/bench.sh [runs=3]
#        SYSARENA_LIB=other.so bench.sh     (measure another build of the
#                                            library, e.g. an older commit's)
#        BENCH_ONLY=programs|larson bench.sh (one half)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS=${1:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/malloc}
PROGRAMS=$ROOT/crates/sysarena-malloc/tests/programs
LIBDIR=/usr/lib/$(uname -m)-linux-gnu
JE=$LIBDIR/libjemalloc.so.2
MI=$LIBDIR/libmimalloc.so.2

need=()
[[ -x /usr/bin/time ]] || need+=(time)
[[ -e $JE ]] || need+=(libjemalloc2)
[[ -e $MI ]] || need+=(libmimalloc2.0)
for t in xz:xz-utils zstd:zstd pigz:pigz gcc:gcc python3:python3; do
    command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [[ -n ${SYSARENA_LIB:-} ]]; then
    LIB=$(realpath "$SYSARENA_LIB")
else
    cargo build --profile preload -q -p sysarena-malloc
    LIB=$CARGO_TARGET_DIR/preload/libsysarena_malloc.so
fi
NAMES=(glibc jemalloc mimalloc sysarena)
PRELOADS=("" "$JE" "$MI" "$LIB")
echo "library: $LIB"
echo "jemalloc: $(dpkg-query -W -f '${Version}' libjemalloc2 2>/dev/null || echo "$JE")," \
    "mimalloc: $(dpkg-query -W -f '${Version}' libmimalloc2.0 2>/dev/null || echo "$MI")"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
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
gcc -O2 -pthread -o "$WORK/larson" "$PROGRAMS/larson.c"
gcc -O2 -o "$WORK/aligned" "$PROGRAMS/aligned.c"
HEAD=$(git rev-parse HEAD)
failures=0

# row NAME CMD...: runs CMD RUNS times under each allocator in turn; prints
# glibc's best time and max RSS, then each other's as ratios.
row() {
    local name=$1
    shift
    local -a best rss
    for a in "${!NAMES[@]}"; do best[a]=""; rss[a]=0; done
    for _ in $(seq "$RUNS"); do
        for a in "${!NAMES[@]}"; do
            local pre=${PRELOADS[a]} t0=$EPOCHREALTIME t1
            if ! (cd "$WORK" && env ${pre:+LD_PRELOAD=$pre} /usr/bin/time -f "%M" -o "$WORK/t" \
                "$@" >"$WORK/out.${NAMES[a]}" 2>"$WORK/err"); then
                echo "$name under ${NAMES[a]} FAILED:"; head -5 "$WORK/err"
                failures=$((failures + 1)); return
            fi
            t1=$EPOCHREALTIME
            if ((a > 0)) && ! cmp -s "$WORK/out.glibc" "$WORK/out.${NAMES[a]}"; then
                echo "$name under ${NAMES[a]}: output differs from glibc's"
                failures=$((failures + 1)); return
            fi
            local t m
            t=$(awk -v a="${t0/,/.}" -v b="${t1/,/.}" 'BEGIN{printf "%.6f", b - a}')
            read -r m <"$WORK/t"
            if [[ -z ${best[a]} ]] || awk "BEGIN{exit !($t < ${best[a]})}"; then best[a]=$t; fi
            ((m > rss[a])) && rss[a]=$m
        done
    done
    printf '%-16s %7.3fs %7.1fMB' "$name" "${best[0]}" "$(awk "BEGIN{print ${rss[0]}/1024}")"
    for a in 1 2 3; do
        awk -v t="${best[a]}" -v tg="${best[0]}" -v m="${rss[a]}" -v mg="${rss[0]}" \
            'BEGIN{printf "   %5.2f / %4.2f", (tg>0?t/tg:0), m/mg}'
    done
    echo "   (output identical)"
}

if [[ ${BENCH_ONLY:-} != larson ]]; then
    echo
    echo "Real programs: glibc's best wall time and max peak RSS; then time / RSS as ratios to glibc's"
    printf '%-16s %8s %9s   %13s   %13s   %13s\n' program time RSS jemalloc mimalloc sysarena
    row python env PYTHONMALLOC=malloc "$PY" "$PROGRAMS/work.py"
    row python-pool env PYTHONMALLOC=malloc "$PY" "$PROGRAMS/pool.py" 32
    row gcc gcc -O2 -c big.c -o /dev/stdout
    row sort env LC_ALL=C sort "$WORK/sort.in"
    row sort-par2 env LC_ALL=C sort --parallel=2 -S 64M "$WORK/sort.in"
    row git-log git -C "$ROOT" log --stat "$HEAD"
    row xz-T2 xz -T2 -6 -c "$WORK/sort.in"
    row zstd-T2 zstd -T2 -9 -c "$WORK/sort.in"
    row pigz pigz -p 2 -c "$WORK/sort.in"
    row stress-4 "$WORK/stress" 4 300000 2000
    row aligned-64 "$WORK/aligned" 64 256 5000000 10000
fi

# larson THREADS MAX: best throughput per allocator (interleaved), and the
# max peak RSS.
larson() {
    local -a best rss
    for a in "${!NAMES[@]}"; do best[a]=0; rss[a]=0; done
    for _ in $(seq "$RUNS"); do
        for a in "${!NAMES[@]}"; do
            local pre=${PRELOADS[a]}
            env ${pre:+LD_PRELOAD=$pre} /usr/bin/time -f "%M" -o "$WORK/t" \
                "$WORK/larson" "$1" "$2" 1000000 1000 >"$WORK/out" 2>"$WORK/err" || {
                echo "larson $1 $2 under ${NAMES[a]} FAILED"; cat "$WORK/err"
                failures=$((failures + 1)); return
            }
            [[ $(cat "$WORK/out") == "larson ok threads=$1 max=$2" ]] || {
                echo "larson $1 $2 under ${NAMES[a]}: wrong output"; failures=$((failures + 1)); return
            }
            local r m
            r=$(awk '/ops\/s/{print $2}' "$WORK/err")
            m=$(tail -1 "$WORK/t")
            best[a]=$(awk -v a="${best[a]}" -v b="$r" 'BEGIN{print (b>a?b:a)}')
            ((m > rss[a])) && rss[a]=$m
        done
    done
    printf '%-16s %10.0f %8.1fMB' "up to $2 B, $1 t" "${best[0]}" "$(awk "BEGIN{print ${rss[0]}/1024}")"
    for a in 1 2 3; do
        awk -v r="${best[a]}" -v g="${best[0]}" -v m="${rss[a]}" -v mg="${rss[0]}" \
            'BEGIN{printf "   %5.2f / %4.2f", r/g, m/mg}'
    done
    echo
}

if [[ ${BENCH_ONLY:-} != programs ]]; then
    echo
    echo "larson-style stress (1,000,000 replacements per thread, 1000 live blocks each): glibc's ops/s"
    echo "and peak RSS; then throughput / RSS as ratios to glibc's (throughput: higher is better)"
    printf '%-16s %10s %10s   %13s   %13s   %13s\n' sizes glibc RSS jemalloc mimalloc sysarena
    for max in 512 1024 4096; do
        for th in 1 2 4 8; do
            larson "$th" "$max"
        done
    done
fi
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((failures)); then
    echo "bench: $failures failure(s)"
    exit 1
fi
