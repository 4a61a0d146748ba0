import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ModelError, type ModelErrorCode } from '../../../workers/inference/errors.js';
import { ModelRegistry } from '../../../workers/inference/session.js';
import {
  checkSignature,
  describeValue,
  type ExpectedSignature,
  type ModelSignature,
  readSignature,
} from '../../../workers/inference/signature.js';
import { modelPath } from './helpers.js';

const registry = new ModelRegistry();
const sigs: Record<string, ModelSignature> = {};
before(async () => {
  for (const [name, version] of [
    ['churn', 1],
    ['churn', 2],
    ['fraud', 1],
    ['ltv', 1],
  ] as const) {
    sigs[`${name}/${version}`] = readSignature(await registry.acquire(modelPath(name, version), { version }));
  }
});
after(() => registry.close());

function sig(key: string): ModelSignature {
  return sigs[key]!;
}

function fails(
  s: ModelSignature,
  expected: ExpectedSignature,
  code: ModelErrorCode,
  message: string | RegExp,
): void {
  assert.throws(
    () => checkSignature(s, expected),
    (err: unknown) => {
      assert.ok(ModelError.is(err), String(err));
      assert.equal(err.code, code);
      assert.equal(err.stage, 'inference');
      assert.equal(err.retryable, false);
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

describe('readSignature', () => {
  test('what onnxruntime-node reports after the ZipMap rewrite', () => {
    const s = sig('churn/1');
    assert.deepEqual(s.inputs.map(describeValue), ['features float32 [?, 8]']);
    assert.deepEqual(s.outputs.map(describeValue), [
      'output_label int64 [?]',
      'output_probability float32 [?, 2]',
    ]);
    assert.deepEqual(s.classes, [0, 1]);
    assert.equal(s.producer, 'skl2onnx 1.20.0');
    assert.equal(s.metadata['streamscore.features']?.split(',')[0], 'tenure_months');
    assert.deepEqual(sig('fraud/1').outputs.map(describeValue), [
      'output_label string [?]',
      'output_probability float32 [?, 2]',
    ]);
    assert.deepEqual(sig('churn/2').outputs.map(describeValue), [
      'label int64 [?]',
      'probabilities float32 [?, 2]',
    ]);
    assert.deepEqual(sig('ltv/1').outputs.map(describeValue), ['variable float32 [?, 1]']);
  });
});

describe('checkSignature: input', () => {
  const outputs = { l: 'label' };
  test('passes and returns the resolved outputs', () => {
    const c = checkSignature(sig('churn/1'), { inputWidth: 8, inputName: 'features', outputs });
    assert.equal(c.input.name, 'features');
    assert.deepEqual(
      c.outputs.map((o) => [o.field, o.output, o.column]),
      [['l', 'output_label', null]],
    );
  });

  test('width mismatch names the declared features', () => {
    const s = sig('fraud/1');
    fails(
      s,
      { inputWidth: 7, featureNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g'], outputs },
      'MODEL_SIGNATURE_MISMATCH',
      `model ${s.path}: input 'features' has width 6, but the pipeline declares 7 features (a, b, c, d, e, f, g)`,
    );
    fails(
      s,
      { inputWidth: 1, outputs },
      'MODEL_SIGNATURE_MISMATCH',
      `model ${s.path}: input 'features' has width 6, but the pipeline declares 1 feature`,
    );
    const many = Array.from({ length: 14 }, (_, i) => `f${i}`);
    fails(
      s,
      { inputWidth: 14, featureNames: many, outputs },
      'MODEL_SIGNATURE_MISMATCH',
      /\(f0, f1, .*f11, … 2 more\)$/,
    );
  });

  test('unknown input name', () => {
    const s = sig('churn/2');
    fails(
      s,
      { inputWidth: 8, inputName: 'input', outputs },
      'MODEL_SIGNATURE_MISMATCH',
      `model ${s.path}: has no input 'input'; its inputs are features float32 [?, 8]`,
    );
  });

  test('models streamscore cannot feed', () => {
    const base = sig('churn/2');
    const twoInputs: ModelSignature = {
      ...base,
      inputs: [
        { name: 'a', isTensor: true, type: 'float32', shape: ['', 4] },
        { name: 'b', isTensor: true, type: 'float32', shape: ['', 4] },
      ],
    };
    fails(
      twoInputs,
      { inputWidth: 4, inputName: 'a', outputs },
      'MODEL_SIGNATURE_MISMATCH',
      /has 2 inputs \(a float32 \[\?, 4\], b float32 \[\?, 4\]\), but streamscore feeds exactly one float32/,
    );
    const intInput: ModelSignature = {
      ...base,
      inputs: [{ name: 'x', isTensor: true, type: 'int64', shape: ['N', 8] }],
    };
    fails(
      intInput,
      { inputWidth: 8, outputs },
      'MODEL_SIGNATURE_MISMATCH',
      /input x int64 \[N, 8\] is not float32/,
    );
    const rank3: ModelSignature = {
      ...base,
      inputs: [{ name: 'x', isTensor: true, type: 'float32', shape: [1, 2, 8] }],
    };
    fails(
      rank3,
      { inputWidth: 8, outputs },
      'MODEL_SIGNATURE_MISMATCH',
      /has rank 3; expected \[rows, features\]/,
    );
    const dynamic: ModelSignature = {
      ...base,
      inputs: [{ name: 'x', isTensor: true, type: 'float32', shape: ['N', 'F'] }],
    };
    assert.equal(checkSignature(dynamic, { inputWidth: 5, outputs }).input.name, 'x');
  });
});

describe('checkSignature: outputs', () => {
  const expect = (outputs: Record<string, string>) => ({ inputWidth: 8, outputs });

  test('resolves semantic and raw references to outputs and columns', () => {
    const c = checkSignature(
      sig('churn/1'),
      expect({ a: 'probabilities[1]', b: "probabilities['1']", c: 'output_probability[0]' }),
    );
    assert.deepEqual(
      c.outputs.map((o) => [o.field, o.output, o.column, o.description]),
      [
        ['a', 'output_probability', 1, 'output_probability[:, 1] (class 1)'],
        ['b', 'output_probability', 1, 'output_probability[:, 1] (class 1)'],
        ['c', 'output_probability', 0, 'output_probability[:, 0] (class 0)'],
      ],
    );
    const c2 = checkSignature(sig('churn/2'), expect({ a: 'probabilities[1]', l: 'label', raw: 'label' }));
    assert.deepEqual(
      c2.outputs.map((o) => [o.output, o.column]),
      [
        ['probabilities', 1],
        ['label', null],
        ['label', null],
      ],
    );
  });

  test('unknown output name: did you mean', () => {
    const s = sig('churn/1');
    fails(
      s,
      expect({ score: 'output_probabilty[1]' }),
      'MODEL_OUTPUT_UNKNOWN',
      `model ${s.path}: output of field 'score': no output 'output_probabilty' (did you mean 'output_probability'?); ` +
        'its outputs are output_label int64 [?], output_probability float32 [?, 2]',
    );
    fails(s, expect({ score: 'zzz' }), 'MODEL_OUTPUT_UNKNOWN', /no output 'zzz'; its outputs are/);
  });

  test('unknown class: did you mean, and the class list', () => {
    const s = sig('fraud/1');
    fails(
      s,
      { inputWidth: 6, outputs: { p: "probabilities['frad']" } },
      'MODEL_OUTPUT_UNKNOWN',
      `model ${s.path}: output of field 'p': no class 'frad'; classes are fraud, legit (did you mean 'fraud'?)`,
    );
  });

  test('column out of range, and a matrix without a column', () => {
    const s = sig('churn/2');
    fails(
      s,
      expect({ p: 'probabilities[2]' }),
      'MODEL_OUTPUT_UNKNOWN',
      `model ${s.path}: output of field 'p': column 2 is out of range: 'probabilities' has 2 columns (classes 0, 1)`,
    );
    fails(
      s,
      expect({ p: 'probabilities' }),
      'MODEL_OUTPUT_REF_INVALID',
      `model ${s.path}: output of field 'p': 'probabilities' needs a column: probabilities[1] or probabilities['<class>'] (at column 14 of 'probabilities')`,
    );
    fails(
      sig('churn/1'),
      expect({ p: 'output_probability' }),
      'MODEL_OUTPUT_UNKNOWN',
      /'output_probability' has 2 columns; pick one with output_probability\[0\] … output_probability\[1\]/,
    );
    fails(s, expect({ l: 'label[0]' }), 'MODEL_OUTPUT_REF_INVALID', /'label' takes no column/);
  });

  test('classifier vs regressor mix-ups get a hint', () => {
    const ltv = sig('ltv/1');
    fails(
      ltv,
      { inputWidth: 4, outputs: { l: 'label' } },
      'MODEL_OUTPUT_UNKNOWN',
      `model ${ltv.path}: output of field 'l': the model has no label output (it looks like a regressor: use 'value'); its outputs are variable float32 [?, 1]`,
    );
    fails(
      ltv,
      { inputWidth: 4, outputs: { p: 'probabilities[1]' } },
      'MODEL_OUTPUT_UNKNOWN',
      /no probability output \(it looks like a regressor/,
    );
    fails(
      ltv,
      { inputWidth: 4, outputs: { v: 'value[1]' } },
      'MODEL_OUTPUT_UNKNOWN',
      /column 1 is out of range: 'variable' has 1 columns$/,
    );
    fails(
      ltv,
      { inputWidth: 4, outputs: { v: "variable['x']" } },
      'MODEL_OUTPUT_UNKNOWN',
      /model declares no class labels/,
    );
    fails(
      sig('churn/1'),
      expect({ v: 'value' }),
      'MODEL_OUTPUT_UNKNOWN',
      /no single regression output \(it looks like a classifier/,
    );
  });

  test('a ZipMap that was not rewritten is reported as unsupported, with the fix', () => {
    const base = sig('churn/1');
    const kept: ModelSignature = {
      ...base,
      outputs: [base.outputs[0]!, { name: 'output_probability', isTensor: false }],
      rewrites: [],
    };
    fails(
      kept,
      expect({ p: 'probabilities[1]' }),
      'MODEL_OUTPUT_UNSUPPORTED',
      /'output_probability' is a sequence or map, which onnxruntime-node cannot return; export the classifier with skl2onnx option \{'zipmap': False\}/,
    );
    // Outputs nobody refers to do not matter.
    assert.equal(checkSignature(kept, expect({ l: 'label' })).outputs.length, 1);
  });
});
