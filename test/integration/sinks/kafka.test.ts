import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { type IHeaders, Kafka, type KafkaMessage, logLevel } from 'kafkajs';
import { PipelineError } from '../../../workers/core/errors.js';
import type { PredictionSchema, RawMessage } from '../../../workers/core/types.js';
import { createSinks } from '../../../workers/sinks/create.js';
import { DeadLetterWriter } from '../../../workers/sinks/dead-letter/writer.js';
import type { KafkaSinkConfig } from '../../../workers/sinks/kafka/config.js';
import { KafkaSink } from '../../../workers/sinks/kafka/sink.js';
import { deleteSubjects } from '../../bench/topic.js';
import { deleteGroups, deleteTopics } from '../../support/stack.js';
import {
  batch,
  compositeSchema,
  del,
  expectedMessage,
  pos,
  row,
  schema,
  silentLogger,
} from '../../unit/sinks/fixtures.js';
import { KAFKA_BROKERS, SCHEMA_REGISTRY_URL, unique } from './env.js';

const kafka = new Kafka({ clientId: 'sink-tests', brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING });
const registry = new SchemaRegistry({ host: SCHEMA_REGISTRY_URL });

/** The topics and groups the tests create, and the subjects the Avro sink registers for them. */
const topics: string[] = [];
const groups: string[] = [];
after(async () => {
  await deleteTopics(topics);
  await deleteGroups(groups);
  await deleteSubjects(
    SCHEMA_REGISTRY_URL,
    topics.flatMap((t) => [`${t}-key`, `${t}-value`]),
  );
});

async function createTopic(prefix: string, partitions = 3): Promise<string> {
  const topic = unique(prefix);
  topics.push(topic);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();
  return topic;
}

