#!/usr/bin/env python3
"""The most allocations any exact-size cache could serve on a trace.

Replays a trace's first N events (the native format of `traces/`, gzip
or plain) against an unbounded cache of freed blocks, one stack per size
rounded up to GRANULE bytes (16: the benchmarks ask for alignment 16, so
the core rounds every request to it): an allocation is a hit when a block
of its rounded size was freed earlier and not yet taken back. A resize
frees the old size and takes the new one. Also counts the allocations
that raise the number of live blocks to a new maximum: the heap's growth,
which no cache can serve.

Compare with the quick lists' hits (the line `self.quick.hits += 1` in
`callgrind_annotate --auto=yes` of a trace replay): `benches/RESULTS.md`,
"Engine work, part 21".

    python3 benches/scripts/quick_bound.py TRACE [EVENTS [GRANULE]]
"""

import collections
import gzip
import sys


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    granule = int(sys.argv[3]) if len(sys.argv) > 3 else 16

    def rounded(size: str) -> int:
        return max(granule, -(-int(size) // granule) * granule)

    opener = gzip.open if path.endswith(".gz") else open
    waiting = collections.Counter()
    size_of = {}
    allocs = hits = live = most_live = growth = 0
    with opener(path, "rt") as trace:
        for k, line in enumerate(trace):
            if limit is not None and k >= limit:
                break
            f = line.split()
            if not f:
                continue
            if f[0] == "a":
                s = rounded(f[2])
                size_of[f[1]] = s
                allocs += 1
                if waiting[s] > 0:
                    waiting[s] -= 1
                    hits += 1
                live += 1
                if live > most_live:
                    most_live = live
                    growth += 1
            elif f[0] == "f":
                waiting[size_of.pop(f[1])] += 1
                live -= 1
            elif f[0] == "r":
                waiting[size_of[f[1]]] += 1
                s = rounded(f[2])
                if waiting[s] > 0:
                    waiting[s] -= 1
                size_of[f[1]] = s
    if allocs == 0:
        sys.exit("no allocations in the events read")
    print(
        f"allocations {allocs:,}: an exact-size cache serves at most {hits:,} "
        f"({hits / allocs:.1%}); {growth:,} ({growth / allocs:.1%}) raise the "
        f"live blocks to a new maximum"
    )


if __name__ == "__main__":
    main()
