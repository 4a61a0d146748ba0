import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { makePosition, positionTimeUs } from '../../workers/core/position.js';
import type { RawMessage } from '../../workers/core/types.js';
import { createLogger } from '../../workers/observability/logger.js';
import { createMetrics, noopMeter } from '../../workers/observability/metrics.js';
import { assembleValidated } from '../../workers/runtime/assemble.js';
import { validatePipelineFile } from '../../workers/spec/validate.js';
import { runCli } from '../support/cli.js';
import {
  deleteGroups,
  deleteTopics,
  dropDebezium,
  env,
  registerDebezium,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';
import { backfillCase, dropTables, scoreRows } from './backfill-support.js';

// The parity promise: a backfilled prediction and a streamed one for the same row are equal.
// The same rows go (1) through a backfill (reader → BatchProcessor.processDecoded) into one scores
// table and (2) as Debezium's own snapshot events for them (real connector, JsonConverter with
// schemas) — given the same source time as the backfill read them at — through the streaming
// BatchProcessor (decoder → the same features, model, sinks) into another. The tables are equal.
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
const ROWS = 3000;
const { id, env: e, table, scores: backfilled, file, start } = backfillCase(ROWS);
const streamed = `ml.churn_${id}_streamed`;
const prefix = `bfp${id}`;
const topic = `${prefix}.${table}`;
const connector = `bf_parity_${id}`;
const kafka = new Kafka({
  brokers: env.kafkaBrokers.split(','),
  clientId: `bfp-${id}`,
  logLevel: logLevel.NOTHING,
});
before(async () => {
  // backfillCase's own hook creates the table; do not depend on the order hooks run in.
  await waitFor('the source table', () =>
    withPg(async (c) => (await c.query('select to_regclass($1) as t', [table])).rows[0].t !== null),
  );
  // NULLs and edge values too: parity must hold for them as well.
  await withPg((c) =>
    c.query(
      `update ${table} set plan = null, monthly_spend = null, last_login_at = null, seats = null where customer_id % 97 = 0`,
    ),
  );
  await registerDebezium({ name: connector, topicPrefix: prefix, tables: [table], converter: 'json' });
  start(['run', '--backfill-only', file]);
});

const readerGroups: string[] = [];
after(async () => {
  await dropDebezium(connector);
  await dropTables(streamed);
  await deleteTopics([topic, `bfp-stream-${id}`]);
  await deleteGroups(readerGroups);
});

/** Debezium's snapshot events of the table, as Kafka delivered them. */
async function snapshotEvents(): Promise<RawMessage[]> {
  const groupId = `bfp-reader-${uniqueId()}`;
  readerGroups.push(groupId);
  const consumer = kafka.consumer({ groupId });
  const out: RawMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({
      partition,
      message,
    }: {
      partition: number;
      message: Message & { offset: string; timestamp: string };
    }) => {
      if (!message.value) return;
      out.push({
        topic,
        partition,
        offset: message.offset,
        key: message.key ? Buffer.from(message.key as Buffer) : null,
        value: Buffer.from(message.value as Buffer),
        headers: {},
        timestamp: message.timestamp,
      });
    },
  });
  await waitFor(`${ROWS} snapshot events`, async () => out.length >= ROWS, 120000);
  await consumer.disconnect();
  return out;
}

test('backfill and streaming write identical rows for the same rows and source time', async () => {
  const res = await runCli(['backfill', file, '--wait'], e);
  assert.equal(res.code, 0, res.output);
  const fromBackfill = await scoreRows(backfilled);
  assert.equal(fromBackfill.size, ROWS);

  // Debezium's events, each given the source time its row was backfilled at (ts_us; lsn 0).
  const events = (await snapshotEvents()).map((m) => {
    const v = JSON.parse(m.value!.toString());
    const rowId = Number(v.payload.after.customer_id);
    const us = positionTimeUs(fromBackfill.get(rowId)!.position);
    assert.equal(v.payload.op, 'r');
    v.payload.source.ts_ms = Number(us / 1000n);
    v.payload.source.ts_us = Number(us);
    v.payload.source.ts_ns = Number(us) * 1000;
    v.payload.source.lsn = 0;
    return { ...m, value: Buffer.from(JSON.stringify(v)) };
  });

  // The streaming path, in process: the pipeline assembled as `streamscore run` assembles it.
  const saved = { ...process.env };
  Object.assign(process.env, e, { CHURN_SCORES_TABLE: streamed, CHURN_OUTPUT_TOPIC: `bfp-stream-${id}` });
  const v = await validatePipelineFile(file, { keepModel: true });
  process.env = saved;
  assert.deepEqual(v.problems, []);
  const logger = createLogger('warn');
  const a = await assembleValidated(v, {
    metrics: createMetrics(noopMeter(), 'churn-scoring', logger),
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

  const fromStream = await scoreRows(streamed);
  assert.equal(fromStream.size, ROWS);
  const columns = await withPg(async (c) => {
    const [schema, name] = backfilled.split('.');
    const r = await c.query(
      `select column_name from information_schema.columns
       where table_schema = $1 and table_name = $2 and column_name <> 'scored_at' order by ordinal_position`,
      [schema, name],
    );
    return r.rows.map((x) => `"${x.column_name}"`).join(', ');
  });
  assert.match(columns, /"churn_probability", "churn_label", "tenure_months".*"source_position"/);
  const diff = await withPg(
    async (c) =>
      (
        await c.query(
          `select (select count(*)::int from (select ${columns} from ${backfilled} except select ${columns} from ${streamed}) d1) as only_backfill,
                  (select count(*)::int from (select ${columns} from ${streamed} except select ${columns} from ${backfilled}) d2) as only_stream`,
        )
      ).rows[0],
  );
  assert.deepEqual(diff, { only_backfill: 0, only_stream: 0 });
  // Same position too: the backfill's is makePosition(snapshot µs, 0), the stream's (ts_us, lsn 0).
  const [k, s] = [...fromBackfill.entries()][0]!;
  assert.equal(fromStream.get(k)!.position, makePosition(positionTimeUs(s.position), 0));
});
