"""Checks that a file is a valid sysarena trace (see traces/README.md in the repository):
every line is `a <id> <size> <align>`, `f <id>` or `r <id> <new_size>`;
ids start at 1 and increase by one with each `a`; `f` and `r` name live
blocks; alignments are powers of two. Prints a one-line summary.

usage: python3 check_trace.py TRACE
"""
import sys

live = set()
next_id = 1
counts = {"a": 0, "f": 0, "r": 0}
with open(sys.argv[1]) as f:
    for n, line in enumerate(f, 1):
        parts = line.rstrip("\n").split(" ")
        op = parts[0]
        try:
            nums = [int(x) for x in parts[1:]]
        except ValueError:
            sys.exit(f"{sys.argv[1]}:{n}: not a number: {line!r}")
        want = {"a": 3, "f": 1, "r": 2}.get(op)
        if want is None or len(nums) != want or any(x < 0 for x in nums):
            sys.exit(f"{sys.argv[1]}:{n}: malformed: {line!r}")
        counts[op] += 1
        if op == "a":
            if nums[0] != next_id:
                sys.exit(f"{sys.argv[1]}:{n}: id {nums[0]}, expected {next_id}")
            if nums[2] & (nums[2] - 1) or nums[2] == 0:
                sys.exit(f"{sys.argv[1]}:{n}: alignment {nums[2]} is not a power of two")
            live.add(nums[0])
            next_id += 1
        elif nums[0] not in live:
            sys.exit(f"{sys.argv[1]}:{n}: {op} of unknown or dead block {nums[0]}")
        elif op == "f":
            live.remove(nums[0])
if counts["a"] == 0:
    sys.exit(f"{sys.argv[1]}: no allocations")
print(f"trace ok: {counts['a']} a, {counts['f']} f, {counts['r']} r, {len(live)} live at end")
