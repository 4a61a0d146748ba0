import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PostgresTableReader } from '../../../workers/backfill/postgres/reader.js';
import type { BackfillFilter, TableSlice } from '../../../workers/backfill/reader.js';
import { PipelineError } from '../../../workers/core/errors.js';
import { makePosition } from '../../../workers/core/position.js';
import { Secret } from '../../../workers/core/secret.js';
import { env, uniqueId, withPg } from '../../support/stack.js';

// The Postgres table reader on the real database: keyset chunk plans, snapshot reads, errors.
const id = uniqueId();
const schema = `bf_reader_${id}`;
// The readers' sessions carry this file's own application_name (the URL's parameter wins over the
// reader's 'streamscore-backfill'), so counting them does not count another test's or the demo's.
const appName = `bf-reader-test-${id}`;
const url = new URL(env.databaseUrl);
url.searchParams.set('application_name', appName);
const table = `${schema}.items`;
const N = 1000;
const ALL: BackfillFilter = { where: [], since: null };

function reader(
  overrides: { key?: string[]; updated_at?: string; table?: string } = {},
): PostgresTableReader {
  return new PostgresTableReader(
    {
      url: new Secret(url.toString()),
      table: overrides.table ?? table,
      key: overrides.key ?? ['a', 'b'],
      ...(overrides.updated_at ? { updated_at: overrides.updated_at } : {}),
    },
    { pipeline: 'reader-test', poolSize: 2 },
  );
}

async function readAll(r: PostgresTableReader, filter: BackfillFilter, chunkSize: number, fetchRows = 30) {
  const plan = await r.planChunks(filter, chunkSize);
  const chunks: TableSlice[][] = [];
  for (const range of plan.ranges) {
    const slices: TableSlice[] = [];
    for await (const s of r.readChunk(range, filter, { fetchRows })) slices.push(s);
    chunks.push(slices);
  }
  return { plan, chunks };
}

before(async () => {
  await withPg(async (c) => {
    await c.query(`create schema ${schema}`);
    // Composite key (int, text): 1000 rows, keys (g / 4, 'k' || g % 4); text keys sort as text.
    await c.query(
      `create table ${table} (a int, b text, v numeric(10,2), updated_at timestamptz not null, primary key (a, b))`,
    );
    await c.query(
      `insert into ${table} select g / 4, 'k' || (g % 4), g * 1.5,
              case when g % 2 = 0 then now() else timestamptz '2020-01-01' end
       from generate_series(0, ${N - 1}) g`,
    );
  });
});

after(async () => {
  await withPg((c) => c.query(`drop schema ${schema} cascade`));
});

