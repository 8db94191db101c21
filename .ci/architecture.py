#!/usr/bin/env python3
"""Writes ARCHITECTURE.md, the module map, from the tree as it is.

    python3 .ci/architecture.py > ARCHITECTURE.md     regenerate
    python3 .ci/architecture.py --check               fail if a source file or
                                                      folder is missing from it,
                                                      or listed but gone

Each file's job is the first sentence of its module doc (`//!`), or of the
`description` in Cargo.toml for a crate; each crate's layer order is the line
its own docs state (its README or crate doc, "Layers ... →"), or, where none
is stated, the order its `use crate::…` imports give. Fix a description at
its source (the module doc) and regenerate.
"""

import os
import re
import sys
import tomllib

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# Each part: (title, directory, the file whose "Layers …" line is the crate's
# order (None: derive it from the imports), the source folder, other folders
# listed one line each).
PARTS = [
    ("crates/sysarena", "the no_std core: the arena model, its managers, the pointer layer, the front ends",
     "crates/sysarena/README.md", "src", ["tests", "benches", "examples"]),
    ("crates/sysarena-sim", "the simulator: traces, workloads, subjects (sysarena and the peers), replay, metrics",
     "crates/sysarena-sim/src/lib.rs", "src", ["tests", "examples"]),
    ("crates/sysarena-cli", "the `sysarena` command: a library of verbs and a thin binary",
     "crates/sysarena-cli/src/lib.rs", "src", ["tests"]),
    ("crates/sysarena-malloc", "the LD_PRELOAD malloc and trace recorder",
     "crates/sysarena-malloc/README.md", "src", ["tests"]),
    ("crates/sysarena-capi", "the C library (staticlib + cdylib) and its header",
     None, "src", ["include", "examples", "tests"]),
    ("crates/sysarena-wasm", "the playground's glue: the core compiled to wasm32",
     None, "src", ["examples"]),
    ("crates/sysarena-testkit", "dev-only: the test helpers every suite shares",
     None, "src", []),
    ("benches", "sysarena-bench: throughput, efficiency, latency, traces and defragmentation against the peers",
     None, "src", ["scripts"]),
    ("fuzz", "cargo-fuzz targets and their seed corpora (own workspace)",
     "-", "fuzz_targets", []),
    ("examples/firmware", "a bare-metal Cortex-M3 program booted under QEMU (own workspace)",
     None, "src", ["expected"]),
]

# Folders outside the crates, one line each.
OTHER = [
    ("docs/", "pictures made by the tool and the full outputs of the CLI (SIMULATE.md, HARDENING.md, …)"),
    ("book/", "the mdBook that teaches the model, with playground exercises"),
    ("playground/", "the browser playground (HTML, JavaScript) over sysarena-wasm"),
    ("traces/", "real allocation traces of python, sqlite3 and perl (gzip), replayed by tests, benchmarks and demos"),
    (".ci/", "CI: `run` (what CI runs) and one script per check, listed below"),
]

SKIP_DIRS = {"target", "corpus", "artifacts", "coverage", "node_modules", ".git"}


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def first_sentence(text):
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"^#+ ", "", text)
    m = re.match(r"(.+?[^0-9][.!?])(\s|$)", text)
    s = m.group(1) if m else text
    s = re.sub(r"\[`([^`]+)`\]\([^)]*\)", r"`\1`", s)  # [`x`](link) -> `x`
    s = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", s)  # [x](link) -> x
    s = re.sub(r"\[`([^`]+)`\]", r"`\1`", s)  # [`x`] -> `x`
    if len(s) > 220:
        s = s[:217].rsplit(" ", 1)[0] + " …"
    return s.replace("|", "\\|")


def module_doc(path):
    """The first paragraph of a file's `//!` doc, or its first `//` comment."""
    text = read(path)
    inc = re.search(r'#!\[doc = include_str!\("([^"]+)"\)\]', text)
    if inc:
        return f"The crate root: its crate doc is the `{os.path.basename(inc.group(1))}` beside `src/`, included; declares the modules and re-exports."
    lines, started = [], False
    for raw in text.splitlines():
        s = raw.strip()
        if s.startswith("//!"):
            t = s[3:].strip()
            if not t:
                if lines:
                    break
                continue
            if t.startswith("```"):
                break
            lines.append(t)
            started = True
        elif started:
            break
        elif s.startswith("#![") or not s:
            continue
        elif s.startswith("//") and not lines:
            # a plain comment heading the file (a test's or a target's)
            c = s.lstrip("/").strip()
            if c:
                lines.append(c)
                started = True
        else:
            break
    return first_sentence(" ".join(lines)) if lines else ""


