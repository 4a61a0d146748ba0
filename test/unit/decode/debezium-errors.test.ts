import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../workers/core/errors.js';
import { debeziumDecoderConfig } from '../../../workers/decode/debezium/config.js';
import { createDebeziumDecoder } from '../../../workers/decode/debezium/decoder.js';
import type { SchemaRegistryLike } from '../../../workers/decode/registry.js';
import { fixtureSchemas, loadMessages, memoryRegistry, message } from './helpers.js';

const json = (config: Record<string, unknown> = {}) =>
  createDebeziumDecoder(debeziumDecoderConfig.parse(config), {});
const source = { ts_ms: 1_700_000_000_123, ts_us: 1_700_000_000_123_456, lsn: 99 };
const env = (o: Record<string, unknown>) => JSON.stringify({ source, ts_ms: 1, ...o });

describe('Debezium decoder, per-record failures', () => {
  it('keeps decoding the batch around invalid JSON, missing op and missing after', async () => {
    const out = await json().decodeBatch([
      message('{"op":"c",', { offset: '1' }),
      message(env({ after: { id: 1 } }), { offset: '2' }),
      message(env({ op: 'c', after: null }), { offset: '3' }),
      message(env({ op: 'c', after: { id: 4 } }), { offset: '4' }),
      message(null, { offset: '5' }),
      message(env({ op: 't' }), { offset: '6' }),
      message(env({ op: 'x', after: {} }), { offset: '7' }),
      message(env({ op: 'd', before: { id: 8 }, after: null }), { offset: '8' }),
      message(JSON.stringify({ op: 'c', after: { id: 9 } }), { offset: '9' }),
    ]);
    assert.deepEqual(
      out.failures.map((f) => [f.message.offset, f.error.code]),
      [
        ['1', 'DECODE_JSON'],
        ['2', 'DECODE_ENVELOPE'],
        ['3', 'DECODE_ENVELOPE'],
        ['7', 'DECODE_ENVELOPE'],
        ['9', 'DECODE_ENVELOPE'],
      ],
    );
    for (const f of out.failures) {
      assert.ok(PipelineError.is(f.error));
      assert.equal(f.error.stage, 'decode');
      assert.equal(f.error.position, `t/0@${f.message.offset}`);
      assert.ok(f.error.message.startsWith(`t/0@${f.message.offset}: `), f.error.message);
    }
    assert.match(out.failures[0]!.error.message, /invalid JSON in the value/);
    assert.match(out.failures[1]!.error.message, /no `op`/);
    assert.match(out.failures[2]!.error.message, /no `after`/);
    assert.equal(out.skipped, 2);
    assert.deepEqual(
      out.records.map((r) => [r.op, r.origin?.offset]),
      [
        ['c', '4'],
        ['d', '8'],
      ],
    );
    const rec = out.records[0]!;
    assert.equal(rec.sourceTsMs, source.ts_ms);
    assert.equal(rec.position, 1_700_000_000_123_456n * 10n ** 20n + 99n);
    assert.deepEqual(rec.root, { before: null, after: { id: 4 }, source, op: 'c', ts_ms: 1, key: null });
  });

  it('falls back to ts_ms × 1000 and LSN 0 when the source block has no ts_us / lsn', async () => {
    const out = await json().decodeBatch([
      message(JSON.stringify({ op: 'r', after: { id: 1 }, source: { ts_ms: 5 } })),
    ]);
    assert.equal(out.records[0]!.position, 5000n * 10n ** 20n);
  });

  it('names the field of a value that cannot be converted', async () => {
    const schema = {
      type: 'struct',
      fields: [
        {
          type: 'struct',
          field: 'after',
          fields: [{ type: 'string', name: 'io.debezium.time.ZonedTimestamp', field: 'seen' }],
        },
        { type: 'string', field: 'op' },
      ],
    };
    const out = await json().decodeBatch([
      message(JSON.stringify({ schema, payload: { op: 'c', after: { seen: 'soon' }, source } })),
    ]);
    const err = out.failures[0]!.error;
    assert.equal(err.code, 'DECODE_VALUE');
    assert.match(err.message, /at value\.after\.seen: .*"soon"/);
    assert.equal(err.context['field'], 'after.seen');
  });

  it('decodes keys: JSON with or without schema, else the text (StringConverter)', async () => {
    const out = await json().decodeBatch([
      message(env({ op: 'c', after: { id: 1 } }), {
        key: Buffer.from('{"schema":{"type":"int64"},"payload":42}'),
      }),
      message(env({ op: 'c', after: { id: 1 } }), { key: Buffer.from('tenant-1') }),
      message(env({ op: 'c', after: { id: 1 } }), { key: Buffer.from('{"id":3}') }),
    ]);
    assert.deepEqual(
      out.records.map((r) => r.root['key']),
      [42, 'tenant-1', { id: 3 }],
    );
  });
});

