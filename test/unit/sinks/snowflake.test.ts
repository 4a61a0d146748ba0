import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../workers/core/errors.js';
import type { PredictionSchema } from '../../../workers/core/types.js';
import type { ExecuteOptions, SnowflakeSession } from '../../../workers/sinks/snowflake/client.js';
import { type SnowflakeSinkConfig, snowflakeSinkConfig } from '../../../workers/sinks/snowflake/config.js';
import { cellText, csvText, newestPerIdentity, stageRows } from '../../../workers/sinks/snowflake/encode.js';
import { classifySnowflakeError, toSnowflakePipelineError } from '../../../workers/sinks/snowflake/errors.js';
import { snowflakeSink } from '../../../workers/sinks/snowflake/index.js';
import { SnowflakeSink } from '../../../workers/sinks/snowflake/sink.js';
import {
  appendStatement,
  applyStatements,
  copyStatement,
  createStageStatement,
  insertStageStatement,
  mergeStatement,
  putStatement,
  tombstoneStatement,
} from '../../../workers/sinks/snowflake/statements.js';
import { planTable, snowflakeDdl } from '../../../workers/sinks/snowflake/table.js';
import { compareColumns, type FoundColumn } from '../../../workers/sinks/snowflake/verify.js';
import { batch, compositeSchema, del, pgConfig, pos, row, schema, silentLogger } from './fixtures.js';
import { informationSchemaRows } from './snowflake-fake-server.js';

const churn = pgConfig();

function config(overrides: Record<string, unknown> = {}): SnowflakeSinkConfig {
  return snowflakeSinkConfig.parse({
    account: 'acme-prod',
    user: 'STREAMSCORE',
    auth: { password: 'pw' },
    database: 'analytics',
    schema: 'ml',
    table: 'churn_scores',
    // The churn fixtures' mapping (the Postgres sink tests use the same one).
    key: churn.key,
    columns: churn.columns,
    ...overrides,
  });
}

const plan = (overrides: Record<string, unknown> = {}, s: PredictionSchema = schema) =>
  planTable(config(overrides), s, 'p');

function rejects(code: string, ...patterns: RegExp[]) {
  return (err: unknown) => {
    assert.ok(PipelineError.is(err), String(err));
    assert.equal(err.code, code, err.message);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  };
}

const example = snowflakeSink.examples[0] as Record<string, unknown>;

describe('snowflake config', () => {
  it('parses its example and fills the defaults', () => {
    const c = snowflakeSinkConfig.parse(example);
    assert.equal(c.mode, 'merge');
    assert.equal(c.load, 'bind');
    assert.equal(c.on_delete, 'delete');
    assert.deepEqual(c.batch, { max_rows: 50000, max_bytes: 16 * 1024 * 1024, max_interval_ms: 5000 });
    assert.equal(String((c.auth as { password: unknown }).password), '***');
  });
  it('accepts each auth method and rejects unknown fields', () => {
    for (const auth of [
      { password: 'x' },
      { private_key_file: '/k.p8' },
      { private_key_file: '/k.p8', private_key_passphrase: 'x' },
      { private_key: 'PEM' },
      { oauth_token: 't' },
    ]) {
      assert.ok(snowflakeSinkConfig.safeParse({ ...example, auth }).success, JSON.stringify(auth));
    }
    assert.equal(snowflakeSinkConfig.safeParse({ ...example, auth: { token: 'x' } }).success, false);
    assert.equal(snowflakeSinkConfig.safeParse({ ...example, extra: 1 }).success, false);
    assert.equal(snowflakeSinkConfig.safeParse({ ...example, table: 'a.b' }).success, false);
  });
});

