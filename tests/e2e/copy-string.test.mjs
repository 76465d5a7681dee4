// The string copy into wasm memory that scripts/build.sh puts in wasm-bindgen's glue
// (src/adapter/copy-string.js): whatever the string, it must write what `TextEncoder.encode` writes, as
// wasm-bindgen's own loop did, including when the allocator moves the buffer or grows the memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './harness.mjs';

const source = fs.readFileSync(path.join(REPO_ROOT, 'src/adapter/copy-string.js'), 'utf8');

/** The shipped function over a wasm memory of its own, whose allocator moves every reallocated buffer. */
function copier() {
  let memory = new Uint8Array(64);
  let top = 8;
  const malloc = (size) => {
    while (top + size > memory.length) {
      // Growing the memory replaces the view, as a wasm `memory.grow` detaches the old buffer.
      const grown = new Uint8Array(memory.length * 2);
      grown.set(memory);
      memory = grown;
    }
    const ptr = top;
    top += size + 3;
    return ptr;
  };
  const realloc = (ptr, old, size) => {
    const moved = malloc(size);
    memory.copyWithin(moved, ptr, ptr + Math.min(old, size));
    return moved;
  };
  const pass = new Function(
    'cachedTextEncoder',
    'getUint8ArrayMemory0',
    'malloc',
    `let WASM_VECTOR_LEN = 0;\n${source}\nreturn (arg, realloc) => [passStringToWasm0(arg, malloc, realloc), WASM_VECTOR_LEN];`,
  )(new TextEncoder(), () => memory, malloc);
  return (text, withRealloc = true) => {
    const [ptr, len] = pass(text, withRealloc ? realloc : undefined);
    return Buffer.from(memory.subarray(ptr, ptr + len));
  };
}

const expected = (text) => Buffer.from(new TextEncoder().encode(text));

test('ASCII, Latin-1, multi-byte, astral and lone surrogates are copied as UTF-8', () => {
  const copy = copier();
  const cases = [
    '',
    'GET',
    'http://127.0.0.1:8787/api/private?x=1',
    'Bearer ' + 'eyJhbGciOiJSUzI1NiJ9.'.repeat(40),
    '\u00c2\u00a0',
    'caf\u00e9',
    'x'.repeat(100) + '\u00ff',
    '\u20ac1',
    '\u{1f600}',
    'a\ud800b',
    '\udc00',
    '\ud800',
    '\u4e2d\u6587'.repeat(50),
  ];
  for (const text of cases) {
    assert.deepEqual(copy(text), expected(text), JSON.stringify(text));
    assert.deepEqual(copy(text, false), expected(text), `${JSON.stringify(text)} without realloc`);
  }
});

test('random strings from a mixed alphabet are copied as TextEncoder.encode writes them', () => {
  const copy = copier();
  const alphabet = ['a', '~', '\x7f', '\x80', '\u00e9', '\u00ff', '\u0100', '\u20ac', '\u{1f600}', '\ud800', '\udc00', '\u4e2d'];
  let seed = 12345;
  const random = (n) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 20000; i++) {
    let text = '';
    for (let n = random(40); n > 0; n--) text += random(3) === 0 ? alphabet[random(alphabet.length)] : 'x';
    assert.deepEqual(copy(text), expected(text), JSON.stringify(text));
  }
});
