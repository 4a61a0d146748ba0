import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileExpression,
  ExprRuntimeError,
  FUNCTIONS,
  fnv1a32,
  type Row,
} from '../../../workers/expr/index.js';
import { schema } from './helpers.js';

/** Deterministic pseudo-random numbers in [0, 1), from the library's own hash: a failure reproduces. */
function rng(seed: number): () => number {
  let n = 0;
  return () => fnv1a32(`${seed}:${n++}`) / 4294967296;
}

const ATOMS = [
  ...FUNCTIONS.map((f) => `${f.name}(`),
  'a',
  'after.b',
  'after["c d"]',
  's',
  't',
  '1',
  '0',
  '-2.5',
  '1e3',
  "'x'",
  '"2024-01-01"',
  'null',
  'true',
  'false',
  '[1, 2]',
  "['p', 'q']",
  '(',
  ')',
  '[',
  ']',
  ',',
  '+',
  '-',
  '*',
  '/',
  '%',
  '==',
  '!=',
  '<',
  '>=',
  '&&',
  '||',
  'and',
  'not',
  '!',
  '?',
  ':',
  '.',
  '#',
  "'open",
];
const ROWS: Row[] = [
  {},
  { a: 1, s: 'p', t: 0, after: { b: 2.5, 'c d': true } },
  { a: null, s: null, t: '2024-03-15T00:00:00Z', after: null },
  { a: 'str', s: 3, t: new Date(0), after: { b: [1], 'c d': { x: 1 } } },
  { a: 5n, s: '', t: 'not a time', after: { b: Number.NaN } },
];
const fieldTypes = schema({ a: 'number', s: 'string', t: 'timestamp', 'after.b': 'number' });

describe('fuzz', () => {
  it('compiles random token soup without crashing; offsets lie inside the text; evaluation throws only ExprRuntimeError', () => {
    const r = rng(20240315);
    let compiledCount = 0;
    for (let i = 0; i < 5000; i++) {
      const n = 1 + Math.floor(r() * 10);
      let text = '';
      for (let j = 0; j < n; j++) text += `${ATOMS[Math.floor(r() * ATOMS.length)]}${r() < 0.5 ? ' ' : ''}`;
      for (const options of [{}, { fieldTypes }]) {
        const c = compileExpression(text, options);
        if (!c.ok) {
          assert.ok(c.errors.length > 0, text);
          for (const e of c.errors) {
            assert.ok(e.offset >= 0 && e.offset + e.length <= text.length, `${text}: ${JSON.stringify(e)}`);
            assert.ok(e.message.length > 0);
          }
          continue;
        }
        compiledCount++;
        for (const row of ROWS) {
          try {
            const v = c.value.evaluate(row);
            assert.notEqual(v, undefined, text);
          } catch (err) {
            assert.ok(err instanceof ExprRuntimeError, `${text}: ${String(err)}`);
          }
        }
      }
    }
    assert.ok(compiledCount > 150, `only ${compiledCount} random expressions compiled`);
  });
});
