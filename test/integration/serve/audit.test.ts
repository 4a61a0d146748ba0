import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { auditObjects, dropAuditSql } from '../../../workers/audit/sql.js';
import { verifyAudit } from '../../../workers/audit/verify.js';
import type { RunningServer } from '../../../workers/serve/server.js';
import { fraudPipelineCopy } from '../../support/pipelines.js';
import { serveForTest } from '../../support/serve.js';
import { deleteTopics, dropPgTables, env, uniqueId, withPg } from '../../support/stack.js';

// serve: { write: true } with an audit log: each API decision written gets its audit record in the
// same statement, under the decision id the caller got, in the `api` chain, naming the request.
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
const id = uniqueId();
const table = `ml.fraud_api_audit_${id}`;
const audit = `ml.fraud_api_audit_${id}__log`;
const topic = `fraud-api-audit-${id}`;
let server: RunningServer | undefined;

before(async () => {
  const file = fraudPipelineCopy(id, 'fraud-audit', (doc) => {
    doc.setIn(['spec', 'serve', 'write'], true);
    doc.setIn(['spec', 'serve', 'auth'], 'none');
    doc.setIn(['spec', 'serve', 'timeout_ms'], 10_000);
    doc.setIn(['spec', 'sinks', 0, 'postgres', 'table'], table);
    doc.setIn(['spec', 'sinks', 1, 'kafka', 'topic'], topic);
    doc.setIn(
      ['spec', 'audit'],
      doc.createNode({ table: audit, features: { amount_log: 'hash' }, hash_key: 'serve-audit-test-key' }),
    );
  });
  server = await serveForTest([file]);
});

after(async () => {
  await server?.close();
  await withPg(async (c) => {
    for (const sql of dropAuditSql(auditObjects(audit))) await c.query(sql);
  });
  await dropPgTables(table);
  await deleteTopics([topic]);
});

const row = (n: number) => ({
  transaction_id: `0b5e4c1a-1111-4c36-9a52-2d4b1f7b1e${String(n).padStart(2, '0')}`,
  card_id: 7,
  amount: 40 + n,
  currency: 'EUR',
  merchant_country: 'DE',
  card_country: 'US',
  merchant_risk: 0.9,
  velocity_1h: 12,
  card_issued_on: 20000,
  created_at: '2026-06-01T03:00:00Z',
});

test('each API decision written has one audit record: its decision id, the api chain, its request id', async () => {
  const res = await fetch(`${server!.url}/v1/pipelines/fraud-audit/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([1, 2, 3].map((n) => ({ after: row(n) }))),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const body = JSON.parse(text) as {
    request_id: string;
    predictions: { decision_id: string; key: string }[];
  };
  const records = await withPg(async (c) =>
    (
      await c.query(
        `select decision_id::text as id, chain, key, record from ${auditObjects(audit).quoted} order by seq`,
      )
    ).rows.map((r) => ({ id: r.id, chain: r.chain, key: r.key, record: r.record })),
  );
  assert.deepEqual(
    records.map((r) => [r.id, r.chain, r.key]),
    body.predictions.map((p) => [p.decision_id, 'api', p.key]),
  );
  for (const r of records) {
    assert.deepEqual(r.record.source.api, true);
    assert.equal(r.record.source.request_id, body.request_id);
    assert.match(r.record.features.amount_log, /^h:/, 'amount_log is under the hash policy');
  }
  assert.equal((await verifyAudit(env.databaseUrl, audit)).intact, true);
});
