import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ModelError } from '../../../workers/inference/errors.js';
import { OnnxModel } from '../../../workers/inference/model.js';
import { ModelRegistry } from '../../../workers/inference/session.js';
import { flatten, golden, modelPath } from './helpers.js';

const registry = new ModelRegistry();
after(() => registry.close());

const CHURN = [
  'tenure_months',
  'monthly_spend',
  'is_enterprise',
  'tickets_90d',
  'seats',
  'days_since_login',
  'plan_basic',
  'plan_pro',
];

function assertClose(
  actual: ArrayLike<number>,
  expected: readonly number[],
  tol: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    assert.ok(d <= tol, `${what}[${i}]: ${actual[i]} vs golden ${expected[i]} (|Δ| ${d} > ${tol})`);
  }
}

describe('golden parity with Python onnxruntime', () => {
  for (const [name, version] of [
    ['churn', 1],
    ['churn', 2],
    ['fraud', 1],
  ] as const) {
    test(`${name}/${version}: labels exact, probabilities within 1e-5`, async () => {
      const g = golden(name, version);
      const model = await OnnxModel.load(modelPath(name, version), {
        registry,
        version,
        featureNames: g.features,
        outputs: { label: 'label', p0: 'probabilities[0]', p1: 'probabilities[1]' },
      });
      assert.equal(model.signature.sha256, g.sha256);
      assert.deepEqual(model.signature.classes, g.classes);
      const p = await model.predict(flatten(g.rows), g.rows.length, g.features.length);
      assert.equal(p.size, g.rows.length);
      assert.deepEqual(p.columns['label'], g.label);
      assert.ok(p.columns['p1'] instanceof Float32Array);
      assertClose(
        p.columns['p0'] as Float32Array,
        g.probabilities!.map((r) => r[0]!),
        1e-5,
        'p0',
      );
      assertClose(
        p.columns['p1'] as Float32Array,
        g.probabilities!.map((r) => r[1]!),
        1e-5,
        'p1',
      );
    });
  }

  test('ltv/1: values within float32 precision', async () => {
    const g = golden('ltv', 1);
    const model = await OnnxModel.load(modelPath('ltv', 1), { registry, outputs: { ltv: 'value' } });
    assert.equal(model.signature.classes, null);
    const p = await model.predict(flatten(g.rows), g.rows.length, 4);
    const expected = g.value!;
    const got = p.columns['ltv'] as Float32Array;
    assert.ok(got instanceof Float32Array);
    // Both sides are float32 sums of the same trees; allow relative 1e-6 for summation order.
    for (let i = 0; i < expected.length; i++) {
      assert.ok(Math.abs(got[i]! - expected[i]!) <= 1e-6 * Math.abs(expected[i]!) + 1e-5, `ltv[${i}]`);
    }
  });

  test('ZipMap (churn/1) and tensor (churn/2) exports give identical predictions', async () => {
    const g = golden('churn', 1);
    const outputs = { label: 'label', score: 'probabilities[1]' };
    const a = await OnnxModel.load(modelPath('churn', 1), { registry, outputs });
    const b = await OnnxModel.load(modelPath('churn', 2), { registry, outputs });
    const x = flatten(g.rows);
    assert.deepEqual(await a.predict(x, g.rows.length, 8), await b.predict(x, g.rows.length, 8));
    assert.deepEqual(a.signature.rewrites, [
      "ZipMap 'output_probability' read as tensor(float) [N, 2] from 'proba_output'",
    ]);
    assert.deepEqual(b.signature.rewrites, []);
  });
});

