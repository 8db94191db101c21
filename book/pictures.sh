#!/usr/bin/env bash
# Draws the book's pictures from book/scenarios.txt into book/src/img/:
# sysarena scenarios with the playground's glue, run natively (the same
# session the page runs in wasm), and simulator pictures with `sysarena viz`.
#   bash book/pictures.sh           regenerates them
#   bash book/pictures.sh --check   fails if any checked-in picture differs
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
[ "${1:-}" = "--check" ] && check=1
cargo build -q -p sysarena-cli -p sysarena-wasm --bins --examples
bin="${CARGO_TARGET_DIR:-target}/debug"
dest=book/src/img
if [ "$check" = 1 ]; then dest=$(mktemp -d); trap 'rm -rf "$dest"' EXIT; fi
mkdir -p "$dest"

trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; printf '%s' "${s%"${s##*[![:space:]]}"}"; }
n=0
while IFS='|' read -r name settings ops caption; do
    name=$(trim "$name")
    case "$name" in ''|'#'*) continue ;; esac
    if [[ "$name" == viz\ * ]]; then
        name=$(trim "${name#viz }")
        # shellcheck disable=SC2086
        "$bin/sysarena" viz $(trim "$settings") --svg "$dest/$name.svg" >/dev/null
    else
        "$bin/examples/picture" "$(trim "$settings")" "$(trim "$ops")" "$(trim "$caption")" >"$dest/$name.svg"
    fi
    n=$((n + 1))
done <book/scenarios.txt

if [ "$check" = 1 ]; then
    stale=0
    for f in "$dest"/*.svg; do
        if ! cmp -s "$f" "book/src/img/$(basename "$f")"; then
            echo "book: src/img/$(basename "$f") is not current" >&2
            stale=1
        fi
    done
    for f in book/src/img/*.svg; do
        [ -f "$dest/$(basename "$f")" ] || { echo "book: src/img/$(basename "$f") is made by no scenario" >&2; stale=1; }
    done
    [ "$stale" = 0 ] || { echo "book: run bash book/pictures.sh and commit the pictures" >&2; exit 1; }
    echo "book: $n pictures are current"
else
    echo "book: drew $n pictures into $dest"
fi
