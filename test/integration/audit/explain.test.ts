/**
 * `streamscore explain` on the real Postgres: predictions written with their audit records by the
 * real PostgresSink (spec.audit of a copy of the churn example, fixed to churn/1), then explained by
 * the CLI, text and json. Scores and attributions are computed here independently with onnxruntime
 * on the unmodified model file and the manifest's reference values read as YAML.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as ort from 'onnxruntime-node';
import { auditOptions } from '../../../workers/audit/config.js';
import type { Explanation } from '../../../workers/audit/explain.js';
import { recordOverride } from '../../../workers/audit/override.js';
import { hashedValue } from '../../../workers/audit/record.js';
import { makePosition } from '../../../workers/core/position.js';
import { Secret } from '../../../workers/core/secret.js';
import { silentLogger } from '../../../workers/core/silent-logger.js';
import type { PredictionRow, PredictionSchema } from '../../../workers/core/types.js';
import { createPostgresKnex } from '../../../workers/sinks/postgres/client.js';
import { PostgresSink } from '../../../workers/sinks/postgres/sink.js';
import { loadPipeline } from '../../../workers/spec/load.js';
import { runCli } from '../../support/cli.js';
import { manifestYaml } from '../../support/manifest.js';
import { referenceSession, runReference } from '../../support/onnx-reference.js';
import { churnPipelineCopy } from '../../support/pipelines.js';
import { env, uniqueId, withPg } from '../../support/stack.js';

/** |actual − expected| ≤ tolerance, with both in the message (assert.ok without one can hang under tsx). */
function near(actual: number, expected: number, what: string, tolerance = 1e-5): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`);
}

const id = uniqueId();
const SCHEMA = `explaintest_${id}`;
const CHURN1 = resolve('pipelines/models/churn/1');
const SHA1 = '7f918d97fb5bc8f23a84b93b08ea1d1037e0abe51d2df4e4f321394e6736a12e';
const TOPIC = 'crm.crm.customers';
const { features: FEATURES, reference: REFERENCE } = manifestYaml(CHURN1);
const OUTPUTS = ['churn_probability', 'churn_label'];
const schema: PredictionSchema = {
  key: 'int',
  fields: [
    { name: 'churn_probability', type: 'float' },
    { name: 'churn_label', type: 'int' },
    ...FEATURES.map((f) => ({ name: `feature.${f}`, type: 'float' as const })),
  ],
};

// Feature rows (float32-exact). monthly_spend carries values that appear nowhere else in the output.
const A = [3, 4321.25, 0, 5, 2, 32, 1, 0];
const B = [40, 8765.5, 0, 0, 12, 2, 0, 1];
const C = [11, 1234.75, 1, 2, 300, 14, 0, 0];
const D = [5, 2468.125, 0, 4, 3, 45, 1, 0];

let session: ort.InferenceSession;

async function score(row: readonly number[]): Promise<number> {
  const out = await runReference(session, [row.map((v) => Math.fround(v))], ['proba_output']);
  return Number((out['proba_output']!.data as Float32Array)[1]);
}

const HASH_KEY = 'explain-test-hash-key';

/** A copy of the churn example fixed to churn/1, with its own scores and audit tables. */
function pipelineFile(name: string, features: Record<string, string>): string {
  return churnPipelineCopy(`explain-${id}-${name}`, {
    warehouse: false,
    edit: (doc) => {
      doc.deleteIn(['spec', 'model', 'alias']);
      doc.deleteIn(['spec', 'model', 'control_topic']);
      doc.deleteIn(['spec', 'model', 'shadow']);
      doc.setIn(['spec', 'model', 'version'], '1');
      doc.setIn(['spec', 'sinks', 0, 'postgres', 'table'], `${SCHEMA}.scores_${name}`);
      doc.setIn(
        ['spec', 'audit'],
        doc.createNode({
          table: `${SCHEMA}.audit_${name}`,
          features,
          hash_key: HASH_KEY,
          retention_days: 180,
        }),
      );
    },
  });
}

/** Scores rows with onnxruntime and writes them, one batch per call, through the pipeline's first postgres sink with its audit. */
async function write(file: string, batches: { key: number; x: number[]; at: number; offset: number }[][]) {
  const p = loadPipeline(file).pipeline!;
  const config = p.spec.sinks[0]!.postgres!;
  let audited = 0;
  const sink = new PostgresSink({
    config,
    schema,
    pipeline: p.metadata.name,
    knex: createPostgresKnex(config),
    ownsKnex: true,
    logger: silentLogger,
    audit: auditOptions(file, p, (n) => {
      audited += n;
    }),
  });
  await sink.open();
  try {
    for (const rows of batches) {
      const predictionRows: PredictionRow[] = [];
      for (const r of rows) {
        const s = await score(r.x);
        predictionRows.push({
          key: r.key,
          op: 'u',
          values: [s, s >= 0.5 ? 1 : 0, ...r.x.map((v) => Math.fround(v))],
          position: makePosition(BigInt(r.at) * 1000n, r.offset),
          scoredAt: new Date(),
          sourceTsMs: r.at,
          origin: { topic: TOPIC, partition: 0, offset: String(r.offset) },
        });
      }
      await sink.write({
        pipeline: p.metadata.name,
        model: { name: 'churn', version: '1', sha256: SHA1 },
        fields: [...OUTPUTS, ...FEATURES.map((f) => `feature.${f}`)],
        rows: predictionRows,
      });
    }
  } finally {
    await sink.close();
  }
  return audited;
}

async function decisionIds(name: string, key: string): Promise<string[]> {
  return withPg(async (c) => {
    const r = await c.query<{ decision_id: string }>(
      `SELECT decision_id::text FROM "${SCHEMA}"."audit_${name}" WHERE key = $1 AND record->>'type' IS NULL ORDER BY seq`,
      [key],
    );
    return r.rows.map((x) => x.decision_id);
  });
}

async function explainJson(args: string[]): Promise<Explanation> {
  const r = await runCli(['explain', ...args, '--format', 'json']);
  assert.equal(r.code, 0, r.output);
  return JSON.parse(r.output) as Explanation;
}

/**
 * The expected attributions: the point is the recorded row with the kept-out features at their
 * reference (their value is unknown to explain); each feature alone set to its reference.
 */
async function expectAttribution(e: Explanation, row: readonly number[], keptOut: readonly string[]) {
  const point = FEATURES.map((n, j) => (keptOut.includes(n) ? REFERENCE[n]! : row[j]!));
  const rescored = await score(point);
  const a = e.attribution!;
  assert.ok(a !== null, e.notes.join('\n'));
  assert.equal(a.scoreField, 'churn_probability');
  near(a.rescored, rescored, 'rescored');
  near(a.baseline, await score(FEATURES.map((n) => REFERENCE[n]!)), 'baseline');
  assert.deepEqual(
    a.features.map((f) => f.feature),
    FEATURES.filter((n) => !keptOut.includes(n)),
  );
  assert.deepEqual(
    a.notAttributed.map((n) => n.feature),
    [...keptOut],
  );
  for (const f of a.features) {
    const j = FEATURES.indexOf(f.feature);
    const replaced = [...point];
    replaced[j] = REFERENCE[f.feature]!;
    const expected = rescored - (await score(replaced));
    near(f.attribution, expected, f.feature);
    assert.equal(f.value, Math.fround(row[j]!));
    assert.equal(f.reference, Math.fround(REFERENCE[f.feature]!));
  }
  assert.equal(a.model.sha256, SHA1);
  assert.equal(a.model.version, '1');
}

/** Features as recorded: full ones by value, hashed ones by their hash only, omitted ones absent. */
function expectFeatures(e: Explanation, row: readonly number[], policies: Record<string, string>) {
  assert.deepEqual(
    e.features.map((f) => f.name),
    FEATURES,
  );
  const p = loadPipeline(resolve('pipelines/churn-scoring.yaml')).pipeline!;
  for (const [j, f] of e.features.entries()) {
    const def = p.spec.features.map[f.name]!;
    assert.equal(f.expression, typeof def === 'string' ? def : def.expr, f.name);
    const policy = policies[f.name] ?? 'full';
    assert.equal(f.policy, policy, f.name);
    if (policy === 'full') assert.equal(f.value, Math.fround(row[j]!), f.name);
    else assert.ok(!('value' in f), `${f.name} shows a value`);
    if (policy === 'hash') {
      assert.equal(f.hash, hashedValue(Math.fround(row[j]!), HASH_KEY));
      assert.equal(f.note, 'value kept out (hash policy)');
    }
  }
}

const HASHED = { monthly_spend: 'hash', seats: 'omit' };
let hashedFile: string;
let fullFile: string;

before(async () => {
  session = await referenceSession(join(CHURN1, 'model.onnx'), ['proba_output']);
  hashedFile = pipelineFile('h', HASHED);
  fullFile = pipelineFile('f', {});
  const t = Date.now() - 60_000;
  const n = await write(hashedFile, [
    [
      { key: 1001, x: A, at: t, offset: 10 },
      { key: 1002, x: C, at: t, offset: 11 },
    ],
    [{ key: 1001, x: B, at: t + 1000, offset: 12 }],
  ]);
  assert.equal(n, 3);
  assert.equal(await write(fullFile, [[{ key: 2001, x: D, at: t, offset: 20 }]]), 1);
});

after(async () => {
  await session?.release();
  await withPg((c) => c.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`));
  for (const f of [hashedFile, fullFile]) if (f) rmSync(dirname(f), { recursive: true, force: true });
});

