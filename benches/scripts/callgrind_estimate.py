#!/usr/bin/env python3
"""A cycle estimate from callgrind's cache and branch simulation.

Instruction counts alone rank designs that touch the same memory; they
miss what a flush of cold descriptors or an unpredictable merge costs,
and what a heap spread over more memory than the L2 costs. This prints,
for each profile, the instructions (Ir), the L1 data misses (D1mr +
D1mw), the last-level misses (DLmr + DLmw), the mispredicted conditional
branches (Bcm) and

    estimate = Ir + 10 * (D1mr + D1mw) + 40 * (DLmr + DLmw) + 15 * Bcm

a deliberately simple model (a miss that hits the L2 costs about 10
cycles more than a hit, one that misses it and hits the L3 about 40
more, a mispredict about 15) that is deterministic, so two designs can
be ranked on a shared, noisy machine. Profile with this machine's L1
and L2 (`--D1=32768,8,64 --LL=1048576,16,64`): callgrind's default last
level is the L3, which nothing here misses, and then the middle term is
zero (the model of part 17, which had no such term).

It is a model, not a measurement. Calibrated against timed runs in
`benches/RESULTS.md`: without the L2 term it ranked part 17's variants
as the timings did, but put sysarena 0.1-0.15 closer to talc than the
timings at max 10000 (its misses and mispredicts come in dependent
chains and cost it more than the model's cycles), and ahead of talc at
max 3000, where the timings had it at 0.67-0.88 of talc's speed. With
the L2 term (part 19) it gives 0.84 at max 3000: the quick lists spread
that heap over seven times talc's memory. With several profiles, the
last column is each one's estimate divided by the first's.

    valgrind --tool=callgrind --cache-sim=yes --branch-sim=yes \\
        --D1=32768,8,64 --LL=1048576,16,64 \\
        --toggle-collect='*Driver*run*' --callgrind-out-file=a.out \\
        target/bench/release/sysarena-bench --quick --workload random-actions \\
        --max 3000 --ops 1000000 --subjects talc
    python3 benches/scripts/callgrind_estimate.py a.out b.out

usage: callgrind_estimate.py CALLGRIND_OUT...
"""

import sys

MISS = 10
L2_MISS = 40
MISPREDICT = 15


def totals(path: str) -> dict[str, int]:
    events: list[str] = []
    summary: list[int] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("summary:") or line.startswith("totals:"):
                summary = [int(x) for x in line.split()[1:]]
    got = dict(zip(events, summary))
    missing = [e for e in ("Ir", "D1mr", "D1mw", "DLmr", "DLmw", "Bcm") if e not in got]
    if missing:
        sys.exit(
            f"{path}: no {', '.join(missing)} events "
            "(profile with --cache-sim=yes --branch-sim=yes)"
        )
    return got


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    first = None
    print(
        f"{'profile':40} {'Ir':>10} {'D1 miss':>9} {'LL miss':>9} {'Bcm':>8} "
        f"{'estimate':>10} {'/ first':>8}"
    )
    for path in sys.argv[1:]:
        t = totals(path)
        miss = t["D1mr"] + t["D1mw"]
        ll = t["DLmr"] + t["DLmw"]
        est = t["Ir"] + MISS * miss + L2_MISS * ll + MISPREDICT * t["Bcm"]
        first = first or est
        print(
            f"{path[-40:]:40} {t['Ir'] / 1e6:9.2f}M {miss / 1e6:8.2f}M "
            f"{ll / 1e6:8.2f}M {t['Bcm'] / 1e6:7.2f}M {est / 1e6:9.1f}M {est / first:8.3f}"
        )


if __name__ == "__main__":
    main()
