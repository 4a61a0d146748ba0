import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { positionTimeUs } from '../../workers/core/position.js';
import type { RunningServer } from '../../workers/serve/server.js';
import { runCli } from '../support/cli.js';
import { serveForTest } from '../support/serve.js';
import { deleteTopics, dropDebezium, withPg } from '../support/stack.js';
import {
  atBackfillTime,
  backfillCase,
  dropTables,
  scoreRows,
  snapshotEvents,
  startParitySource,
  streamInProcess,
  tableDiff,
} from './backfill-support.js';

// The three entry modes agree (issue 16). The same 1,000 CRM rows are scored (1) by a backfill of
// the table, (2) as Debezium's own snapshot events of them through the stream, each given the
// source time its row was backfilled at, and (3) through `streamscore serve`: each row's Debezium
// `after` (JsonConverter's JSON forms: base64 decimals, dates as days, ISO timestamps) posted to
// the API, whose clock reads the same source time, written through to a third table. The feature
// vectors and scores agree within 1e-6, and the three tables hold the same rows.
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
const ROWS = 1000;
const FEATURES = [
  'tenure_months',
  'monthly_spend',
  'is_enterprise',
  'tickets_90d',
  'seats',
  'days_since_login',
  'plan_basic',
  'plan_pro',
];
const parity = backfillCase(
  ROWS,
  {},
  {
    edit: (doc) => {
      // Every feature in the scores table, so the three tables compare whole feature vectors.
      for (const f of FEATURES) doc.setIn(['spec', 'sinks', 0, 'postgres', 'columns', f], `feature.${f}`);
      doc.setIn(['spec', 'serve'], { write: true, auth: 'none', max_batch: 64, max_wait_ms: 1 });
    },
  },
);
const { id, env: e, table, scores: backfilled, file } = parity;
const streamed = `ml.churn_${id}_streamed`;
const served = `ml.churn_${id}_api`;
const prefix = `svp${id}`;
const topic = `${prefix}.${table}`;
const connector = `serve_parity_${id}`;
let server: RunningServer | undefined;

before(() => startParitySource(parity, connector, prefix));

after(async () => {
  await server?.close();
  await dropDebezium(connector);
  await dropTables(streamed, served);
  await deleteTopics([topic, `svp-stream-${id}`, `svp-api-${id}`]);
});

interface Scored {
  p: number;
  features: number[];
}

/** A feature vector and score per customer, read from a scores table. */
async function tableVectors(scores: string): Promise<Map<number, Scored>> {
  return withPg(async (c) => {
    const r = await c.query(`select customer_id, churn_probability, ${FEATURES.join(', ')} from ${scores}`);
    return new Map(
      r.rows.map((x: Record<string, unknown>) => [
        Number(x['customer_id']),
        { p: Number(x['churn_probability']), features: FEATURES.map((f) => Number(x[f])) },
      ]),
    );
  });
}

function assertClose(what: string, actual: Scored, expected: Scored): void {
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
  assert.ok(close(actual.p, expected.p), `${what}: score ${actual.p}, expected ${expected.p}`);
  actual.features.forEach((v, i) => {
    assert.ok(
      close(v, expected.features[i]!),
      `${what}: ${FEATURES[i]} ${v}, expected ${expected.features[i]}`,
    );
  });
}

test('serve, the stream and a backfill give the same feature vectors and scores for the same rows', async () => {
  const res = await runCli(['backfill', file, '--wait'], e);
  assert.equal(res.code, 0, res.output);
  const fromBackfill = await scoreRows(backfilled);
  assert.equal(fromBackfill.size, ROWS);

  const events = atBackfillTime(await snapshotEvents(topic, ROWS), fromBackfill);
  await streamInProcess(
    file,
    { ...e, CHURN_SCORES_TABLE: streamed, CHURN_OUTPUT_TOPIC: `svp-stream-${id}` },
    events,
  );

  // The API: the pipeline validated with its own scores table, its clock at each row's source time.
  let now = new Date(0);
  server = await serveForTest([file], {
    env: { ...e, CHURN_SCORES_TABLE: served, CHURN_OUTPUT_TOPIC: `svp-api-${id}` },
    now: () => now,
  });
  // Rows grouped by the time they were backfilled at (one per chunk), posted 100 at a time.
  const byTime = new Map<number, Record<string, unknown>[]>();
  for (const m of events) {
    const after = JSON.parse(m.value!.toString()).payload.after as Record<string, unknown>;
    const ms = Number(positionTimeUs(fromBackfill.get(Number(after['customer_id']))!.position) / 1000n);
    byTime.set(ms, [...(byTime.get(ms) ?? []), after]);
  }
  const fromApi = new Map<number, Scored>();
  for (const [ms, rows] of byTime) {
    now = new Date(ms);
    for (let i = 0; i < rows.length; i += 100) {
      const body = rows.slice(i, i + 100).map((after) => ({ after }));
      const r = await fetch(`${server.url}/v1/pipelines/churn-scoring/predict?features=true`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await r.text();
      assert.equal(r.status, 200, text);
      const answer = JSON.parse(text) as {
        predictions: {
          key: number;
          outputs: { churn_probability: number };
          features: Record<string, number>;
        }[];
      };
      for (const p of answer.predictions) {
        fromApi.set(Number(p.key), {
          p: p.outputs.churn_probability,
          features: FEATURES.map((f) => p.features[f]!),
        });
      }
    }
  }
  assert.equal(fromApi.size, ROWS);

  const backfillVectors = await tableVectors(backfilled);
  const streamVectors = await tableVectors(streamed);
  assert.equal(streamVectors.size, ROWS);
  for (const [key, expected] of backfillVectors) {
    assertClose(`customer ${key} (api)`, fromApi.get(key)!, expected);
    assertClose(`customer ${key} (stream)`, streamVectors.get(key)!, expected);
  }
  // The API's write-through holds the very rows the backfill and the stream wrote (not their
  // positions: an API decision is positioned at its request, µs apart within this process).
  const exclude = ['scored_at', 'source_position'];
  for (const other of [streamed, served]) {
    const d = await tableDiff(backfilled, other, exclude);
    assert.match(d.columns, /"churn_probability".*"plan_pro"/);
    assert.deepEqual({ onlyBackfill: d.onlyA, onlyOther: d.onlyB }, { onlyBackfill: 0, onlyOther: 0 }, other);
  }
});
