#!/usr/bin/env python3
"""Per-call instruction counts from a callgrind profile.

For every function called *from* a function whose name matches CALLER (a
regular expression), prints the number of calls, the inclusive instructions
(Ir) spent in those calls and Ir per call, largest first. This is how
benches/RESULTS.md splits a subject's cost into alloc, free and realloc:

    valgrind --tool=callgrind --toggle-collect='*Driver*run*' \\
        --callgrind-out-file=ra200.out \\
        target/bench/release/sysarena-bench --quick --workload random-actions \\
        --max 200 --ops 1000000 --subjects talc
    python3 benches/scripts/callgrind_calls.py ra200.out 'Driver.*run'
    python3 benches/scripts/callgrind_calls.py ra200.out 'ArenaManager<_,S>>::alloc_uncached$'

(A function inlined everywhere, as the core's `free` is, has no entry of
its own: match one that calls it, such as 'SysarenaSubject.*free_keyed'.
Methods read `<impl ...ArenaManager<_,S>>::name`.)

Profiles taken with --dump-instr=yes (an instruction-address column
before the line) or --cache-sim=yes (more events; Ir is the first) read
the same.

usage: callgrind_calls.py CALLGRIND_OUT CALLER_REGEX [LIMIT]
"""

import collections
import re
import sys


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, caller = sys.argv[1], re.compile(sys.argv[2])
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    names: dict[str, str] = {}

    def name(rest: str) -> str:
        # Callgrind compresses names: "(id) name" the first time, "(id)" after.
        m = re.match(r"\((\d+)\)(?: (.*))?", rest)
        if not m:
            return rest
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), m.group(1))

    fn = cfn = ""
    calls = 0
    pending = False
    # Position columns before the costs: "line" by default, "instr line"
    # with --dump-instr=yes (read from the "positions:" header).
    npos = 1
    totals: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    with open(path) as f:
        for line in f:
            if line.startswith("positions:"):
                npos = len(line.split()) - 1
            elif line.startswith("fn="):
                fn = name(line[3:].strip())
            elif line.startswith("cfn="):
                cfn = name(line[4:].strip())
            elif line.startswith("calls="):
                calls = int(line.split("=")[1].split()[0])
                pending = True
            elif pending and line[:1] and (line[0].isdigit() or line[0] in "+-*"):
                parts = line.split()
                if len(parts) > npos and caller.search(fn):
                    totals[cfn][0] += calls
                    totals[cfn][1] += int(parts[npos])
                pending = False
    rows = sorted(totals.items(), key=lambda kv: -kv[1][1])[:limit]
    for callee, (n, ir) in rows:
        print(f"{n:>10} calls {ir:>14,} Ir {ir / max(n, 1):9.1f} Ir/call  {callee}")


if __name__ == "__main__":
    main()