describe('streamscore explain', () => {
  it('json: the newest decision of the key, its event, model, features, score and attributions', async () => {
    const e = await explainJson([hashedFile, '1001']);
    const [, newest] = await decisionIds('h', '1001');
    assert.equal(e.decision.id, newest);
    assert.equal(e.decision.key, '1001');
    assert.equal(e.source.topic, TOPIC);
    assert.equal(e.source.partition, 0);
    assert.equal(e.source.offset, '12');
    assert.deepEqual(e.model, { name: 'churn', version: '1', alias: null, sha256: SHA1 });
    assert.equal(e.pipelineSha256.same, true);
    expectFeatures(e, B, HASHED);
    const s = await score(B);
    assert.equal(e.score?.field, 'churn_probability');
    near(e.score!.value!, s, 'score');
    near(e.outputs['churn_probability'] as number, s, 'churn_probability');
    await expectAttribution(e, B, ['monthly_spend', 'seats']);
    assert.ok(
      e.notes.some((n) => n.includes('monthly_spend, seats are kept out of the record')),
      e.notes.join('\n'),
    );
  });

  it('audit hash: a claimed value hashes to the record’s hash exactly when it is the value scored', async () => {
    const e = await explainJson([hashedFile, '1001']);
    const recorded = e.features.find((f) => f.name === 'monthly_spend')!.hash;
    const right = await runCli(['audit', 'hash', hashedFile, String(B[1])]);
    assert.deepEqual({ code: right.code, out: right.output.trim() }, { code: 0, out: recorded });
    const wrong = await runCli(['audit', 'hash', hashedFile, String(B[1]! + 1)]);
    assert.notEqual(wrong.output.trim(), recorded);
    const bad = await runCli(['audit', 'hash', hashedFile, 'lots']);
    assert.equal(bad.code, 2);
    assert.match(bad.output, /expected a number \(or true\/false\) as the feature value, got 'lots'/);
  });

  it('text: the same decision for people; a hash-policy feature never shows its value', async () => {
    const r = await runCli(['explain', hashedFile, '1001']);
    assert.equal(r.code, 0, r.output);
    const text = r.output;
    assert.match(text, /^Decision [0-9a-f-]{36} of churn-scoring for key 1001$/m);
    assert.match(text, new RegExp(`change event +${TOPIC} partition 0 offset 12, position \\d+, committed `));
    assert.match(text, new RegExp(`model +churn version 1 sha256 ${SHA1}`));
    assert.match(
      text,
      /monthly_spend +coalesce\(after\.monthly_spend, 0\) +h:[A-Za-z0-9_-]{22} value kept out \(hash policy\)/,
    );
    assert.match(text, /seats +after\.seats +not recorded \(omit policy\)/);
    assert.match(text, /tenure_months +months_between\(after\.signup_date, source\.ts_ms\) +40$/m);
    assert.match(text, /Main elements of the decision \(score: churn_probability = /);
    assert.match(text, /one-at-a-time replacement by the training median/);
    assert.match(text, /ignores\s+interactions/);
    assert.match(text, /not attributed: monthly_spend \(value not kept: hash or omit policy\)/);
    const json = (await runCli(['explain', hashedFile, '1001', '--format', 'json'])).output;
    for (const spend of [A[1]!, B[1]!, C[1]!]) {
      assert.ok(!text.includes(String(spend)), `text shows ${spend}`);
      assert.ok(!json.includes(String(spend)), `json shows ${spend}`);
    }
  });

  it('--decision <id>: that past decision of the key', async () => {
    const [first] = await decisionIds('h', '1001');
    const e = await explainJson([hashedFile, '1001', '--decision', first!]);
    assert.equal(e.decision.id, first);
    assert.equal(e.source.offset, '10');
    expectFeatures(e, A, HASHED);
    near(e.score!.value!, await score(A), 'score');
    await expectAttribution(e, A, ['monthly_spend', 'seats']);
    const text = (await runCli(['explain', hashedFile, '1001', '--decision', first!])).output;
    assert.match(text, new RegExp(`^Decision ${first} `, 'm'));
  });

  it('every feature recorded: the re-scored decision is the recorded one, attributions at that point', async () => {
    const e = await explainJson([fullFile, '2001']);
    expectFeatures(e, D, {});
    const s = await score(D);
    near(e.score!.value!, s, 'score');
    near(e.attribution!.rescored, e.score!.value!, 'rescored vs recorded', 1e-6);
    await expectAttribution(e, D, []);
    assert.deepEqual(e.attribution!.heldAtReference, []);
    assert.ok(!e.notes.some((n) => /kept out|re-scoring/.test(n)), e.notes.join('\n'));
    const sum = e.attribution!.features.reduce((acc, f) => acc + f.attribution, 0);
    near(e.attribution!.sum, sum, 'sum', 1e-9);
  });

  it('an unknown key, or a decision of another key: exit 1 with a clear message', async () => {
    const r = await runCli(['explain', hashedFile, '999999']);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /no decision for key '999999' in explaintest_[0-9a-f]+\.audit_h/);
    const [other] = await decisionIds('h', '1002');
    const r2 = await runCli(['explain', hashedFile, '1001', '--decision', other!]);
    assert.equal(r2.code, 1, r2.output);
    assert.match(r2.output, new RegExp(`decision ${other} is about key '1002', not '1001'`));
    const r3 = await runCli([
      'explain',
      hashedFile,
      '1001',
      '--decision',
      '00000000-0000-4000-8000-000000000000',
    ]);
    assert.equal(r3.code, 1, r3.output);
    assert.match(r3.output, /no decision 00000000-0000-4000-8000-000000000000/);
    const r4 = await runCli(['explain', hashedFile, '1001', '--decision', 'nope']);
    assert.equal(r4.code, 2, r4.output);
  });

  it('a human override of the decision is shown with it; the override is no decision itself', async () => {
    const [, newest] = await decisionIds('h', '1001');
    const db = createPostgresKnex({ url: new Secret(env.databaseUrl), pool_size: 1 });
    try {
      const o = await recordOverride(db, `${SCHEMA}.audit_h`, {
        key: '1001',
        value: '0',
        by: 'analyst@example.com',
        reason: 'customer renewed by phone',
      });
      assert.equal(o.overrides, newest);
      const e = await explainJson([hashedFile, '1001']);
      assert.equal(e.decision.id, newest);
      assert.deepEqual(
        e.overrides.map((x) => [x.decisionId, x.value, x.by, x.reason]),
        [[o.decisionId, 0, 'analyst@example.com', 'customer renewed by phone']],
      );
      const text = (await runCli(['explain', hashedFile, '1001'])).output;
      assert.match(
        text,
        /Overridden by people\n .* by analyst@example\.com: 0 \(customer renewed by phone; override /,
      );
      const past = await explainJson([
        hashedFile,
        '1001',
        '--decision',
        (await decisionIds('h', '1001'))[0]!,
      ]);
      assert.deepEqual(past.overrides, []);
    } finally {
      await db.destroy();
    }
  });
});