def other_doc(path):
    """The first sentence of a C file's opening comment, a Python
    docstring or a shell script's opening comment."""
    text = read(path)
    if path.endswith((".c", ".h", ".cpp")):
        m = re.match(r"\s*/\*(.*?)\*/", text, re.S)
        if m:
            return first_sentence(re.sub(r"^\s*\*", "", m.group(1), flags=re.M))
        lines = []
        for l in text.splitlines():
            if not l.startswith("//") or (lines and l.strip() == "//"):
                break
            lines.append(l[2:].strip())
        return first_sentence(" ".join(lines))
    if path.endswith(".py"):
        m = re.search(r'"""(.*?)"""', text, re.S)
        if m:
            return first_sentence(m.group(1))
    if path.endswith(".sh"):
        # The leading comment block, after a shebang if there is one.
        lines = []
        for l in text.splitlines():
            if l.startswith("#!") and not lines:
                continue
            if not l.startswith("#") or (lines and l.strip() == "#"):
                break
            lines.append(l[1:].strip())
        return first_sentence(" ".join(lines)) if lines else ""
    return ""


def cargo_description(folder):
    p = os.path.join(ROOT, folder, "Cargo.toml")
    if not os.path.exists(p):
        return ""
    with open(p, "rb") as f:
        desc = tomllib.load(f).get("package", {}).get("description", "")
    return first_sentence(desc) if isinstance(desc, str) else ""


def workspace_deps(folder):
    """The workspace crates a crate depends on (path dependencies), normal
    and dev."""
    p = os.path.join(ROOT, folder, "Cargo.toml")
    if not os.path.exists(p):
        return [], []
    with open(p, "rb") as f:
        toml = tomllib.load(f)

    def paths(table):
        return sorted(n for n, v in table.items() if isinstance(v, dict) and "path" in v)

    return paths(toml.get("dependencies", {})), paths(toml.get("dev-dependencies", {}))


def stated_layers(path):
    """The layer order a doc states: the paragraph holding "→" after a line
    that speaks of layers, as groups of module names, lowest first."""
    text = read(os.path.join(ROOT, path))
    if path.endswith(".rs"):
        text = "\n".join(l.strip()[3:] for l in text.splitlines() if l.strip().startswith("//!"))
    for para in re.split(r"\n\s*\n", text):
        if "→" in para and re.search(r"[Ll]ayer|import", para):
            body = para[para.find(":") + 1:] if ":" in para else para
            groups = []
            for g in body.split("→"):
                names = re.findall(r"`([a-z_][a-z0-9_]*)`", g)
                if names:
                    groups.append(names)
            if groups:
                return groups
    return None


def is_test_file(f):
    """Whether `f` is a module its parent declares under `#[cfg(test)]`
    (`tests.rs` beside a `mod.rs`, or `x/tests.rs` beside `x.rs`)."""
    d, name = os.path.dirname(f), os.path.basename(f)[:-3]
    for parent in (os.path.join(d, "mod.rs"), d + ".rs", os.path.join(d, "lib.rs")):
        if parent != f and os.path.exists(parent):
            if re.search(r"#\[cfg\(test\)\]\s*(pub(\(\w+\))?\s+)?mod " + re.escape(name) + r"\s*;", read(parent)):
                return True
    return False


def imports(src, mods):
    """Which top-level modules each top-level module uses (`crate::x`,
    `super::x` from a top-level file)."""
    deps = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            # a unit-test module in a file of its own (`#[cfg(test)] mod
            # tests;` in its parent) may use any layer: not an import
            if is_test_file(f):
                continue
            # code only: a doc link to a module is not an import, nor is a
            # unit-test module's use of the layers above (`#[cfg(test)] mod
            # tests` at the end of a file)
            t = read(f)
            t = re.split(r"#\[cfg\(test\)\]\s*mod \w+ *\{", t)[0]
            t = "\n".join(l for l in t.splitlines() if not l.strip().startswith("//"))
            for d in re.findall(r"\bcrate::(\w+)", t):
                if d in mods and d != m:
                    deps[m].add(d)
            if os.path.dirname(f) == src:
                for d in re.findall(r"\bsuper::(\w+)", t):
                    if d in mods and d != m:
                        deps[m].add(d)
    return deps


