import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { PipelineError } from '../../../workers/core/errors.js';
import { Secret } from '../../../workers/core/secret.js';
import type { Logger, PredictionRow } from '../../../workers/core/types.js';
import { CoalescingSink } from '../../../workers/runtime/coalescing-sink.js';
import { writeIsolatingRows } from '../../../workers/runtime/row-isolation.js';
import { createPostgresKnex } from '../../../workers/sinks/postgres/client.js';
import type { PostgresSinkConfig } from '../../../workers/sinks/postgres/config.js';
import { PostgresSink } from '../../../workers/sinks/postgres/sink.js';
import { verifyTable } from '../../../workers/sinks/postgres/verify.js';
import {
  batch,
  compositeSchema,
  del,
  pgConfig,
  pos,
  row,
  schema,
  silentLogger,
} from '../../unit/sinks/fixtures.js';
import { missingDespiteCreateTable } from './assertions.js';
import { type ContractHarness, sinkContract, type Visible } from './contract.js';
import { DATABASE_URL, unique } from './env.js';

const SCHEMA = unique('sinktest');
let admin: Knex;

before(async () => {
  admin = createPostgresKnex({ url: new Secret(DATABASE_URL), pool_size: 2 });
});
after(async () => {
  await admin.raw(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
  await admin.destroy();
});

function config(overrides: Partial<PostgresSinkConfig> = {}): PostgresSinkConfig {
  return pgConfig({ url: new Secret(DATABASE_URL), table: `${SCHEMA}.${unique('scores')}`, ...overrides });
}

function sinkFor(cfg: PostgresSinkConfig, s = schema, logger: Logger = silentLogger): PostgresSink {
  return new PostgresSink({
    config: cfg,
    schema: s,
    pipeline: 'test-pipeline',
    knex: createPostgresKnex(cfg),
    ownsKnex: true,
    logger,
  });
}

async function readTable(cfg: PostgresSinkConfig): Promise<Map<number, Visible>> {
  const marked = cfg.on_delete === 'mark';
  const res = await admin.raw<{ rows: Record<string, unknown>[] }>(
    `SELECT * FROM ${cfg.table
      .split('.')
      .map((p) => `"${p}"`)
      .join('.')}`,
  );
  const out = new Map<number, Visible>();
  for (const r of res.rows) {
    if (marked && r['deleted_at'] !== null) continue;
    out.set(Number(r['customer_id']), {
      probability: r['churn_probability'] as number,
      position: BigInt(r['source_position'] as string),
      scoredAt: (r['scored_at'] as Date).toISOString(),
    });
  }
  return out;
}

for (const write_mode of ['auto', 'unnest', 'values', 'copy'] as const) {
  for (const on_delete of ['delete', 'mark'] as const) {
    sinkContract(
      `postgres write_mode=${write_mode} on_delete=${on_delete}`,
      async (): Promise<ContractHarness> => {
        const cfg = config({ write_mode, on_delete, max_rows_per_statement: 700 });
        return { sink: sinkFor(cfg), read: () => readTable(cfg), dispose: async () => {} };
      },
    );
  }
}

const quote = (table: string) =>
  table
    .split('.')
    .map((p) => `"${p}"`)
    .join('.');
const qualified = (cfg: PostgresSinkConfig) => quote(cfg.table);

function rejectsWith(code: string, ...patterns: RegExp[]) {
  return (err: unknown) => {
    assert.ok(PipelineError.is(err), String(err));
    assert.equal(err.code, code, err.message);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  };
}

describe('postgres sink: table creation and verification', () => {
  it('creates schema and table through knex migrations recorded in the target schema, and reopens', async () => {
    const cfg = config({ on_delete: 'delete' });
    const sink = sinkFor(cfg);
    await sink.open();
    await sink.open();
    const tables = await admin.raw<{ rows: { table_name: string }[] }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1',
      [SCHEMA],
    );
    const names = tables.rows.map((r) => r.table_name);
    const t = cfg.table.split('.')[1]!;
    for (const n of [t, `${t}__tombstones`, 'streamscore_migrations', 'streamscore_migrations_lock']) {
      assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
    }
    const migrations = await admin.raw<{ rows: { name: string }[] }>(
      `SELECT name FROM "${SCHEMA}"."streamscore_migrations" WHERE name LIKE ?`,
      [`%${t}%`],
    );
    assert.deepEqual(migrations.rows.map((r) => r.name).sort(), [
      `create table ${cfg.table}`,
      `create table ${cfg.table}__tombstones`,
    ]);
    await sink.close();
  });

  it('opens concurrently from several workers, each with a single connection', async () => {
    for (let round = 0; round < 3; round++) {
      const cfg = config({ table: `${unique('sinktest_race')}.scores`, pool_size: 1 });
      const sinks = [1, 2, 3, 4, 5, 6].map(() => sinkFor(cfg));
      await Promise.all(sinks.map((s) => s.open()));
      await Promise.all(sinks.map((s) => s.close()));
      const lock = await admin.raw<{ rows: unknown[] }>(
        `SELECT * FROM "${cfg.table.split('.')[0]}"."streamscore_migrations_lock"`,
      );
      assert.deepEqual(lock.rows, [{ index: 1, is_locked: 0 }]);
      await admin.raw(`DROP SCHEMA "${cfg.table.split('.')[0]}" CASCADE`);
    }
  });

  for (const dropped of ['the table', 'the tombstone table', 'both tables'] as const) {
    it(`re-creates ${dropped} dropped by hand although the migration is recorded (create_table: true)`, async () => {
      const cfg = config({ on_delete: 'delete' });
      const first = sinkFor(cfg);
      await first.open();
      await first.write(batch([row(1, pos(1), 0.1)]));
      await first.close();
      const tables = {
        'the table': [cfg.table],
        'the tombstone table': [`${cfg.table}__tombstones`],
        'both tables': [cfg.table, `${cfg.table}__tombstones`],
      }[dropped];
      for (const t of tables) await admin.raw(`DROP TABLE ${quote(t)}`);

      const warnings: string[] = [];
      const again = sinkFor(cfg, schema, {
        ...silentLogger,
        warn: (_fields, msg) => warnings.push(msg ?? ''),
      });
      await again.open();
      assert.deepEqual(warnings, [
        `Re-created ${tables.join(' and ')}: dropped since the sink first created it (create_table: true).`,
      ]);
      await again.write(batch([row(2, pos(2), 0.2), del(3, pos(2))]));
      const state = await readTable(cfg);
      assert.equal(state.get(2)?.probability, 0.2);
      assert.equal(state.has(1), dropped === 'the tombstone table', 'rows of a dropped table are gone');
      const tombstones = await admin.raw<{ rows: { customer_id: string }[] }>(
        `SELECT customer_id FROM ${quote(`${cfg.table}__tombstones`)}`,
      );
      assert.deepEqual(
        tombstones.rows.map((r) => r.customer_id),
        ['3'],
      );
      await again.close();
    });
  }

  it('never tells to set create_table: true when it is set and the table is missing', async () => {
    const cfg = config({ create_table: true });
    const db = createPostgresKnex(cfg);
    try {
      const plan = new PostgresSink({ config: cfg, schema, pipeline: 'p', knex: db, logger: silentLogger })
        .plan;
      await assert.rejects(verifyTable(db, plan), missingDespiteCreateTable);
    } finally {
      await db.destroy();
    }
  });

  it('fails with SINK_TABLE_MISSING naming the table and the DDL when create_table is false', async () => {
    const cfg = config({ create_table: false });
    const sink = sinkFor(cfg);
    await assert.rejects(
      sink.open(),
      rejectsWith(
        'SINK_TABLE_MISSING',
        new RegExp(`expected table ${qualified(cfg).replaceAll('.', '\\.')} to exist`),
        /CREATE TABLE IF NOT EXISTS .* \(\n {2}"customer_id" bigint NOT NULL,/,
        /set create_table: true/,
      ),
    );
    await sink.close();
  });

  it('fails with SINK_SCHEMA_MISMATCH listing missing and mismatched columns, found types and the fix', async () => {
    const cfg = config({ create_table: false, on_delete: 'ignore' });
    await admin.raw(`CREATE SCHEMA IF NOT EXISTS "${SCHEMA}"`);
    await admin.raw(
      `CREATE TABLE ${qualified(cfg)} (customer_id bigint PRIMARY KEY, churn_probability text, tenure_months double precision, model_name text, model_version text, source_position numeric(20,0), scored_at timestamptz)`,
    );
    const sink = sinkFor(cfg);
    await assert.rejects(
      sink.open(),
      rejectsWith(
        'SINK_SCHEMA_MISMATCH',
        /does not match the sink's columns/,
        /column churn_probability: expected double precision, found text/,
        /missing column churn_label: expected bigint, found none/,
        /column source_position: expected numeric\(38,0\), found numeric\(20,0\)/,
        /ALTER TABLE .* ADD COLUMN "churn_label" bigint;/,
        /ALTER TABLE .* ALTER COLUMN "churn_probability" TYPE double precision USING "churn_probability"::double precision;/,
      ),
    );
    await admin.raw(`ALTER TABLE ${qualified(cfg)} ADD COLUMN churn_label integer`);
    await admin.raw(
      `ALTER TABLE ${qualified(cfg)} ALTER COLUMN churn_probability TYPE real USING churn_probability::real`,
    );
    await admin.raw(`ALTER TABLE ${qualified(cfg)} ALTER COLUMN source_position TYPE numeric`);
    await sink.open(); // compatible types: integer for bigint, real for double precision, unconstrained numeric
    await sink.close();
  });

  it('requires a unique index on the key columns', async () => {
    const cfg = config({ create_table: false, on_delete: 'ignore' });
    await admin.raw(
      `CREATE TABLE ${qualified(cfg)} (customer_id bigint, churn_probability float8, churn_label bigint, tenure_months float8, model_name text, model_version text, source_position numeric(38,0), scored_at timestamptz)`,
    );
    const sink = sinkFor(cfg);
    await assert.rejects(
      sink.open(),
      rejectsWith(
        'SINK_SCHEMA_MISMATCH',
        /no primary key or unique index on \(customer_id\)/,
        /ADD PRIMARY KEY \("customer_id"\)/,
      ),
    );
    await sink.close();
  });

  it('writes composite keys, extra metadata columns and every value type', async () => {
    const cfg = config({
      key: ['tenant', 'customer_id'],
      columns: {
        tenant: 'key.tenant',
        customer_id: 'key.customer_id',
        churn_probability: 'churn_probability',
        churn_label: 'churn_label',
        plan: 'feature.plan',
        change: 'op',
      },
    });
    const sink = sinkFor(cfg, compositeSchema);
    await sink.open();
    const k = (tenant: string, id: number) => ({ tenant, customer_id: id });
    await sink.write(
      batch([row(k('acme', 1), pos(1), 0.25), row(k('beta', 1), pos(1), 0.75), row(k('acme', 2), pos(1))]),
    );
    await sink.write(batch([del(k('acme', 2), pos(2)), row(k('acme', 1), pos(2), 0.3)]));
    const res = await admin.raw<{ rows: Record<string, unknown>[] }>(
      `SELECT tenant, customer_id, churn_probability, churn_label, plan, change, model_name, model_version, source_position::text AS pos FROM ${qualified(cfg)} ORDER BY 1, 2`,
    );
    assert.deepEqual(res.rows, [
      {
        tenant: 'acme',
        customer_id: '1',
        churn_probability: 0.3,
        churn_label: '0',
        plan: 'pro',
        change: 'u',
        model_name: 'churn',
        model_version: '1',
        pos: pos(2).toString(),
      },
      {
        tenant: 'beta',
        customer_id: '1',
        churn_probability: 0.75,
        churn_label: '1',
        plan: 'pro',
        change: 'u',
        model_name: 'churn',
        model_version: '1',
        pos: pos(1).toString(),
      },
    ]);
    await sink.close();
  });

  it('marks deletes with the source commit time and keeps the last prediction', async () => {
    const cfg = config({ on_delete: 'mark' });
    const sink = sinkFor(cfg);
    await sink.open();
    await sink.write(batch([row(1, pos(100), 0.4)]));
    await sink.write(batch([del(1, pos(200)), del(2, pos(200))]));
    const res = await admin.raw<{ rows: Record<string, unknown>[] }>(
      `SELECT customer_id, churn_probability, deleted_at FROM ${qualified(cfg)} ORDER BY 1`,
    );
    assert.deepEqual(
      res.rows.map((r) => [
        r['customer_id'],
        r['churn_probability'],
        (r['deleted_at'] as Date).toISOString(),
      ]),
      [
        ['1', 0.4, new Date(200_000).toISOString()],
        ['2', null, new Date(200_000).toISOString()],
      ],
    );
    await sink.close();
  });

  it('ignores deletes with on_delete: ignore', async () => {
    const cfg = config({ on_delete: 'ignore' });
    const sink = sinkFor(cfg);
    await sink.open();
    await sink.write(batch([row(1, pos(1), 0.4)]));
    await sink.write(batch([del(1, pos(2))]));
    assert.equal((await readTable(cfg)).get(1)?.probability, 0.4);
    await sink.close();
  });

  it('keeps only currently deleted keys in the tombstone table', async () => {
    const cfg = config({ on_delete: 'delete' });
    const sink = sinkFor(cfg);
    await sink.open();
    await sink.write(batch([del(1, pos(1)), del(2, pos(1)), del(3, pos(5))]));
    await sink.write(batch([row(1, pos(2)), row(3, pos(4))]));
    const res = await admin.raw<{ rows: { customer_id: string }[] }>(
      `SELECT customer_id FROM ${qualified(cfg).slice(0, -1)}__tombstones" ORDER BY 1`,
    );
    assert.deepEqual(
      res.rows.map((r) => r.customer_id),
      ['2', '3'],
    );
    await sink.close();
  });
});

/** Writes like the engine does: retryable errors (deadlocks, serialization failures) are retried. */
async function writeRetrying(sink: PostgresSink, rows: PredictionRow[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await sink.write(batch(rows));
    } catch (err) {
      if (!(PipelineError.is(err) && err.retryable) || attempt > 5) throw err;
    }
  }
}

