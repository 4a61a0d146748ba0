import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import pg from 'pg';
import { auditObjects } from '../../../workers/audit/sql.js';
import { env } from '../../support/stack.js';
import { type AuditFixture, auditFixture } from './harness.js';

// Every worker runs the audit log's DDL when its sink opens (a fleet's restarts, a rolling
// deploy). On a log that exists, it must not take locks that wait for the log's readers and
// block its writers meanwhile: the storage settings of the blocks (lz4, no compression of the
// record hashes) are ALTERed only when not set yet, since ALTER TABLE locks the table and every
// partition exclusively, and the view is replaced only when its definition changed.

let f: AuditFixture | undefined;
afterEach(async () => {
  await f?.drop();
  f = undefined;
});

test('a sink opening on an existing audit log does not wait for a reader of its blocks or its view', async () => {
  f = auditFixture();
  const first = f.sink();
  await first.open();
  const o = auditObjects(f.audit);
  const reader = new pg.Client({ connectionString: env.databaseUrl });
  await reader.connect();
  try {
    const settings = await reader.query(
      `SELECT attname, attcompression, attstorage FROM pg_attribute WHERE attrelid = $1::regclass
       AND attname IN ('records', 'keys', 'decision_ids', 'record_hashes') ORDER BY attname`,
      [o.blocks],
    );
    assert.deepEqual(
      settings.rows.map((r) => `${r.attname}:${r.attcompression || '-'}:${r.attstorage}`),
      ['decision_ids:l:x', 'keys:l:x', 'record_hashes:-:e', 'records:l:x'],
      'set by the first open',
    );
    // A reader mid-transaction on the blocks and on the view (ACCESS SHARE, as any SELECT holds).
    await reader.query('BEGIN');
    await reader.query(`SELECT count(*) FROM ${o.blocks}`);
    await reader.query(`SELECT count(*) FROM ${o.quoted}`);
    const second = f.sink();
    const opened = await Promise.race([
      second.open().then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 5000).unref()),
    ]);
    assert.ok(opened, 'the second open finished within 5 s while the reader held its lock');
  } finally {
    await reader.query('ROLLBACK').catch(() => {});
    await reader.end();
  }
});
