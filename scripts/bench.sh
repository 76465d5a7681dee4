#!/usr/bin/env bash
# The benchmark command (README "Performance"); not part of the test command. Prints Markdown tables.
#   bash scripts/bench.sh [--requests N] [--micro N]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node benches/run.mjs "$@"