describe('OnnxModel', () => {
  test('string classes select by name; labels are strings', async () => {
    const g = golden('fraud', 1);
    const model = await OnnxModel.load(modelPath('fraud', 1), {
      registry,
      outputs: {
        fraud_probability: "probabilities['fraud']",
        verdict: 'label',
        raw: 'output_probability[0]',
      },
    });
    assert.deepEqual(model.signature.classes, ['fraud', 'legit']);
    assert.deepEqual(
      model.outputs.map((o) => o.description),
      ['output_probability[:, 0] (class fraud)', 'output_label', 'output_probability[:, 0] (class fraud)'],
    );
    const p = await model.predict(flatten(g.rows), g.rows.length, 6);
    assert.deepEqual(p.columns['verdict'], g.label);
    assert.deepEqual(p.columns['fraud_probability'], p.columns['raw']);
    assert.ok((p.columns['verdict'] as string[]).includes('fraud'));
  });

  test('default outputs: label and one probability per class; value for regressors', async () => {
    const churn = await OnnxModel.load(modelPath('churn', 1), { registry });
    assert.deepEqual(
      churn.outputs.map((o) => o.field),
      ['label', 'probability_0', 'probability_1'],
    );
    const ltv = await OnnxModel.load(modelPath('ltv', 1), { registry });
    assert.deepEqual(
      ltv.outputs.map((o) => [o.field, o.output, o.column]),
      [['value', 'variable', 0]],
    );
  });

  test('int64 labels become numbers', async () => {
    const model = await OnnxModel.load(modelPath('churn', 2), { registry, outputs: { l: 'label' } });
    const p = await model.predict(new Float32Array(8), 1, 8);
    assert.equal(typeof (p.columns['l'] as unknown[])[0], 'number');
  });

  test('zero rows: no run, typed empty columns', async () => {
    const model = await OnnxModel.load(modelPath('fraud', 1), {
      registry,
      outputs: { l: 'label', p: 'probabilities[1]' },
    });
    const p = await model.predict(new Float32Array(0), 0, 6);
    assert.deepEqual(p, { size: 0, columns: { l: [], p: new Float32Array(0) } });
  });

  test('a larger buffer is fine; rows past `rows` are ignored', async () => {
    const g = golden('churn', 2);
    const model = await OnnxModel.load(modelPath('churn', 2), {
      registry,
      outputs: { p: 'probabilities[1]' },
    });
    const x = flatten(g.rows);
    const two = await model.predict(x, 2, 8);
    const all = await model.predict(x, g.rows.length, 8);
    assert.deepEqual(two.columns['p'], (all.columns['p'] as Float32Array).slice(0, 2));
  });

  test('a view into the middle of a larger buffer (byteOffset > 0) is read from its offset', async () => {
    const g = golden('ltv', 1);
    const model = await OnnxModel.load(modelPath('ltv', 1), { registry, outputs: { v: 'value' } });
    const x = flatten(g.rows);
    const all = await model.predict(x, g.rows.length, 4);
    const mid = await model.predict(x.subarray(5 * 4, 9 * 4), 4, 4);
    assert.deepEqual(mid.columns['v'], (all.columns['v'] as Float32Array).slice(5, 9));
  });

  test('wrong feature count at predict time is MODEL_INPUT_INVALID', async () => {
    const model = await OnnxModel.load(modelPath('churn', 2), {
      registry,
      outputs: { p: 'probabilities[1]' },
    });
    await assert.rejects(model.predict(new Float32Array(7), 1, 7), (err: unknown) => {
      assert.ok(ModelError.is(err));
      assert.equal(err.code, 'MODEL_INPUT_INVALID');
      assert.match(err.message, /model .*churn\/2\/model\.onnx: predict got 1 rows × 7 features/);
      return true;
    });
    await assert.rejects(model.predict(new Float32Array(15), 2, 8), /in a buffer of 15/);
  });

  test('input width mismatch at load names the features', async () => {
    const path = modelPath('churn', 1);
    await assert.rejects(
      OnnxModel.load(path, {
        registry,
        inputWidth: 7,
        featureNames: CHURN.slice(0, 7),
        outputs: { l: 'label' },
      }),
      (err: unknown) => {
        assert.ok(ModelError.is(err));
        assert.equal(err.code, 'MODEL_SIGNATURE_MISMATCH');
        assert.equal(
          err.message,
          `model ${path}: input 'features' has width 8, but the pipeline declares 7 features ` +
            '(tenure_months, monthly_spend, is_enterprise, tickets_90d, seats, days_since_login, plan_basic)',
        );
        return true;
      },
    );
  });

  test('a failed check releases the session it acquired', async () => {
    const own = new ModelRegistry();
    await assert.rejects(OnnxModel.load(modelPath('ltv', 1), { registry: own, outputs: { l: 'label' } }), {
      code: 'MODEL_OUTPUT_UNKNOWN',
    });
    assert.equal(own.size, 0);
    const m = await OnnxModel.load(modelPath('ltv', 1), { registry: own });
    assert.equal(own.size, 1);
    await m.close();
    assert.equal(own.size, 0);
    await assert.rejects(m.predict(new Float32Array(4), 1, 4), /predict after close/);
  });
});
