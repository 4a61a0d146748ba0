import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, test } from 'node:test';
import { findRecords } from '../../../workers/audit/lookup.js';
import { auditObjects } from '../../../workers/audit/sql.js';
import { Secret } from '../../../workers/core/secret.js';
import { Uuid7Source, uuid7Floor } from '../../../workers/core/uuid7.js';
import { createPostgresKnex } from '../../../workers/sinks/postgres/client.js';
import { env } from '../../support/stack.js';
import { batch } from '../../unit/sinks/fixtures.js';
import { type AuditFixture, auditFixture, query, rowsOf } from './harness.js';

// A decision's block is found by its id's range (id_min … id_max, btree on id_min): UUIDv7 ids
// through the hour-wide index range first, any other id (or a v7 whose block's least id is older
// than that) through the whole range; every block's id_min/id_max hold its ids' least and greatest.

let f: AuditFixture | undefined;
afterEach(async () => {
  await f?.drop();
  f = undefined;
});

test('decisions are found by id: v7 ids near their time, ids of any other shape and much older blocks too', async () => {
  f = auditFixture();
  const sink = f.sink();
  await sink.open();
  const ids = new Uuid7Source();
  const hourAgo = Date.now() - 2 * 3_600_000;
  // Batch 1: fresh v7 ids (the sink's own). Batch 2: callers' ids — v4, and a v7 from two hours
  // ago — in one block with fresh ones, so its least id is older than the hour searched first.
  await sink.write(batch(rowsOf(0, 20, 100, 2)));
  const old = ids.next(hourAgo);
  const v4 = randomUUID();
  const rows = rowsOf(20, 40, 200, 1).map((r, i) => ({
    ...r,
    decision: i === 3 ? old : i === 7 ? v4 : ids.next(),
  }));
  await sink.write(batch(rows));
  const db = createPostgresKnex({ url: new Secret(env.databaseUrl), pool_size: 1 });
  try {
    const o = auditObjects(f.audit);
    const all = await query<{ decision_id: string; key: string }>(
      `SELECT decision_id::text, key FROM ${f.audit}`,
    );
    assert.equal(all.length, 40);
    for (const { decision_id, key } of all) {
      const [d] = await findRecords(db, o, { decisionId: decision_id }, 'decision', { limit: 1 });
      assert.equal(d?.key, key, `decision ${decision_id}`);
      assert.equal(d?.decisionId, decision_id);
    }
    assert.equal((await findRecords(db, o, { decisionId: randomUUID() }, 'decision')).length, 0);
    const [bounds] = await query<{ bad: string }>(
      `SELECT count(*) FILTER (WHERE id_min IS DISTINCT FROM (SELECT i FROM unnest(decision_ids) AS i ORDER BY i LIMIT 1) OR id_max IS DISTINCT FROM (SELECT i FROM unnest(decision_ids) AS i ORDER BY i DESC LIMIT 1))::text AS bad FROM ${o.blocks}`,
    );
    assert.equal(bounds!.bad, '0');
  } finally {
    await db.destroy();
  }
});

test('uuid7Floor: the least v7 of an hour before, none for other ids', () => {
  const id = new Uuid7Source().next(Date.UTC(2026, 11, 7, 5, 0, 0, 0));
  const floor = uuid7Floor(id, 3_600_000)!;
  assert.equal(
    Number.parseInt(floor.slice(0, 8) + floor.slice(9, 13), 16),
    Date.UTC(2026, 11, 7, 4, 0, 0, 0),
  );
  assert.ok(floor < id);
  assert.equal(uuid7Floor(randomUUID(), 3_600_000), undefined);
});
