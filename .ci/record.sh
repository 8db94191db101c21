#!/usr/bin/env bash
# `sysarena record`: the CLI tests that need the real recorder, the shipped
# build (`--profile preload`) of libsysarena_malloc.so (another crate's cdylib, which
# `cargo test -p sysarena-cli` does not build). They are `#[ignore]`d in the
# ordinary test run and run here, after building the library: recording
# `ls` (a valid trace that replays), a failing exit status (the trace is
# kept), and `sh -c 'ls / | wc -l'` (the parent makes no allocation: the
# output points to the busiest child trace).
#
# usage: .ci/record.sh     (a minute or two on 2 cores: an optimised build of
#                            the malloc crate, then the CLI's tests in debug)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile preload -p sysarena-malloc
cargo test -p sysarena-cli --test cli -- --ignored sim::record
