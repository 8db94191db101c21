"""A Python thread pool: 4 workers build and digest dicts, lists, strings
and JSON at once, so objects are allocated on one thread and freed on
another. Deterministic output (results in submission order).

Run with PYTHONMALLOC=malloc to send every object to malloc.
"""
import hashlib
import json
import random
import sys
from concurrent.futures import ThreadPoolExecutor

tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 64


def work(seed):
    rng = random.Random(seed)
    d = {}
    for i in range(6000):
        d["k%d-%s" % (i, "y" * (i % 13))] = [i, str(rng.random()), {"n": i % 31}]
    items = sorted(d.items())[::3]
    text = json.dumps(items)
    words = text.split(",")
    words.sort()
    return hashlib.sha256("".join(words[::7]).encode()).hexdigest()[:12], len(words)


with ThreadPoolExecutor(max_workers=4) as pool:
    # Results cross threads: made on a worker, freed on the main thread.
    results = list(pool.map(work, range(tasks)))
h = hashlib.sha256()
for digest, n in results:
    h.update(("%s %d\n" % (digest, n)).encode())
print("pool", len(results), h.hexdigest()[:16])