describe('snowflake table plan and DDL', () => {
  it('resolves every name as an unquoted identifier (upper case) and types positions as NUMBER(38)', () => {
    const p = plan();
    assert.equal(p.quoted, '"ANALYTICS"."ML"."CHURN_SCORES"');
    assert.deepEqual(
      p.columns.map((c) => c.name),
      [
        'CUSTOMER_ID',
        'CHURN_PROBABILITY',
        'CHURN_LABEL',
        'TENURE_MONTHS',
        'MODEL_NAME',
        'MODEL_VERSION',
        'SOURCE_POSITION',
        'SCORED_AT',
      ],
    );
    const ddl = snowflakeDdl(p);
    for (const line of [
      'CREATE TABLE IF NOT EXISTS "ANALYTICS"."ML"."CHURN_SCORES" (',
      '"CUSTOMER_ID" NUMBER(38,0) NOT NULL,',
      '"CHURN_PROBABILITY" FLOAT,',
      '"CHURN_LABEL" NUMBER(38,0),',
      '"MODEL_NAME" VARCHAR NOT NULL,',
      '"SOURCE_POSITION" NUMBER(38) NOT NULL,',
      '"SCORED_AT" TIMESTAMP_TZ NOT NULL,',
      'PRIMARY KEY ("CUSTOMER_ID")',
      'CREATE TABLE IF NOT EXISTS "ANALYTICS"."ML"."CHURN_SCORES__TOMBSTONES" (',
      '"DELETED_AT" TIMESTAMP_TZ NOT NULL,',
    ]) {
      assert.ok(ddl.includes(line), `${line} in\n${ddl}`);
    }
  });
  it('adds DELETED_AT in mark mode, no tombstone table outside delete mode', () => {
    const mark = snowflakeDdl(plan({ on_delete: 'mark' }));
    assert.match(mark, /"DELETED_AT" TIMESTAMP_TZ,\n {2}PRIMARY KEY/);
    assert.ok(!mark.includes('TOMBSTONES'));
    assert.ok(!snowflakeDdl(plan({ on_delete: 'ignore' })).includes('DELETED_AT'));
  });
  it('in append mode adds OP and identifies rows by key, position and model version', () => {
    const p = plan({ mode: 'append' });
    assert.ok(p.columns.some((c) => c.name === 'OP' && c.ref === 'op'));
    assert.ok(snowflakeDdl(p).includes('"OP" VARCHAR NOT NULL,'));
    assert.deepEqual(p.identity, ['CUSTOMER_ID', 'SOURCE_POSITION', 'MODEL_VERSION']);
    assert.match(snowflakeDdl(p), /PRIMARY KEY \("CUSTOMER_ID", "SOURCE_POSITION", "MODEL_VERSION"\)/);
    assert.equal(p.tombstone, undefined);
    const mapped = plan({ mode: 'append', columns: { id: 'key', change: 'op' }, key: ['id'] });
    assert.ok(!mapped.columns.some((c) => c.name === 'OP'));
  });
  it('maps composite keys part by part', () => {
    const p = plan(
      { key: ['tenant', 'customer_id'], columns: { tenant: 'key.tenant', customer_id: 'key.customer_id' } },
      compositeSchema,
    );
    assert.deepEqual(
      p.keyColumns.map((c) => `${c.name}:${c.type}`),
      ['TENANT:string', 'CUSTOMER_ID:int'],
    );
  });
  it('rejects names that collide once upper-cased, reserved names and a misused OP', () => {
    assert.throws(
      () => plan({ columns: { customer_id: 'key', CUSTOMER_ID: 'churn_probability' } }),
      rejects('SINK_CONFIG_INVALID', /customer_id and CUSTOMER_ID are the same Snowflake column CUSTOMER_ID/),
    );
    assert.throws(
      () => plan({ on_delete: 'mark', columns: { customer_id: 'key', deleted_at: 'churn_probability' } }),
      rejects('SINK_CONFIG_INVALID', /column DELETED_AT: expected a column name the sink does not manage/),
    );
    assert.throws(
      () => plan({ mode: 'append', columns: { customer_id: 'key', op: 'churn_label' } }),
      rejects('SINK_CONFIG_INVALID', /append mode writes the change's op into OP/),
    );
    assert.throws(
      () => plan({ columns: { customer_id: 'key', __ss_op: 'churn_label' } }),
      rejects('SINK_CONFIG_INVALID'),
    );
  });
});

describe('snowflake statements', () => {
  it('stages the columns plus op and delete time in a session temp table', () => {
    const p = plan();
    assert.match(
      createStageStatement(p),
      /^CREATE TEMPORARY TABLE IF NOT EXISTS "STREAMSCORE_STAGE_[0-9A-F]+" \("CUSTOMER_ID" NUMBER\(38,0\), .*"SOURCE_POSITION" NUMBER\(38\), "SCORED_AT" TIMESTAMP_TZ, "__SS_OP" VARCHAR, "__SS_DELETED_AT" TIMESTAMP_TZ\)$/,
    );
    assert.equal((insertStageStatement(p).match(/\?/g) ?? []).length, 10);
    assert.equal((insertStageStatement(p, 3).match(/\(\?/g) ?? []).length, 3);
    assert.notEqual(
      plan().stage,
      plan({ columns: { customer_id: 'key' } }).stage,
      'the stage name follows the shape',
    );
  });
  it('guards every merge clause by source position', () => {
    for (const on_delete of ['delete', 'mark', 'ignore']) {
      const sql = mergeStatement(plan({ on_delete }));
      const matched = sql.split('\n').filter((l) => l.startsWith('WHEN MATCHED'));
      assert.ok(matched.length >= 1);
      for (const l of matched) assert.match(l, /t\."SOURCE_POSITION" < s\."SOURCE_POSITION"/, l);
      assert.match(
        sql,
        /^MERGE INTO "ANALYTICS"\."ML"\."CHURN_SCORES" AS t USING .* ON t\."CUSTOMER_ID" = s\."CUSTOMER_ID"/,
      );
    }
  });
  it('delete mode: removes on a newer delete, skips keys with a newer-or-equal tombstone', () => {
    const sql = mergeStatement(plan({ on_delete: 'delete' }));
    assert.match(
      sql,
      /LEFT JOIN "ANALYTICS"\."ML"\."CHURN_SCORES__TOMBSTONES" AS d ON s\."CUSTOMER_ID" = d\."CUSTOMER_ID"/,
    );
    assert.match(sql, /WHEN MATCHED AND [^\n]* AND s\."__SS_OP" = 'd' THEN DELETE/);
    assert.match(
      sql,
      /WHEN NOT MATCHED AND s\."__SS_OP" <> 'd' AND \(s\."__SS_TOMBSTONE" IS NULL OR s\."__SS_TOMBSTONE" < s\."SOURCE_POSITION"\) THEN INSERT/,
    );
    const tomb = tombstoneStatement(plan({ on_delete: 'delete' }));
    assert.match(
      tomb,
      /WHEN MATCHED AND [^\n]*'d' THEN UPDATE SET "SOURCE_POSITION" = s\."SOURCE_POSITION", "DELETED_AT" = s\."__SS_DELETED_AT"/,
    );
    assert.match(tomb, /WHEN MATCHED AND t\."SOURCE_POSITION" < s\."SOURCE_POSITION" THEN DELETE/);
    assert.match(tomb, /WHEN NOT MATCHED AND s\."__SS_OP" = 'd' THEN INSERT/);
    assert.deepEqual(applyStatements(plan({ on_delete: 'delete' })), [tomb, sql], 'tombstones first');
  });
  it('mark mode: a newer delete advances metadata and DELETED_AT, keeps the prediction; upserts clear it', () => {
    const sql = mergeStatement(plan({ on_delete: 'mark' }));
    const markLine = sql.split('\n').find((l) => l.includes("= 'd' THEN UPDATE"))!;
    assert.ok(markLine.includes('"SOURCE_POSITION" = s."SOURCE_POSITION"'));
    assert.ok(markLine.includes('"DELETED_AT" = s."__SS_DELETED_AT"'));
    assert.ok(!markLine.includes('CHURN_PROBABILITY'), 'the last prediction stays');
    assert.match(
      sql,
      /THEN UPDATE SET [^\n]*"CHURN_PROBABILITY" = s\."CHURN_PROBABILITY"[^\n]*"DELETED_AT" = NULL/,
    );
    assert.match(
      sql,
      /WHEN NOT MATCHED THEN INSERT \([^)]*"DELETED_AT"\) VALUES \([^)]*s\."__SS_DELETED_AT"\)/,
    );
    assert.equal(applyStatements(plan({ on_delete: 'mark' })).length, 1);
  });
  it('ignore mode writes upserts only', () => {
    const sql = mergeStatement(plan({ on_delete: 'ignore' }));
    assert.ok(!sql.includes('THEN DELETE'));
    assert.ok(!sql.includes('TOMBSTONES'));
  });
  it('append mode inserts rows whose key, position and model version are new', () => {
    const sql = appendStatement(plan({ mode: 'append' }));
    assert.match(
      sql,
      /ON t\."CUSTOMER_ID" = s\."CUSTOMER_ID" AND t\."SOURCE_POSITION" = s\."SOURCE_POSITION" AND t\."MODEL_VERSION" = s\."MODEL_VERSION"\nWHEN NOT MATCHED THEN INSERT/,
    );
    assert.ok(!sql.includes('WHEN MATCHED'));
    assert.deepEqual(applyStatements(plan({ mode: 'append' })), [sql]);
  });
  it('puts and copies one flush directory of the table stage, and refuses unsafe paths', () => {
    const p = plan();
    assert.equal(
      putStatement(p, '/tmp/x.csv', 'ab12-3'),
      `PUT 'file:///tmp/x.csv' @%${p.stage}/ab12-3 AUTO_COMPRESS = TRUE OVERWRITE = TRUE`,
    );
    const copy = copyStatement(p, 'ab12-3');
    assert.match(copy, new RegExp(`FROM @%${p.stage}/ab12-3/ FILE_FORMAT = \\(TYPE = CSV`));
    assert.match(
      copy,
      /FIELD_OPTIONALLY_ENCLOSED_BY = '"' EMPTY_FIELD_AS_NULL = TRUE NULL_IF = \(\)\) ON_ERROR = ABORT_STATEMENT PURGE = TRUE$/,
    );
    assert.throws(() => putStatement(p, "/tmp/it's.csv", 'a'));
    assert.throws(() => copyStatement(p, "a'/b"));
  });
});

