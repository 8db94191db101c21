#!/usr/bin/env bash
# ARCHITECTURE.md, the module map, lists every source file and folder of the
# tree: fails when one was added, moved or removed without regenerating it
# (python3 .ci/architecture.py > ARCHITECTURE.md). Needs python3 (3.11+, for
# tomllib); a second.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 .ci/architecture.py --check
