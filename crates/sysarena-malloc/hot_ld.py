#!/usr/bin/env python3
"""The library's code layout: the code programs run, together, ahead of the PLT.

A process maps a shared library's code by 64 KiB windows: a read fault maps
every cached page of the window around it (the kernel's fault-around). The
library's code that runs in a typical program is about half of its 150 KB,
but it lay spread over every window, so all of it was resident in every
process. `hot.ld`, a linker script that `build.rs` hands the linker, puts
the functions that ran in a set of real programs into `.text.hot`, right
after `.init` and right before the PLT (which runs at start-up and at exit),
and the rest into `.text.cold` after the PLT, where no window is entered
unless a program takes a rare path (`malloc_trim`, the exit report,
`SYSARENA_CHECK`, a limit hit).

    python3 crates/sysarena-malloc/hot_ld.py generate   # rewrite hot.ld (needs valgrind)
    python3 crates/sysarena-malloc/hot_ld.py check LIB  # CI: the layout holds (.ci/malloc.sh)

`generate` builds the library as shipped but without the layout (see
`build`), runs each program of `PROGRAMS` with it preloaded under callgrind
(`--demangle=no`), and writes every function of the library that executed
an instruction, hottest first, as an input section pattern without the
symbol's hash, so that the script survives rebuilds. `check` fails if a
pattern names no function of the built library (a function was renamed:
run `generate` again), if the PLT does not follow `.text.hot`, or if a
program that runs the library's hot paths leaves a page of the code past
the PLT's window mapped.
"""
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(HERE, "hot.ld")
PROGRAMS_DIR = os.path.join(HERE, "tests", "programs")
WINDOW = 64 * 1024  # the kernel's fault-around (fault_around_bytes)

# A Python workload on malloc's every path: small and large blocks, growth
# by realloc, frees of blocks other threads made.
PY_WORK = """
import threading, json
def job(n):
    d = {str(i) * (i % 7 + 1): [i] * (i % 50) for i in range(n)}
    s = json.dumps(d)
    return len(json.loads(s)) + len("".join(str(i) for i in range(n)))
ts = [threading.Thread(target=job, args=(20000,)) for _ in range(3)]
[t.start() for t in ts]; [t.join() for t in ts]
b = bytearray()
for i in range(2000): b += b"x" * i
print(job(30000), len(b))
"""


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def programs(work):
    """(name, argv, extra environment) of each program `generate` profiles."""
    small = os.path.join(work, "small.in")
    with open(small, "w") as f:
        for i in range(40_000):
            f.write("%08x %s %d\n" % (i * 2654435761 % 2**32, "w" * (i % 29 + 1), i))
    src = os.path.join(work, "big.c")
    with open(src, "w") as f:
        f.write(run([sys.executable, os.path.join(PROGRAMS_DIR, "gen_c.py"), "20"]))
    bins = {}
    for prog in ("stress", "larson", "aligned"):
        bins[prog] = os.path.join(work, prog)
        run(["gcc", "-O2", "-pthread", "-o", bins[prog], os.path.join(PROGRAMS_DIR, prog + ".c")])
    py = sys.executable
    return [
        ("true", ["true"], {}),
        ("python-malloc", [py, "-c", PY_WORK], {"PYTHONMALLOC": "malloc"}),
        ("python", [py, "-c", PY_WORK], {}),
        ("pool", [py, os.path.join(PROGRAMS_DIR, "pool.py"), "4"], {"PYTHONMALLOC": "malloc"}),
        ("sort", ["sort", small], {"LC_ALL": "C"}),
        ("sort-par2", ["sort", "--parallel=2", "-S", "8M", small], {"LC_ALL": "C"}),
        ("gcc", ["gcc", "-O2", "-c", src, "-o", os.devnull], {}),
        ("git-log", ["git", "-C", ROOT, "log", "-5", "--stat"], {}),
        ("xz", ["xz", "-T2", "-c", small], {}),
        ("zstd", ["zstd", "-T2", "-c", small], {}),
        ("pigz", ["pigz", "-p", "2", "-c", small], {}),
        ("stress", [bins["stress"], "4", "3000", "200"], {}),
        ("larson", [bins["larson"], "4", "4096", "20000", "200"], {}),
        ("aligned", [bins["aligned"], "64", "256", "20000", "1000"], {}),
    ]