describe('snowflake row encoding', () => {
  it('writes numbers, specials, booleans, bigints and nulls as text', () => {
    assert.equal(cellText(0.1), '0.1');
    assert.equal(cellText(1e21), '1e+21');
    assert.equal(cellText(Number.NaN), 'NaN');
    assert.equal(cellText(Number.POSITIVE_INFINITY), 'inf');
    assert.equal(cellText(Number.NEGATIVE_INFINITY), '-inf');
    assert.equal(cellText(true), 'true');
    assert.equal(cellText(2n ** 70n), '1180591620717411303424');
    assert.equal(cellText(null), null);
    assert.equal(cellText(undefined), null);
  });
  it('stages upserts and deletes with op, delete time and full-precision positions', () => {
    const p = plan();
    const big = 177_000_000_000_000_000_000_000_000_000_000_123n;
    const staged = stageRows(p, batch([row(1, big, 0.25), del(2, pos(20))]));
    assert.deepEqual(staged[0]!.cells, [
      '1',
      '0.25',
      '0',
      '12',
      'churn',
      '1',
      big.toString(),
      '2026-01-02T03:04:05.678+00:00',
      'u',
      null,
    ]);
    assert.deepEqual(staged[1]!.cells.slice(0, 4), ['2', null, null, null]);
    assert.deepEqual(staged[1]!.cells.slice(-2), ['d', '1970-01-01T00:00:20.000+00:00']);
    assert.ok(staged[0]!.bytes > 40);
    assert.equal(stageRows(plan({ on_delete: 'ignore' }), batch([del(2, pos(20))])).length, 0);
  });
  it('keeps the newest row per key (merge) and per key, position and model version (append)', () => {
    const rows = [row(1, pos(2), 0.2), row(1, pos(3), 0.3), row(2, pos(1), 0.1), row(1, pos(3), 0.35)];
    const merge = newestPerIdentity(stageRows(plan(), batch(rows)));
    assert.deepEqual(
      merge.map((r) => [r.row.key, r.row.values[0]]),
      [
        [1, 0.35],
        [2, 0.1],
      ],
    );
    const append = newestPerIdentity(stageRows(plan({ mode: 'append' }), batch(rows)));
    assert.deepEqual(
      append.map((r) => r.row.values[0]),
      [0.2, 0.35, 0.1],
    );
    const twoModels = [
      ...stageRows(plan({ mode: 'append' }), batch([row(1, pos(2))], { name: 'churn', version: '1' })),
      ...stageRows(plan({ mode: 'append' }), batch([row(1, pos(2))], { name: 'churn', version: '2' })),
    ];
    assert.equal(newestPerIdentity(twoModels).length, 2);
  });
  it('quotes every non-null CSV cell and leaves NULL empty', () => {
    const s = schema;
    const p = planTable(config({ columns: { customer_id: 'key', plan: 'feature.plan' } }), s);
    const b = batch([row(1, pos(1))]);
    b.rows[0]!.values[3] = 'a,"b"\nc';
    const csv = csvText(stageRows(p, b));
    assert.equal(
      csv,
      '"1","a,""b""\nc","churn","1","100000000000000000000000000","2026-01-02T03:04:05.678+00:00","u",\n',
    );
    b.rows[0]!.values[3] = '';
    assert.match(csvText(stageRows(p, b)), /^"1","","churn"/);
  });
});

