#!/usr/bin/env bash
# The README's test command: sets up the tools, then runs every layer of tests.
#   1. lint: cargo fmt --check and cargo clippy -D warnings
#   2. native unit, property and cross-check tests (cargo test; fast crypto paths also in release, and in
#      release-checked: optimised with debug assertions and overflow checks)
#   3. wasm32 tests in Node (wasm-bindgen-test-runner; fast crypto paths also in release and release-checked)
#   4. end-to-end tests: the worker under `wrangler dev` (workerd), a local issuer and origin, real HTTP
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck source=/dev/null
. target/tools.env
# A run from a clean clone gains nothing from incremental state, which costs about 1 GB of disk
# (CARGO_INCREMENTAL=1 keeps it for repeated local runs).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n== %s\n' "$*"; }

step "lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy --workspace --target wasm32-unknown-unknown --lib --quiet -- -D warnings

step "native tests"
cargo test --workspace --quiet

step "fast crypto paths against the stock crates, release profile (optimiser bugs show only there)"
cargo test --quiet --release --test fast_rsa --test fast_p256 --test rsa_pss --test fast_crypto_proofs

step "fast crypto paths against the stock crates, optimised with debug assertions and overflow checks on (the Montgomery carry and lane bounds)"
cargo test --quiet --profile release-checked --test fast_rsa --test fast_p256 --test rsa_pss --test fast_crypto_proofs --test wycheproof --test wycheproof_pss

step "wasm32 tests (Node)"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$WASM_BINDGEN_TEST_RUNNER"
# Relaxed SIMD (the RSA arithmetic's fused multiply-add), behind a flag in Node 20.
NODE_ARGS="$(node tools/relaxed-simd.mjs)"
export NODE_ARGS
cargo test --target wasm32-unknown-unknown --test wasm --test fast_p256_wasm --test fast_rsa_wasm --test fast_crypto_proofs

step "Wycheproof and the fast crypto paths on wasm32 (SIMD), release profile"
cargo test --release --target wasm32-unknown-unknown --test wycheproof --test wycheproof_pss --test fast_rsa_wasm --test fast_p256_wasm --test fast_crypto_proofs

step "the fast crypto paths on wasm32 (SIMD), optimised with debug assertions and overflow checks on"
cargo test --profile release-checked --target wasm32-unknown-unknown --test wycheproof --test wycheproof_pss --test fast_rsa_wasm --test fast_p256_wasm --test fast_crypto_proofs

step "end-to-end tests (wrangler dev)"
bash scripts/build.sh
node --test --test-concurrency=1 tests/e2e/
