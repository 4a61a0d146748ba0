import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type * as ort from 'onnxruntime-node';
import { parseDocument } from 'yaml';
import {
  type AuditRecordJson,
  computeAttribution,
  explainDecision,
  formatExplanation,
  HASH_NOTE,
  type StoredDecision,
} from '../../../workers/audit/explain.js';
import { hashedValue } from '../../../workers/audit/record.js';
import { ModelRegistry, OnnxModel } from '../../../workers/inference/index.js';
import { readVersion } from '../../../workers/models/catalog.js';
import { checkPipeline } from '../../../workers/spec/checks.js';
import { loadPipeline } from '../../../workers/spec/load.js';
import { manifestYaml } from '../../support/manifest.js';
import { referenceSession, runReference } from '../../support/onnx-reference.js';
import { churnPipelineCopy } from '../../support/pipelines.js';

/** |actual − expected| ≤ tolerance, with both in the message (assert.ok without one can hang under tsx). */
function near(actual: number, expected: number, what: string, tolerance = 1e-5): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`);
}

const MODELS = resolve('pipelines/models');
const CHURN1 = join(MODELS, 'churn', '1');
const { features: FEATURES, reference: REFERENCE } = manifestYaml(CHURN1);
const SHA1 = '7f918d97fb5bc8f23a84b93b08ea1d1037e0abe51d2df4e4f321394e6736a12e';

/** Golden rows of churn/1 (float32 values), a spread of scores. */
const golden = (JSON.parse(readFileSync(join(CHURN1, 'golden.json'), 'utf8')) as { rows: number[][] }).rows;

let session: ort.InferenceSession;
let model: OnnxModel;
const registry = new ModelRegistry();

/** P(churn) of each row by onnxruntime on the unmodified file, one run per row. */
async function independentScore(row: readonly number[]): Promise<number> {
  const out = await runReference(session, [row.map((v) => Math.fround(v))], ['proba_output']);
  return Number((out['proba_output']!.data as Float32Array)[1]);
}

before(async () => {
  session = await referenceSession(join(CHURN1, 'model.onnx'), ['proba_output']);
  model = await OnnxModel.load(join(CHURN1, 'model.onnx'), {
    registry,
    featureNames: FEATURES,
    outputs: { churn_probability: 'probabilities[1]', churn_label: 'label' },
    expectedSha256: SHA1,
  });
});

after(async () => {
  await model.close();
  await session.release();
});

describe('model manifests carry per-feature reference values', () => {
  test('the catalog reads `reference` (the training medians train.py writes)', () => {
    const v = readVersion(MODELS, 'churn', '1');
    assert.deepEqual(Object.keys(v.reference ?? {}), FEATURES);
    assert.deepEqual(v.reference, REFERENCE);
    for (const [name, version] of [
      ['churn', '2'],
      ['churn', '3'],
      ['fraud', '1'],
      ['ltv', '1'],
      ['demand', '1'],
    ] as const) {
      const info = readVersion(MODELS, name, version);
      assert.deepEqual(Object.keys(info.reference ?? {}), info.features, `${name}/${version}`);
    }
  });

  test('a manifest without reference values reads as none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'streamscore-noref-'));
    try {
      cpSync(CHURN1, join(dir, 'churn', '1'), { recursive: true });
      const file = join(dir, 'churn', '1', 'manifest.yaml');
      const doc = parseDocument(readFileSync(file, 'utf8'));
      doc.delete('reference');
      writeFileSync(file, doc.toString());
      assert.equal(readVersion(dir, 'churn', '1').reference, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('computeAttribution (one feature at a time to its training median, churn/1)', () => {
  const reference = REFERENCE;
  const rows = [golden[0]!, golden[5]!, golden[12]!, golden[17]!];

  test('every attribution equals score(x) − score(x with that feature at its median), by onnxruntime, within 1e-5', async () => {
    for (const row of rows) {
      const res = await computeAttribution(
        model,
        'churn_probability',
        FEATURES.map((name, j) => ({ name, value: row[j]!, reference: reference[name] })),
      );
      const score = await independentScore(row);
      near(res.rescored, score, 'rescored');
      near(res.baseline, await independentScore(FEATURES.map((n) => reference[n]!)), 'baseline');
      assert.deepEqual(
        res.features.map((f) => f.feature),
        FEATURES,
      );
      assert.deepEqual(res.notAttributed, []);
      assert.deepEqual(res.heldAtReference, []);
      for (const [j, name] of FEATURES.entries()) {
        const replaced = [...row];
        replaced[j] = reference[name]!;
        const expected = score - (await independentScore(replaced));
        const got = res.features[j]!;
        assert.equal(got.value, Math.fround(row[j]!));
        assert.equal(got.reference, Math.fround(reference[name]!));
        near(got.attribution, expected, name);
      }
    }
    // Not a vacuous comparison: the rows' features do move the score.
    const res = await computeAttribution(
      model,
      'churn_probability',
      FEATURES.map((name, j) => ({ name, value: rows[0]![j]!, reference: reference[name] })),
    );
    assert.ok(
      res.features.some((f) => Math.abs(f.attribution) > 0.01),
      'no attribution above 0.01',
    );
  });

  test('a feature kept out of the record is held at its median everywhere and not attributed', async () => {
    const row = golden[3]!;
    const hidden = 'days_since_login'; // one that moves the score: held at 0 it would read otherwise
    const res = await computeAttribution(
      model,
      'churn_probability',
      FEATURES.map((name, j) => ({
        name,
        value: name === hidden ? undefined : row[j]!,
        reference: reference[name],
      })),
    );
    assert.deepEqual(res.heldAtReference, [hidden]);
    assert.deepEqual(
      res.notAttributed.map((n) => n.feature),
      [hidden],
    );
    const point = FEATURES.map((n, j) => (n === hidden ? reference[n]! : row[j]!));
    const score = await independentScore(point);
    near(res.rescored, score, 'rescored');
    assert.equal(res.features.length, FEATURES.length - 1);
    for (const f of res.features) {
      const j = FEATURES.indexOf(f.feature);
      const replaced = [...point];
      replaced[j] = reference[f.feature]!;
      near(f.attribution, score - (await independentScore(replaced)), f.feature);
    }
  });

  test('a feature without a reference value is not attributed; a kept-out one without it stops the attribution', async () => {
    const row = golden[7]!;
    const res = await computeAttribution(
      model,
      'churn_probability',
      FEATURES.map((name, j) => ({
        name,
        value: row[j]!,
        reference: name === 'seats' ? undefined : reference[name],
      })),
    );
    assert.deepEqual(res.notAttributed, [
      { feature: 'seats', reason: 'no reference value in the model manifest' },
    ]);
    near(res.rescored, await independentScore(row), 'rescored');
    await assert.rejects(
      computeAttribution(
        model,
        'churn_probability',
        FEATURES.map((name, j) => ({
          name,
          value: name === 'seats' ? undefined : row[j]!,
          reference: undefined,
        })),
      ),
      /seats is kept out of the record and has no reference value/,
    );
  });
});

describe('explainDecision (a stored record, the pipeline, the registry)', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** The churn example fixed to version 1 of `registryDir`, monthly_spend hashed, seats omitted. */
  function pipeline(registryDir = MODELS) {
    const file = churnPipelineCopy(`explain-unit-${Math.random().toString(16).slice(2, 10)}`, {
      warehouse: false,
      edit: (doc) => {
        doc.setIn(['spec', 'model', 'registry'], registryDir);
        doc.deleteIn(['spec', 'model', 'alias']);
        doc.deleteIn(['spec', 'model', 'control_topic']);
        doc.deleteIn(['spec', 'model', 'shadow']);
        doc.setIn(['spec', 'model', 'version'], '1');
        doc.setIn(
          ['spec', 'audit'],
          doc.createNode({
            features: { monthly_spend: 'hash', seats: 'omit' },
            hash_key: 'unit-test-hash-key',
            retention_days: 180,
          }),
        );
      },
    });
    dirs.push(resolve(file, '..'));
    const loaded = loadPipeline(file);
    assert.deepEqual(loaded.problems, []);
    const { problems, checked } = checkPipeline(loaded, loaded.pipeline!);
    assert.deepEqual(problems, []);
    return { file, p: loaded.pipeline!, checked };
  }

  function stored(row: readonly number[], score: number, sha = SHA1): StoredDecision {
    const features: Record<string, unknown> = {};
    FEATURES.forEach((n, j) => {
      const v = Math.fround(row[j]!);
      if (n === 'monthly_spend') features[n] = hashedValue(v, 'unit-test-hash-key');
      else if (n !== 'seats') features[n] = v;
    });
    const record: AuditRecordJson = {
      decision_id: '6f1c1f0e-8d55-4a51-9d4f-3c1e2f6e7a10',
      pipeline: 'churn-scoring',
      pipeline_sha256: '0'.repeat(64),
      worker: 'host-1',
      model: { name: 'churn', version: '1', alias: null, sha256: sha },
      shadow: null,
      source: {
        topic: 'crm.crm.customers',
        partition: 0,
        offset: '41',
        position: '1',
        commit_ts: '2026-01-01T00:00:00.000Z',
      },
      key: 42,
      features,
      outputs: { churn_probability: score, churn_label: score >= 0.5 ? 1 : 0 },
      event_at: '2026-01-01T00:00:00.000Z',
      scored_at: '2026-01-01T00:00:01.000Z',
    };
    return {
      decisionId: record.decision_id,
      chain: 'crm.crm.customers/0',
      seq: '7',
      key: '42',
      position: '1',
      writtenAt: '2026-01-01T00:00:02.000Z',
      record,
    };
  }

  test('features with expressions, hashed and omitted ones without their value, attributions by onnxruntime', async () => {
    const { file, p, checked } = pipeline();
    const row = golden[9]!;
    const score = await independentScore(row);
    const e = await explainDecision(file, p, checked, stored(row, score), { registry });
    assert.deepEqual(
      e.features.map((f) => [f.name, f.policy]),
      FEATURES.map((n) => [n, n === 'monthly_spend' ? 'hash' : n === 'seats' ? 'omit' : 'full']),
    );
    const spend = e.features.find((f) => f.name === 'monthly_spend')!;
    assert.equal(spend.value, undefined);
    assert.equal(spend.hash, hashedValue(Math.fround(row[1]!), 'unit-test-hash-key'));
    assert.equal(spend.note, HASH_NOTE);
    assert.equal(spend.expression, 'coalesce(after.monthly_spend, 0)');
    assert.equal(e.features[0]!.expression, 'months_between(after.signup_date, source.ts_ms)');
    assert.equal(e.features[0]!.value, row[0]);
    assert.deepEqual(e.score, { field: 'churn_probability', value: score });
    const a = e.attribution!;
    assert.equal(a.model.sha256, SHA1);
    assert.deepEqual(a.heldAtReference, ['monthly_spend', 'seats']);
    const reference = REFERENCE;
    const point = FEATURES.map((n, j) => (n === 'monthly_spend' || n === 'seats' ? reference[n]! : row[j]!));
    const rescored = await independentScore(point);
    near(a.rescored, rescored, 'rescored');
    for (const f of a.features) {
      const replaced = [...point];
      replaced[FEATURES.indexOf(f.feature)] = reference[f.feature]!;
      near(f.attribution, rescored - (await independentScore(replaced)), f.feature);
    }
    assert.ok(
      e.notes.some((n) => /monthly_spend, seats are kept out of the record/.test(n)),
      e.notes.join('\n'),
    );
    assert.ok(
      e.notes.some((n) => /pipeline file changed/.test(n)),
      e.notes.join('\n'),
    );

    const text = formatExplanation(e);
    const json = JSON.stringify(e);
    for (const shown of [String(Math.fround(row[1]!)), String(row[1]), String(row[4])]) {
      assert.ok(!text.includes(` ${shown} `) && !json.includes(`:${shown}`), `${shown} appears`);
    }
    assert.match(
      text,
      /monthly_spend +coalesce\(after.monthly_spend, 0\) +h:[A-Za-z0-9_-]{22} value kept out \(hash policy\)/,
    );
    assert.match(text, /seats +after.seats +not recorded \(omit policy\)/);
    assert.match(text, /one-at-a-time replacement by the training median/);
    assert.match(text, /not attributed: monthly_spend \(value not kept: hash or omit policy\)/);
    assert.match(text, /churn version 1 sha256 7f918d97fb5b/);
  });

  test('a model whose sha256 differs from the record’s is not used; a manifest without reference says so', async () => {
    const { file, p, checked } = pipeline();
    const row = golden[2]!;
    const other = 'a'.repeat(64);
    const e = await explainDecision(file, p, checked, stored(row, await independentScore(row), other), {
      registry,
    });
    assert.equal(e.attribution, null);
    assert.ok(
      e.notes.some((n) => n.includes(`the decision was made by ${other}`)),
      e.notes.join('\n'),
    );

    const dir = mkdtempSync(join(tmpdir(), 'streamscore-noref-'));
    dirs.push(dir);
    cpSync(CHURN1, join(dir, 'churn', '1'), { recursive: true });
    const manifest = join(dir, 'churn', '1', 'manifest.yaml');
    const doc = parseDocument(readFileSync(manifest, 'utf8'));
    doc.delete('reference');
    writeFileSync(manifest, doc.toString());
    const q = pipeline(dir);
    const e2 = await explainDecision(q.file, q.p, q.checked, stored(row, await independentScore(row)), {
      registry,
    });
    assert.equal(e2.attribution, null);
    assert.ok(
      e2.notes.some((n) => /has no reference values/.test(n)),
      e2.notes.join('\n'),
    );
    assert.match(formatExplanation(e2), /Main elements of the decision: not computed/);
  });

  test('the pipeline file sha256 is compared with the record’s', async () => {
    const { file, p, checked } = pipeline();
    const d = stored(golden[1]!, 0.5);
    d.record.pipeline_sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
    const e = await explainDecision(file, p, checked, d, { registry });
    assert.equal(e.pipelineSha256.same, true);
    assert.ok(!e.notes.some((n) => /pipeline file changed/.test(n)), e.notes.join('\n'));
  });
});
