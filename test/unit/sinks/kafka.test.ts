import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro from 'avsc';
import type { Kafka } from 'kafkajs';
import { PipelineError } from '../../../workers/core/errors.js';
import type { PredictionRow, PredictionSchema } from '../../../workers/core/types.js';
import { createSink, createSinks } from '../../../workers/sinks/create.js';
import { DLQ_HEADERS, deadLetterMessage } from '../../../workers/sinks/dead-letter/writer.js';
import { exactAvroType } from '../../../workers/sinks/kafka/avro-long.js';
import { kafkaSinkConfig } from '../../../workers/sinks/kafka/config.js';
import { classifyKafkaError } from '../../../workers/sinks/kafka/errors.js';
import {
  checkMessageNames,
  PredictionMessages,
  predictionAvroSchema,
} from '../../../workers/sinks/kafka/message.js';
import { requestSlices } from '../../../workers/sinks/kafka/sink.js';
import {
  batch,
  compositeSchema,
  expectedMessage,
  pgConfig,
  pos,
  row,
  schema,
  silentLogger,
} from './fixtures.js';

describe('kafka prediction messages', () => {
  it('keys messages by the JSON of the entity key, composite keys in part order', () => {
    assert.equal(new PredictionMessages(schema, 'json').key(row(42, pos(1))).toString(), '42');
    const m = new PredictionMessages(compositeSchema, 'json');
    assert.equal(
      m.key(row({ customer_id: 7, tenant: 'acme' }, pos(1))).toString(),
      '{"tenant":"acme","customer_id":7}',
    );
  });

  it('builds JSON values with outputs, features and metadata, and headers', () => {
    const m = new PredictionMessages(schema, 'json');
    const r = row(42, pos(100, 7), 0.8);
    const b = batch([r]);
    assert.deepEqual(m.value(r, b), expectedMessage(42, pos(100, 7), 0.8));
    assert.deepEqual(m.headers(r, b), {
      'streamscore.pipeline': 'test-pipeline',
      'streamscore.model.name': 'churn',
      'streamscore.model.version': '1',
      'streamscore.source.position': pos(100, 7).toString(),
      'streamscore.op': 'u',
    });
  });

  it('writes JSON text equal to JSON.stringify of the value, for awkward values too', () => {
    const awkward: PredictionSchema = {
      key: 'string',
      fields: [
        { name: 'p"q', type: 'float' },
        { name: 'big', type: 'int' },
        { name: 'ok', type: 'bool' },
        { name: 'feature.x\\y', type: 'float' },
        { name: 'feature.s', type: 'string' },
      ],
    };
    const cases: [PredictionSchema, PredictionRow][] = [
      [schema, row(42, pos(100, 7), 0.8)],
      [schema, { ...row(1, pos(1)), values: [Number.NaN, null, Number.POSITIVE_INFINITY, undefined] }],
      [compositeSchema, row({ tenant: 'a"b\u2028', customer_id: 3 }, pos(5))],
      [
        awkward,
        { ...row('k\n"1"', pos(9)), values: [-0.000001, 2n ** 70n, 'true', 1e21, 'line\nbreak "é" \u0001'] },
      ],
      [awkward, { ...row('k', pos(9)), values: [1, -(2n ** 60n), 0, -3.5e-7, 7] }],
    ];
    // JSON.stringify cannot write a bigint; the messages write its exact digits.
    const stringify = (v: unknown) =>
      JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `<big>${x}` : x)).replace(
        /"<big>(-?\d+)"/g,
        '$1',
      );
    for (const [s, r] of cases) {
      const m = new PredictionMessages(s, 'json');
      const b = batch([r], { name: 'ch"urn', version: '1.0' });
      assert.equal(m.json(r, b), stringify(m.value(r, b)));
    }
    const big = new PredictionMessages(awkward, 'json');
    const r = { ...row('k', pos(9)), values: [1, 2n ** 70n, 0, 1, 7] };
    assert.match(big.json(r, batch([r])), /"big":1180591620717411303424,/);
  });

  it('generates an Avro schema that avsc accepts and that round-trips a value', () => {
    for (const s of [schema, compositeSchema]) {
      const type = avro.Type.forSchema(predictionAvroSchema(s) as avro.Schema);
      const m = new PredictionMessages(s, 'avro');
      const r = row(s === schema ? 42 : { tenant: 'acme', customer_id: 3 }, pos(5), 0.25);
      const v = m.value(r, batch([r]));
      const plain = (x: unknown) => JSON.parse(JSON.stringify(x));
      assert.deepEqual(plain(type.fromBuffer(type.toBuffer(v))), plain(v));
      assert.equal(v['scored_at'], r.scoredAt.getTime());
    }
  });

  it('encodes int64 keys exactly in Avro, across the whole range (what a Java reader decodes)', () => {
    const s: PredictionSchema = { key: 'int', fields: [{ name: 'p', type: 'float' }] };
    const m = new PredictionMessages(s, 'avro');
    const exact = exactAvroType(predictionAvroSchema(s));
    // avsc's own long (safe integers only) reads what fits, so both agree on the encoding.
    const stock = avro.Type.forSchema(predictionAvroSchema(s) as avro.Schema);
    for (const k of [-(2n ** 63n), -(2n ** 53n) - 1n, 2n ** 53n, 2n ** 63n - 1n]) {
      const r = row(k, pos(5), 0.25);
      const buf = exact.toBuffer(m.value(r, batch([r])));
      assert.equal((exact.fromBuffer(buf) as { key: unknown }).key, k);
    }
    for (const k of [0, -1, 2 ** 52 - 1, -(2 ** 52), 1705326330123456, 9007199254740991, -9007199254740991]) {
      const r = row(k, pos(5), 0.25);
      const buf = exact.toBuffer(m.value(r, batch([r])));
      // avsc's own zigzag loses the last bit of negatives beyond 2^52: compare below that.
      if (Math.abs(k) <= 2 ** 52) assert.deepEqual(buf, stock.toBuffer(m.value(r, batch([r]))));
      assert.equal((exact.fromBuffer(buf) as { key: unknown }).key, k);
    }
  });

  it('rejects output names that collide with message fields, and non-Avro names in Avro mode', () => {
    const clash = { key: 'int' as const, fields: [{ name: 'features', type: 'float' as const }] };
    assert.throws(
      () => checkMessageNames(clash, 'kafka sink t', false),
      /expected model output names other than/,
    );
    const dollar = { key: 'int' as const, fields: [{ name: 'p$1', type: 'float' as const }] };
    checkMessageNames(dollar, 'kafka sink t', false);
    assert.throws(
      () => checkMessageNames(dollar, 'kafka sink t', true),
      /expected Avro field names .* got 'p\$1'/,
    );
  });

  it('classifies kafkajs and registry errors', () => {
    const k = (name: string, extra: object = {}) => Object.assign(new Error(name), { name, ...extra });
    assert.deepEqual(classifyKafkaError(k('KafkaJSConnectionError', { retriable: true })), {
      code: 'SINK_UNAVAILABLE',
      retryable: true,
    });
    assert.deepEqual(
      classifyKafkaError(
        k('KafkaJSNumberOfRetriesExceeded', {
          retriable: false,
          cause: k('KafkaJSConnectionError', { retriable: true }),
        }),
      ),
      { code: 'SINK_UNAVAILABLE', retryable: true },
    );
    assert.deepEqual(classifyKafkaError(k('KafkaJSSASLAuthenticationError', { retriable: false })), {
      code: 'SINK_AUTH',
      retryable: false,
    });
    assert.deepEqual(
      classifyKafkaError(k('KafkaJSProtocolError', { retriable: false, type: 'TOPIC_AUTHORIZATION_FAILED' })),
      { code: 'SINK_AUTH', retryable: false },
    );
    assert.deepEqual(
      classifyKafkaError(k('KafkaJSProtocolError', { retriable: false, type: 'MESSAGE_TOO_LARGE' })),
      { code: 'SINK_REJECTED', retryable: false },
    );
    assert.deepEqual(classifyKafkaError(k('ConfluentSchemaRegistryError', { status: 409 })), {
      code: 'SINK_SCHEMA_INCOMPATIBLE',
      retryable: false,
    });
    assert.deepEqual(classifyKafkaError(k('ConfluentSchemaRegistryError', { status: 503 })), {
      code: 'SINK_UNAVAILABLE',
      retryable: true,
    });
  });
});

