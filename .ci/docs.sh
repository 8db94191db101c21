#!/usr/bin/env bash
# The core's docs (issue 13): rustdoc with every feature must build without
# a warning (broken intra-doc links included), and the docs.rs build
# (nightly, `--cfg docsrs`, `feature(doc_cfg)`) must build too. Installs
# the nightly toolchain it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
step() { printf '\n== %s (%ss)\n' "$*" "$((SECONDS - start))"; }

step "cargo doc -p sysarena (default features), warnings denied"
RUSTDOCFLAGS="-D warnings" cargo doc -p sysarena --no-deps

step "cargo doc -p sysarena --all-features, warnings denied"
RUSTDOCFLAGS="-D warnings" cargo doc -p sysarena --all-features --no-deps

step "the docs.rs build: nightly, --cfg docsrs, all features"
if command -v rustup >/dev/null 2>&1; then
  rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
fi
RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo +nightly doc -p sysarena --all-features --no-deps \
  --target-dir target/docsrs

step "every public function of the core has a # Time complexity section"
python3 .ci/complexity.py

step "docs done"
