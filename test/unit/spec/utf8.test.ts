import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeUtf8, firstInvalidUtf8 } from '../../../workers/spec/utf8.js';

const bytes = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...new TextEncoder().encode(p)] : p)));

test('well-formed UTF-8 decodes, a BOM is kept for the YAML parser', () => {
  assert.deepEqual(decodeUtf8(bytes([0xef, 0xbb, 0xbf], 'a: Köln €𝄞\n')), {
    ok: true,
    text: '\ufeffa: Köln €𝄞\n',
  });
  assert.equal(firstInvalidUtf8(bytes('a: Köln €𝄞\n')), -1);
});

test('a Latin-1 byte is located at its line and column, in characters like YAML positions', () => {
  // line 2 is "b: €ä K\xF6ln": the € and ä take 5 bytes but 2 columns.
  const r = decodeUtf8(bytes('a: 1\nb: €ä K', [0xf6], 'ln\n'));
  assert.deepEqual(r, { ok: false, offset: 15, line: 2, column: 8, byte: 0xf6 });
});

test('an ill-formed sequence is located at its first byte', () => {
  assert.equal(firstInvalidUtf8(bytes('K', [0xe9], 'ln')), 1); // é in Latin-1 looks like a 3-byte lead
  assert.equal(firstInvalidUtf8(bytes('x', [0xc0, 0x80])), 1); // overlong NUL
  assert.equal(firstInvalidUtf8(bytes('x', [0xed, 0xa0, 0x80])), 1); // a UTF-16 surrogate
  assert.equal(firstInvalidUtf8(bytes('x', [0xf4, 0x90, 0x80, 0x80])), 1); // above U+10FFFF
  assert.equal(firstInvalidUtf8(bytes('ok ', [0xe2, 0x82])), 3); // truncated at the end
  assert.equal(firstInvalidUtf8(bytes('€', [0x80])), 3); // a stray continuation byte
});
