// wasm-bindgen's `passStringToWasm0` (wasm-bindgen 0.2.130), which copies a string into wasm memory as UTF-8,
// with its JavaScript loop over the leading ASCII characters replaced by the runtime's
// `TextEncoder.encodeInto`. scripts/build.sh puts it in place of the glue's own. The loop costs what V8's
// tier for it makes it, about 1 µs for a token when optimised and ten times that when not, and in workerd
// an optimising compile can wait thousands of requests; `encodeInto` copies in native code whatever the
// tier (README "What each step bought"). The bytes are the same (tests/e2e/copy-string.test.mjs).
function passStringToWasm0(arg, malloc, realloc) {
  if (realloc === void 0) {
    const buf = cachedTextEncoder.encode(arg);
    const ptr2 = malloc(buf.length, 1) >>> 0;
    getUint8ArrayMemory0().subarray(ptr2, ptr2 + buf.length).set(buf);
    WASM_VECTOR_LEN = buf.length;
    return ptr2;
  }
  let len = arg.length;
  let ptr = malloc(len, 1) >>> 0;
  // As many characters as len bytes hold, in UTF-8: all of them for an ASCII string.
  const encoded = cachedTextEncoder.encodeInto(arg, getUint8ArrayMemory0().subarray(ptr, ptr + len));
  let offset = encoded.written;
  if (encoded.read !== len) {
    arg = arg.slice(encoded.read);
    ptr = realloc(ptr, len, len = offset + arg.length * 3, 1) >>> 0;
    const view = getUint8ArrayMemory0().subarray(ptr + offset, ptr + len);
    const ret = cachedTextEncoder.encodeInto(arg, view);
    offset += ret.written;
    ptr = realloc(ptr, len, offset, 1) >>> 0;
  }
  WASM_VECTOR_LEN = offset;
  return ptr;
}
