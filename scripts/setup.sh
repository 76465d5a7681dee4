#!/usr/bin/env bash
# Installs every tool the build and the tests need, pinned, from the package registries only.
# Idempotent: each tool is checked first, so a second run takes a second or two.
#
# Tools go under $EDGE_GATEWAY_TOOLS (default ~/.cache/edge-gateway-tools) so that fresh clones on
# the same machine share them; npm packages go to ./node_modules through `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
TOOLS="${EDGE_GATEWAY_TOOLS:-$HOME/.cache/edge-gateway-tools}"

# wasm-bindgen-cli must match the wasm-bindgen library version in Cargo.lock exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$WASM_BINDGEN_VERSION" ] || { echo "setup: no wasm-bindgen in Cargo.lock" >&2; exit 1; }

log() { printf 'setup: %s\n' "$*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# cargo_tool CRATE VERSION BINARY [cargo install flags]: installs CRATE@VERSION into its own root unless
# BINARY is already there.
cargo_tool() {
  local crate=$1 version=$2 binary=$3 root="$TOOLS/$1-$2"
  shift 3
  if [ ! -x "$root/bin/$binary" ]; then
    log "installing $crate $version (one-time, a few minutes)"
    cargo install --quiet "$@" --root "$root" "$crate" --version "$version"
  fi
}
cargo_tool worker-build "$WORKER_BUILD_VERSION" worker-build --locked &
wb=$!
# Not --locked: the lockfile of wasm-bindgen-cli 0.2.130 names a webpki-roots release that was yanked.
cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen &
wbc=$!
wait "$wb"
wait "$wbc"

# npm ci is skipped when node_modules already matches package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.setup-lock; then
  log "installing npm packages (wrangler, binaryen, esbuild; the MCP SDK and oauth4webapi for the tests)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.setup-lock
fi

# Sourced by scripts/build.sh and scripts/test.sh.
mkdir -p target
cat > target/tools.env <<ENV
export WORKER_BUILD_BIN="$TOOLS/worker-build-$WORKER_BUILD_VERSION/bin/worker-build"
export WASM_BINDGEN_BIN="$TOOLS/wasm-bindgen-cli-$WASM_BINDGEN_VERSION/bin/wasm-bindgen"
export WASM_BINDGEN_TEST_RUNNER="$TOOLS/wasm-bindgen-cli-$WASM_BINDGEN_VERSION/bin/wasm-bindgen-test-runner"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
ENV
log "tools ready"
