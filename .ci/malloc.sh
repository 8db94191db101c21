#!/usr/bin/env bash
# Real programs on sysarena-malloc: each runs under glibc's malloc and under
# sysarena (LD_PRELOAD); stdout, stderr and the exit status must be identical
# (byte for byte), and every run must exit 0 — with the slab layer for small
# blocks (the default) and, for python, without it (SYSARENA_SLAB=0). Then
# programs are traced with SYSARENA_TRACE, the traces are checked event by
# event, and one is replayed through the simulator (`sysarena replay`): the
# round trip must replay every event with no failed request.
#
# Every program's sysarena run has SYSARENA_CHECK=1 (each process checks
# its shards' invariants, accounting and slab records at exit).
#
# Thread caches and limits (issue 17): tests/programs/exits.c (blocks freed
# after their threads exited and in a forked child) must agree with glibc;
# under `ulimit -v 500000` python, sort (`--version` and the 19 MB file),
# a program that allocates until ENOMEM, and one that fills 300 MiB, frees
# it, maps 150 MiB of its own and fills again must agree with glibc; and at
# `ulimit -v 2000000` the largest single malloc must be within 10% of
# glibc's.
#
# The concurrency stress (issue 8): stress.c's mixed mode (every allocation
# function, realloc in place and across threads, every byte verified) must
# print what it prints under glibc; then it runs for a bounded time
# ($STRESS_SECONDS, default 3, per configuration) under sysarena alone with
# 8 threads in four configurations (the default; one shard; no thread
# caches; no slab layer, first fit, deferred coalescing) with SYSARENA_CHECK=1 — every shard's
# invariants, accounting and slab records checked at exit — and
# SYSARENA_STATS: it must exit 0, report "check ok", and no failed request
# or invalid free.
#
# The code layout: `hot_ld.py check` (hot.ld is current, and a program on
# the hot paths leaves the library's rarely run code out of memory).
#
# The library is built as shipped: the `preload` profile (release,
# panic = "abort", LTO), which links no std.
#
# usage: .ci/malloc.sh            (about two minutes on 2 cores, plus
#                                  building the CLI the first time)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/malloc}
PROGRAMS=$ROOT/crates/sysarena-malloc/tests/programs

# Tools this script needs, installed if missing.
missing=()
for t in gcc:gcc python3:python3 git:git sort:coreutils cmp:diffutils; do
    command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo build --profile preload -q -p sysarena-malloc # the library as shipped
