import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import * as ort from 'onnxruntime-node';
import type { parseDocument } from 'yaml';
import type { ChunkResult } from '../../workers/backfill/jobs.js';
import { PostgresTableReader } from '../../workers/backfill/postgres/reader.js';
import { BackfillQueues, type RunStatus } from '../../workers/backfill/queues.js';
import { makePosition, positionTimeUs } from '../../workers/core/position.js';
import { Secret } from '../../workers/core/secret.js';
import type { RawMessage } from '../../workers/core/types.js';
import { createLogger } from '../../workers/observability/logger.js';
import { createMetrics, noopMeter } from '../../workers/observability/metrics.js';
import { assembleValidated } from '../../workers/runtime/assemble.js';
import { validatePipelineFile } from '../../workers/spec/validate.js';
import {
  CHURN_INPUT_COLUMNS,
  type ChurnInputRow,
  CUSTOMERS_DDL,
  churnFeatures,
  churnInputTimes,
  insertCustomers,
} from '../support/churn.js';
import { type RunningCli, startCli } from '../support/cli.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import {
  deleteGroups,
  dropPgTables,
  dropSnowflakeTables,
  env,
  registerDebezium,
  removeChurnObjects,
  testKafka,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';

export const PIPELINE = 'churn-scoring';

/**
 * pipelines/churn-scoring.yaml with `backfill` fields replaced (e.g. lock_ms, schedule), written to
 * a temporary directory with the model and input schema paths made absolute.
 */
export function churnPipeline(
  id: string,
  backfill: Record<string, unknown> = {},
  options: CaseOptions = {},
): string {
  return churnPipelineCopy(`backfill-${id}`, {
    warehouse: options.warehouse === true,
    edit: (doc) => {
      for (const [k, v] of Object.entries(backfill)) {
        if (v === undefined) doc.deleteIn(['spec', 'backfill', k]);
        else doc.setIn(['spec', 'backfill', k], v);
      }
      options.edit?.(doc);
    },
  });
}

/** Options of a case's pipeline copy: the warehouse sinks (off by default), further edits. */
export interface CaseOptions {
  warehouse?: boolean;
  edit?: (doc: ReturnType<typeof parseDocument>) => void;
}

/** Environment of the CLI for one test: its own tables, topics and BullMQ prefix. */
export function churnEnv(id: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CHURN_SOURCE_TABLE: `crm.customers_${id}`,
    CHURN_SCORES_TABLE: `ml.churn_${id}`,
    CHURN_OUTPUT_TOPIC: `bf-scores-${id}`,
    CHURN_DLQ: `bf-${id}.dlq`,
    CHURN_GROUP: `bf-${id}`,
    CHURN_TOPIC: `bf-${id}.none`,
    CHURN_ENCODING: 'json',
    CHURN_WH_TABLE: `BF_${id.toUpperCase()}`,
    CHURN_WH_HISTORY_TABLE: `BF_HISTORY_${id.toUpperCase()}`,
    METRICS_PORT: '0',
    REDIS_URL: env.redisUrl,
    STREAMSCORE_BACKFILL_PREFIX: `bf${id}`,
    ...extra,
  };
}

export async function createCustomers(table: string, rows: number): Promise<void> {
  await withPg(async (c) => {
    await c.query(CUSTOMERS_DDL(table));
    for (let from = 1; from <= rows; from += 50_000) {
      await insertCustomers(c, table, from, Math.min(rows, from + 49_999));
    }
  });
}

/** Drops tables (and their tombstone tables and sink bookkeeping). */
export const dropTables = dropPgTables;

/** The case's Snowflake (fakesnow) tables of the churn pipeline's warehouse sinks. */
export async function dropWarehouseTables(e: Record<string, string>): Promise<void> {
  await dropSnowflakeTables(e['CHURN_WH_TABLE']!, e['CHURN_WH_HISTORY_TABLE']!);
}

export interface Score {
  p: number;
  label: number;
  tenure: number;
  position: bigint;
}

export async function scoreRows(scores: string): Promise<Map<number, Score>> {
  return withPg(async (c) => {
    const exists = await c.query('select to_regclass($1) as t', [scores]);
    if (exists.rows[0].t === null) return new Map();
    const r = await c.query(
      `select customer_id, churn_probability, churn_label, tenure_months, source_position::text as pos from ${scores}`,
    );
    return new Map(
      r.rows.map((x) => [
        Number(x.customer_id),
        {
          p: x.churn_probability,
          label: Number(x.churn_label),
          tenure: x.tenure_months,
          position: BigInt(x.pos),
        },
      ]),
    );
  });
}