describe('dead letters', () => {
  it('keeps the original key, value and headers and adds the error and source headers', () => {
    const message = {
      topic: 'crm.customers',
      partition: 2,
      offset: '1234',
      key: Buffer.from('k'),
      value: Buffer.from([0, 1, 2, 255]),
      headers: { trace: 'abc', [DLQ_HEADERS.code]: 'stale' },
      timestamp: '0',
    };
    const error = new PipelineError('bad record', { code: 'DECODE_INVALID', stage: 'decode' });
    const out = deadLetterMessage({ message, error, pipeline: 'churn' });
    assert.equal(out.key, message.key);
    assert.equal(out.value, message.value);
    assert.deepEqual(out.headers, {
      trace: 'abc',
      'streamscore.error.code': 'DECODE_INVALID',
      'streamscore.error.message': 'bad record',
      'streamscore.error.stage': 'decode',
      'streamscore.pipeline': 'churn',
      'streamscore.source.topic': 'crm.customers',
      'streamscore.source.partition': '2',
      'streamscore.source.offset': '1234',
    });
  });
});

describe('createSinks', () => {
  const deps = { pipeline: 'p', schema, logger: silentLogger };
  const fakeKafka = { producer: () => ({}) } as unknown as Kafka;
  const kafkaEntry = { kafka: kafkaSinkConfig.parse({ topic: 't', client_id: 'x' }) };

  it('builds postgres and kafka sinks from spec.sinks entries', async () => {
    const sinks = createSinks([{ postgres: pgConfig() }, kafkaEntry], { ...deps, kafka: fakeKafka });
    assert.deepEqual(
      sinks.map((s) => s.name),
      ['postgres:ml.scores', 'kafka:t'],
    );
    assert.equal(sinks[0]!.capabilities.idempotent, true);
    await sinks[0]!.close();
  });

  it('fails clearly for an unknown sink type, a kafka sink without a client, and avro without registry', () => {
    const is = (code: string, re: RegExp) => (err: unknown) =>
      PipelineError.is(err) && err.code === code && re.test(err.message);
    const unknown = { bigquery: {} } as unknown as Parameters<typeof createSink>[0];
    assert.throws(
      () => createSink(unknown, deps, 2),
      is(
        'SINK_NOT_IMPLEMENTED',
        /^spec\.sinks\[2\]: expected a sink type of postgres, snowflake or kafka, got 'bigquery'/,
      ),
    );
    const kafka = kafkaEntry;
    assert.throws(() => createSink(kafka, deps), is('SINK_CONFIG_INVALID', /expected brokers/));
    assert.throws(
      () => createSink({ kafka: { ...kafka.kafka, format: 'avro' } }, { ...deps, kafka: fakeKafka }),
      is('SINK_CONFIG_INVALID', /expected a schema registry/),
    );
    assert.throws(
      () => createSink({} as Parameters<typeof createSink>[0], deps),
      is('SINK_CONFIG_INVALID', /got none/),
    );
  });
});

describe('requestSlices', () => {
  const msg = (bytes: number) => ({ key: Buffer.alloc(0), value: Buffer.alloc(bytes - 20) });
  it('splits at the byte limit, keeps order, and never leaves a message out', () => {
    const ms = [msg(40), msg(40), msg(40), msg(100), msg(30)];
    assert.deepEqual(requestSlices(ms, 100), [
      [0, 2],
      [2, 3],
      [3, 4],
      [4, 5],
    ]);
    assert.deepEqual(requestSlices(ms, 1000), [[0, 5]]);
    assert.deepEqual(requestSlices([], 100), []);
  });
  it('counts header bytes', () => {
    const withHeaders = { ...msg(40), headers: { 'streamscore.op': 'u' } };
    assert.deepEqual(requestSlices([withHeaders, withHeaders], 100), [
      [0, 1],
      [1, 2],
    ]);
    assert.deepEqual(requestSlices([msg(40), msg(40)], 100), [[0, 2]]);
  });
});
