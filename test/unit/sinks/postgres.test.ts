import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Knex } from 'knex';
import type { PostgresSinkConfig } from '../../../workers/sinks/postgres/config.js';
import { copyTextChunks } from '../../../workers/sinks/postgres/copy.js';
import { classifyPostgresError, toPipelineError } from '../../../workers/sinks/postgres/errors.js';
import { sinkMigrationSource } from '../../../workers/sinks/postgres/migrations.js';
import { AUTO_COPY_ROWS, PostgresSink } from '../../../workers/sinks/postgres/sink.js';
import {
  deleteStatement,
  lockStatement,
  unnestSource,
  upsertStatement,
  valuesSource,
} from '../../../workers/sinks/postgres/statements.js';
import { planTable, postgresDdl } from '../../../workers/sinks/postgres/table.js';
import { pgConfig, schema, silentLogger } from './fixtures.js';

const plan = (mode: 'delete' | 'mark' | 'ignore' = 'delete') =>
  planTable(pgConfig({ on_delete: mode }), schema);

describe('postgres DDL', () => {
  it('creates the schema and a table with every mapped and metadata column and the key as primary key', () => {
    const ddl = postgresDdl(plan('ignore'));
    assert.match(ddl, /^CREATE SCHEMA IF NOT EXISTS "ml";/);
    assert.match(ddl, /CREATE TABLE IF NOT EXISTS "ml"."scores" \(/);
    for (const line of [
      '"customer_id" bigint NOT NULL',
      '"churn_probability" double precision,',
      '"churn_label" bigint,',
      '"tenure_months" double precision,',
      '"model_name" text NOT NULL',
      '"model_version" text NOT NULL',
      '"source_position" numeric(38,0) NOT NULL',
      '"scored_at" timestamp with time zone NOT NULL',
      'PRIMARY KEY ("customer_id")',
    ]) {
      assert.ok(ddl.includes(line), `${line} in\n${ddl}`);
    }
    assert.ok(!ddl.includes('tombstones'));
    assert.ok(!ddl.includes('deleted_at'));
  });
  it('adds deleted_at in mark mode and a tombstone table in delete mode', () => {
    assert.match(postgresDdl(plan('mark')), /"deleted_at" timestamp with time zone,\n {2}PRIMARY KEY/);
    const ddl = postgresDdl(plan('delete'));
    assert.match(
      ddl,
      /CREATE TABLE IF NOT EXISTS "ml"."scores__tombstones" \(\n {2}"customer_id" bigint NOT NULL,/,
    );
  });
  it('has one migration per created object', async () => {
    const source = sinkMigrationSource(plan('delete'));
    const names = (await source.getMigrations([])).map((m) => source.getMigrationName(m));
    assert.deepEqual(names, ['create table ml.scores', 'create table ml.scores__tombstones']);
  });
});

describe('postgres statements', () => {
  const empty = (p: ReturnType<typeof plan>) => p.columns.map(() => [] as unknown[]);

  it('guards every upsert by source position', () => {
    for (const mode of ['delete', 'mark', 'ignore'] as const) {
      const p = plan(mode);
      const { sql } = upsertStatement(p, unnestSource(p.columns, empty(p)));
      assert.match(
        sql,
        /ON CONFLICT \("customer_id"\) DO UPDATE SET .* WHERE t."source_position" < excluded."source_position"$/,
      );
      assert.ok(!/SET[^W]*"customer_id" =/.test(sql), 'key columns are not updated');
    }
  });
  it('in delete mode skips keys with a newer tombstone and clears older ones in the same statement', () => {
    const p = plan('delete');
    const { sql } = upsertStatement(p, unnestSource(p.columns, empty(p)));
    assert.match(
      sql,
      /cleared AS \(DELETE FROM "ml"."scores__tombstones" AS d USING s WHERE d."customer_id" = s."customer_id" AND d."source_position" < s."source_position"\)/,
    );
    assert.match(
      sql,
      /WHERE NOT EXISTS \(SELECT 1 FROM "ml"."scores__tombstones" AS d WHERE .* d."source_position" >= s."source_position"\)/,
    );
    const del = deleteStatement(p, [], []);
    assert.match(del.sql, /INSERT INTO "ml"."scores__tombstones"/);
    assert.match(
      del.sql,
      /DELETE FROM "ml"."scores" AS t USING s WHERE t."customer_id" = s."customer_id" AND t."source_position" < s."source_position"$/,
    );
    assert.deepEqual(lockStatement(p, true).bindings, [0x7373, 'ml.scores']);
    assert.match(lockStatement(p, false).sql, /pg_advisory_xact_lock_shared/);
  });
  it('in mark mode clears deleted_at on upsert and upserts a tombstone row on delete', () => {
    const p = plan('mark');
    assert.match(upsertStatement(p, unnestSource(p.columns, empty(p))).sql, /"deleted_at" = NULL WHERE/);
    const del = deleteStatement(p, [], []);
    assert.match(
      del.sql,
      /^INSERT INTO "ml"."scores" AS t \("customer_id", "model_name", "model_version", "source_position", "scored_at", "deleted_at"\)/,
    );
    assert.match(
      del.sql,
      /"deleted_at" = excluded."deleted_at" WHERE t."source_position" < excluded."source_position"$/,
    );
  });
  it('sends one array parameter per column with unnest, one parameter per cell with VALUES', () => {
    const p = plan('ignore');
    const arrays = p.columns.map((_, c) => [c, c + 100, c + 200]);
    const u = unnestSource(p.columns, arrays);
    assert.equal(u.bindings.length, p.columns.length);
    assert.match(
      u.sql,
      /^unnest\(\?::int8\[\], \?::float8\[\], .*\?::numeric\[\], \?::timestamptz\[\]\) AS s\("customer_id", /,
    );
    const v = valuesSource(p.columns, arrays, 1, 3);
    assert.equal(v.bindings.length, 2 * p.columns.length);
    assert.deepEqual(v.bindings.slice(0, 3), [100, 101, 102]);
    assert.match(v.sql, /^\(VALUES \(\?::int8, \?::float8, .*\), \(\?, \?, /);
  });
});

describe('COPY text format', () => {
  it('escapes specials, writes NULL as \\N and booleans as t/f', () => {
    const chunks = copyTextChunks(
      ['string', 'bool', 'float', 'int'],
      [
        ['a\tb\\c\nd', null],
        [true, false],
        [0.5, Number.NaN],
        ['12', 3],
      ],
      2,
    );
    assert.equal(Buffer.concat(chunks).toString(), 'a\\tb\\\\c\\nd\tt\t0.5\t12\n\\N\tf\tNaN\t3\n');
  });
  it('splits large data into chunks of whole lines', () => {
    const n = 20_000;
    const col = Array.from({ length: n }, (_, i) => `row-${i}`);
    const chunks = copyTextChunks(['string'], [col], n);
    assert.ok(chunks.length > 1);
    for (const c of chunks) assert.equal(c.at(-1), 0x0a);
    assert.equal(Buffer.concat(chunks).toString().split('\n').length - 1, n);
  });
});

describe('postgres error classification', () => {
  const pgErr = (code: string) => Object.assign(new Error(`pg ${code}`), { code, severity: 'ERROR' });
  const cases: [unknown, string, boolean][] = [
    [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      'SINK_UNAVAILABLE',
      true,
    ],
    [new Error('Connection terminated unexpectedly'), 'SINK_UNAVAILABLE', true],
    [pgErr('57P01'), 'SINK_UNAVAILABLE', true],
    [pgErr('08006'), 'SINK_UNAVAILABLE', true],
    [pgErr('40001'), 'SINK_CONFLICT', true],
    [pgErr('40P01'), 'SINK_CONFLICT', true],
    [pgErr('53300'), 'SINK_OVERLOADED', true],
    [
      Object.assign(new Error('Knex: Timeout acquiring a connection'), { name: 'KnexTimeoutError' }),
      'SINK_OVERLOADED',
      true,
    ],
    [pgErr('42P01'), 'SINK_SCHEMA', false],
    [pgErr('42703'), 'SINK_SCHEMA', false],
    [pgErr('42501'), 'SINK_PERMISSION', false],
    [pgErr('28P01'), 'SINK_AUTH', false],
    [pgErr('22003'), 'SINK_DATA', false],
    [pgErr('23502'), 'SINK_DATA', false],
    [pgErr('XX000'), 'SINK_ERROR', true],
    [new TypeError('x is not a function'), 'SINK_ERROR', false],
    [
      new AggregateError([Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })]),
      'SINK_UNAVAILABLE',
      true,
    ],
  ];
  for (const [err, code, retryable] of cases) {
    it(`${(err as Error).message} → ${code}${retryable ? ' (retryable)' : ''}`, () => {
      assert.deepEqual(
        (({ code: c, retryable: r }) => ({ code: c, retryable: r }))(classifyPostgresError(err)),
        { code, retryable },
      );
    });
  }
  it('wraps into a PipelineError that names the table, the action and the SQLSTATE', () => {
    const e = toPipelineError(pgErr('42P01'), {
      table: 'ml.scores',
      action: 'writing 3 rows',
      pipeline: 'p',
    });
    assert.equal(e.stage, 'sink');
    assert.equal(e.code, 'SINK_SCHEMA');
    assert.equal(e.retryable, false);
    assert.equal(e.message, 'postgres ml.scores: writing 3 rows failed [42P01]: pg 42P01');
    assert.equal(e.context['sqlstate'], '42P01');
  });
});

describe('postgres write_mode auto', () => {
  const sinkWith = (write_mode: PostgresSinkConfig['write_mode']) =>
    new PostgresSink({
      config: pgConfig({ write_mode }),
      schema,
      pipeline: 'p',
      knex: {} as Knex,
      logger: silentLogger,
    });
  it('uses unnest for small writes and COPY from AUTO_COPY_ROWS upserts', () => {
    const auto = sinkWith('auto');
    assert.equal(auto.bulkPath(1), 'unnest');
    assert.equal(auto.bulkPath(AUTO_COPY_ROWS - 1), 'unnest');
    assert.equal(auto.bulkPath(AUTO_COPY_ROWS), 'copy');
  });
  it('keeps an explicit mode whatever the size', () => {
    for (const mode of ['copy', 'unnest', 'values'] as const) {
      assert.equal(sinkWith(mode).bulkPath(1), mode);
      assert.equal(sinkWith(mode).bulkPath(AUTO_COPY_ROWS * 2), mode);
    }
  });
});
