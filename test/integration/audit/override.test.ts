import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { overrideRate } from '../../../workers/audit/override.js';
import { verifyAudit } from '../../../workers/audit/verify.js';
import { Secret } from '../../../workers/core/secret.js';
import { createPostgresKnex } from '../../../workers/sinks/postgres/client.js';
import { runCli } from '../../support/cli.js';
import { env } from '../../support/stack.js';
import { batch } from '../../unit/sinks/fixtures.js';
import { type AuditFixture, auditFixture, pipelineFile, query, rowsOf } from './harness.js';

// A human override is a record of its own, in the overridden decision's chain (numbered and
// hash-chained with it), naming that decision; `audit verify` still passes; the rate counts it.
let f: AuditFixture | undefined;
afterEach(async () => {
  await f?.drop();
  f = undefined;
});

it('audit override records an override of the key’s newest decision in its chain; verify passes; the rate counts it', async () => {
  f = auditFixture();
  const sink = f.sink();
  await sink.open();
  await sink.write(batch(rowsOf(0, 10, 100, 2)));
  await sink.write(batch(rowsOf(0, 4, 200, 2)));
  await sink.close();
  const file = pipelineFile(f);
  const [newest] = await query<{ id: string; chain: string }>(
    `SELECT decision_id::text AS id, chain FROM ${f.audit} WHERE key = '3' ORDER BY seq DESC LIMIT 1`,
  );
  assert.ok(newest);
  const r = await runCli([
    'audit',
    'override',
    file,
    '3',
    '--value',
    '0',
    '--by',
    'alice',
    '--reason',
    'call: stays',
  ]);
  assert.equal(r.code, 0, r.output);
  assert.match(
    r.output,
    new RegExp(`of decision ${newest.id} \\(key 3\\) recorded in chain ${newest.chain.replace('/', '\\/')}`),
  );
  const [o] = await query<{ chain: string; record: Record<string, unknown>; seq: string }>(
    `SELECT chain, record, seq::text FROM ${f.audit} WHERE record->>'type' = 'override'`,
  );
  assert.ok(o);
  assert.equal(o.chain, newest.chain);
  assert.equal(o.record['overrides'], newest.id);
  assert.deepEqual(
    [o.record['value'], o.record['by'], o.record['reason'], o.record['key']],
    [0, 'alice', 'call: stays', '3'],
  );
  const report = await verifyAudit(env.databaseUrl, f.audit, {});
  assert.equal(report.intact, true, JSON.stringify(report));
  const db = createPostgresKnex({ url: new Secret(env.databaseUrl), pool_size: 1 });
  try {
    assert.equal(await overrideRate(db, f.audit), 1 / 14);
  } finally {
    await db.destroy();
  }
});

it('audit override of a key without a decision, or of an unknown decision id, exits 1 and records nothing', async () => {
  f = auditFixture();
  const sink = f.sink();
  await sink.open();
  await sink.write(batch(rowsOf(0, 2, 100, 1)));
  await sink.close();
  const file = pipelineFile(f);
  const none = await runCli(['audit', 'override', file, '99', '--value', '1', '--reason', 'x']);
  assert.equal(none.code, 1, none.output);
  assert.match(none.output, /no decision for key 99/);
  const unknown = await runCli([
    'audit',
    'override',
    file,
    '1',
    '--value',
    '1',
    '--reason',
    'x',
    '--decision',
    '00000000-0000-4000-8000-000000000000',
  ]);
  assert.equal(unknown.code, 1, unknown.output);
  const [n] = await query<{ n: string }>(
    `SELECT count(*)::text AS n FROM ${f.audit} WHERE record->>'type' = 'override'`,
  );
  assert.equal(n?.n, '0');
});