def build():
    """Builds the library as shipped but without `hot.ld` (`build.rs` skips it
    under `SYSARENA_MALLOC_LAYOUT=none`); returns its path.

    Valgrind attributes a library's code only inside a section named `.text`.
    With the layout the library has none (its code is in `.text.hot` and
    `.text.cold`), so callgrind would see none of its functions run. Its own
    target directory keeps the shipped build untouched.
    """
    target = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target", "malloc")),
                          "unlaid")
    subprocess.run(["cargo", "build", "--profile", "preload", "-q", "-p", "sysarena-malloc"],
                   check=True, cwd=ROOT,
                   env=dict(os.environ, CARGO_TARGET_DIR=target, SYSARENA_MALLOC_LAYOUT="none"))
    return os.path.join(target, "preload", "libsysarena_malloc.so")


def symbols(lib):
    """{address: [names]} of the library's functions, and {name: address}."""
    at, addr = {}, {}
    for line in run(["nm", lib]).splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "tTwW":
            a = int(p[0], 16)
            at.setdefault(a, []).append(p[2])
            addr[p[2]] = a
    return at, addr


def rust_prefix(name):
    """A Rust symbol's name without its hash (and LTO's `.N` suffixes), or None."""
    m = re.match(r"(_ZN.*17h)[0-9a-f]{16}E(\.[\w.]+)?$", name)
    return m.group(1) if m else None


def generate():
    if not shutil.which("valgrind"):
        sys.exit("hot_ld.py generate needs valgrind (callgrind)")
    lib = build()
    at, addr = symbols(lib)
    cost, profiled = {}, []
    with tempfile.TemporaryDirectory() as work:
        for i, (name, argv, env) in enumerate(programs(work)):
            if not shutil.which(argv[0]):
                print("  %-14s skipped (not installed)" % name, file=sys.stderr)
                continue
            out = os.path.join(work, "cg.%d.%%p" % i)
            subprocess.run(["valgrind", "--tool=callgrind", "--demangle=no", "--trace-children=yes",
                            "--callgrind-out-file=" + out] + argv, check=True, cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=dict(os.environ, LD_PRELOAD=lib, **env))
            profiled.append(name)
            print("  %-14s profiled" % name, file=sys.stderr)
        for f in sorted(os.listdir(work)):
            if not f.startswith("cg."):
                continue
            report = run(["callgrind_annotate", "--threshold=100", "--inclusive=no",
                          os.path.join(work, f)])
            for line in report.splitlines():
                m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(?:\S*?:)?(\S+) \[(.*)\]$", line)
                if m and m.group(3).endswith(os.path.basename(lib)):
                    n = m.group(2)
                    cost[n] = cost.get(n, 0) + int(m.group(1).replace(",", ""))
    if not cost:
        sys.exit("hot_ld.py generate: callgrind attributed no instruction to %s; hot.ld kept" % lib)
    patterns = []
    for name in sorted(cost, key=lambda n: -cost[n]):
        if name not in addr:
            continue  # a C runtime function without a symbol (crtbeginS.o's, below)
        for alias in at[addr[name]]:
            prefix = rust_prefix(alias)
            # Rust functions: `.text.NAME` or, if cold, `.text.unlikely.NAME`.
            p = "*(.text.*%s*)" % prefix if prefix else "*(.text.%s)" % alias
            if p not in patterns:
                patterns.append(p)
    with open(SCRIPT, "w") as f:
        f.write("/* Generated by hot_ld.py (`generate`) from %d programs: the library's\n"
                " * code that ran, hottest first, then the PLT, then the rest. See\n"
                " * hot_ld.py; do not edit by hand. Programs: %s. */\n"
                % (len(profiled), ", ".join(profiled)))
        f.write("SECTIONS\n{\n  .text.hot : {\n")
        f.write("    *crtbeginS.o(.text .text.*)\n    *libc_nonshared.a:*(.text .text.*)\n")
        for p in patterns:
            f.write("    %s\n" % p)
        f.write("  }\n}\nINSERT AFTER .init;\n")
        f.write("SECTIONS\n{\n  .text.cold : { *(.text .text.*) }\n}\nINSERT AFTER .plt;\n")
    print("hot_ld.py: %d functions ran, %d patterns in %s" % (len(cost), len(patterns), SCRIPT))


