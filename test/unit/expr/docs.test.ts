import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  compileExpression,
  EXAMPLE_NOW_MS,
  FUNCTIONS,
  renderFunctionDocs,
} from '../../../workers/expr/index.js';

const DOC = fileURLToPath(new URL('../../../workers/expr/FUNCTIONS.md', import.meta.url));

describe('function documentation', () => {
  it('FUNCTIONS.md is the rendered documentation (regenerate with renderFunctionDocs())', () => {
    assert.equal(readFileSync(DOC, 'utf8'), renderFunctionDocs());
  });

  it('names each function once, with a signature that starts with its name', () => {
    const names = FUNCTIONS.map((f) => f.name);
    assert.equal(new Set(names).size, names.length);
    for (const f of FUNCTIONS) assert.ok(f.signature.startsWith(`${f.name}(`), f.signature);
  });

  it('lists the whole library', () => {
    assert.deepEqual(
      FUNCTIONS.map((f) => f.name),
      [
        'abs',
        'sqrt',
        'log',
        'log1p',
        'exp',
        'pow',
        'sigmoid',
        'min',
        'max',
        'clamp',
        'round',
        'floor',
        'ceil',
        'coalesce',
        'if_null',
        'is_null',
        'lower',
        'upper',
        'trim',
        'len',
        'contains',
        'starts_with',
        'ends_with',
        'concat',
        'to_string',
        'to_number',
        'now',
        'epoch_ms',
        'year',
        'month',
        'day_of_month',
        'day_of_week',
        'hour',
        'days_between',
        'months_between',
        'bucket',
        'one_hot',
        'hash_bucket',
      ],
    );
  });

  it('renders signatures from the parameter specs', () => {
    const sig = Object.fromEntries(FUNCTIONS.map((f) => [f.name, f.signature]));
    assert.equal(sig['hash_bucket'], 'hash_bucket(x: scalar, n: int literal) → int');
    assert.equal(sig['bucket'], 'bucket(x: number, bounds: [number, ...]) → int');
    assert.equal(sig['round'], 'round(x: number, digits?: number) → int, or number with digits');
    assert.equal(sig['min'], 'min(a: number, ...b: number) → number (int for ints)');
    assert.equal(sig['now'], 'now() → timestamp');
  });

  for (const f of FUNCTIONS) {
    it(`example of ${f.name} evaluates to its documented result`, () => {
      const r = compileExpression(f.example, { now: () => EXAMPLE_NOW_MS });
      assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
      assert.equal(JSON.stringify(r.value.evaluate({})), f.result);
    });
  }
});
