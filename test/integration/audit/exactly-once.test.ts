import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { HASHED_VALUE } from '../../../workers/audit/record.js';
import { auditObjects, dropAuditSql } from '../../../workers/audit/sql.js';
import { verifyAudit } from '../../../workers/audit/verify.js';
import type { PostgresSinkConfig } from '../../../workers/sinks/postgres/config.js';
import { env } from '../../support/stack.js';
import { batch } from '../../unit/sinks/fixtures.js';
import {
  type AuditFixture,
  assertExactlyOnce,
  auditFixture,
  chainOf,
  query,
  recordCount,
  rowsOf,
  streamed,
  streamedDelete,
} from './harness.js';

// Exactly one audit record per prediction row the Postgres sink writes, in the same statement:
// N rows → N records; a replay → none; an older event (order guard) → neither row nor record;
// deletes → none; every table row has the one record of its (key, position); no decision id
// twice; chains contiguous and intact, with two sinks writing the same chains at once.

let f: AuditFixture | undefined;
afterEach(async () => {
  await f?.drop();
  f = undefined;
});

async function intact(fx: AuditFixture) {
  const r = await verifyAudit(env.databaseUrl, fx.audit);
  assert.deepEqual(r.breaks, [], 'verify found breaks');
  assert.equal(r.intact, true);
  return r;
}

describe('one record per written prediction', () => {
  it('a batch of N rows writes N records, each with its key, position, chain and record', async () => {
    f = auditFixture();
    const sink = f.sink();
    await sink.open();
    const rows = rowsOf(0, 40, 100, 2);
    await sink.write(batch(rows));
    assert.deepEqual(f.writes, [{ audited: 40, written: 40 }]);
    assert.equal(await recordCount(f), 40);
    const recs = await query<{ chain: string; n: string; hi: string }>(
      `SELECT chain, count(*) AS n, max(seq)::text AS hi FROM ${f.audit} GROUP BY chain ORDER BY chain`,
    );
    assert.deepEqual(
      recs.map((r) => [r.chain, r.n, r.hi]),
      [
        [chainOf(0), '20', '20'],
        [chainOf(1), '20', '20'],
      ],
    );
    // The record of key 7 holds what the row was scored with.
    const [r7] = await query<{ record: Record<string, unknown>; position: string }>(
      `SELECT record, position::text AS position FROM ${f.audit} WHERE key = '7'`,
    );
    assert.equal(r7!.position, rows[7]!.position.toString());
    const rec = r7!.record as {
      source: Record<string, unknown>;
      features: Record<string, unknown>;
      outputs: Record<string, unknown>;
    };
    assert.deepEqual(rec.source, {
      topic: 'crm.crm.customers',
      partition: 1,
      offset: '7',
      position: rows[7]!.position.toString(),
    });
    assert.equal(rec.features['tenure_months'], 12);
    assert.match(String(rec.features['plan']), HASHED_VALUE, 'plan is under the hash policy');
    assert.deepEqual(rec.outputs, { churn_probability: 0.5, churn_label: 1 });
    const [first] = await query<{ prev_hash: string }>(
      `SELECT prev_hash FROM ${auditObjects(f.audit).blocks} WHERE chain = $1 AND seq - n = 0`,
      [chainOf(0)],
    );
    assert.equal(first!.prev_hash, 'genesis');
    await assertExactlyOnce(f);
    await intact(f);
  });

  it('a replay writes no record; older events write neither row nor record; newer ones one each', async () => {
    f = auditFixture();
    const sink = f.sink();
    await sink.open();
    await sink.write(batch(rowsOf(0, 30, 200)));
    await sink.write(batch(rowsOf(0, 30, 200)));
    assert.deepEqual(f.writes.at(-1), { audited: 0, written: 0 }, 'replay');
    const before = await query<{ k: string; p: string; prob: number }>(
      `SELECT customer_id::text AS k, source_position::text AS p, churn_probability AS prob FROM ${f.scores} ORDER BY 1`,
    );
    await sink.write(batch(rowsOf(0, 30, 150, 4, 0.1)));
    assert.deepEqual(f.writes.at(-1), { audited: 0, written: 0 }, 'older events');
    const after = await query<{ k: string; p: string; prob: number }>(
      `SELECT customer_id::text AS k, source_position::text AS p, churn_probability AS prob FROM ${f.scores} ORDER BY 1`,
    );
    assert.deepEqual(after, before, 'older events changed the table');
    assert.equal(await recordCount(f), 30);
    // A mixed batch: keys 0-9 newer, 10-19 older, 30-39 new.
    await sink.write(
      batch([...rowsOf(0, 10, 300, 4, 0.9), ...rowsOf(10, 20, 100, 4, 0.9), ...rowsOf(30, 40, 100, 4, 0.9)]),
    );
    assert.deepEqual(f.writes.at(-1), { audited: 20, written: 20 });
    assert.equal(await recordCount(f), 50);
    await assertExactlyOnce(f);
    await intact(f);
  });

  it('a batch with the same key twice writes one row and one record (the newest)', async () => {
    f = auditFixture();
    const sink = f.sink();
    await sink.open();
    await sink.write(batch([streamed(1, 10, 0, 1, 0.2), streamed(1, 11, 0, 2, 0.8), streamed(2, 10, 0, 3)]));
    assert.deepEqual(f.writes, [{ audited: 2, written: 2 }]);
    const [r] = await query<{ p: string }>(`SELECT position::text AS p FROM ${f.audit} WHERE key = '1'`);
    assert.equal(r!.p, streamed(1, 11, 0, 2).position.toString());
    await assertExactlyOnce(f);
  });

  it('a backfill row (no origin) joins the backfill chain', async () => {
    f = auditFixture();
    const sink = f.sink();
    await sink.open();
    const rows = rowsOf(0, 4, 10, 1).map((r) => ({ ...r, origin: undefined }));
    await sink.write(batch(rows));
    const chains = await query<{ chain: string }>(`SELECT DISTINCT chain FROM ${f.audit}`);
    assert.deepEqual(chains, [{ chain: 'backfill' }]);
    await assertExactlyOnce(f);
    await intact(f);
  });
});