def cycles_of(deps):
    """The strongly connected parts of the import graph with more than one
    module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(deps[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    for v in sorted(deps):
        if v not in index:
            strong(v)
    return out


def derived_layers(deps):
    """Longest-path levels of the import graph (a cycle is cut where the
    walk meets it, and reported by `cycles_of`)."""
    level, cycles = {}, []

    def visit(m, stack):
        if m in level:
            return level[m]
        if m in stack:
            cycles.append(stack[stack.index(m):] + [m])
            return 0
        stack.append(m)
        lv = 1 + max((visit(d, stack) for d in deps[m]), default=-1)
        stack.pop()
        level.setdefault(m, lv)
        return level[m]

    for m in sorted(deps):
        visit(m, [])
    groups = {}
    for m, lv in level.items():
        groups.setdefault(lv, []).append(m)
    return [sorted(groups[k]) for k in sorted(groups)], cycles_of(deps)


def walk_rs(folder):
    out = []
    for dp, dn, fn in os.walk(folder):
        dn[:] = sorted(d for d in dn if d not in SKIP_DIRS)
        out += [os.path.join(dp, f) for f in sorted(fn) if f.endswith(".rs")]
    return sorted(out)


def top_modules(src):
    mods = {}
    for e in sorted(os.listdir(src)):
        p = os.path.join(src, e)
        if e.endswith(".rs") and e not in ("lib.rs", "main.rs"):
            mods.setdefault(e[:-3], []).append(p)
        elif os.path.isdir(p) and e not in SKIP_DIRS and e != "bin":
            mods.setdefault(e, []).extend(walk_rs(p))
    return mods


def part(title, role, layer_doc, src_name, others):
    folder = os.path.join(ROOT, title)
    src = os.path.join(folder, src_name)
    out = [f"## `{title}/` — {role}", ""]
    desc = cargo_description(title)
    if desc:
        out += [desc, ""]
    deps, dev = workspace_deps(title)
    uses = ", ".join(f"`{d}`" for d in deps) or "no other crate of the workspace"
    if dev:
        uses += "; its tests also " + ", ".join(f"`{d}`" for d in dev)
    out += [f"Uses {uses}.", ""]
    mods = top_modules(src) if os.path.isdir(src) else {}
    deps = imports(src, mods)
    groups = stated_layers(layer_doc) if layer_doc and layer_doc != "-" else None
    where = f"stated in `{layer_doc.split('/', 2)[-1] if title.startswith('crates/') else layer_doc}`" if groups else "from its imports"
    cycles = []
    if groups is None:
        groups, cycles = derived_layers(deps)
    rank = {}
    for i, g in enumerate(groups, 1):
        for m in g:
            rank[m] = i
    if mods and layer_doc == "-":
        out += ["Each target is its own program over the libraries; no layers.", ""]
        rank = {}
    elif mods:
        line = " → ".join(", ".join(f"`{m}`" for m in g) for g in groups)
        out += [f"**Layers** (lowest first; each imports only layers before it; {where}): {line}.", ""]
        if where.startswith("stated"):
            upward = sorted(f"`{m}` → `{d}`" for m in deps for d in deps[m]
                            if m in rank and d in rank and rank[d] >= rank[m])
            if upward:
                out += ["Imports against the stated order (a module using one of its own layer"
                        " or above): " + ", ".join(upward) + ".", ""]
        unplaced = sorted(m for m in mods if m not in rank)
        if unplaced and layer_doc != "-":
            out += ["Not in the stated order (layer `?` below): "
                    + ", ".join(f"`{m}`" for m in unplaced) + ".", ""]
        if cycles:
            out += ["Modules that import each other (a cycle left): "
                    + "; ".join(", ".join(f"`{m}`" for m in c) for c in cycles) + ".", ""]
    out += ["| path | layer | its one job |", "| --- | ---: | --- |"]
    for f in walk_rs(src):
        rel = os.path.relpath(f, folder)
        inner = os.path.relpath(f, src)
        top = inner.split(os.sep)[0]
        top = top[:-3] if top.endswith(".rs") else top
        lv = rank.get(top, "top" if inner in ("lib.rs", "main.rs") or top == "bin" else "?")
        doc = module_doc(f)
        if not doc and os.path.basename(f) == "tests.rs":
            doc = f"Tests of `{os.path.basename(os.path.dirname(f))}`."
        out.append(f"| `{rel}` | {lv} | {doc or '(no module doc)'} |")
    for o in others:
        p = os.path.join(folder, o)
        if not os.path.isdir(p):
            continue
        entries = sorted(e for e in os.listdir(p) if e not in SKIP_DIRS and not e.startswith("."))
        for e in entries:
            q = os.path.join(p, e)
            rel = os.path.relpath(q, folder)
            if os.path.isdir(q):
                n = sum(len(fn) for _, _, fn in os.walk(q))
                what = f"the modules of `{e}.rs`" if os.path.exists(q + ".rs") else "files"
                out.append(f"| `{rel}/` | | {what} ({n}) |")
            elif e.endswith(".rs"):
                out.append(f"| `{rel}` | | {module_doc(q)} |")
            elif o == "expected":
                out.append(f"| `{rel}` | | what `{e[:-4]}` prints under QEMU; `.ci/qemu.sh` compares every run with it |")
            else:
                out.append(f"| `{rel}` | | {other_doc(q)} |")
    out.append("")
    return out


def generate():
    out = [
        "# Where things are",
        "",
        "The module map of the workspace: for every crate its layer order in one",
        "line and each file's one job and layer. Generated from the tree by",
        "`python3 .ci/architecture.py > ARCHITECTURE.md`; `.ci/architecture.sh`",
        "fails when a source file is added, moved or removed without it. A file's",
        "job is the first sentence of its module doc (`//!`): to change a line,",
        "change the module doc and regenerate. Words follow the glossary",
        "(*arena*, *descriptor*, *table compaction*, *relocation*, *pass*, …).",
        "",
        "Layer numbers count from the bottom: a module imports only modules of",
        "lower layers (`top` is the crate root, which wires them together). A",
        "folder's files share its layer; where a folder has an order inside,",
        "its `mod.rs` (or the file beside it, as `manager.rs`) states it. An",
        "order \"stated in\" a crate's docs is that crate's claim; one \"from its",
        "imports\" is computed from `use crate::…` lines.",
        "",
        "Each crate's section names the workspace crates it uses; nothing uses",
        "a crate above it.",
        "",
    ]
    for p in PARTS:
        if os.path.isdir(os.path.join(ROOT, p[0])):
            out += part(*p)
    out += ["## Outside the crates", "", "| folder | what it holds |", "| --- | --- |"]
    for f, what in OTHER:
        if os.path.isdir(os.path.join(ROOT, f)):
            out.append(f"| `{f}` | {what} |")
    out += ["", "| CI script | what it checks |", "| --- | --- |"]
    ci = os.path.join(ROOT, ".ci")
    for e in sorted(os.listdir(ci)):
        if e.endswith((".sh", ".py")) or e == "run":
            out.append(f"| `.ci/{e}` | {other_doc(os.path.join(ci, e)) if e != 'run' else 'what CI runs, in order'} |")
    out.append("")
    return "\n".join(out)


def listed_paths(text):
    """Every path the map lists, prefixed with its section's folder."""
    paths, section = set(), ""
    for line in text.splitlines():
        h = re.match(r"^## `([^`]+)`", line)
        if h:
            section = h.group(1)
        elif line.startswith("## "):
            section = ""
        m = re.match(r"^\| `([^`]+)` \|", line)
        if m:
            paths.add(section + m.group(1))
    return paths


def check():
    path = os.path.join(ROOT, "ARCHITECTURE.md")
    have = read(path) if os.path.exists(path) else ""
    listed = listed_paths(have)
    want = listed_paths(generate())
    missing, gone = sorted(want - listed), sorted(listed - want)
    for m in missing:
        print(f"architecture: `{m}` is not in ARCHITECTURE.md", file=sys.stderr)
    for g in gone:
        print(f"architecture: `{g}` is in ARCHITECTURE.md but not in the tree", file=sys.stderr)
    if missing or gone:
        print("architecture: regenerate with `python3 .ci/architecture.py > ARCHITECTURE.md`",
              file=sys.stderr)
        return 1
    print(f"architecture: ok, {len(want)} paths listed")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(check())
    sys.stdout.write(generate())
