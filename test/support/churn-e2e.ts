import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kafka } from 'kafkajs';
import * as ort from 'onnxruntime-node';
import { createDecoder } from '../../workers/decode/create.js';
import { createSchemaRegistry } from '../../workers/decode/registry.js';
import { deleteSubjects } from '../bench/topic.js';
import { CHURN_INPUT_COLUMNS, CUSTOMERS_DDL, churnFeatures, insertCustomers } from './churn.js';
import { type RunningCli, startCli } from './cli.js';
import {
  deleteGroups,
  dropDebezium,
  env,
  freePort,
  registerDebezium,
  removeChurnObjects,
  topicOffsets,
  uniqueId,
  waitFor,
  withPg,
} from './stack.js';
import { warehouseSession, warehouseTable } from './warehouse.js';

/**
 * The churn pipeline end to end on the real stack: Postgres → Debezium (JsonConverter with
 * schemas, or Avro through the registry) → Kafka → streamscore run → ml scores table, DLQ and
 * output topic. Registered by test/e2e/churn-<converter>.test.ts.
 */
export function churnSuite(converter: 'json' | 'avro'): void {
  const id = uniqueId();
  let metricsPort = 0;
  const table = `crm.customers_${id}`;
  const scores = `ml.churn_${id}`;
  const prefix = `e2e${id}`;
  const topic = `${prefix}.${table}`;
  const dlq = `churn-${id}.dlq`;
  const connector = `churn_${converter}_${id}`;
  // The envelope's op and commit time only; the features and the model are computed by hand below.
  const envelopeReader = createDecoder(
    { debezium: { encoding: converter, schema_registry: { url: env.registryUrl } } },
    { registry: createSchemaRegistry({ url: env.registryUrl }) },
  );
  const kafka = new Kafka({ brokers: env.kafkaBrokers.split(','), clientId: `e2e-${id}` });
  let worker: RunningCli | undefined;

  const pipelineEnv = {
    CHURN_TOPIC: topic,
    CHURN_GROUP: `churn-${id}`,
    CHURN_SCORES_TABLE: scores,
    CHURN_OUTPUT_TOPIC: `scores-${id}`,
    CHURN_WH_TABLE: `CHURN_${id.toUpperCase()}`,
    CHURN_WH_HISTORY_TABLE: `CHURN_HISTORY_${id.toUpperCase()}`,
    CHURN_DLQ: dlq,
    CHURN_ENCODING: converter,
  };
  const readerGroups: string[] = [];

  before(async () => {
    await withPg(async (c) => {
      await c.query(CUSTOMERS_DDL(table));
      await insertCustomers(c, table, 1, 300);
    });
    await registerDebezium({ name: connector, topicPrefix: prefix, tables: [table], converter });
    metricsPort = await freePort();
    worker = startCli(['run', '--no-backfill', 'pipelines/churn-scoring.yaml'], {
      ...pipelineEnv,
      METRICS_PORT: String(metricsPort),
    });
  });

  after(async () => {
    await worker?.stop();
    await dropDebezium(connector);
    await removeChurnObjects({ ...pipelineEnv, CHURN_SOURCE_TABLE: table });
    await deleteGroups(readerGroups);
    // Avro: the connector registered its topic's key and value schemas.
    await deleteSubjects(env.registryUrl, [`${topic}-key`, `${topic}-value`]);
  });

  async function scoreRows(): Promise<Map<number, { p: number; label: number; position: string }>> {
    return withPg(async (c) => {
      const exists = await c.query('select to_regclass($1) as t', [scores]);
      if (exists.rows[0].t === null) return new Map();
      const r = await c.query(
        `select customer_id, churn_probability, churn_label, source_position from ${scores}`,
      );
      return new Map(
        r.rows.map((x) => [
          Number(x.customer_id),
          { p: x.churn_probability, label: Number(x.churn_label), position: x.source_position },
        ]),
      );
    });
  }

  interface TopicEvent {
    tsMs: number;
    op: string;
    position: bigint;
    after: Record<string, unknown> | null;
  }

  /**
   * The Debezium events on the topic, read independently of streamscore up to the topic's end, by
   * customer id: the one with the greatest position, which is the one the order-guarded sink keeps
   * (Debezium is at-least-once: a restarted snapshot emits a row twice, with a later ts_ms).
   */
  async function eventsById(expected: number): Promise<Map<number, TopicEvent>> {
    const admin = kafka.admin();
    await admin.connect();
    const end = await topicOffsets(admin, topic);
    await admin.disconnect();
    const groupId = `reader-${uniqueId()}`;
    readerGroups.push(groupId);
    const consumer = kafka.consumer({ groupId });
    const seen = new Map<number, TopicEvent>();
    const next = new Map<number, bigint>();
    let count = 0;
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        next.set(partition, BigInt(message.offset) + 1n);
        if (!message.value) return;
        const raw = {
          topic,
          partition: 0,
          offset: '0',
          key: null,
          value: message.value,
          headers: {},
          timestamp: '0',
        };
        const r = (await envelopeReader.decodeBatch([raw])).records[0]!;
        const v = r.root as {
          after: Record<string, unknown> | null;
          before: Record<string, unknown> | null;
          source: { ts_ms: number };
          op: string;
        };
        const id = Number((v.after ?? v.before)!['customer_id']);
        const prev = seen.get(id);
        if (!prev || r.position > prev.position)
          seen.set(id, { tsMs: v.source.ts_ms, op: v.op, position: r.position, after: v.after });
        count++;
      },
    });
    const atEnd = () => end.every((p) => (next.get(p.partition) ?? 0n) >= BigInt(p.high));
    await waitFor(
      `${expected} events on ${topic}, read to its end`,
      async () => count >= expected && atEnd(),
      60000,
    );
    await consumer.disconnect();
    return seen;
  }

  test('the snapshot (op r) of every customer is scored, equal to onnxruntime on hand-built features', async () => {
    const rows = await waitFor(
      '300 scores',
      async () => {
        const m = await scoreRows();
        return m.size >= 300 ? m : undefined;
      },
      120000,
    );
    const events = await eventsById(300);
    // The columns as they are, to the microsecond and without the local time zone: node-postgres
    // reads timestamptz into a Date, which drops the microseconds that Debezium carries (and the
    // worker keeps). A snapshot taken ~165 ms after the insert put days_since_login (39 days + 165 ms)
    // right on a float32 rounding edge, so the dropped µs flipped a tree split at 39.0 for customer 39.
    const customers = await withPg(
      async (c) => (await c.query(`select ${CHURN_INPUT_COLUMNS} from ${table} order by customer_id`)).rows,
    );
    // The same model without ZipMap: plain tensors, readable directly by onnxruntime.
    const session = await ort.InferenceSession.create('pipelines/models/churn/2/model.onnx');
    const features = new Float32Array(customers.length * 8);
    for (const [i, row] of customers.entries()) {
      const event = events.get(Number(row.customer_id));
      assert.ok(event, `customer ${row.customer_id} has no event on ${topic}`);
      // The hand-built inputs are the event's: signup date exactly, last login to the microsecond.
      assert.equal(event.after?.['signup_date'], Date.parse(row.signup_date), `customer ${row.customer_id}`);
      const lastLogin = row.last_login_ms === null ? null : Number(row.last_login_ms);
      const eventLogin = event.after?.['last_login_at'];
      assert.ok(
        lastLogin === null ? eventLogin === null : Math.abs(Number(eventLogin) - lastLogin) < 0.001,
        `customer ${row.customer_id}: last_login_at ${lastLogin} ms in the table, ${eventLogin} ms in the event`,
      );
      features.set(churnFeatures(row, event.tsMs), i * 8);
    }
    const out = await session.run({ features: new ort.Tensor('float32', features, [customers.length, 8]) });
    const probs = out['probabilities']?.data as Float32Array;
    assert.ok(probs, `model outputs: ${Object.keys(out).join(', ')}`);
    customers.forEach((row, i) => {
      const got = rows.get(Number(row.customer_id));
      assert.ok(got, `customer ${row.customer_id} has no score`);
      assert.equal(
        got.position,
        String(events.get(Number(row.customer_id))!.position),
        `customer ${row.customer_id}: the score comes from the latest event`,
      );
      assert.ok(
        Math.abs(got.p - probs[i * 2 + 1]!) < 1e-5,
        `customer ${row.customer_id}: ${got.p} vs ${probs[i * 2 + 1]}`,
      );
      assert.equal(got.label, probs[i * 2 + 1]! > 0.5 ? 1 : 0);
    });
    for (const e of events.values()) assert.equal(e.op, 'r');
  });

  test('the worker serves /metrics, /healthz and /readyz', async () => {
    const base = `http://127.0.0.1:${metricsPort}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    // records_in counts a batch once every sink (the warehouse flush too) has written it.
    const metrics = await waitFor(
      'records_in >= 300',
      async () => {
        const text = await (await fetch(`${base}/metrics`)).text();
        const m = /streamscore_records_in_total\{[^}]*pipeline="churn-scoring"[^}]*\} (\d+)/.exec(text);
        return m && Number(m[1]) >= 300 ? text : undefined;
      },
      30000,
    );
    assert.match(metrics, /streamscore_inference_duration_bucket/);
    assert.match(metrics, /streamscore_end_to_end_latency_bucket/);
  });

  test('updates rescore with a newer position; deletes remove the prediction', async () => {
    const before = await scoreRows();
    await withPg(async (c) => {
      await c.query(
        `update ${table} set tickets_90d = 40, last_login_at = now() - interval '200 days' where customer_id between 1 and 20`,
      );
      await c.query(`delete from ${table} where customer_id between 281 and 300`);
    });
    await waitFor(
      'updated and deleted scores',
      async () => {
        const m = await scoreRows();
        const updated = [...Array(20).keys()].every(
          (i) => BigInt(m.get(i + 1)?.position ?? 0) > BigInt(before.get(i + 1)!.position),
        );
        const deleted = [...Array(20).keys()].every((i) => !m.has(281 + i));
        return updated && deleted;
      },
      60000,
    );
    const after = await scoreRows();
    assert.equal(after.size, 280);
    for (let i = 1; i <= 20; i++)
      assert.notEqual(after.get(i)!.p, before.get(i)!.p, `customer ${i} was not rescored`);
  });

  test('the warehouse holds the same current scores, and a history row per scored or deleted event', async () => {
    const wh = await warehouseSession();
    try {
      const pgScores = await scoreRows();
      const current = await waitFor(
        'warehouse current table equal to the CRM table',
        async () => {
          const rows = await wh.execute(
            `select CUSTOMER_ID, CHURN_PROBABILITY from ${warehouseTable(`CHURN_${id.toUpperCase()}`)}`,
          );
          const m = new Map(rows.map((r) => [Number(r['CUSTOMER_ID']), Number(r['CHURN_PROBABILITY'])]));
          if (m.size !== pgScores.size) return undefined;
          for (const [k, v] of pgScores)
            if (Math.abs((m.get(k) ?? Number.NaN) - v.p) > 1e-6) return undefined;
          return m;
        },
        60000,
      );
      assert.equal(current.size, 280);
      // 300 snapshot reads, 20 updates, 20 deletes: append keeps every version. The history table is
      // a sink of its own, flushed on its own interval: waited for, like the current table.
      const expected = { d: 20, r: 300, u: 20 };
      let byOp: Record<string, number> = {};
      await waitFor(
        'warehouse history table with every version',
        async () => {
          const history = await wh.execute(
            `select OP, count(*) AS N from ${warehouseTable(`CHURN_HISTORY_${id.toUpperCase()}`)} group by OP order by OP`,
          );
          byOp = Object.fromEntries(history.map((r) => [String(r['OP']), Number(r['N'])]));
          return byOp['r'] === 300 && byOp['u'] === 20 && byOp['d'] === 20 ? true : undefined;
        },
        60000,
      ).catch(() => undefined);
      assert.deepEqual(byOp, expected);
    } finally {
      await wh.close();
    }
  });

  test('poison records go to the DLQ with their bytes and error headers; good records still flow', async () => {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        { key: 'k1', value: '{not json' },
        {
          key: 'k2',
          value: JSON.stringify({ schema: null, payload: { op: 'c', source: { ts_ms: Date.now() } } }),
        },
      ],
    });
    await producer.disconnect();
    await withPg(async (c) => {
      await insertCustomers(c, table, 1001, 1010);
      // A real Debezium event whose tenure_months feature is null, under `on_null: reject`.
      await c.query(
        `insert into ${table} (customer_id, email, plan, signup_date, monthly_spend, seats, tickets_90d)
         values (1011, 'no-signup@example.com', 'pro', null, 49.99, 3, 1)`,
      );
    });
    const groupId = `dlq-reader-${uniqueId()}`;
    readerGroups.push(groupId);
    const consumer = kafka.consumer({ groupId });
    const letters: { key: string; value: string; raw: Buffer | null; headers: Record<string, string> }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: dlq, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(
          Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]),
        );
        letters.push({ key: String(message.key), value: String(message.value), raw: message.value, headers });
      },
    });
    await waitFor('3 dead letters', async () => letters.length >= 3, 60000);
    await consumer.disconnect();
    const bad = letters.find((l) => l.key === 'k1')!;
    assert.equal(bad.value, '{not json');
    assert.equal(bad.headers['streamscore.error.code'], converter === 'avro' ? 'DECODE_AVRO' : 'DECODE_JSON');
    assert.equal(bad.headers['streamscore.error.stage'], 'decode');
    assert.equal(bad.headers['streamscore.pipeline'], 'churn-scoring');
    assert.equal(bad.headers['streamscore.source.topic'], topic);
    assert.match(bad.headers['streamscore.source.offset'] ?? '', /^\d+$/);
    assert.equal(
      letters.find((l) => l.key === 'k2')?.headers['streamscore.error.code'],
      converter === 'avro' ? 'DECODE_AVRO' : 'DECODE_ENVELOPE',
    );
    const nullFeature = letters.find((l) => l.headers['streamscore.error.code'] === 'FEATURE_NULL');
    assert.ok(
      nullFeature,
      `a FEATURE_NULL dead letter among ${JSON.stringify(letters.map((l) => l.headers))}`,
    );
    assert.equal(nullFeature.headers['streamscore.error.stage'], 'features');
    assert.match(nullFeature.headers['streamscore.error.message'] ?? '', /tenure_months is null/);
    assert.equal(nullFeature.headers['streamscore.source.topic'], topic);
    const original = await envelopeReader.decodeBatch([
      { topic, partition: 0, offset: '0', key: null, value: nullFeature.raw, headers: {}, timestamp: '0' },
    ]);
    const after = original.records[0]?.root['after'] as { customer_id: unknown } | undefined;
    assert.equal(Number(after?.customer_id), 1011, 'the dead letter holds the original Debezium event');
    await waitFor(
      'customers 1001..1010 scored',
      async () => {
        const m = await scoreRows();
        return [...Array(10).keys()].every((i) => m.has(1001 + i));
      },
      60000,
    );
    assert.equal((await scoreRows()).has(1011), false, 'the rejected customer has no score');
  });

  test('SIGTERM drains and exits 0', async () => {
    const code = await worker!.stop('SIGTERM');
    assert.equal(code, 0, worker!.output());
  });
}
