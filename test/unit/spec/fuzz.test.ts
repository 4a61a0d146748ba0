import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { compileExpression } from '../../../workers/expr/index.js';
import { loadPipelineText } from '../../../workers/spec/load.js';
import { seededRandom } from '../../support/random.js';

const rng = seededRandom;

const base = readFileSync('pipelines/churn-scoring.yaml', 'utf8');
const alphabet = [
  '{',
  '}',
  '[',
  ']',
  ':',
  '-',
  ' ',
  '\n',
  '\t',
  '"',
  "'",
  '${',
  '&a',
  '*a',
  '!!',
  '#',
  '|',
  '>',
  'x',
  '0',
  '?',
  ',',
];

function mutate(text: string, r: () => number): string {
  let out = text;
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * out.length);
    const op = r();
    if (op < 0.4) out = out.slice(0, at) + out.slice(at + 1 + Math.floor(r() * 10));
    else if (op < 0.8) out = out.slice(0, at) + alphabet[Math.floor(r() * alphabet.length)] + out.slice(at);
    else {
      const from = Math.floor(r() * out.length);
      out = out.slice(0, at) + out.slice(from, from + 30) + out.slice(at);
    }
  }
  return out;
}

test('mutated pipelines never crash the loader: every failure is a located problem', () => {
  const r = rng(20261124);
  for (let i = 0; i < 400; i++) {
    const text = mutate(base, r);
    const result = loadPipelineText('fuzz.yaml', text, { env: {} });
    for (const p of result.problems) {
      assert.ok(p.line >= 1 && p.column >= 1, `case ${i}: bad position ${JSON.stringify(p)}`);
      assert.ok(p.message.length > 0, `case ${i}: empty message`);
    }
    assert.ok(
      result.pipeline !== undefined || result.problems.length > 0,
      `case ${i}: neither valid nor a problem`,
    );
  }
});

test('random expressions never crash the compiler: errors carry offsets inside the text', () => {
  const r = rng(7);
  const atoms = [
    'after.x',
    '1',
    '2.5',
    "'s'",
    'null',
    'true',
    '(',
    ')',
    '+',
    '*',
    '==',
    '?',
    ':',
    ',',
    'coalesce(',
    'log1p(',
    'one_hot(',
    '[',
    ']',
    '!',
    '-',
    'clamp(',
    'foo(',
  ];
  for (let i = 0; i < 2000; i++) {
    const n = 1 + Math.floor(r() * 12);
    let text = '';
    for (let j = 0; j < n; j++) text += atoms[Math.floor(r() * atoms.length)];
    const c = compileExpression(text);
    if (!c.ok) {
      for (const e of c.errors)
        assert.ok(e.offset >= 0 && e.offset <= text.length, `'${text}': offset ${e.offset}`);
    }
  }
});
