#!/usr/bin/env bash
# The course in book/: builds it with mdBook (installed with
# `cargo install mdbook --locked` if missing) — book/src/sysarena-playground.html
# links the playground, so it lands next to the pages that embed it — runs every Rust
# example in the chapters as a doctest of crates/sysarena-wasm, checks that
# every picture in book/src/img is what book/pictures.sh draws now, and that
# every playground link in the book replays without a complaint.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

if ! command -v mdbook >/dev/null 2>&1; then
    # Only what `mdbook build` needs: no `serve`/`watch` (tokio, axum,
    # notify), which halves the install on a fresh 2-core machine.
    cargo install mdbook --version "^0.5" --locked --no-default-features --features search
fi

passed=0
failed=0
ok() { echo "book: ok — $*"; passed=$((passed + 1)); }
bad() { echo "book: FAILED — $*" >&2; failed=$((failed + 1)); }

# 1. The book builds, with the playground beside it.
out="${CARGO_TARGET_DIR:-target}/book"
if mdbook build book >/dev/null 2>&1 && [ -s "$out/sysarena-playground.html" ]; then
    ok "mdbook build ($out/index.html, with the playground beside it)"
else
    bad "mdbook build"
fi

# 2. Its code compiles and runs.
if cargo test -q -p sysarena-wasm --doc 2>&1 | tail -3; then
    ok "the chapters' Rust examples (doctests)"
else
    bad "the chapters' Rust examples"
fi

# 3. Its pictures are current.
if bash book/pictures.sh --check; then ok "pictures are current"; else bad "pictures"; fi

# 4. Every chapter has a picture and the playground; every playground link
#    replays (settings, ops, side-by-side panels, quiz) without an error.
bin="${CARGO_TARGET_DIR:-target}/debug/examples/replay"
for md in book/src/*.md; do
    case "$md" in */SUMMARY.md) continue ;; esac
    grep -q '](img/.*\.svg)' "$md" || bad "$md has no picture"
    grep -q '<iframe class="playground"' "$md" || bad "$md does not embed the playground"
done
links=0
while IFS= read -r link; do
    frag=${link#*#}
    [ "$frag" = "$link" ] && continue
    if "$bin" --link "$frag" >/dev/null; then links=$((links + 1)); else bad "link #$frag"; fi
done < <(grep -oh 'sysarena-playground\.html#[^")]*' book/src/*.md | sed 's/&amp;/\&/g' | sort -u)
ok "$links playground links replay"

echo "book: $(( $(date +%s) - started ))s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