/** Reads `count` messages of `topic` from the beginning (across partitions, per-partition order kept). */
async function readBack(topic: string, count: number, timeoutMs = 20_000): Promise<KafkaMessage[]> {
  const groupId = unique('sink-tests');
  groups.push(groupId);
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const out: KafkaMessage[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`read ${out.length} of ${count} messages from ${topic}`)),
        timeoutMs,
      );
      void consumer.run({
        eachMessage: async ({ message }) => {
          out.push(message);
          if (out.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

const header = (h: IHeaders | undefined, name: string) => h?.[name]?.toString();

function sinkConfig(topic: string, overrides: Partial<KafkaSinkConfig> = {}): KafkaSinkConfig {
  return {
    topic,
    format: 'json',
    acks: -1,
    compression: 'none',
    headers: 'tombstones',
    max_request_bytes: 900_000,
    backfill: true,
    client_id: 'sink-tests',
    ...overrides,
  };
}

const avroSink = (topic: string, s: PredictionSchema, pipeline: string) =>
  new KafkaSink({
    config: sinkConfig(topic, { format: 'avro' }),
    schema: s,
    pipeline,
    kafka,
    registry,
    logger: silentLogger,
  });

describe('kafka sink', () => {
  it('produces JSON predictions keyed by the entity key, with headers, and tombstones for deletes', async () => {
    const topic = await createTopic('scores_json');
    const sink = new KafkaSink({
      config: sinkConfig(topic, { compression: 'gzip', headers: 'all' }),
      schema,
      pipeline: 'churn',
      kafka,
      logger: silentLogger,
    });
    await sink.open();
    await sink.write(batch([row(1, pos(10, 1), 0.25), row(2, pos(10, 2), 0.75), row(1, pos(11), 0.5)]));
    await sink.write(batch([del(2, pos(12))]));
    await sink.close();

    const messages = await readBack(topic, 4);
    const byKey = new Map<string, KafkaMessage[]>();
    for (const m of messages) byKey.set(m.key!.toString(), [...(byKey.get(m.key!.toString()) ?? []), m]);
    assert.deepEqual([...byKey.keys()].sort(), ['1', '2']);
    const [k1a, k1b] = byKey.get('1')!;
    assert.deepEqual(JSON.parse(k1a!.value!.toString()), expectedMessage(1, pos(10, 1), 0.25));
    assert.equal(JSON.parse(k1b!.value!.toString()).churn_probability, 0.5, 'order within a key is kept');
    assert.equal(header(k1a!.headers, 'streamscore.model.name'), 'churn');
    assert.equal(header(k1a!.headers, 'streamscore.model.version'), '1');
    assert.equal(header(k1a!.headers, 'streamscore.source.position'), pos(10, 1).toString());
    assert.equal(header(k1a!.headers, 'streamscore.pipeline'), 'test-pipeline');
    const [k2a, k2b] = byKey.get('2')!;
    assert.equal(JSON.parse(k2a!.value!.toString()).churn_label, 1);
    assert.equal(k2b!.value, null, 'a delete is a tombstone');
    assert.equal(header(k2b!.headers, 'streamscore.op'), 'd');
    assert.equal(header(k2b!.headers, 'streamscore.source.position'), pos(12).toString());
  });

  for (const [mode, upsertHeaders, tombstoneHeaders] of [
    ['tombstones', 0, 5],
    ['none', 0, 0],
  ] as const) {
    it(`headers: ${mode} puts ${upsertHeaders} headers on upserts and ${tombstoneHeaders} on tombstones`, async () => {
      const topic = await createTopic(`scores_headers_${mode}`);
      const sink = new KafkaSink({
        config: sinkConfig(topic, { headers: mode }),
        schema,
        pipeline: 'churn',
        kafka,
        logger: silentLogger,
      });
      await sink.open();
      await sink.write(batch([row(1, pos(10, 1), 0.25), del(2, pos(12))]));
      await sink.close();
      const messages = await readBack(topic, 2);
      const count = (m: KafkaMessage | undefined) => Object.keys(m?.headers ?? {}).length;
      assert.equal(count(messages.find((m) => m.value !== null)), upsertHeaders);
      const tomb = messages.find((m) => m.value === null);
      assert.equal(count(tomb), tombstoneHeaders);
      if (tombstoneHeaders > 0) assert.equal(header(tomb!.headers, 'streamscore.op'), 'd');
    });
  }

  it('splits a write larger than one request (1 partition, ~3 MB) and delivers every message in order', async () => {
    const topic = await createTopic('scores_big', 1);
    const sink = new KafkaSink({
      config: sinkConfig(topic, { headers: 'all' }),
      schema,
      pipeline: 'churn',
      kafka,
      logger: silentLogger,
    });
    await sink.open();
    const n = 6000;
    await sink.write(batch(Array.from({ length: n }, (_, i) => row(i, pos(100, i), i / n))));
    await sink.close();
    const messages = await readBack(topic, n, 60_000);
    assert.equal(messages.length, n);
    const bytes = messages.reduce((a, m) => a + (m.value?.length ?? 0), 0);
    assert.ok(bytes > 1_100_000, `the write (${bytes} value bytes) exceeds one request`);
    assert.deepEqual(
      messages.map((m) => Number(m.key!.toString())),
      Array.from({ length: n }, (_, i) => i),
    );
  });

  it('produces Avro in the Confluent wire format with the schema registered under <topic>-value', async () => {
    const topic = await createTopic('scores_avro');
    const sink = avroSink(topic, compositeSchema, 'churn');
    await sink.open();
    const key = { tenant: 'acme', customer_id: 7 };
    await sink.write(batch([row(key, pos(20), 0.9), del({ tenant: 'acme', customer_id: 8 }, pos(21))]));
    await sink.close();

    const messages = await readBack(topic, 2);
    const value = messages.find((m) => m.value !== null)!;
    const tomb = messages.find((m) => m.value === null)!;
    assert.equal(value.key!.toString(), '{"tenant":"acme","customer_id":7}');
    assert.equal(tomb.key!.toString(), '{"tenant":"acme","customer_id":8}');
    assert.equal(value.value![0], 0, 'magic byte');
    const id = value.value!.readInt32BE(1);
    assert.equal(await registry.getLatestSchemaId(`${topic}-value`), id);
    const decoded = JSON.parse(JSON.stringify(await registry.decode(value.value!)));
    assert.deepEqual(decoded, expectedMessage(key, pos(20), 0.9, 'avro'));
  });

  it('reopens against an already registered schema (same id)', async () => {
    const topic = await createTopic('scores_avro_again', 1);
    const make = () => avroSink(topic, schema, 'p');
    const a = make();
    await a.open();
    await a.write(batch([row(1, pos(1))]));
    await a.close();
    const b = make();
    await b.open();
    await b.write(batch([row(1, pos(2))]));
    await b.close();
    const [m1, m2] = await readBack(topic, 2);
    assert.equal(m1!.value!.readInt32BE(1), m2!.value!.readInt32BE(1));
  });

  it('rejects an incompatible schema change as terminal SINK_SCHEMA_INCOMPATIBLE', async () => {
    const topic = await createTopic('scores_avro_incompat', 1);
    const first = avroSink(topic, schema, 'p');
    await first.open();
    await first.close();
    // A required field of another type under the same name: BACKWARD-incompatible.
    const changed = { key: 'string' as const, fields: schema.fields };
    const second = avroSink(topic, changed, 'p');
    await assert.rejects(second.open(), (err: unknown) => {
      assert.ok(PipelineError.is(err), String(err));
      assert.equal(err.code, 'SINK_SCHEMA_INCOMPATIBLE', err.message);
      assert.equal(err.retryable, false, err.message);
      assert.match(
        err.message,
        new RegExp(`registering the value schema under ${topic}-value failed \\(HTTP 409\\): .*Incompatible`),
      );
      return true;
    });
    await second.close();
  });

  it('reports an unreachable broker as retryable', async () => {
    const dead = new Kafka({
      clientId: 'sink-tests',
      brokers: ['127.0.0.1:1'],
      logLevel: logLevel.NOTHING,
      retry: { retries: 1, initialRetryTime: 50 },
      connectionTimeout: 300,
    });
    const sink = new KafkaSink({
      config: sinkConfig('nowhere'),
      schema,
      pipeline: 'p',
      kafka: dead,
      logger: silentLogger,
    });
    await assert.rejects(sink.open(), (err: unknown) => {
      assert.ok(PipelineError.is(err), String(err));
      assert.equal(err.code, 'SINK_UNAVAILABLE');
      assert.equal(err.retryable, true);
      return true;
    });
  });

  it('is built by createSinks from a spec entry with its own brokers and registry', async () => {
    const topic = await createTopic('scores_created', 1);
    const [sink] = createSinks(
      [
        {
          kafka: {
            ...sinkConfig(topic, { format: 'avro' }),
            brokers: KAFKA_BROKERS,
            schema_registry: { url: SCHEMA_REGISTRY_URL },
          },
        },
      ],
      { pipeline: 'p', schema, logger: silentLogger },
    );
    await sink!.open();
    await sink!.write(batch([row(5, pos(5), 0.5)]));
    await sink!.close();
    const [m] = await readBack(topic, 1);
    assert.equal((await registry.decode(m!.value!)).churn_probability, 0.5);
  });
});

describe('dead-letter writer', () => {
  let topic: string;
  let writer: DeadLetterWriter;
  before(async () => {
    topic = await createTopic('dlq', 1);
    writer = new DeadLetterWriter({ kafka, topic, logger: silentLogger });
    await writer.open();
  });
  after(async () => {
    await writer.close();
  });

  it('writes the original key and value bytes with error and source headers, original headers kept', async () => {
    const raw = (offset: string, value: Buffer | null): RawMessage => ({
      topic: 'crm.crm.customers',
      partition: 1,
      offset,
      key: Buffer.from('{"id":1}'),
      value,
      headers: { traceparent: '00-abc-01' },
      timestamp: '0',
    });
    const binary = Buffer.from([0, 0, 0, 0, 7, 0xff, 0x00, 0x80]);
    await writer.write([
      {
        message: raw('41', binary),
        error: new PipelineError('expected an Avro record, got 3 bytes', {
          code: 'DECODE_AVRO',
          stage: 'decode',
        }),
        pipeline: 'churn-scoring',
      },
      {
        message: raw('42', null),
        error: new PipelineError('key: null', { code: 'FEATURE_KEY', stage: 'features' }),
        pipeline: 'churn-scoring',
      },
    ]);
    const messages = await readBack(topic, 2);
    const [a, b] = messages;
    assert.deepEqual(a!.key, Buffer.from('{"id":1}'));
    assert.deepEqual(a!.value, binary);
    assert.equal(b!.value, null);
    const h = Object.fromEntries(Object.entries(a!.headers ?? {}).map(([k, v]) => [k, v?.toString()]));
    assert.deepEqual(h, {
      traceparent: '00-abc-01',
      'streamscore.error.code': 'DECODE_AVRO',
      'streamscore.error.message': 'expected an Avro record, got 3 bytes',
      'streamscore.error.stage': 'decode',
      'streamscore.pipeline': 'churn-scoring',
      'streamscore.source.topic': 'crm.crm.customers',
      'streamscore.source.partition': '1',
      'streamscore.source.offset': '41',
    });
    assert.equal(header(b!.headers, 'streamscore.error.stage'), 'features');
    assert.equal(header(b!.headers, 'streamscore.source.offset'), '42');
  });
});
