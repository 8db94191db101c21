#!/usr/bin/env python3
"""A cycle estimate from callgrind's cache and branch simulation.

Instruction counts alone rank designs that touch the same memory; they
miss what a flush of cold descriptors or an unpredictable merge costs.
This prints, for each profile, the instructions (Ir), the L1 data misses
(D1mr + D1mw), the mispredicted conditional branches (Bcm) and

    estimate = Ir + 10 * (D1mr + D1mw) + 15 * Bcm

a deliberately simple model (a miss that hits L2 costs about 10 cycles
more than a hit, a mispredict about 15) that is deterministic, so two
designs can be ranked on a shared, noisy machine. It is a model, not a
measurement: calibrated against timed runs in `benches/RESULTS.md`
("Engine work, part 17"), it ranked the variants as the timings did
but put sysarena 0.1-0.15 closer to talc than the timings at max 10000:
its misses and mispredicts come in dependent chains and cost it more
than the model's cycles. With several profiles, the last column is each
one's estimate divided by the first's.

    valgrind --tool=callgrind --cache-sim=yes --branch-sim=yes \\
        --toggle-collect='*Driver*run*' --callgrind-out-file=a.out \\
        target/bench/release/sysarena-bench --quick --workload random-actions \\
        --max 10000 --ops 1000000 --subjects talc
    python3 benches/scripts/callgrind_estimate.py a.out b.out

usage: callgrind_estimate.py CALLGRIND_OUT...
"""

import sys

MISS = 10
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
    missing = [e for e in ("Ir", "D1mr", "D1mw", "Bcm") if e not in got]
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
    print(f"{'profile':40} {'Ir':>10} {'D1 miss':>9} {'Bcm':>8} {'estimate':>10} {'/ first':>8}")
    for path in sys.argv[1:]:
        t = totals(path)
        miss = t["D1mr"] + t["D1mw"]
        est = t["Ir"] + MISS * miss + MISPREDICT * t["Bcm"]
        first = first or est
        print(
            f"{path[-40:]:40} {t['Ir'] / 1e6:9.2f}M {miss / 1e6:8.2f}M "
            f"{t['Bcm'] / 1e6:7.2f}M {est / 1e6:9.1f}M {est / first:8.3f}"
        )


if __name__ == "__main__":
    main()