/** The queues of the test's prefix, on a connection of their own. */
export function testQueues(id: string): { queues: BackfillQueues; close(): Promise<void> } {
  const connection = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
  const prefix = `bf${id}`;
  const queues = new BackfillQueues(PIPELINE, { connection, prefix });
  return {
    queues,
    async close() {
      await queues.close();
      let cursor = '0';
      do {
        const [next, keys] = await connection.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        if (keys.length > 0) await connection.del(...keys);
        cursor = next;
      } while (cursor !== '0');
      connection.disconnect();
    },
  };
}

export async function runFinished(
  queues: BackfillQueues,
  runId: string,
  timeoutMs: number,
): Promise<RunStatus> {
  return waitFor(
    `backfill run ${runId} finished`,
    async () => {
      const s = await queues.status(runId);
      return s && ['completed', 'failed', 'cancelled'].includes(s.state) ? s : undefined;
    },
    timeoutMs,
  );
}

/** The run id printed by `streamscore backfill`. */
export function runIdOf(output: string): string {
  const m = /run (\S+): \d+ chunks/.exec(output);
  if (!m) throw new Error(`no run id in: ${output}`);
  return m[1]!;
}

/** A completed chunk of a run: its key range (one-column key; lower exclusive, upper inclusive). */
export interface ChunkRead {
  lower: string | null;
  upper: string | null;
  /** The position of the snapshot the completing attempt read the chunk in. */
  position: bigint;
}

/** The chunks of run `runId` that completed, as BullMQ recorded them (range, and the result's snapshot). */
export async function completedChunks(queues: BackfillQueues, runId: string): Promise<ChunkRead[]> {
  const jobs = (await queues.chunks.getJobs(['completed'])).filter((j) => j.data.runId === runId);
  return jobs.map((j) => ({
    lower: j.data.range.lower ? String(j.data.range.lower[0]) : null,
    upper: j.data.range.upper ? String(j.data.range.upper[0]) : null,
    position: makePosition(BigInt((j.returnvalue as ChunkResult).snapshotUs), 0),
  }));
}

/**
 * The predictions of `scores` that are not the last read of their chunk in `chunks`: a row whose
 * source_position is not the snapshot position of the one chunk holding its key (written by a killed
 * attempt, another run, or a regressed write), or whose key is in no chunk (or in two). Empty when
 * every row was written by the run's completed reads. At most 20, described.
 */
export async function rowsNotFromChunks(scores: string, chunks: readonly ChunkRead[]): Promise<string[]> {
  return withPg(async (c) => {
    const r = await c.query(
      `with chunk as (select * from unnest($1::bigint[], $2::bigint[], $3::numeric[]) as c(lo, hi, pos))
       select s.customer_id::text as id, s.source_position::text as pos, string_agg(c.pos::text, ', ') as expected
       from ${scores} s
       left join chunk c on (c.lo is null or s.customer_id > c.lo) and (c.hi is null or s.customer_id <= c.hi)
       group by s.customer_id, s.source_position
       having count(c.pos) <> 1 or min(c.pos) <> s.source_position
       order by s.customer_id limit 20`,
      [chunks.map((x) => x.lower), chunks.map((x) => x.upper), chunks.map((x) => String(x.position))],
    );
    return r.rows.map(
      (x: { id: string; pos: string; expected: string | null }) =>
        `customer ${x.id}: position ${x.pos}, its chunk's ${x.expected ?? 'none'}`,
    );
  });
}

type CustomerInputs = ChurnInputRow & { customer_id: string };

/**
 * Asserts that the times the test builds features from are the backfilled record's: signup_date
 * and last_login_at of each row as the backfill reader converts them (`lookupColumns`, the
 * conversions of a chunk read: last_login_at in epoch ms with the µs as a fraction) equal
 * churnInputTimes of the test's own read exactly. A ms-truncated read (node-pg's Date) fails here
 * for any row whose last login has a sub-ms part.
 */
