#!/usr/bin/env python3
"""Every public function of the core crate carries a `# Time complexity` section.

The house rule (`../shared/STYLE.md`): every public operation documents a
time complexity that is true. Truth needs a reader; presence is checked
here, so a new `pub fn` without the section fails CI. Scans
`crates/sysarena/src` for `pub fn` (also `const`, `unsafe`, `extern "C"`)
outside `#[cfg(test)]` code and `tests` files, and reads the doc comment
above it (attributes in between are skipped). `pub(crate)` and
`pub(super)` items are not public and are not checked.

    python3 .ci/complexity.py            # from the repository root
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "crates", "sysarena", "src")
FN = re.compile(r'\s*pub (?:const |unsafe |extern "C" )*fn (\w+)')


def doc_above(lines, i):
    """The `///` lines above line `i`, skipping attributes (which may span
    lines, like `#[deprecated(since = ..., note = ...)]`)."""
    doc = []
    j = i - 1
    while j >= 0:
        s = lines[j].strip()
        if s.startswith("///"):
            doc.append(s)
        elif s.startswith("#[") or (s and not s.endswith(("{", "}", ";")) and not s.startswith("//")):
            pass  # an attribute or an attribute's continuation
        else:
            break
        j -= 1
    return doc


def main():
    missing = []
    for dirpath, _, files in os.walk(SRC):
        if "tests" in os.path.relpath(dirpath, SRC).split(os.sep):
            continue
        for name in sorted(files):
            if not name.endswith(".rs") or name == "tests.rs":
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
            for i, line in enumerate(lines):
                if re.match(r"\s*#\[cfg\(test\)\]", line) and lines[i + 1].lstrip().startswith("mod "):
                    break  # a test module sits at the end of its file
                m = FN.match(line)
                if m and not any("# Time complexity" in d for d in doc_above(lines, i)):
                    rel = os.path.relpath(path, ROOT)
                    missing.append(f"{rel}:{i + 1}: `{m.group(1)}` has no `# Time complexity` section")
    if missing:
        print("\n".join(missing))
        sys.exit(f"{len(missing)} public function(s) without a time complexity")
    print("every public function of the core documents its time complexity")


if __name__ == "__main__":
    main()
