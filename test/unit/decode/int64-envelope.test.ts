import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makePosition } from '../../../workers/core/position.js';
import type { RawMessage } from '../../../workers/core/types.js';
import { debeziumDecoderConfig } from '../../../workers/decode/debezium/config.js';
import { createDebeziumDecoder } from '../../../workers/decode/debezium/decoder.js';

const MAX = '9223372036854775807';
const MIN = '-9223372036854775808';

function message(value: string, key: string): RawMessage {
  return {
    topic: 't',
    partition: 0,
    offset: '0',
    key: Buffer.from(key),
    value: Buffer.from(value),
    headers: {},
    timestamp: '0',
  };
}

describe('int64 in Debezium JSON envelopes (schemaless JsonConverter)', () => {
  it('keeps ids, keys and a uint64 LSN exact', async () => {
    const decoder = createDebeziumDecoder(debeziumDecoderConfig.parse({ encoding: 'json' }));
    const value = `{"before":null,"after":{"id":${MAX},"ref":${MIN},"n":9007199254740993,"small":42},"source":{"ts_ms":1700000000000,"ts_us":1700000000000123,"ts_ns":1700000000000123456,"lsn":18446744073709551615},"op":"c","ts_ms":1700000000001}`;
    const out = await decoder.decodeBatch([message(value, `{"id":${MAX}}`)]);
    assert.deepEqual(out.failures, []);
    const r = out.records[0]!;
    assert.deepEqual(r.root['after'], { id: BigInt(MAX), ref: BigInt(MIN), n: 9007199254740993n, small: 42 });
    assert.deepEqual(r.root['key'], { id: BigInt(MAX) });
    assert.equal((r.root['source'] as { ts_ns: unknown }).ts_ns, 1700000000000123456n);
    assert.equal(r.position, makePosition(1700000000000123, 18446744073709551615n));
  });
});
