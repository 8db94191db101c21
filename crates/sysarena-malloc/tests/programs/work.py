"""A few MB of dicts, lists, strings and JSON, with deterministic output.

Run under sysarena-malloc and under glibc; the outputs must be identical.
PYTHONMALLOC=malloc (set by the CI script) sends every object to malloc.
"""
import hashlib
import json
import random
import sys

rng = random.Random(20240521)
scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1


def digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


# Dicts: build, grow, delete, rebuild.
d = {}
for i in range(60000 * scale):
    d["key-%d-%s" % (i, "x" * (i % 17))] = [i, str(i) * (i % 5), {"n": i % 97}]
for i in range(0, 60000 * scale, 3):
    del d["key-%d-%s" % (i, "x" * (i % 17))]
print("dict", len(d), digest(sorted(d)[:1000]))

# Lists: appends, slices, sorts, nested lists of varied sizes.
lists = [[rng.random() for _ in range(rng.randrange(1, 200))] for _ in range(4000 * scale)]
lists.sort(key=len)
flat = [x for l in lists for x in l[::2]]
flat.sort()
print("lists", len(lists), len(flat), round(sum(flat), 6))

# Strings: joins, splits, replaces, growing buffers.
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(2, 12))) for _ in range(50000 * scale)]
text = " ".join(words)
for _ in range(4):
    text = text.replace("a", "AA").replace("e", "").upper().lower()
parts = text.split()
counts = {}
for w in parts:
    counts[w] = counts.get(w, 0) + 1
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
print("strings", len(text), len(parts), top[:3])

# JSON: a few MB of nested documents, dumped, parsed and compared.
docs = [
    {
        "id": i,
        "name": words[i % len(words)],
        "tags": [words[(i * 7 + k) % len(words)] for k in range(i % 9)],
        "values": [rng.randrange(1 << 30) for _ in range(i % 23)],
        "nested": {"a": {"b": {"c": [i, str(i), None, True, 1.5]}}},
    }
    for i in range(30000 * scale)
]
blob = json.dumps(docs)
back = json.loads(blob)
assert back == docs
print("json", len(blob), digest(back[::97]))

# Churn: many short-lived objects of mixed sizes.
keep = []
for i in range(200000 * scale):
    s = ("%d" % i) * (1 + i % 40)
    if i % 11 == 0:
        keep.append(s)
    if len(keep) > 5000:
        keep = keep[2500:]
print("churn", len(keep), hashlib.sha256("".join(keep).encode()).hexdigest()[:16])