describe('snowflake table verification', () => {
  const col = (
    name: string,
    dataType: string,
    precision: number | null = null,
    scale: number | null = null,
  ): FoundColumn => ({
    table: 'T',
    name,
    dataType,
    precision,
    scale,
    nullable: true,
    hasDefault: false,
  });
  const expected = [
    { name: 'K', type: 'int' as const },
    { name: 'P', type: 'float' as const },
    { name: 'SOURCE_POSITION', type: 'position' as const },
    { name: 'SCORED_AT', type: 'timestamp' as const },
    { name: 'S', type: 'string' as const },
  ];
  it('accepts compatible types', () => {
    const r = compareColumns('"T"', expected, [
      col('K', 'NUMBER', 38, 0),
      col('P', 'NUMBER', 10, 4),
      col('SOURCE_POSITION', 'NUMBER', 38, 0),
      col('SCORED_AT', 'TIMESTAMP_LTZ'),
      col('S', 'TEXT'),
      col('EXTRA', 'TEXT'),
    ]);
    assert.deepEqual(r, { problems: [], fixes: [] });
  });
  it('names each problem with expected and found, and the statement that fixes it', () => {
    const r = compareColumns('"T"', expected, [
      col('K', 'NUMBER', 38, 2),
      col('SOURCE_POSITION', 'NUMBER', 20, 0),
      col('SCORED_AT', 'TIMESTAMP_NTZ'),
      col('s', 'TEXT'),
      { ...col('REQUIRED', 'TEXT'), nullable: false },
    ]);
    assert.deepEqual(r.problems, [
      'column K: expected NUMBER(38,0), found NUMBER(38,2)',
      'missing column P: expected FLOAT, found none',
      'column SOURCE_POSITION: expected NUMBER(38), found NUMBER(20,0)',
      'column SCORED_AT: expected TIMESTAMP_TZ, found TIMESTAMP_NTZ',
      'column S: expected VARCHAR, found only the case-sensitive "s" (names here are unquoted identifiers, i.e. upper case)',
      'column REQUIRED is NOT NULL without a default, but the sink does not write it',
    ]);
    assert.ok(r.fixes.includes('ALTER TABLE "T" ADD COLUMN "P" FLOAT;'));
    assert.ok(r.fixes.includes('ALTER TABLE "T" RENAME COLUMN "SCORED_AT" TO "SCORED_AT_OLD";'));
    assert.ok(r.fixes.includes('ALTER TABLE "T" ALTER COLUMN "REQUIRED" DROP NOT NULL;'));
  });
});