def sections(lib):
    """{name: (address, size)} of the library's sections."""
    out = {}
    for line in run(["readelf", "-SW", lib]).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if m:
            out[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16))
    return out


def check(lib):
    failures = []
    sec = sections(lib)
    if ".text.hot" not in sec or ".plt" not in sec:
        sys.exit("hot_ld.py check: %s has no .text.hot or no .plt: hot.ld was not used" % lib)
    hot_start, hot_size = sec[".text.hot"]
    hot_end = hot_start + hot_size
    plt_start, plt_size = sec[".plt"]
    if not 0 <= plt_start - hot_end < 64:
        failures.append(".plt at %#x does not follow .text.hot (ends at %#x)" % (plt_start, hot_end))
    # Every Rust pattern names a function of the library, and it lies in .text.hot.
    at, addr = symbols(lib)
    stale = []
    for p in re.findall(r"\*\(\.text\.\*(_ZN\S*?17h)\*\)", open(SCRIPT).read()):
        hits = [a for n, a in addr.items() if n.startswith(p)]
        if not any(hot_start <= a < hot_end for a in hits):
            stale.append(p)
    if stale:
        failures.append("%d patterns of hot.ld name no function in .text.hot (renamed? run"
                        " `hot_ld.py generate`): %s" % (len(stale), ", ".join(stale[:5])))
    # Pages: a program on the hot paths maps no code past the PLT's window.
    with tempfile.TemporaryDirectory() as work:
        helper = os.path.join(work, "text_pages.so")
        run(["gcc", "-O2", "-shared", "-fPIC", "-o", helper,
             os.path.join(PROGRAMS_DIR, "text_pages.c")])
        pages = os.path.join(work, "pages")
        env = dict(os.environ, LD_PRELOAD=lib + " " + helper, TEXT_PAGES_TO=pages,
                   TEXT_PAGES_OF=os.path.basename(lib), PYTHONMALLOC="malloc")
        subprocess.run([sys.executable, "-c", PY_WORK], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        line = open(pages).read().split()
    start, end, present = int(line[0], 16), int(line[1], 16), line[2]
    # The executable segment's first page maps at `start`.
    seg = [l for l in run(["readelf", "-lW", lib]).splitlines()
           if l.split()[:1] == ["LOAD"] and "E" in l.split()[-2]]
    base = start - (int(seg[0].split()[2], 16) & ~0xFFF)
    limit = -(-(base + plt_start + plt_size) // WINDOW) * WINDOW
    page = (end - start) // len(present)
    beyond = [i for i, c in enumerate(present) if c == "#" and start + i * page >= limit]
    resident = present.count("#")
    print("hot_ld.py check: .text.hot %d bytes, .plt right after it; code pages mapped after"
          " a Python run: %d of %d (%d KB)" % (hot_size, resident, len(present),
                                               resident * page // 1024))
    if beyond:
        failures.append("%d pages of code past the PLT's 64 KiB window are mapped: code that"
                        " ran is in .text.cold (run `hot_ld.py generate`)" % len(beyond))
    for f in failures:
        print("hot_ld.py check: FAILED: " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["generate"]:
        generate()
    elif sys.argv[1:2] == ["check"] and len(sys.argv) == 3:
        check(sys.argv[2])
    else:
        sys.exit(__doc__)
