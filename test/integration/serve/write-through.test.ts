import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { makePosition } from '../../../workers/core/position.js';
import type { RunningServer } from '../../../workers/serve/server.js';
import { fraudPipelineCopy } from '../../support/pipelines.js';
import { serveForTest } from '../../support/serve.js';
import { deleteTopics, dropPgTables, readTopic, uniqueId, withPg } from '../../support/stack.js';

// serve: { write: true } — an API decision is stored like a streamed one: in the pipeline's sinks,
// positioned at the request time, under the same order guard (an older decision never overwrites
// a newer one). The server's clock is the test's, so "older" is exact.
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
const id = uniqueId();
const table = `ml.fraud_api_${id}`;
const topic = `fraud-api-${id}`;
const T2 = new Date(Date.UTC(2026, 5, 1, 12, 0, 0));
/** Two replicas of the API, each with its own clock: `b`'s may lag behind `a`'s. */
const replicas: { server: RunningServer; now: Date }[] = [];

before(async () => {
  const file = fraudPipelineCopy(id, 'fraud-write', (doc) => {
    doc.setIn(['spec', 'serve', 'write'], true);
    doc.setIn(['spec', 'serve', 'auth'], 'none');
    doc.setIn(['spec', 'serve', 'timeout_ms'], 10_000);
    doc.setIn(['spec', 'sinks', 0, 'postgres', 'table'], table);
    doc.setIn(['spec', 'sinks', 1, 'kafka', 'topic'], topic);
  });
  for (let i = 0; i < 2; i++) {
    const replica = { now: T2, server: undefined as unknown as RunningServer };
    replica.server = await serveForTest([file], { now: () => replica.now });
    replicas.push(replica);
  }
});

after(async () => {
  for (const r of replicas) await r.server.close();
  await dropPgTables(table);
  await deleteTopics([topic]);
});

const KEY = '0b5e4c1a-1111-4c36-9a52-2d4b1f7b1e10';
const row = (amount: number) => ({
  transaction_id: KEY,
  card_id: 7,
  amount,
  currency: 'EUR',
  merchant_country: 'DE',
  card_country: 'US',
  merchant_risk: 0.9,
  velocity_1h: 12,
  card_issued_on: 20000,
  created_at: '2026-06-01T03:00:00Z',
});

async function predict(
  replica: number,
  amount: number,
): Promise<{ request_id: string; outputs: { fraud_probability: number } }> {
  const res = await fetch(`${replicas[replica]!.server.url}/v1/pipelines/fraud-write/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ after: row(amount) }),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as { request_id: string; outputs: { fraud_probability: number } };
}

async function stored(): Promise<{ p: number; position: bigint }> {
  return withPg(async (c) => {
    const r = await c.query(
      `select fraud_probability, source_position::text as pos from ${table} where transaction_id = $1`,
      [KEY],
    );
    assert.equal(r.rows.length, 1);
    return { p: r.rows[0].fraud_probability, position: BigInt(r.rows[0].pos) };
  });
}

const at = (d: Date) => makePosition(BigInt(d.getTime()) * 1000n, 0);

test('a decision is stored before the answer, at the request time, and an older one never overwrites it', async () => {
  const first = await predict(0, 40);
  let s = await stored();
  assert.equal(s.p, first.outputs.fraud_probability);
  assert.equal(s.position, at(T2));

  // A replica whose clock is behind (or a request it took earlier) loses to the stored decision.
  replicas[1]!.now = new Date(T2.getTime() - 60_000);
  const older = await predict(1, 9000);
  assert.notEqual(
    older.outputs.fraud_probability,
    first.outputs.fraud_probability,
    'the amounts score differently',
  );
  s = await stored();
  assert.deepEqual(s, { p: first.outputs.fraud_probability, position: at(T2) });

  // A later one replaces it.
  const t3 = new Date(T2.getTime() + 60_000);
  replicas[1]!.now = t3;
  const newer = await predict(1, 9000);
  s = await stored();
  assert.deepEqual(s, { p: newer.outputs.fraud_probability, position: at(t3) });

  // Every decision also went to the pipeline's other sink, the Kafka topic, with its key.
  const messages = await readTopic(topic);
  assert.equal(messages.filter((m) => m.key?.toString() === JSON.stringify(KEY)).length, 3);
});
