import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PostgresTableReader } from '../../../workers/backfill/postgres/reader.js';
import { Secret } from '../../../workers/core/secret.js';
import type { ChangeRecord } from '../../../workers/core/types.js';
import { debeziumDecoderConfig } from '../../../workers/decode/debezium/config.js';
import { createDebeziumDecoder } from '../../../workers/decode/debezium/decoder.js';
import { env, uniqueId, withPg } from '../../support/stack.js';
import { fixtureSchemas, loadMessages, memoryRegistry } from '../../unit/decode/helpers.js';

// Snapshot ↔ streaming type parity: the rows behind the captured Debezium 3.6.1 fixtures
// (test/unit/decode/fixtures/capture*.sql), read by the backfill reader, equal what the
// Debezium decoder makes of the real events for the same rows — every column, every encoding.
const FIXTURES = join(import.meta.dirname, '../../unit/decode/fixtures');
const schema = `bf_types_${uniqueId()}`;

function sql(file: string): string {
  return readFileSync(join(FIXTURES, file), 'utf8').replaceAll('decode_fx', schema);
}

let rows: Map<number, Record<string, unknown>>;

before(async () => {
  await withPg(async (c) => {
    // capture.sql drops and creates the schema, creates the table and inserts row 1.
    await c.query(sql('capture.sql'));
    // Row 2 as inserted by capture-changes.sql (its first statement).
    const insertRow2 = sql('capture-changes.sql')
      .split(';')
      .find((s) => /INSERT INTO/.test(s))!;
    await c.query(insertRow2);
  });
  const reader = new PostgresTableReader({
    url: new Secret(env.databaseUrl),
    table: `${schema}.types`,
    key: ['id'],
  });
  try {
    const filter = { where: [], since: null };
    const plan = await reader.planChunks(filter, 100);
    rows = new Map();
    for (const range of plan.ranges) {
      for await (const s of reader.readChunk(range, filter, { fetchRows: 100 })) {
        for (const r of s.records)
          rows.set(Number((r.root['key'] as { id: number }).id), r.root['after'] as never);
      }
    }
  } finally {
    await reader.close();
  }
});

after(async () => {
  await withPg((c) => c.query(`drop schema ${schema} cascade`));
});

async function debezium(encoding: 'json-schemas' | 'json-plain' | 'avro'): Promise<ChangeRecord[]> {
  const schemas = fixtureSchemas();
  const decoder = createDebeziumDecoder(
    debeziumDecoderConfig.parse({ encoding: encoding === 'avro' ? 'avro' : 'json' }),
    {
      registry: memoryRegistry(schemas),
      rowSchema: encoding === 'json-plain' ? JSON.parse(schemas['2']!) : undefined,
    },
  );
  return (await decoder.decodeBatch(loadMessages(`pg-types.${encoding}.jsonl`))).records;
}

describe('backfilled values equal Debezium-decoded values', () => {
  for (const encoding of ['json-schemas', 'json-plain', 'avro'] as const) {
    it(`${encoding}: the snapshot read of row 1 and the insert of row 2`, async () => {
      const records = await debezium(encoding);
      const read1 = records.find((r) => r.op === 'r')!;
      const create2 = records.find((r) => r.op === 'c')!;
      assert.deepStrictEqual(rows.get(1), read1.root['after']);
      assert.deepStrictEqual(rows.get(2), create2.root['after']);
    });
  }

  it('the key is the Debezium key struct', async () => {
    const records = await debezium('json-schemas');
    assert.deepStrictEqual(records[0]!.root['key'], { id: 1 });
  });
});
