/**
 * Decode throughput on real captured events (not a test; never asserts time).
 *   node --import tsx test/unit/decode/bench-decode.ts [seconds-per-case]
 */
import avro from 'avsc';
import type { Decoder, RawMessage } from '../../../workers/core/types.js';
import { debeziumDecoderConfig } from '../../../workers/decode/debezium/config.js';
import { createDebeziumDecoder } from '../../../workers/decode/debezium/decoder.js';
import { fixtureSchemas, loadMessages, memoryRegistry } from './helpers.js';

const seconds = Number(process.argv[2] ?? 3);
const BATCH = 512;

function batchOf(m: RawMessage): RawMessage[] {
  return Array.from({ length: BATCH }, (_, i) => ({
    ...m,
    offset: String(i),
    value: Buffer.from(m.value!),
    key: m.key && Buffer.from(m.key),
  }));
}

/** Rates per CPU second of this process (the machine may be shared; wall time would mislead). */
async function run(name: string, size: number, once: () => Promise<unknown> | unknown): Promise<void> {
  for (let i = 0; i < 200; i++) await once(); // warm-up
  let batches = 0;
  const cpu0 = process.cpuUsage();
  const end = process.hrtime.bigint() + BigInt(seconds * 1e9);
  while (process.hrtime.bigint() < end) {
    await once();
    batches++;
  }
  const cpu = process.cpuUsage(cpu0);
  const secs = (cpu.user + cpu.system) / 1e6;
  const rate = (batches * BATCH) / secs;
  console.log(
    `${name.padEnd(64)} ${String(size).padStart(5)} B ${Math.round(rate).toLocaleString('en').padStart(10)} rec/s ${(1e6 / rate).toFixed(2).padStart(6)} µs/rec`,
  );
}

const schemas = fixtureSchemas();
const registry = memoryRegistry(schemas);
const decoder = (encoding: 'json' | 'avro'): Decoder =>
  createDebeziumDecoder(debeziumDecoderConfig.parse({ encoding }), { registry });

for (const offset of [1, 2]) {
  const json = loadMessages('pg-types.json-schemas.jsonl')[offset]!;
  const plain = loadMessages('pg-types.json-plain.jsonl')[offset]!;
  const av = loadMessages('pg-types.avro.jsonl')[offset]!;
  const label = offset === 1 ? 'insert' : 'update, TOAST placeholder';
  const jb = batchOf(json);
  const pb = batchOf(plain);
  const ab = batchOf(av);
  const jd = decoder('json');
  const pd = createDebeziumDecoder(debeziumDecoderConfig.parse({}), { rowSchema: JSON.parse(schemas['2']!) });
  const ad = decoder('avro');
  await run(`debezium json+schemas (${label})`, json.value!.length, () => jd.decodeBatch(jb));
  await run(`  baseline: JSON.parse of the whole message`, json.value!.length, () => {
    for (const m of jb) JSON.parse(m.value!.toString('utf8'));
  });
  await run(`debezium json, no schemas + row .avsc (${label})`, plain.value!.length, () =>
    pd.decodeBatch(pb),
  );
  await run(`debezium avro (${label})`, av.value!.length, () => ad.decodeBatch(ab));
  const type = avro.Type.forSchema(JSON.parse(schemas['2']!), {
    registry: {
      long: avro.types.LongType.__with({
        fromBuffer: (b: Buffer) => Number(b.readBigInt64LE(0)),
        toBuffer: (n: number) => {
          const b = Buffer.alloc(8);
          b.writeBigInt64LE(BigInt(n));
          return b;
        },
        fromJSON: Number,
        toJSON: Number,
        isValid: (n: unknown) => typeof n === 'number',
        compare: (a: number, b: number) => a - b,
      }),
    },
  } as unknown as avro.ForSchemaOptions);
  await run(`  baseline: avsc fromBuffer, no conversions`, av.value!.length, () => {
    for (const m of ab) type.fromBuffer(m.value!.subarray(5));
  });
}