describe('Debezium decoder, unavailable values', () => {
  const toasted = (before: Record<string, unknown> | null) =>
    message(
      env({
        op: 'u',
        before,
        after: { id: 1, big: '__debezium_unavailable_value', arr: ['__debezium_unavailable_value'] },
      }),
    );

  it("'before' takes the value from the before image", async () => {
    const out = await json({ unavailable_value: 'before' }).decodeBatch([
      toasted({ id: 1, big: 'old', arr: ['x'] }),
    ]);
    assert.deepEqual(out.records[0]!.root['after'], { id: 1, big: 'old', arr: ['x'] });
  });

  it("'null' drops it", async () => {
    const out = await json({ unavailable_value: 'null' }).decodeBatch([
      toasted({ id: 1, big: 'old', arr: ['x'] }),
    ]);
    assert.deepEqual(out.records[0]!.root['after'], { id: 1, big: null, arr: null });
  });

  it("'reject' fails the record, listing the columns", async () => {
    const out = await json({ unavailable_value: 'reject' }).decodeBatch([toasted(null)]);
    assert.deepEqual(out.failures[0]!.error.context['columns'], ['big', 'arr']);
  });

  it('honours a changed placeholder, including hex: ones for bytes', async () => {
    const custom = json({ unavailable_placeholder: 'hex:00ff', unavailable_value: 'null' });
    const out = await custom.decodeBatch([
      message(env({ op: 'u', after: { id: 1, b: 'AP8=', s: '__debezium_unavailable_value' } })),
    ]);
    assert.deepEqual(out.records[0]!.root['after'], { id: 1, b: null, s: '__debezium_unavailable_value' });
  });
});

describe('Debezium decoder, Avro', () => {
  const avroDecoder = (registry: SchemaRegistryLike) =>
    createDebeziumDecoder(debeziumDecoderConfig.parse({ encoding: 'avro' }), { registry });
  const real = loadMessages('pg-types.avro.jsonl');

  it('fetches each schema id once and caches it across batches', async () => {
    const registry = memoryRegistry(fixtureSchemas());
    const d = avroDecoder(registry);
    await d.decodeBatch(real);
    await d.decodeBatch(real);
    assert.equal(registry.calls, 2); // key schema + value schema
  });

  it('fails bad framing, bad bytes and unknown schema ids per record', async () => {
    const registry = memoryRegistry(fixtureSchemas());
    const good = real[1]!;
    const withValue = (value: Buffer, offset: string) => ({ ...good, value, offset });
    const unknownId = Buffer.from(good.value!);
    unknownId.writeInt32BE(999, 1);
    const out = await avroDecoder(registry).decodeBatch([
      withValue(Buffer.from([1, 0, 0, 0, 2, 0]), '10'),
      withValue(Buffer.from([0, 0]), '11'),
      withValue(good.value!.subarray(0, 40), '12'),
      withValue(unknownId, '13'),
      good,
    ]);
    assert.deepEqual(
      out.failures.map((f) => [f.message.offset, f.error.code]),
      [
        ['10', 'DECODE_AVRO'],
        ['11', 'DECODE_AVRO'],
        ['12', 'DECODE_AVRO'],
        ['13', 'DECODE_SCHEMA'],
      ],
    );
    assert.match(out.failures[0]!.error.message, /magic byte 1/);
    assert.match(
      out.failures[2]!.error.message,
      /fxavro\.decode_fx\.types\/0@12: invalid Avro value: truncated/,
    );
    assert.match(out.failures[3]!.error.message, /schema id 999 is not in the registry/);
    assert.equal(out.records.length, 1);
  });

  it('rejects the whole batch, retryably, when the registry is unreachable', async () => {
    const down: SchemaRegistryLike = {
      schemaById: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:18081');
      },
    };
    await assert.rejects(avroDecoder(down).decodeBatch(real), (err: unknown) => {
      assert.ok(PipelineError.is(err));
      assert.equal(err.code, 'DECODE_REGISTRY');
      assert.equal(err.retryable, true);
      return true;
    });
  });

  it('refuses to start without a registry client', () => {
    assert.throws(
      () => createDebeziumDecoder(debeziumDecoderConfig.parse({ encoding: 'avro' }), {}),
      (err: unknown) => PipelineError.is(err) && err.code === 'DECODE_CONFIG',
    );
  });

  it('refuses non-Avro schemas', async () => {
    const registry: SchemaRegistryLike = {
      schemaById: async () => ({ schema: 'syntax = "proto3";', schemaType: 'PROTOBUF' }),
    };
    const out = await avroDecoder(registry).decodeBatch([real[1]!]);
    assert.match(out.failures[0]!.error.message, /PROTOBUF, not AVRO/);
  });
});

describe('createDecoder with a validated config', () => {
  it('accepts the Secrets the pipeline schema made (a registry password)', async () => {
    const { createDecoder } = await import('../../../workers/decode/create.js');
    const config = debeziumDecoderConfig.parse({
      encoding: 'json',
      schema_registry: { url: 'http://127.0.0.1:1', username: 'u', password: 'p4ss' },
    });
    assert.ok(createDecoder({ debezium: config }));
  });
});