async function assertInputsAreBackfilled(table: string, rows: CustomerInputs[]): Promise<void> {
  const reader = new PostgresTableReader(
    { url: new Secret(env.databaseUrl), table, key: ['customer_id'] },
    { poolSize: 1 },
  );
  let backfilled: Map<string, Record<string, unknown>>;
  try {
    backfilled = await reader.lookupColumns(
      rows.map((r) => [r.customer_id]),
      ['signup_date', 'last_login_at'],
    );
  } finally {
    await reader.close();
  }
  for (const row of rows) {
    const b = backfilled.get(String(Number(row.customer_id)));
    assert.ok(b, `customer ${row.customer_id}: not read by the backfill reader`);
    const { signupMs, lastLoginMs } = churnInputTimes(row);
    assert.deepStrictEqual(
      { signup_date: signupMs, last_login_at: lastLoginMs },
      { signup_date: b['signup_date'], last_login_at: b['last_login_at'] },
      `customer ${row.customer_id}: the test's inputs (actual) are not the backfilled record's (expected)`,
    );
  }
}

/**
 * Checks stored predictions against onnxruntime on hand-built features of the current source
 * rows, with the source time each prediction's position carries. Returns the keys that differ.
 * The rows are read exactly (CHURN_INPUT_COLUMNS: last_login_at to the µs, as the product keeps
 * it: with the model's split at days_since_login 39.0, the float32 of a value off by under a ms can
 * fall on the split's other side), and asserted equal to the backfill reader's values first.
 */
export async function checkPredictions(
  table: string,
  scores: Map<number, Score>,
  ids?: number[],
): Promise<number[]> {
  const rows: CustomerInputs[] = await withPg(
    async (c) =>
      (
        await c.query(
          ids
            ? `select ${CHURN_INPUT_COLUMNS} from ${table} where customer_id = any($1) order by customer_id`
            : `select ${CHURN_INPUT_COLUMNS} from ${table} order by customer_id`,
          ids ? [ids] : [],
        )
      ).rows,
  );
  await assertInputsAreBackfilled(table, rows);
  const session = await ort.InferenceSession.create('pipelines/models/churn/2/model.onnx');
  const features = new Float32Array(rows.length * 8);
  rows.forEach((row, i) => {
    const s = scores.get(Number(row.customer_id));
    // source.ts_ms of the record: whole ms of the position's µs, as the backfill reader and Debezium.
    const tsMs = s ? Number(positionTimeUs(s.position) / 1000n) : 0;
    features.set(churnFeatures(row, tsMs), i * 8);
  });
  const out = await session.run({ features: new ort.Tensor('float32', features, [rows.length, 8]) });
  const probs = out['probabilities']!.data as Float32Array;
  const bad: number[] = [];
  rows.forEach((row, i) => {
    const s = scores.get(Number(row.customer_id));
    if (!s || Math.abs(s.p - probs[i * 2 + 1]!) > 1e-5) bad.push(Number(row.customer_id));
  });
  await session.release();
  return bad;
}

export interface BackfillCase {
  id: string;
  /** CLI environment: the test's tables, topics and BullMQ prefix. */
  env: Record<string, string>;
  table: string;
  scores: string;
  file: string;
  queues: BackfillQueues;
  /** Starts `streamscore <args>` with the case's environment; stopped after the file's tests. */
  start(args: string[]): RunningCli;
}

/**
 * One e2e file's setup: a customers table of `rows` rows created before the tests, a pipeline
 * copy with `backfill` overrides; afterwards the CLI processes stop and the queues and tables go.
 */
export function backfillCase(
  rows: number,
  backfill: Record<string, unknown> = {},
  options: CaseOptions = {},
): BackfillCase {
  const id = uniqueId();
  const e = churnEnv(id);
  const { queues, close } = testQueues(id);
  const started: RunningCli[] = [];
  const c: BackfillCase = {
    id,
    env: e,
    table: e['CHURN_SOURCE_TABLE']!,
    scores: e['CHURN_SCORES_TABLE']!,
    file: churnPipeline(id, backfill, options),
    queues,
    start(args) {
      const cli = startCli(args, e);
      started.push(cli);
      return cli;
    },
  };
  before(() => createCustomers(c.table, rows));
  after(async () => {
    for (const cli of started) await cli.stop();
    await close();
    // Topics (the input a `run` asks the broker to create, output, dead letters), group, tables.
    await removeChurnObjects(e);
  });
  return c;
}

/**
 * Debezium's snapshot events of a case's table (`count` of them), as Kafka delivered them, read
 * through a consumer group of their own (deleted afterwards).
 */
