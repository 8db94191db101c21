"""Writes a C file of a few thousand lines (structs, switches, loops,
inline arithmetic) for `gcc -O2` to chew on. Deterministic.

usage: python3 gen_c.py [functions=400] > big.c
"""
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
rng = random.Random(7)
out = ["#include <stddef.h>", "#include <string.h>", ""]
for s in range(n // 10):
    fields = "".join(f"    long f{k}; double d{k};\n" for k in range(rng.randrange(2, 8)))
    out.append(f"struct s{s} {{\n{fields}    char name[{rng.randrange(8, 64)}];\n}};\n")
for f in range(n):
    s = f % (n // 10)
    cases = "".join(
        f"        case {c}: acc += p->f0 * {rng.randrange(1, 99)} + i; p->d0 += acc / {c + 1}.0; break;\n"
        for c in range(rng.randrange(3, 12))
    )
    calls = f"    acc += fn{f - 1}((void *)p, k - 1);\n" if f and rng.random() < 0.5 else ""
    out.append(
        f"""static inline long helper{f}(long x) {{ return (x * {rng.randrange(3, 1000)}) ^ (x >> {rng.randrange(1, 9)}); }}
long fn{f}(struct s{s} *p, int k) {{
    long acc = {rng.randrange(1000)};
    if (k <= 0) return acc;
    for (int i = 0; i < k * {rng.randrange(2, 9)}; i++) {{
        switch ((i + acc) % {rng.randrange(3, 13)}) {{
{cases}        default: acc = helper{f}(acc + i);
        }}
        if (acc > {rng.randrange(10**5, 10**7)}) acc -= p->f0;
    }}
    memset(p->name, (int)acc, sizeof p->name);
{calls}    return acc + (long)p->d0;
}}
"""
    )
print("\n".join(out))