describe('postgres sink: prepared statements', () => {
  /** The sink's named statements on its one connection: name → executions (generic + custom plans). */
  async function prepared(knex: Knex): Promise<Map<string, { runs: number; sql: string }>> {
    const res = await knex.raw<{ rows: { name: string; runs: number; statement: string }[] }>(
      "SELECT name, generic_plans + custom_plans AS runs, statement FROM pg_prepared_statements WHERE name LIKE 'ss\\_%'",
    );
    return new Map(res.rows.map((r) => [r.name, { runs: Number(r.runs), sql: r.statement }]));
  }

  it('prepares each fixed-shape statement once per connection and reuses it; none with prepared_statements: false', async () => {
    for (const on of [true, false]) {
      const cfg = config({ pool_size: 1, prepared_statements: on, on_delete: 'delete' });
      const knex = createPostgresKnex(cfg);
      const sink = new PostgresSink({
        config: cfg,
        schema,
        pipeline: 'test-pipeline',
        knex,
        logger: silentLogger,
      });
      await sink.open();
      for (let t = 1; t <= 8; t++) await sink.write(batch([row(1, pos(t), t / 10), row(2, pos(t), t / 10)]));
      await sink.write(batch([del(2, pos(100))]));
      // A column added behind the sink's back: Postgres re-plans the prepared statements.
      await admin.raw(`ALTER TABLE ${qualified(cfg)} ADD COLUMN note text`);
      await sink.write(batch([row(1, pos(200), 0.9), row(2, pos(50), 0.1)]));
      const names = await prepared(knex);
      if (on) {
        const kind = (sql: string) =>
          sql.includes('lock_shared')
            ? 'shared lock'
            : sql.includes('advisory')
              ? 'lock'
              : sql.includes('marked AS (')
                ? 'delete'
                : sql.startsWith('SELECT a.i')
                  ? 'clock check'
                  : 'upsert';
        const runs = [...names.values()].map((s) => `${kind(s.sql)} ×${s.runs}`).sort();
        // 10 writes: 9 of upserts (a shared lock and an upsert each), 1 of a delete (a lock, a delete);
        // the last one's guard discarded a row (key 2, older than its delete): one clock-loss check.
        assert.deepEqual(runs, ['clock check ×1', 'delete ×1', 'lock ×1', 'shared lock ×9', 'upsert ×9']);
      } else assert.equal(names.size, 0);
      const rows = await readTable(cfg);
      assert.deepEqual(
        [...rows].map(([k, v]) => [k, v.probability, v.position]),
        [[1, 0.9, pos(200)]],
      );
      await sink.close();
      await knex.destroy();
    }
  });
});