export async function snapshotEvents(topic: string, count: number): Promise<RawMessage[]> {
  const kafka = testKafka(`snapshot-${topic}`);
  const groupId = `snapshot-reader-${uniqueId()}`;
  const consumer = kafka.consumer({ groupId });
  const out: RawMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (!message.value) return;
        out.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key ? Buffer.from(message.key) : null,
          value: Buffer.from(message.value),
          headers: {},
          timestamp: message.timestamp,
        });
      },
    });
    await waitFor(`${count} snapshot events`, async () => out.length >= count, 120000);
  } finally {
    await consumer.disconnect();
    await deleteGroups([groupId]);
  }
  return out;
}

/**
 * Snapshot events (JsonConverter with schemas) each given the source time its row was backfilled
 * at (ts_ms, ts_us, ts_ns; lsn 0), so the stream computes the features the backfill computed.
 */
export function atBackfillTime(events: readonly RawMessage[], backfilled: Map<number, Score>): RawMessage[] {
  return events.map((m) => {
    const v = JSON.parse(m.value!.toString());
    const rowId = Number(v.payload.after.customer_id);
    const us = positionTimeUs(backfilled.get(rowId)!.position);
    assert.equal(v.payload.op, 'r');
    v.payload.source.ts_ms = Number(us / 1000n);
    v.payload.source.ts_us = Number(us);
    v.payload.source.ts_ns = Number(us) * 1000;
    v.payload.source.lsn = 0;
    return { ...m, value: Buffer.from(JSON.stringify(v)) };
  });
}

/**
 * The streaming path in process: the case's pipeline assembled as `streamscore run` assembles it
 * (with `env` over the case's), fed `events` 500 at a time; none may be dead-lettered.
 */
export async function streamInProcess(
  file: string,
  env: Record<string, string>,
  events: readonly RawMessage[],
): Promise<void> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const v = await validatePipelineFile(file, { keepModel: true });
  process.env = saved;
  assert.deepEqual(v.problems, []);
  const logger = createLogger('warn');
  const a = await assembleValidated(v, {
    metrics: createMetrics(noopMeter(), PIPELINE, logger),
    logger,
  });
  await a.open();
  try {
    for (let i = 0; i < events.length; i += 500) {
      const r = await a.processor.process(events.slice(i, i + 500));
      assert.equal(r.deadLettered, 0);
    }
  } finally {
    await a.close();
  }
}

/**
 * How two scores tables differ, over `a`'s columns except `exclude`: the quoted column list and
 * the count of rows only in `a` and only in `b` (both 0 when equal as sets).
 */
export async function tableDiff(
  a: string,
  b: string,
  exclude: readonly string[],
): Promise<{ columns: string; onlyA: number; onlyB: number }> {
  return withPg(async (c) => {
    const [schema, name] = a.split('.');
    const r = await c.query(
      `select column_name from information_schema.columns
       where table_schema = $1 and table_name = $2 and not (column_name = any($3)) order by ordinal_position`,
      [schema, name, exclude],
    );
    const columns = r.rows.map((x: { column_name: string }) => `"${x.column_name}"`).join(', ');
    const d = await c.query(
      `select (select count(*)::int from (select ${columns} from ${a} except select ${columns} from ${b}) d1) as only_a,
              (select count(*)::int from (select ${columns} from ${b} except select ${columns} from ${a}) d2) as only_b`,
    );
    return { columns, onlyA: d.rows[0].only_a, onlyB: d.rows[0].only_b };
  });
}

/**
 * A parity test's source: the case's table (once its own hook created it) with NULLs in some
 * rows (parity must hold for them too), captured by a Debezium JSON connector, and a
 * backfill-only worker to process the case's chunks.
 */
export async function startParitySource(
  c: BackfillCase,
  connector: string,
  topicPrefix: string,
): Promise<void> {
  // backfillCase's own hook creates the table; do not depend on the order hooks run in.
  await waitFor('the source table', () =>
    withPg(async (pg) => (await pg.query('select to_regclass($1) as t', [c.table])).rows[0].t !== null),
  );
  await withPg((pg) =>
    pg.query(
      `update ${c.table} set plan = null, monthly_spend = null, last_login_at = null, seats = null where customer_id % 97 = 0`,
    ),
  );
  await registerDebezium({ name: connector, topicPrefix, tables: [c.table], converter: 'json' });
  c.start(['run', '--backfill-only', c.file]);
}