describe('both or neither', () => {
  for (const on_delete of ['ignore', 'delete'] as const) {
    it(`an append that fails writes no prediction either (on_delete ${on_delete})`, async () => {
      f = auditFixture();
      const fx = f;
      const sink = fx.sink({ on_delete });
      await sink.open();
      // A block already at seq 10 of chain 0 today: the append's first block there (keys 0, 2, …, 18) collides.
      const blocks = auditObjects(fx.audit).blocks;
      await query(
        `INSERT INTO ${blocks} (chain, seq, n, kind, prev_hash, hash, keys, decision_ids, id_min, id_max, records, record_hashes, written_at, written_day)
         SELECT $1, 10, 1, 'decision', 'genesis', 'x', '{x}', ARRAY[u], u, u, '{}', '\\x00', clock_timestamp(), (clock_timestamp() AT TIME ZONE 'UTC')::date FROM gen_random_uuid() AS u`,
        [chainOf(0)],
      );
      const rows = rowsOf(0, 20, 100, 2);
      await assert.rejects(
        sink.write(batch(on_delete === 'delete' ? [...rows, streamedDelete(99, 100, 1, 99)] : rows)),
      );
      const [n] = await query<{ n: string }>(`SELECT count(*) AS n FROM ${fx.scores}`);
      assert.equal(n!.n, '0', 'predictions written without their records');
      await query(`DELETE FROM ${blocks}`);
      assert.equal(await recordCount(fx), 0);
      await sink.write(batch(rows));
      assert.deepEqual(fx.writes, [{ audited: 20, written: 20 }]);
      await assertExactlyOnce(fx);
      await intact(fx);
    });
  }
});

interface Path {
  name: string;
  write_mode: PostgresSinkConfig['write_mode'];
  on_delete: PostgresSinkConfig['on_delete'];
  rows: number;
}

const PATHS: Path[] = [
  { name: 'unnest', write_mode: 'unnest', on_delete: 'ignore', rows: 500 },
  { name: 'COPY', write_mode: 'copy', on_delete: 'ignore', rows: 5000 },
  { name: 'auto (COPY above 4000 rows)', write_mode: 'auto', on_delete: 'ignore', rows: 4500 },
  { name: 'tombstones (on_delete delete), unnest', write_mode: 'unnest', on_delete: 'delete', rows: 500 },
  { name: 'tombstones (on_delete delete), COPY', write_mode: 'copy', on_delete: 'delete', rows: 5000 },
  { name: 'values (written as unnest), on_delete mark', write_mode: 'values', on_delete: 'mark', rows: 500 },
];

describe('every write path', () => {
  for (const p of PATHS) {
    it(`${p.name}: N rows → N records, replay → 0, older → 0, deletes → 0`, async () => {
      f = auditFixture();
      const sink = f.sink({ write_mode: p.write_mode, on_delete: p.on_delete });
      await sink.open();
      const n = p.rows;
      await sink.write(batch(rowsOf(0, n, 1000)));
      assert.deepEqual(f.writes.at(-1), { audited: n, written: n }, 'first write');
      await sink.write(batch(rowsOf(0, n, 1000)));
      assert.deepEqual(f.writes.at(-1), { audited: 0, written: 0 }, 'replay');
      await sink.write(batch(rowsOf(0, n, 900)));
      assert.deepEqual(f.writes.at(-1), { audited: 0, written: 0 }, 'older');
      // Deletes of the first tenth, with updates of the rest of the first half and new keys.
      const tenth = Math.floor(n / 10);
      const deletes = [];
      for (let k = 0; k < tenth; k++) deletes.push(streamedDelete(k, 1100, k % 4, n + k));
      const updates = rowsOf(tenth, n / 2, 1100, 4, 0.7);
      const fresh = rowsOf(n, n + tenth, 1100);
      await sink.write(batch([...deletes, ...updates, ...fresh]));
      const written = updates.length + fresh.length;
      assert.deepEqual(f.writes.at(-1), { audited: written, written }, 'deletes + updates + new');
      if (p.on_delete === 'delete') {
        // A change older than its key's delete is skipped by the tombstone: no row, no record.
        await sink.write(batch(rowsOf(0, tenth, 1050)));
        assert.deepEqual(f.writes.at(-1), { audited: 0, written: 0 }, 'older than the tombstone');
        const [gone] = await query<{ n: string }>(
          `SELECT count(*) AS n FROM ${f.scores} WHERE customer_id < $1`,
          [tenth],
        );
        assert.equal(gone!.n, '0');
      }
      assert.equal(await recordCount(f), n + written);
      await assertExactlyOnce(f);
      await intact(f);
    });
  }
});

