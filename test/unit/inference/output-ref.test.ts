import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatOutputRef, type OutputRef, parseOutputRef } from '../../../workers/inference/output-ref.js';

function ok(text: string): OutputRef {
  const r = parseOutputRef(text);
  assert.ok(r.ok, `expected '${text}' to parse, got ${r.ok ? '' : `${r.message} @${r.offset}`}`);
  return r.ref;
}

function err(text: string): { message: string; offset: number } {
  const r = parseOutputRef(text);
  assert.ok(!r.ok, `expected '${text}' to fail`);
  return { message: r.message, offset: r.offset };
}

describe('parseOutputRef', () => {
  test('semantic references', () => {
    assert.deepEqual(ok('label'), { kind: 'label' });
    assert.deepEqual(ok('probabilities[1]'), { kind: 'probability', select: { by: 'index', index: 1 } });
    assert.deepEqual(ok("probabilities['fraud']"), {
      kind: 'probability',
      select: { by: 'class', label: 'fraud' },
    });
    assert.deepEqual(ok('probabilities["fraud"]'), {
      kind: 'probability',
      select: { by: 'class', label: 'fraud' },
    });
    assert.deepEqual(ok("probabilities['1']"), { kind: 'probability', select: { by: 'class', label: '1' } });
    assert.deepEqual(ok('value'), { kind: 'value', index: undefined });
    assert.deepEqual(ok('value[0]'), { kind: 'value', index: 0 });
  });

  test('raw output names, with and without a column', () => {
    assert.deepEqual(ok('output_probability[1]'), {
      kind: 'output',
      name: 'output_probability',
      select: { by: 'index', index: 1 },
    });
    assert.deepEqual(ok('variable'), { kind: 'output', name: 'variable', select: undefined });
    assert.deepEqual(ok('scores:0'), { kind: 'output', name: 'scores:0', select: undefined });
    assert.deepEqual(ok(" output_probability [ 'a b' ] "), {
      kind: 'output',
      name: 'output_probability',
      select: { by: 'class', label: 'a b' },
    });
    assert.deepEqual(ok("p['it\\'s']"), {
      kind: 'output',
      name: 'p',
      select: { by: 'class', label: "it's" },
    });
  });

  test('errors carry a message and the offset of the problem', () => {
    assert.deepEqual(err(''), {
      message:
        "empty output reference; expected label, probabilities[<column>] or probabilities['<class>'], value, or an output name",
      offset: 0,
    });
    assert.equal(err('probabilities').offset, 13);
    assert.match(err('probabilities').message, /needs a column/);
    assert.deepEqual(err('label[0]'), {
      message: "'label' takes no column: the label output has one value per row",
      offset: 5,
    });
    assert.deepEqual(err('probabilities[1'), { message: "missing ']'", offset: 15 });
    assert.deepEqual(err('probabilities[1x]'), { message: "expected ']' but found 'x'", offset: 15 });
    assert.deepEqual(err("probabilities['fraud]"), {
      message: 'unterminated single-quoted class label',
      offset: 14,
    });
    assert.deepEqual(err('probabilities[-1]'), { message: 'column index must be 0 or more', offset: 14 });
    assert.deepEqual(err('probabilities[fraud]'), {
      message: "expected a column index like [1] or a quoted class label like ['fraud']",
      offset: 14,
    });
    assert.deepEqual(err("value['x']"), {
      message: "'value' takes a column index like value[0], not a class label",
      offset: 5,
    });
    assert.deepEqual(err('1abc'), {
      message:
        "unexpected '1'; expected label, probabilities[<column>] or probabilities['<class>'], value, or an output name",
      offset: 0,
    });
    assert.deepEqual(err('label extra'), { message: "unexpected 'e' after the reference", offset: 6 });
    assert.deepEqual(err('p[1][2]'), { message: "unexpected '[' after the reference", offset: 4 });
  });

  test('formatOutputRef round-trips', () => {
    for (const text of [
      'label',
      'probabilities[1]',
      "probabilities['fraud']",
      'value',
      'value[2]',
      "x['it\\'s']",
      'out',
    ]) {
      const ref = ok(text);
      assert.deepEqual(ok(formatOutputRef(ref)), ref, text);
    }
  });
});