describe('PostgresTableReader', () => {
  it('plans chunks of chunk_size rows by keyset over a composite key; the chunks cover every row once', async () => {
    const r = reader();
    try {
      const { plan, chunks } = await readAll(r, ALL, 97);
      assert.equal(plan.rows, N);
      assert.equal(plan.ranges.length, Math.floor(N / 97) + 1);
      assert.equal(plan.ranges[0]!.lower, null);
      assert.equal(plan.ranges.at(-1)!.upper, null);
      const seen = new Set<string>();
      chunks.forEach((slices, i) => {
        const rows = slices.flatMap((s) => s.records);
        assert.equal(rows.length, i < chunks.length - 1 ? 97 : N % 97, `chunk ${i}`);
        assert.ok(slices.every((s) => s.records.length <= 30));
        for (const rec of rows) {
          const k = rec.root['key'] as { a: number; b: string };
          const id = `${k.a}/${k.b}`;
          assert.ok(!seen.has(id), `${id} read twice`);
          seen.add(id);
        }
      });
      assert.equal(seen.size, N);
    } finally {
      await r.close();
    }
  });

  it('builds Debezium-shaped records (op r) positioned at the snapshot time', async () => {
    const r = reader();
    try {
      const startedUs = BigInt(Date.now() - 5000) * 1000n;
      const plan = await r.planChunks(ALL, 10_000);
      const slices: TableSlice[] = [];
      for await (const s of r.readChunk(plan.ranges[0]!, ALL, { fetchRows: 400 })) slices.push(s);
      const endedUs = BigInt(Date.now() + 5000) * 1000n;
      assert.deepEqual(
        slices.map((s) => s.records.length),
        [400, 400, 200],
      );
      const snap = slices[0]!.snapshotUs;
      assert.ok(snap > startedUs && snap < endedUs, `snapshot ${snap}`);
      assert.ok(
        slices.every((s) => s.snapshotUs === snap),
        'one snapshot per chunk',
      );
      const rec = slices[0]!.records[5]!;
      assert.equal(rec.op, 'r');
      assert.equal(rec.position, makePosition(snap, 0));
      assert.equal(rec.sourceTsMs, Number(snap / 1000n));
      assert.deepEqual(rec.root['key'], { a: 1, b: 'k1' });
      assert.equal(rec.root['before'], null);
      assert.equal(rec.root['op'], 'r');
      assert.deepEqual((rec.root['after'] as Record<string, unknown>)['v'], 7.5);
      const source = rec.root['source'] as Record<string, unknown>;
      assert.equal(source['ts_ms'], Number(snap / 1000n));
      assert.equal(source['ts_us'], Number(snap));
      assert.equal(source['table'], 'items');
      assert.equal(source['schema'], schema);
      assert.equal(source['snapshot'], 'backfill');
      // Dead letters carry the row: topic = table, offset = key.
      assert.equal(rec.origin?.topic, table);
      assert.deepEqual(JSON.parse(rec.origin!.value!.toString()).a, 1);
    } finally {
      await r.close();
    }
  });

  it('reads a whole chunk from one snapshot: a change committed during the read is not seen', async () => {
    const r = reader();
    try {
      const plan = await r.planChunks(ALL, 10_000);
      const it = r.readChunk(plan.ranges[0]!, ALL, { fetchRows: 100 });
      const first = await it.next();
      assert.equal(first.done, false);
      await withPg((c) => c.query(`update ${table} set v = -1 where a = 200 and b = 'k0'`));
      let seen: unknown;
      for await (const s of it) {
        for (const rec of s.records) {
          const k = rec.root['key'] as { a: number; b: string };
          if (k.a === 200 && k.b === 'k0') seen = (rec.root['after'] as { v: unknown }).v;
        }
      }
      assert.equal(seen, 1200);
    } finally {
      await withPg((c) => c.query(`update ${table} set v = 1200 where a = 200 and b = 'k0'`));
      await r.close();
    }
  });

  it('applies where and the since-window to plans and reads', async () => {
    const r = reader({ updated_at: 'updated_at' });
    try {
      const filter: BackfillFilter = { where: ['a % 5 = 0'], since: '2024-01-01T00:00:00Z' };
      const { plan, chunks } = await readAll(r, filter, 25);
      // a % 5 = 0 → 50 values of a × 4 keys; updated since 2024 → even g only, so b in (k0, k2).
      assert.equal(plan.rows, 100);
      assert.equal(plan.ranges.length, 5);
      const rows = chunks.flat().flatMap((s) => s.records);
      assert.equal(rows.length, 100);
      for (const rec of rows) {
        const k = rec.root['key'] as { a: number; b: string };
        assert.equal(k.a % 5, 0);
        assert.ok(k.b === 'k0' || k.b === 'k2');
      }
    } finally {
      await r.close();
    }
  });

  it('leaving a chunk early ends its transaction and frees the connection', async () => {
    const r = reader();
    try {
      const openTransactions = () =>
        withPg(
          async (c) =>
            (
              await c.query(
                `select count(*)::int as n from pg_stat_activity
                 where application_name = $1 and state like 'idle in transaction%'`,
                [appName],
              )
            ).rows[0].n,
        );
      const plan = await r.planChunks(ALL, 10_000);
      for await (const s of r.readChunk(plan.ranges[0]!, ALL, { fetchRows: 10 })) {
        assert.equal(s.records.length, 10);
        assert.equal(await openTransactions(), 1, 'the chunk is read in a transaction of this reader');
        break;
      }
      assert.equal(await openTransactions(), 0);
    } finally {
      await r.close();
    }
  });

  it('terminal errors: a where that does not parse, a missing column, since without updated_at', async () => {
    const r = reader();
    try {
      await assert.rejects(
        r.planChunks({ where: ['a = = 1'], since: null }, 10),
        (e: unknown) =>
          PipelineError.is(e) &&
          e.code === 'BACKFILL_SCHEMA' &&
          !e.retryable &&
          /syntax error/.test(e.message),
      );
      await assert.rejects(
        r.planChunks({ where: [], since: '2024-01-01T00:00:00Z' }, 10),
        (e: unknown) => PipelineError.is(e) && e.code === 'BACKFILL_NO_UPDATED_AT' && !e.retryable,
      );
    } finally {
      await r.close();
    }
    const missing = reader({ key: ['nope'] });
    await assert.rejects(
      missing.planChunks(ALL, 10),
      (e: unknown) => PipelineError.is(e) && e.code === 'BACKFILL_SCHEMA' && /nope/.test(e.message),
    );
    await missing.close();
    const noTable = reader({ table: `${schema}.missing` });
    await assert.rejects(
      noTable.planChunks(ALL, 10),
      (e: unknown) => PipelineError.is(e) && e.code === 'BACKFILL_SCHEMA' && !e.retryable,
    );
    await noTable.close();
  });
});