describe('concurrent writers', () => {
  it('two sinks writing interleaved batches of the same chains in parallel: no deadlock, chains intact', async () => {
    f = auditFixture();
    const fx = f;
    const a = fx.sink({ pool_size: 4 });
    const b = fx.sink({ pool_size: 4 });
    await a.open();
    await b.open();
    const BATCHES = 40;
    const KEYS = 400;
    // Writer w, batch i: a window of keys over the same 8 partitions (chains), at commit second
    // 2i+w+1. Writers 0 and 2 share keys (some rows of one are older than the other's: the order
    // guard skips them), in ascending order; so do writers 1 and 3, on other keys, with their
    // rows in descending partition order: every pair of writers meets on the chain heads in
    // opposite row orders, and only an append that locks heads in one order avoids a deadlock.
    const writer = async (sink: typeof a, w: number) => {
      for (let i = 0; i < BATCHES; i++) {
        const lo = ((i * 37 + w * 101) % KEYS) + (w % 2) * 10 * KEYS;
        const rows = rowsOf(lo, lo + 120, 2 * i + w + 1, 8);
        if (w % 2 === 1)
          rows.sort((x, y) => y.origin!.partition - x.origin!.partition || Number(x.key) - Number(y.key));
        await sink.write(batch(rows));
      }
    };
    const checks: Promise<unknown>[] = [];
    let verifying = true;
    // Meanwhile, verify reads one snapshot: it must never see a head ahead of its records.
    const verifier = (async () => {
      while (verifying) {
        const r = await verifyAudit(env.databaseUrl, fx.audit);
        assert.deepEqual(r.breaks, [], 'verify during the writes');
      }
    })();
    checks.push(writer(a, 0), writer(b, 1), writer(a, 2), writer(b, 3));
    try {
      await Promise.all(checks);
    } finally {
      verifying = false;
      await verifier;
    }
    assert.ok(fx.audited() > BATCHES * 60, `only ${fx.audited()} records`);
    await assertExactlyOnce(fx);
    const r = await intact(fx);
    assert.equal(r.chains, 8);
    assert.equal(r.records, fx.audited());
  });
});

describe('a log of the earlier layout', () => {
  it('is refused by name when the sink opens (a table where the view of records goes)', async () => {
    f = auditFixture();
    await query(`CREATE SCHEMA "${f.schema}"`);
    await query(`CREATE TABLE ${f.audit} (decision_id uuid, chain text, seq bigint, record jsonb)`);
    await assert.rejects(
      f.sink().open(),
      new RegExp(`audit: ${f.audit} is a table, not the view of an audit log in blocks`),
    );
  });

  it('is dropped whole by dropAuditSql, whatever its layout (a table where the view goes, functions overloaded)', async () => {
    f = auditFixture();
    await f.sink().open();
    const o = auditObjects(f.audit);
    // An earlier layout's leftovers beside the current log: an append function of another signature.
    await query(
      `CREATE FUNCTION ${o.appendFn}(c text, kind text, keys text[], ids uuid[], records text, hashes bytea) RETURNS int LANGUAGE sql AS 'SELECT 0'`,
    );
    for (const sql of dropAuditSql(o)) await query(sql);
    const left = await query<{ name: string }>(
      `SELECT relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND relname LIKE 'audit%'
       UNION ALL SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1`,
      [f.schema],
    );
    assert.deepEqual(left, []);
    // The one-row-per-record layout: a table where the view goes.
    await query(`CREATE TABLE ${f.audit} (decision_id uuid, record jsonb)`);
    for (const sql of dropAuditSql(o)) await query(sql);
    assert.deepEqual(await query(`SELECT to_regclass($1) AS t`, [f.audit]), [{ t: null }]);
  });

  it('is refused by name when its blocks keep their records as text (before they were bytes)', async () => {
    f = auditFixture();
    await query(`CREATE SCHEMA "${f.schema}"`);
    const blocks = auditObjects(f.audit).blocks;
    await query(`CREATE TABLE ${blocks} (chain text, seq bigint, records text, record_hashes bytea)`);
    await assert.rejects(
      f.sink().open(),
      new RegExp(`audit: ${f.schema}\\.audit__blocks keeps its records as text`),
    );
  });
});