describe('postgres sink: concurrent writers', () => {
  for (const on_delete of ['delete', 'mark'] as const) {
    it(`converges to the newest event per key whatever the interleaving (on_delete=${on_delete})`, async () => {
      const cfg = config({ on_delete, pool_size: 2 });
      const sinks = [0, 1, 2, 3].map(() => sinkFor(cfg));
      await sinks[0]!.open();
      await Promise.all(sinks.map((s) => s.open()));
      // 40 keys, 400 events with distinct positions, shuffled, written as 40 batches by 4 writers at once.
      let seed = 42;
      const rand = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      const events: PredictionRow[] = [];
      for (let i = 0; i < 400; i++) {
        const key = Math.floor(rand() * 40);
        events.push(rand() < 0.3 ? del(key, pos(1000 + i)) : row(key, pos(1000 + i), i / 1000));
      }
      const shuffled = [...events].sort(() => rand() - 0.5);
      const batches: PredictionRow[][] = [];
      for (let i = 0; i < shuffled.length; i += 10) batches.push(shuffled.slice(i, i + 10));
      await Promise.all(
        sinks.map(async (s, w) => {
          for (let b = w; b < batches.length; b += sinks.length) {
            await writeRetrying(s, batches[b]!);
          }
        }),
      );
      const newest = new Map<number, PredictionRow>();
      for (const e of events) {
        const cur = newest.get(e.key as number);
        if (!cur || e.position > cur.position) newest.set(e.key as number, e);
      }
      const state = await readTable(cfg);
      for (const [key, e] of newest) {
        if (e.op === 'd') assert.equal(state.get(key), undefined, `key ${key} deleted at ${e.position}`);
        else assert.equal(state.get(key)?.probability, e.values[0], `key ${key}`);
      }
      await Promise.all(sinks.map((s) => s.close()));
    });
  }
});

