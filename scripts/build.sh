#!/usr/bin/env bash
# Builds the worker into build/ with worker-build, using the locally installed wasm-bindgen, wasm-opt and
# esbuild (scripts/setup.sh). Wrangler runs this on `wrangler dev` and `wrangler deploy`.
# Skips the build when the sources are unchanged since the last one, so restarts are quick.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f target/tools.env ]; then
  echo "build: tools are not set up; run scripts/setup.sh first" >&2
  exit 1
fi
# shellcheck source=/dev/null
. target/tools.env

stamp=$( (cat Cargo.toml Cargo.lock; find src -type f -print0 | sort -z | xargs -0 cat) | sha256sum | cut -d' ' -f1)
if [ -f build/index.js ] && [ "$(cat build/.stamp 2>/dev/null)" = "$stamp" ]; then
  echo "build: worker is up to date"
  exit 0
fi
"$WORKER_BUILD_BIN" --release
echo "$stamp" > build/.stamp