describe('snowflake error classification', () => {
  const k = (e: unknown) => {
    const c = classifySnowflakeError(e);
    return `${c.code}:${c.retryable ? 'retry' : 'terminal'}`;
  };
  const sf = (code: string, sqlState?: string, message = 'x') =>
    Object.assign(new Error(message), {
      name: 'OperationFailedError',
      code,
      ...(sqlState ? { sqlState } : {}),
    });

  it('treats network, session, throttling and warehouse trouble as transient', () => {
    const net = Object.assign(new Error('connect ECONNREFUSED'), {
      code: 401001,
      cause: Object.assign(new Error('axios'), { code: 'ECONNREFUSED' }),
    });
    assert.equal(k(net), 'SINK_UNAVAILABLE:retry');
    assert.equal(classifySnowflakeError(net).reconnect, true);
    assert.equal(
      k(Object.assign(new Error('failed'), { code: 401002, response: { status: 503 } })),
      'SINK_UNAVAILABLE:retry',
    );
    assert.equal(
      k(Object.assign(new Error('failed'), { code: 401002, response: { status: 429 } })),
      'SINK_OVERLOADED:retry',
    );
    assert.equal(k(Object.assign(new Error('Invalid token'), { code: 401004 })), 'SINK_UNAVAILABLE:retry');
    for (const code of ['390104', '390111', '390112', '390114', '390400'])
      assert.equal(k(sf(code)), 'SINK_UNAVAILABLE:retry', code);
    assert.equal(k(sf('000630', '57014')), 'SINK_OVERLOADED:retry');
    assert.equal(k(sf('000625', '57014')), 'SINK_CONFLICT:retry');
    assert.equal(k(sf('000603', 'XX000')), 'SINK_UNAVAILABLE:retry');
    assert.equal(k(sf('000999', undefined, "Warehouse 'W' is resuming")), 'SINK_UNAVAILABLE:retry');
    assert.equal(k(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), 'SINK_UNAVAILABLE:retry');
    assert.equal(k(new Error('something new')), 'SINK_ERROR:retry');
  });
  it('treats auth, missing objects, privileges, SQL compilation and data errors as terminal', () => {
    assert.equal(k(sf('390100')), 'SINK_AUTH:terminal');
    assert.equal(k(sf('390144')), 'SINK_AUTH:terminal');
    assert.equal(k(sf('390303')), 'SINK_AUTH:terminal');
    assert.equal(k(sf('390318')), 'SINK_AUTH:terminal');
    assert.equal(
      k(Object.assign(new Error('failed'), { code: 401002, response: { status: 403 } })),
      'SINK_AUTH:terminal',
    );
    assert.equal(
      k(Object.assign(new Error('failed'), { code: 401002, response: { status: 404 } })),
      'SINK_CONFIG_INVALID:terminal',
    );
    assert.equal(
      k(sf('390201', '08004', 'The requested database does not exist or not authorized.')),
      'SINK_SCHEMA:terminal',
    );
    assert.equal(k(sf('002003', '42S02')), 'SINK_SCHEMA:terminal');
    assert.equal(k(sf('002003', '02000')), 'SINK_SCHEMA:terminal');
    assert.equal(k(sf('003001', '42501')), 'SINK_PERMISSION:terminal');
    assert.equal(k(sf('000606', '57P03')), 'SINK_PERMISSION:terminal');
    assert.equal(k(sf('001003', '42000')), 'SINK_SCHEMA:terminal');
    assert.equal(k(sf('000904', '42000')), 'SINK_SCHEMA:terminal');
    assert.equal(k(sf('100038', '22018')), 'SINK_DATA:terminal');
    assert.equal(k(Object.assign(new Error('bad option'), { code: 404005 })), 'SINK_CONFIG_INVALID:terminal');
    assert.equal(k(new TypeError('x is undefined')), 'SINK_ERROR:terminal');
  });
  it('wraps with table, action, codes and what to fix; PipelineErrors pass through', () => {
    const e = toSnowflakePipelineError(
      sf('003001', '42501', "Insufficient privileges to operate on table 'T'"),
      {
        table: 'D.S.T',
        pipeline: 'p',
        action: 'flushing batch b-1 (3 rows)',
        position: 'positions 1..2',
      },
    );
    assert.equal(e.code, 'SINK_PERMISSION');
    assert.equal(e.retryable, false);
    assert.match(
      e.message,
      /^snowflake D\.S\.T: flushing batch b-1 \(3 rows\) failed \[003001\/42501\]: Insufficient privileges/,
    );
    assert.match(e.message, /to fix: grant the role/);
    assert.equal(e.position, 'positions 1..2');
    assert.equal(e.context['snowflake_code'], '003001');
    const p = new PipelineError('x', { code: 'X', stage: 'sink' });
    assert.equal(toSnowflakePipelineError(p, { table: 't', action: 'a' }), p);
  });
});