describe('postgres sink: an older upsert racing a newer delete', () => {
  for (const on_delete of ['delete', 'mark'] as const) {
    it(`never resurrects the key (on_delete=${on_delete}; 8 writers, 30 rounds of 20 keys)`, async () => {
      // Without the advisory lock of delete mode this resurrects most keys: the upsert's tombstone
      // check and the delete's row removal miss each other's uncommitted work.
      const cfg = config({ on_delete, pool_size: 1 });
      const sinks = Array.from({ length: 8 }, () => sinkFor(cfg));
      await sinks[0]!.open();
      let resurrected = 0;
      for (let round = 0; round < 30; round++) {
        const keys = Array.from({ length: 20 }, (_, i) => round * 100 + i);
        await Promise.all(
          sinks.map(async (s, w) => {
            const rows = w % 2 === 0 ? keys.map((k) => row(k, pos(1))) : keys.map((k) => del(k, pos(2)));
            await writeRetrying(s, rows);
          }),
        );
        const state = await readTable(cfg);
        resurrected += keys.filter((k) => state.has(k)).length;
      }
      assert.equal(resurrected, 0);
      await Promise.all(sinks.map((s) => s.close()));
    });
  }
});

describe('postgres sink: errors', () => {
  it('reports an unreachable server as retryable SINK_UNAVAILABLE', async () => {
    const cfg = config({ url: new Secret('postgres://postgres@127.0.0.1:1/streamscore') });
    const sink = sinkFor(cfg);
    await assert.rejects(sink.open(), (err: unknown) => {
      assert.ok(PipelineError.is(err));
      assert.equal(err.code, 'SINK_UNAVAILABLE');
      assert.equal(err.retryable, true);
      return true;
    });
    await sink.close();
  });

  it('reports a dropped table as terminal SINK_SCHEMA with its SQLSTATE', async () => {
    const cfg = config();
    const sink = sinkFor(cfg);
    await sink.open();
    await admin.raw(`DROP TABLE ${qualified(cfg)}`);
    await assert.rejects(
      sink.write(batch([row(1, pos(1))])),
      rejectsWith(
        'SINK_SCHEMA',
        /\[42P01\]/,
        new RegExp(`postgres ${cfg.table}: writing 1 upserts and 0 deletes failed`),
      ),
    );
    await sink.close();
  });

  it('reports a value the column rejects as terminal SINK_DATA', async () => {
    const cfg = config({ on_delete: 'ignore' });
    const sink = sinkFor(cfg);
    await sink.open();
    const bad: PredictionRow = { ...row(1, pos(1)), values: [0.5, 'not-a-number', 1, 'x'] };
    await assert.rejects(sink.write(batch([bad])), rejectsWith('SINK_DATA', /\[22P02\]/));
    await sink.close();
  });

  for (const mode of ['unnest', 'copy'] as const) {
    it(`isolates the rows a constraint or the encoding rejects, and writes the rest (${mode})`, async () => {
      const cfg = config({
        on_delete: 'ignore',
        write_mode: mode,
        columns: { ...pgConfig().columns, plan: 'feature.plan' },
      });
      const sink = sinkFor(cfg);
      await sink.open();
      const table = cfg.table
        .split('.')
        .map((p) => `"${p}"`)
        .join('.');
      await admin.raw(`ALTER TABLE ${table} ADD CHECK (churn_probability <= 1)`);
      const rows = Array.from({ length: 1000 }, (_, i) => row(i, pos(1000 + i), 0.25));
      rows[10] = row(10, pos(1010), 1.5); // violates the CHECK constraint (23514)
      rows[500] = { ...row(500, pos(1500), 0.25), values: [0.25, 0, 12, 'pro\u0000plus'] }; // NUL (22021)
      const rejected = await writeIsolatingRows(batch(rows), (b) => new CoalescingSink(sink).write(b));
      assert.deepEqual(
        rejected.map((r) => r.index),
        [10, 500],
      );
      assert.deepEqual(
        rejected.map((r) => [r.error.code, r.error.context['sqlstate']]),
        [
          ['SINK_DATA', '23514'],
          ['SINK_DATA', '22021'],
        ],
      );
      const written = await readTable(cfg);
      assert.equal(written.size, 998);
      assert.ok(!written.has(10) && !written.has(500) && written.has(11) && written.has(499));
      await sink.close();
    });
  }
});
