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

# GATEWAY_KEEP_WASM_NAMES=1 keeps the wasm function names, for CPU profiles (benches/profile.mjs);
# never for a deploy.
keep_names=${GATEWAY_KEEP_WASM_NAMES:-0}
stamp=$( (echo "keep_names=$keep_names"; cat Cargo.toml Cargo.lock scripts/build.sh; find src crates -type f -print0 | sort -z | xargs -0 cat) | sha256sum | cut -d' ' -f1)
if [ -f build/index.js ] && [ "$(cat build/.stamp 2>/dev/null)" = "$stamp" ]; then
  echo "build: worker is up to date"
  exit 0
fi
NO_MINIFY=1 "$WORKER_BUILD_BIN" --release
# The default export becomes src/adapter/entry.js (a plain object, not a class behind proxies); the bundle is
# built unminified so that the line it replaces and the shim's names it uses are known, then minified.
node - <<'JS'
const fs = require('fs');
const file = 'build/index.js';
const line = 'var shim_default = new Proxy(Entrypoint, classProxyHooks);';
const text = fs.readFileSync(file, 'utf8');
if (text.split(line).length !== 2) {
  console.error(`build: ${file} has no single "${line}"; worker-build's shim changed, see src/adapter/entry.js`);
  process.exit(1);
}
// wasm-bindgen's string copy, as wasm-bindgen 0.2.130 writes it, is replaced by src/adapter/copy-string.js.
const copy = text.match(/^function passStringToWasm0\(arg, malloc, realloc\) \{\n[^]*?\n\}\n/m);
const loop = '    const code = arg.charCodeAt(offset);\n    if (code > 127) break;\n    mem[ptr + offset] = code;\n';
if (!copy || text.split(copy[0]).length !== 2 || !copy[0].includes(loop)) {
  console.error(`build: ${file} has no single passStringToWasm0 with wasm-bindgen's ASCII loop; wasm-bindgen changed, see src/adapter/copy-string.js`);
  process.exit(1);
}
const native = fs.readFileSync('src/adapter/copy-string.js', 'utf8');
fs.writeFileSync(file, text.replace(line, fs.readFileSync('src/adapter/entry.js', 'utf8')).replace(copy[0], native));
JS
"$ESBUILD_BIN" build/index.js --minify --format=esm --outfile=build/index.js --allow-overwrite --log-level=warning
# worker-build keeps the wasm name section (it passes --debuginfo to wasm-opt): about 80 KB that only
# names functions in stack traces. Strip it and the producers section from the deployed module. The
# feature list is worker-build's plus SIMD and relaxed SIMD (crates/crypto/src/rsa/integer.rs, rsa/fma.rs): --all-features
# would allow encodings workerd cannot load yet.
features=()
for f in mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling simd relaxed-simd; do
  features+=("--enable-$f")
done
# The request path's steps stay functions of their own only because worker-build's wasm-opt sees their names
# (src/out_of_line.rs, Cargo.toml); were the names gone, they would merge into one large function
# again, which costs every young isolate (README "What each step bought").
if ! grep -aqF 'out_of_line::OutOfLine<F> as core::future::future::Future>::poll' build/index_bg.wasm; then
  echo "build: wasm-opt inlined the request path's out-of-line steps; Cargo.toml must pass it --no-inline=*out_of_line*, and worker-build must run it with the function names (--debuginfo)" >&2
  exit 1
fi
if [ "$keep_names" != 1 ]; then
  "$WASM_OPT_BIN" "${features[@]}" --strip-debug --strip-producers build/index_bg.wasm -o build/index_bg.wasm
fi
echo "$stamp" > build/.stamp
