import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makePosition } from '../../../workers/core/position.js';
import type { PredictionBatch, Sink } from '../../../workers/core/types.js';
import { compileExpression } from '../../../workers/expr/index.js';
import { FeatureMapper } from '../../../workers/features/mapper.js';
import { ModelBatcher, type ScoringModel } from '../../../workers/inference/index.js';
import { fixedModel } from '../../../workers/scoring/lease.js';
import {
  type Decision,
  ScoreRejectedError,
  Scorer,
  type ScorerDeps,
  ScorerError,
} from '../../../workers/scoring/scorer.js';

const expr = (s: string) => {
  const r = compileExpression(s);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
};

/** score = x + y per row; every call (rows per call) is recorded. */
function countingModel(): ScoringModel & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    width: 2,
    outputFields: ['score'],
    async predict(features, rows) {
      calls.push(rows);
      const score = new Float64Array(rows);
      for (let i = 0; i < rows; i++) score[i] = features[i * 2]! + features[i * 2 + 1]!;
      return { size: rows, columns: { score } };
    },
  };
}

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);

function scorer(
  model: ScoringModel,
  batching: { maxSize: number; maxWaitMs: number },
  more: Partial<ScorerDeps> = {},
): Scorer {
  const mapper = new FeatureMapper({
    pipeline: 'p',
    key: expr('after.id'),
    features: [
      { name: 'x', type: 'float', expr: expr('after.x'), width: 1, onNull: 'reject' },
      { name: 'y2', type: 'float', expr: expr('after.y * 2'), width: 1, onNull: 0 },
    ],
    scoreOps: ['c', 'u', 'r'],
  });
  return new Scorer({
    pipeline: 'p',
    mapper,
    models: fixedModel({ name: 'm', version: '7', sha256: 'abc' }, new ModelBatcher(model, batching)),
    reader: undefined,
    envelope: true,
    op: 'c',
    now: () => new Date(NOW),
    ...more,
  });
}

const rec = (id: number, x: number | null, y = 1) => ({ after: { id, x, y } });

test('concurrent calls are gathered into one inference call, each answered with its own rows', async () => {
  const model = countingModel();
  const s = scorer(model, { maxSize: 64, maxWaitMs: 5 });
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => s.score([rec(i, i)])));
  assert.deepEqual(model.calls, [10]);
  results.forEach((r, i) => {
    const d = r[0] as Decision;
    assert.equal(d.ok, true);
    assert.equal(d.key, i);
    assert.deepEqual(d.outputs, { score: i + 2 });
    assert.deepEqual(d.features, { x: i, y2: 2 });
    assert.deepEqual(d.model, { name: 'm', version: '7', sha256: 'abc' });
  });
});

test('batches are at most max_batch rows: 10 single-record calls with max 4 → 4 + 4 + 2', async () => {
  const model = countingModel();
  const s = scorer(model, { maxSize: 4, maxWaitMs: 5 });
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => s.score([rec(i, i)])));
  assert.deepEqual(model.calls, [4, 4, 2]);
  assert.deepEqual(
    results.map((r) => (r[0] as Decision).outputs['score']),
    Array.from({ length: 10 }, (_, i) => i + 2),
  );
});

test('each call is positioned at its request time, later calls after earlier ones, every decision id unique', async () => {
  const s = scorer(countingModel(), { maxSize: 64, maxWaitMs: 0 });
  const a = (await s.score([rec(1, 1), rec(2, 2)])) as Decision[];
  const b = (await s.score([rec(1, 1)])) as Decision[];
  assert.equal(a[0]!.position, makePosition(BigInt(NOW) * 1000n, 0));
  assert.equal(a[1]!.position, a[0]!.position, 'records of one call share its time');
  assert.ok(b[0]!.position > a[0]!.position, 'a later call at the same clock reading is positioned after');
  const ids = new Set([...a, ...b].map((d) => d.decisionId));
  assert.equal(ids.size, 3);
});

test('failures are returned in place; with allOrNothing nothing is scored and every failure is listed', async () => {
  const model = countingModel();
  const s = scorer(model, { maxSize: 64, maxWaitMs: 0 });
  const mixed = await s.score([rec(1, 1), rec(2, null), { after: 'x' }]);
  assert.equal(mixed[0]!.ok, true);
  assert.deepEqual(mixed[1], {
    ok: false,
    code: 'unscorable',
    path: '[1]',
    message: 'feature x is null and its on_null policy is reject',
  });
  assert.deepEqual(mixed[2], {
    ok: false,
    code: 'bad_input',
    path: '[2].after',
    message: 'expected an object of the row’s columns, found string',
  });
  model.calls.length = 0;
  await assert.rejects(
    () => s.score([rec(1, 1), rec(2, null)], { allOrNothing: true }),
    (err: unknown) =>
      err instanceof ScoreRejectedError &&
      err.failures.length === 1 &&
      err.message === '[1]: feature x is null and its on_null policy is reject',
  );
  assert.deepEqual(model.calls, [], 'the model never ran');
});

test('write-through: the rows reach every sink, at the request position, naming the request', async () => {
  const written: PredictionBatch[] = [];
  const sink: Sink = {
    name: 'memory',
    capabilities: { idempotent: true, maxBatchRows: 1000 },
    open: async () => undefined,
    write: async (b) => {
      written.push(b);
    },
    close: async () => undefined,
  };
  const s = scorer(countingModel(), { maxSize: 64, maxWaitMs: 0 }, { sinks: [sink] });
  const [d] = (await s.score([rec(5, 3)], { request: 'req-1' })) as Decision[];
  assert.equal(written.length, 1);
  const b = written[0]!;
  assert.deepEqual(b.fields, ['score', 'feature.x', 'feature.y2']);
  assert.deepEqual(b.model, { name: 'm', version: '7', sha256: 'abc' });
  assert.equal(b.rows.length, 1);
  const row = b.rows[0]!;
  assert.deepEqual(
    {
      key: row.key,
      op: row.op,
      values: row.values,
      position: row.position,
      request: row.request,
      decision: row.decision,
    },
    { key: 5, op: 'c', values: [5, 3, 2], position: d!.position, request: 'req-1', decision: d!.decisionId },
  );
  assert.equal(row.sourceTsMs, NOW);

  const failing: Sink = { ...sink, write: async () => Promise.reject(new Error('database down')) };
  const f = scorer(countingModel(), { maxSize: 64, maxWaitMs: 0 }, { sinks: [failing] });
  await assert.rejects(
    () => f.score([rec(5, 3)]),
    (err: unknown) =>
      ScorerError.is(err) &&
      err.code === 'write_failed' &&
      err.message === 'the predictions were not stored: database down',
  );
});

test('a suspended pipeline scores nothing', async () => {
  const model = countingModel();
  const s = scorer(
    model,
    { maxSize: 64, maxWaitMs: 0 },
    { suspended: () => ({ by: 'ops', reason: 'drift' }) },
  );
  await assert.rejects(
    () => s.score([rec(1, 1)]),
    (err: unknown) =>
      ScorerError.is(err) &&
      err.code === 'suspended' &&
      err.message === 'pipeline p is suspended by ops: drift',
  );
  assert.deepEqual(model.calls, []);
});