LIB=$CARGO_TARGET_DIR/preload/libsysarena_malloc.so
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The real interpreter, not a version-manager shim (the shim would work too,
# but would time bash as well).
PY=$(python3 -c 'import sys; print(sys.executable)')

failures=0

# Stack frames: a function's frame of a page or more is probed page by page
# on entry, so it makes every stack that calls it that deep and resident,
# whatever the function then does. Only the exit report's writer and the
# trace's opening (each run only when asked for) may have one of 8 KiB or
# more; `at_exit` once inlined the report's 30 KB of buffers and made every
# program's main stack 26 KB deeper (crates/sysarena-malloc/RESULTS.md,
# "The main thread's stack").
big_frames=$(objdump -d --no-show-raw-insn -C "$LIB" | python3 -c '
import re, sys
# Per function, the bytes subtracted from %rsp, and from %r11: a frame
# probed in a loop is `mov %rsp,%r11; sub $DEPTH,%r11`, then one
# `sub $0x1000,%rsp` in the loop (the depth counts it), then the rest; a
# smaller one is probed unrolled, a `sub $0x1000,%rsp` per page.
fn, rsp, r11 = None, {}, {}
for line in sys.stdin:
    m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
    if m:
        fn = m.group(1)
        continue
    m = re.search(r"sub\s+\$0x([0-9a-f]+),%(rsp|r11)", line)
    if m and fn:
        d = rsp if m.group(2) == "rsp" else r11
        d[fn] = d.get(fn, 0) + int(m.group(1), 16)
frames = {f: n - (0x1000 if f in r11 else 0) + r11.get(f, 0) for f, n in rsp.items()}
allowed = ("sysarena_malloc::report::write_report", "sysarena_malloc::trace::try_open")
for f, n in sorted(frames.items()):
    if n >= 8192 and f not in allowed:
        print("%s: %d bytes" % (f, n))
')
if [[ -n $big_frames ]]; then
    echo "stack frames of 8 KiB or more outside the report and the trace: FAILED"
    echo "$big_frames"
    failures=$((failures + 1))
else
    echo "stack frames of 8 KiB or more only in the report and the trace: ok"
fi

# The code layout (crates/sysarena-malloc/hot_ld.py): the functions
# programs run lie together in .text.hot, right before the PLT, and a Python
# run on malloc's hot paths maps no code page past the PLT's 64 KiB window.
if ! python3 crates/sysarena-malloc/hot_ld.py check "$LIB"; then
    failures=$((failures + 1))
fi

# same NAME CMD...: runs CMD under glibc and under sysarena in $WORK/NAME.*;
# both must exit 0 with identical stdout and stderr. Under sysarena with
# SYSARENA_CHECK=1: every process of CMD checks its shards at exit (and
# aborts, failing CMD, if one is wrong); the "check ok" lines it writes to
# stderr are counted and left out of the comparison, and there must be at
# least one: a process that closes its stderr before exit, as coreutils'
# sort does, writes its line to the stderr it started with. A CMD whose
# stderr goes to /dev/null (the `sh -c '... 2>/dev/null'` runs below, which
# the shell execs) is run with NEED_CHECK=0: its exit status says the
# checks passed.
CHECK_OK='^sysarena-malloc: check ok (pid [0-9]*): '
same() {
    local name=$1
    shift
    local rc_g=0 rc_s=0
    "$@" >"$WORK/$name.glibc.out" 2>"$WORK/$name.glibc.err" || rc_g=$?
    LD_PRELOAD=$LIB SYSARENA_CHECK=1 "$@" >"$WORK/$name.sysarena.out" \
        2>"$WORK/$name.sysarena.raw" || rc_s=$?
    local checks
    checks=$(grep -c "$CHECK_OK" "$WORK/$name.sysarena.raw" || true)
    grep -v "$CHECK_OK" "$WORK/$name.sysarena.raw" >"$WORK/$name.sysarena.err" || true
    local verdict=ok
    if ((rc_g != 0 || rc_s != 0)); then
        verdict="FAILED (exit: glibc $rc_g, sysarena $rc_s)"
    elif ! cmp -s "$WORK/$name.glibc.out" "$WORK/$name.sysarena.out"; then
        verdict="FAILED (stdout differs)"
    elif ! cmp -s "$WORK/$name.glibc.err" "$WORK/$name.sysarena.err"; then
        verdict="FAILED (stderr differs)"
    elif ((checks == 0 && ${NEED_CHECK:-1})); then
        verdict="FAILED (no check line)"
    fi
    printf '%-10s %s (%s bytes of output; %s checks ok)\n' "$name" "$verdict" \
        "$(wc -c <"$WORK/$name.glibc.out")" "$checks"
    if [[ $verdict != ok ]]; then
        failures=$((failures + 1))
        diff <(head -c 2000 "$WORK/$name.glibc.err") <(head -c 2000 "$WORK/$name.sysarena.err") | head -20 || true
    fi
}

# Inputs.
python3 "$PROGRAMS/gen_c.py" 400 >"$WORK/big.c"
python3 - "$WORK/sort.in" <<'PY'
import random, sys
rng = random.Random(1)
with open(sys.argv[1], "w") as f:
    for i in range(600_000):
        f.write("%08x %s %d\n" % (rng.getrandbits(32), "w" * rng.randrange(1, 30), i))
PY
gcc -O2 -pthread -o "$WORK/stress" "$PROGRAMS/stress.c"
gcc -O2 -pthread -o "$WORK/semantics" "$PROGRAMS/semantics.c"
gcc -O2 -pthread -o "$WORK/exits" "$PROGRAMS/exits.c"
gcc -O2 -o "$WORK/enomem" "$PROGRAMS/enomem.c"
HEAD=$(git rev-parse HEAD) # fixed: other work may commit while this runs

export PYTHONMALLOC=malloc # every Python object through malloc
same python "$PY" "$PROGRAMS/work.py"
same python-noslab env SYSARENA_SLAB=0 "$PY" "$PROGRAMS/work.py"
unset PYTHONMALLOC
(cd "$WORK" && same gcc sh -c 'gcc -O2 -c big.c -o "$0" && cat "$0"' big.o) # the object file, byte for byte
same sort env LC_ALL=C sort "$WORK/sort.in"
same git-log git log --stat "$HEAD"
same git-revs git rev-list --objects --all --topo-order
NEED_CHECK=0 same stress sh -c '"$0" 4 300000 2000 2>/dev/null' "$WORK/stress"
NEED_CHECK=0 same stress-mix sh -c '"$0" 4 50000 1000 1 2>/dev/null' "$WORK/stress"
same semantics "$WORK/semantics"
# Blocks freed after the threads that cached them exited, and in a forked
# child (the parent's threads' caches given back there).
same exits "$WORK/exits"

# Under an address-space limit (ulimit -v 500000, about 488 MiB), what runs
# under glibc runs under sysarena: python, sort (also with a descriptor
# count set too large for the limit), a program that allocates until
# ENOMEM (then frees everything and allocates again), and one that fills
# 300 MiB, frees it all and then maps 150 MiB of its own (the emptied
# shards must give their memory back: `shard/retire.rs`), then fills again.
limited() { sh -c 'ulimit -v "$0" && exec "$@"' "$@"; }
export PYTHONMALLOC=malloc
same ulimit-python limited 500000 "$PY" "$PROGRAMS/work.py"
unset PYTHONMALLOC
same ulimit-sort limited 500000 env LC_ALL=C sort "$WORK/sort.in"
same ulimit-sortv limited 500000 sort --version
# A descriptor count asked for that the limit cannot hold is halved with
# the reservation (before, every start failed: "memory exhausted").
same ulimit-desc limited 500000 env SYSARENA_DESCRIPTORS=4194304 sort --version
NEED_CHECK=0 same ulimit-enomem sh -c 'ulimit -v 500000 && "$0" fill 2>/dev/null' "$WORK/enomem"
same ulimit-refill limited 500000 "$WORK/enomem" refill 300 150
# The largest single malloc at ulimit -v 2000000: within 10% of glibc's.
largest() { env ${1:+LD_PRELOAD=$1} sh -c 'ulimit -v 2000000 && "$0" largest' "$WORK/enomem" 2>&1 >/dev/null | awk '/largest malloc/{print $3}'; }
lg=$(largest "")
ls=$(largest "$LIB")
if awk -v g="$lg" -v s="$ls" 'BEGIN{exit !(g > 0 && s >= 0.9 * g)}'; then
    echo "largest    ok (ulimit -v 2000000: largest malloc $ls MiB, glibc $lg MiB)"
else
    echo "largest    FAILED (ulimit -v 2000000: largest malloc $ls MiB, glibc $lg MiB)"
    failures=$((failures + 1))
fi

# Foreign frees are reported and ignored (glibc would abort: sysarena only).
if LD_PRELOAD=$LIB SYSARENA_EXPECT=1 "$WORK/semantics" >"$WORK/foreign.out" 2>"$WORK/foreign.err" &&
    [[ $(grep -c 'free(): invalid pointer' "$WORK/foreign.err") == 2 ]]; then
    echo "foreign    ok (2 invalid frees reported and ignored)"
else
    echo "foreign    FAILED"
    cat "$WORK/foreign.err"
    failures=$((failures + 1))
fi

# The bounded-time concurrency stress, sysarena only, checked at exit.
STRESS_SECONDS=${STRESS_SECONDS:-3}
stress_timed() {
    local name=$1
    shift
    local rc=0
    env "$@" SYSARENA_CHECK=1 SYSARENA_STATS="$WORK/$name.stats" LD_PRELOAD=$LIB \
        "$WORK/stress" 8 1000000000 2000 1 "$STRESS_SECONDS" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    if ((rc == 0)) && [[ $(cat "$WORK/$name.out") == "stress ok threads=8 mix=1 freed=all" ]] &&
        grep -q '^sysarena-malloc: check ok' "$WORK/$name.err" &&
        grep -q ' 0 failed; 0 invalid frees$' "$WORK/$name.stats"; then
        printf '%-10s ok (%ss: %s)\n' "$name" "$STRESS_SECONDS" "$(grep -m1 '^stress: .* allocs' "$WORK/$name.err" | cut -c9-)"
    else
        echo "$name FAILED (exit $rc)"
        cat "$WORK/$name.out" "$WORK/$name.err"
        grep 'calls:' "$WORK/$name.stats" || true
        failures=$((failures + 1))
    fi
}
stress_timed timed
stress_timed timed-1 SYSARENA_SHARDS=1
stress_timed timed-notc SYSARENA_TCACHE=0
stress_timed timed-cls SYSARENA_SLAB=0 SYSARENA_POLICY=first-fit SYSARENA_COALESCING=deferred

# A trace of a real program, checked line by line.
SYSARENA_TRACE=$WORK/sort.trace LD_PRELOAD=$LIB LC_ALL=C sort "$WORK/sort.in" >/dev/null
if python3 "$PROGRAMS/check_trace.py" "$WORK/sort.trace"; then :; else failures=$((failures + 1)); fi
SYSARENA_TRACE=$WORK/git.trace LD_PRELOAD=$LIB git log --stat "$HEAD" >/dev/null
if python3 "$PROGRAMS/check_trace.py" "$WORK/git.trace"; then :; else failures=$((failures + 1)); fi

# The round trip: the recorded trace replays through the simulator, on
# sysarena's fast model and a peer, every event and no failed request.
cargo build -q -p sysarena-cli
CLI=$CARGO_TARGET_DIR/debug/sysarena
SUBJECTS=sysarena/segregated-fit/immediate,talc
if "$CLI" replay "$WORK/git.trace" --subjects "$SUBJECTS" --json -q >"$WORK/replay.json" &&
    python3 - "$WORK/replay.json" "$SUBJECTS" "$(wc -l <"$WORK/git.trace")" <<'PY'; then :; else
import json, sys
doc = json.load(open(sys.argv[1]))
want = sys.argv[2].split(",")
lines = int(sys.argv[3])
got = [r["subject"] for r in doc["results"]]
ok = sorted(got) == sorted(want) and doc["trace"]["stats"]["events"] == lines
for r in doc["results"]:
    s = r["summary"]
    fine = s["failed_requests"] == 0 and s["skipped_events"] == 0 and s["events"] == lines
    ok = ok and fine
    print("replay %-34s %s (%d events, %d failed, footprint/peak live %.3f)" % (
        r["subject"], "ok" if fine else "FAILED", s["events"], s["failed_requests"], s["footprint_ratio"]))
if not ok:
    print("replay     FAILED: subjects %s, %d trace lines" % (got, lines))
sys.exit(0 if ok else 1)
PY
    failures=$((failures + 1))
fi

if ((failures)); then
    echo "malloc: $failures failure(s)"
    exit 1
fi
echo "malloc: all programs agree with glibc"
