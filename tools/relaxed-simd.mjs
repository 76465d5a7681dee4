// The gateway's wasm uses relaxed SIMD (the fused multiply-add of crates/crypto/src/rsa/fma.rs), which
// workerd runs and Node 20's V8 keeps behind a flag. The tools that load the wasm in Node turn it on
// with `enableRelaxedSimd()`; run as a script, this prints the Node arguments a child process needs for
// it (scripts/test.sh passes them to wasm-bindgen-test-runner as NODE_ARGS): none where Node has it.
import v8 from 'node:v8';
import { pathToFileURL } from 'node:url';

export const RELAXED_SIMD_FLAG = '--experimental-wasm-relaxed-simd';

// A module of one function, f64x2.relaxed_madd on its splatted arguments.
const PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60, 0x03, 0x7c, 0x7c, 0x7c, 0x01, 0x7c, 0x03,
  0x02, 0x01, 0x00, 0x07, 0x07, 0x01, 0x03, 0x66, 0x6d, 0x61, 0x00, 0x00, 0x0a, 0x16, 0x01, 0x14, 0x00, 0x20, 0x00,
  0xfd, 0x14, 0x20, 0x01, 0xfd, 0x14, 0x20, 0x02, 0xfd, 0x14, 0xfd, 0x87, 0x02, 0xfd, 0x21, 0x00, 0x0b,
]);

function hasRelaxedSimd() {
  try {
    new WebAssembly.Module(PROBE);
    return true;
  } catch {
    return false;
  }
}

/** Turns relaxed SIMD on in this process where Node does not have it by default; throws if it cannot. */
export function enableRelaxedSimd() {
  if (hasRelaxedSimd()) return;
  v8.setFlagsFromString(RELAXED_SIMD_FLAG);
  if (!hasRelaxedSimd()) throw new Error(`this Node cannot run wasm relaxed SIMD, even with ${RELAXED_SIMD_FLAG}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(hasRelaxedSimd() ? '' : RELAXED_SIMD_FLAG);
}