/** A session that records statements and answers from a script. */
class FakeSession implements SnowflakeSession {
  readonly log: { sql: string; options: ExecuteOptions }[] = [];
  closed = false;
  constructor(
    private readonly answer: (sql: string, options: ExecuteOptions) => Record<string, unknown>[] = () => [],
  ) {}
  async execute(sql: string, options: ExecuteOptions = {}): Promise<Record<string, unknown>[]> {
    this.log.push({ sql, options });
    return this.answer(sql, options);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function fakeSink(
  overrides: Record<string, unknown> = {},
  answer?: (sql: string) => Record<string, unknown>[],
) {
  const cfg = config({ batch: { max_interval_ms: 10 }, ...overrides });
  const sessions: FakeSession[] = [];
  const p = planTable(cfg, schema, 'p');
  let failNext: unknown;
  const sink = new SnowflakeSink({
    config: cfg,
    schema,
    pipeline: 'churn-scoring',
    logger: silentLogger,
    connect: async () => {
      const s = new FakeSession((sql) => {
        if (failNext !== undefined && sql.startsWith('MERGE')) {
          const e = failNext;
          failNext = undefined;
          throw e;
        }
        if (sql.includes('INFORMATION_SCHEMA')) return informationSchemaRows(p);
        return answer?.(sql) ?? [];
      });
      sessions.push(s);
      return s;
    },
  });
  return { sink, sessions, failOnce: (e: unknown) => (failNext = e) };
}

describe('snowflake sink (fake session)', () => {
  it('verifies at open, then per flush: truncate, load, tombstones, merge — each statement tagged', async () => {
    const { sink, sessions } = fakeSink();
    await sink.open();
    await sink.write(batch([row(1, pos(1)), del(2, pos(2))]));
    await sink.close();
    const log = sessions[0]!.log;
    const kinds = log.map((l) => l.sql.split(/[ (]/, 2).join(' '));
    assert.deepEqual(kinds, [
      'SELECT TABLE_NAME,',
      'CREATE TEMPORARY',
      'TRUNCATE TABLE',
      'INSERT INTO',
      'MERGE INTO',
      'MERGE INTO',
    ]);
    assert.match(log[4]!.sql, /__TOMBSTONES" AS t/);
    const insert = log[3]!;
    assert.equal((insert.options.binds as unknown[]).length, 2, 'one array-bound row per staged row');
    const tags = log.map((l) => JSON.parse(l.options.tag!) as Record<string, string>);
    assert.deepEqual(tags[0], {
      app: 'streamscore',
      pipeline: 'churn-scoring',
      sink: 'ANALYTICS.ML.CHURN_SCORES',
      batch: tags[0]!['batch'],
    });
    assert.match(tags[0]!['batch']!, /^[0-9a-f]{8}-open$/);
    assert.match(tags[2]!['batch']!, /^[0-9a-f]{8}-1$/);
    for (const t of tags.slice(2)) assert.equal(t['batch'], tags[2]!['batch']);
    assert.equal(sessions[0]!.closed, true);
  });
  it('creates the tables first when create_table is set', async () => {
    const { sink, sessions } = fakeSink({ create_table: true });
    await sink.open();
    await sink.close();
    assert.match(
      sessions[0]!.log[0]!.sql,
      /^CREATE TABLE IF NOT EXISTS "ANALYTICS"\."ML"\."CHURN_SCORES" \(/,
    );
    assert.match(
      sessions[0]!.log[1]!.sql,
      /^CREATE TABLE IF NOT EXISTS "ANALYTICS"\."ML"\."CHURN_SCORES__TOMBSTONES"/,
    );
  });
  it('reports a missing table with the DDL to create it', async () => {
    const { sink } = fakeSink({}, () => []);
    const s = new SnowflakeSink({
      config: config(),
      schema,
      pipeline: 'p',
      logger: silentLogger,
      connect: async () => new FakeSession(() => []),
    });
    await assert.rejects(
      s.open(),
      rejects(
        'SINK_TABLE_MISSING',
        /expected table "ANALYTICS"\."ML"\."CHURN_SCORES" and .*__TOMBSTONES" to exist/,
        /CREATE TABLE IF NOT EXISTS/,
      ),
    );
    await sink.close();
  });
  it('shares one flush between concurrent writes and resolves them together', async () => {
    const { sink, sessions } = fakeSink({ batch: { max_interval_ms: 30 } });
    await sink.open();
    await Promise.all([
      sink.write(batch([row(1, pos(1))])),
      sink.write(batch([row(2, pos(1))])),
      sink.write(batch([row(3, pos(1))])),
    ]);
    const inserts = sessions[0]!.log.filter((l) => l.sql.startsWith('INSERT'));
    assert.equal(inserts.length, 1);
    assert.equal((inserts[0]!.options.binds as unknown[]).length, 3);
    await sink.close();
  });
  it('flushes at max_rows without waiting for the interval', async () => {
    const { sink, sessions } = fakeSink({ batch: { max_rows: 2, max_interval_ms: 60_000 } });
    await sink.open();
    const started = Date.now();
    await sink.write(batch([row(1, pos(1)), row(2, pos(1)), row(3, pos(1)), row(4, pos(1))]));
    assert.ok(Date.now() - started < 5000);
    assert.equal(sessions[0]!.log.filter((l) => l.sql.startsWith('INSERT')).length, 2);
    await sink.close();
  });
  it('rejects the writes of a failed flush with a classified error and logs in again after a transient one', async () => {
    const { sink, sessions, failOnce } = fakeSink();
    await sink.open();
    failOnce(
      Object.assign(new Error('Request to Snowflake failed.'), { code: 401002, response: { status: 503 } }),
    );
    await assert.rejects(sink.write(batch([row(1, pos(1))])), (err: unknown) => {
      assert.ok(PipelineError.is(err));
      assert.equal(err.code, 'SINK_UNAVAILABLE');
      assert.equal(err.retryable, true);
      assert.match(err.message, /flushing batch [0-9a-f]{8}-1 \(1 rows\) failed \[401002\]/);
      return true;
    });
    assert.equal(sessions[0]!.closed, true);
    await sink.write(batch([row(1, pos(1))]));
    assert.equal(sessions.length, 2);
    assert.match(
      sessions[1]!.log[0]!.sql,
      /^CREATE TEMPORARY TABLE/,
      'the new session gets its staging table',
    );
    failOnce(Object.assign(new Error('Insufficient privileges'), { code: '003001', sqlState: '42501' }));
    await assert.rejects(sink.write(batch([row(1, pos(2))])), rejects('SINK_PERMISSION'));
    assert.equal(sessions.length, 2, 'a terminal error keeps the session');
    await sink.close();
  });
  it('loads through multi-row VALUES in max_rows_per_statement chunks', async () => {
    const { sink, sessions } = fakeSink({ load: 'values', max_rows_per_statement: 2 });
    await sink.open();
    await sink.write(batch([row(1, pos(1)), row(2, pos(1)), row(3, pos(1))]));
    const inserts = sessions[0]!.log.filter((l) => l.sql.startsWith('INSERT'));
    assert.deepEqual(
      inserts.map((i) => (i.options.binds as unknown[]).length),
      [20, 10],
    );
    await sink.close();
  });
  it('loads through PUT of a CSV file and COPY INTO, and checks both results', async () => {
    let csv = '';
    const { sink, sessions } = fakeSink({ load: 'copy' }, (sql) => {
      if (sql.startsWith('PUT')) {
        const path = /file:\/\/([^']+)'/.exec(sql)![1]!;
        return [{ status: 'UPLOADED', target: 'x.csv.gz', path }];
      }
      if (sql.startsWith('COPY')) return [{ status: 'LOADED', rows_loaded: 2 }];
      return [];
    });
    const origExecute = FakeSession.prototype.execute;
    await sink.open();
    const s = sessions[0]!;
    s.execute = async (sql, options) => {
      if (sql.startsWith('PUT')) csv = await readFile(/file:\/\/([^']+)'/.exec(sql)![1]!, 'utf8');
      return origExecute.call(s, sql, options);
    };
    await sink.write(batch([row(1, pos(1)), row(2, pos(1))]));
    assert.equal(csv.split('\n').length, 3);
    const kinds = s.log.map((l) => l.sql.split(' ', 1)[0]);
    assert.deepEqual(kinds.slice(-5), ['TRUNCATE', 'PUT', 'COPY', 'MERGE', 'MERGE']);
    await assert.rejects(
      sink.write(batch([row(1, pos(2)), row(2, pos(2)), row(3, pos(2))])),
      rejects('SINK_ERROR', /expected 3 rows loaded, got 2/),
    );
    await sink.close();
  });
  it('drops deletes with on_delete ignore and rejects writes after close', async () => {
    const { sink, sessions } = fakeSink({ on_delete: 'ignore' });
    await sink.open();
    await sink.write(batch([del(1, pos(1))]));
    assert.equal(sessions[0]!.log.filter((l) => l.sql.startsWith('INSERT')).length, 0);
    await sink.close();
    await assert.rejects(sink.write(batch([row(1, pos(1))])), rejects('SINK_CLOSED'));
  });
  it('checks the batch fields', async () => {
    const { sink } = fakeSink();
    await assert.rejects(
      sink.write({ ...batch([row(1, pos(1))]), fields: ['x'] }),
      rejects('SINK_FIELDS_MISMATCH'),
    );
    await sink.close();
  });
});
