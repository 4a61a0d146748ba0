import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { PipelineError } from '../../../workers/core/errors.js';
import type { RawMessage } from '../../../workers/core/types.js';
import { createDecoder } from '../../../workers/decode/create.js';
import { createSchemaRegistry, registryFromConfluentClient } from '../../../workers/decode/registry.js';
import { deleteSubjects } from '../../bench/topic.js';
import { env, uniqueId } from '../../support/stack.js';

const msg = (value: Buffer, key: Buffer | null = null, offset = '0'): RawMessage => ({
  topic: 'decode-it',
  partition: 0,
  offset,
  key,
  value,
  headers: {},
  timestamp: '1700000000000',
});

/** The Debezium Avro envelope schema Apicurio's converter registered for the fixture table. */
const envelopeSchema = (
  JSON.parse(
    readFileSync(join(import.meta.dirname, '../../unit/decode/fixtures/registry-schemas.json'), 'utf8'),
  ) as Record<string, string>
)['2']!;

const subjects: string[] = [];
after(() => deleteSubjects(env.registryUrl, subjects));

describe('decoders on the real schema registry (Apicurio, Confluent API)', () => {
  const client = new SchemaRegistry({ host: env.registryUrl });

  it('plain Avro: register, encode in Confluent wire format, decode through createDecoder', async () => {
    const schema = {
      type: 'record',
      name: 'Txn',
      namespace: `decode_it_${uniqueId()}`,
      fields: [
        { name: 'id', type: 'long' },
        { name: 'amount', type: { type: 'bytes', logicalType: 'decimal', precision: 9, scale: 2 } },
        { name: 'note', type: ['null', 'string'], default: null },
      ],
    };
    const subject = `decode-it-${uniqueId()}-value`;
    subjects.push(subject);
    const { id } = await client.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
      { subject },
    );
    const value = await client.encode(id, { id: 42, amount: Buffer.from([0x30, 0x39]), note: 'hi' });
    assert.equal(value[0], 0);
    assert.equal(value.readInt32BE(1), id);

    const decoder = createDecoder(
      { avro: { schema_registry: { url: env.registryUrl } } },
      { registry: createSchemaRegistry({ url: env.registryUrl }) },
    );
    const out = await decoder.decodeBatch([msg(value, Buffer.from('42'))]);
    assert.deepEqual(out.failures, []);
    assert.deepEqual(out.records[0]!.root, { id: 42, amount: 123.45, note: 'hi', key: '42' });
  });

  it('Debezium Avro: an envelope registered under a fresh subject decodes with logical types and position', async () => {
    const subject = `decode-it-${uniqueId()}-value`;
    subjects.push(subject);
    const { id } = await client.register({ type: SchemaType.AVRO, schema: envelopeSchema }, { subject });
    const row = {
      id: 7,
      amount: Buffer.from([0x04, 0x1a]),
      ratio: { scale: 3, value: Buffer.from([0x01, 0xe2, 0x40]) },
      d: 19737,
      t: 1_500,
      t3: 2,
      ts: 1_705_326_330_123_456,
      ts3: 1_705_326_330_123,
      tstz: '2024-01-15T11:45:30.123456Z',
      note: null,
      active: true,
      uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      doc: '{"a":1}',
      big: '__debezium_unavailable_value',
      bin: Buffer.from([1, 2]),
      tags: ['x', null],
    };
    const source = {
      version: '3.6.1.Final',
      connector: 'postgresql',
      name: 'it',
      ts_ms: 1_700_000_000_123,
      snapshot: 'false',
      db: 'streamscore',
      sequence: null,
      ts_us: 1_700_000_000_123_456,
      ts_ns: 1_700_000_000_123_456_000,
      schema: 'public',
      table: 't',
      txId: 1,
      lsn: 4242,
      xmin: null,
      origin: null,
      origin_lsn: null,
    };
    // avsc (inside the client) rejects ts_ns beyond 2^53; a safe stand-in keeps the test about decoding.
    source.ts_ns = 2 ** 52;
    const value = await client.encode(id, {
      before: null,
      after: row,
      source,
      transaction: null,
      op: 'u',
      ts_ms: 1_700_000_000_200,
      ts_us: null,
      ts_ns: null,
    });
    const decoder = createDecoder(
      {
        debezium: { encoding: 'avro', unavailable_value: 'null', schema_registry: { url: env.registryUrl } },
      },
      { registry: registryFromConfluentClient(client) },
    );
    const out = await decoder.decodeBatch([msg(value)]);
    assert.deepEqual(out.failures, []);
    const r = out.records[0]!;
    assert.equal(r.op, 'u');
    assert.deepStrictEqual(r.root['after'], {
      ...row,
      amount: 10.5,
      ratio: 123.456,
      d: Date.UTC(2024, 0, 15),
      t: 1.5,
      ts: 1_705_326_330_123.456,
      tstz: 1_705_319_130_123.456,
      doc: { a: 1 },
      big: null,
      bin: 'AQI=',
    });
    assert.equal(r.position, 1_700_000_000_123_456n * 10n ** 20n + 4242n);
    assert.equal(r.sourceTsMs, 1_700_000_000_123);
  });

  it('an id the registry does not know fails that record with DECODE_SCHEMA; an unreachable registry fails the batch', async () => {
    const unknown = Buffer.from([0, 0x7f, 0xff, 0xff, 0x00, 0x02]);
    const decoder = createDecoder(
      { avro: { schema_registry: { url: env.registryUrl } } },
      { registry: createSchemaRegistry({ url: env.registryUrl }) },
    );
    const out = await decoder.decodeBatch([msg(unknown)]);
    assert.equal(out.failures[0]!.error.code, 'DECODE_SCHEMA');

    const nowhere = createDecoder(
      { avro: { schema_registry: { url: 'http://127.0.0.1:1/apis/ccompat/v7' } } },
      {
        registry: registryFromConfluentClient(
          new SchemaRegistry({ host: 'http://127.0.0.1:1', retry: { retries: 0 } }),
        ),
      },
    );
    await assert.rejects(nowhere.decodeBatch([msg(unknown)]), (err: unknown) => {
      assert.ok(PipelineError.is(err));
      assert.equal(err.code, 'DECODE_REGISTRY');
      assert.equal(err.retryable, true);
      return true;
    });
  });
});
