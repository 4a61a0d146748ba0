import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import type { RawMessage } from '../../../workers/core/types.js';
import { createDecoder } from '../../../workers/decode/create.js';
import { createSchemaRegistry } from '../../../workers/decode/registry.js';
import { deleteSubjects } from '../../bench/topic.js';
import {
  deleteGroups,
  deleteTopics,
  dropDebezium,
  env,
  registerDebezium,
  uniqueId,
  waitFor,
  withPg,
} from '../../support/stack.js';

/**
 * Postgres → Debezium (Kafka Connect) → Kafka → decoder, for each converter the stack offers:
 * the events Debezium emits today decode to the same rows.
 */
const id = uniqueId();
const table = `decode_live_${id}`;
const kafka = new Kafka({
  brokers: env.kafkaBrokers.split(','),
  clientId: `decode-it-${id}`,
  logLevel: logLevel.NOTHING,
});
const converters = ['json', 'json-noschema', 'avro'] as const;
const connector = (c: string) => `decode-live-${id}-${c}`;
const prefix = (c: string) => `declive${id}${c.replace('-', '')}`;
const topicOf = (c: string) => `${prefix(c)}.public.${table}`;
const groups: string[] = [];

async function consume(topic: string, count: number): Promise<RawMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(`topic ${topic}`, async () => (await admin.listTopics()).includes(topic), 90_000);
  } finally {
    await admin.disconnect();
  }
  const groupId = `decode-it-${uniqueId()}`;
  groups.push(groupId);
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got: RawMessage[] = [];
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      got.push({
        topic,
        partition,
        offset: message.offset,
        key: message.key,
        value: message.value,
        headers,
        timestamp: message.timestamp,
      });
    },
  });
  try {
    await waitFor(`${count} messages on ${topic}`, async () => got.length >= count, 90_000);
  } finally {
    await consumer.disconnect();
  }
  return got.sort((a, b) => Number(a.offset) - Number(b.offset));
}

describe('live Debezium events through the decoder', { timeout: 240_000 }, () => {
  before(async () => {
    await withPg(async (c) => {
      await c.query(`create table public.${table} (
        id bigint primary key, amount numeric(12,2), ratio numeric, d date, tstz timestamptz, doc jsonb, big text)`);
      await c.query(
        `insert into public.${table} values (1, 12345.67, 2.5, '2024-01-15', '2024-01-15 13:45:30.5+02', '{"a":1}',
          (select string_agg(md5(i::text), '') from generate_series(1, 400) i))`,
      );
    });
    await Promise.all(
      converters.map((converter) =>
        registerDebezium({
          name: connector(converter),
          topicPrefix: prefix(converter),
          tables: [`public.${table}`],
          converter,
        }),
      ),
    );
    await withPg(async (c) => {
      await c.query(`update public.${table} set amount = -1.5 where id = 1`);
      await c.query(`delete from public.${table} where id = 1`);
    });
  });

  after(async () => {
    await Promise.all(converters.map((c) => dropDebezium(connector(c))));
    await withPg((c) => c.query(`drop table if exists public.${table}`));
    await deleteTopics(converters.map(topicOf));
    await deleteGroups(groups);
    // The Avro converter registered the key and value schemas of its topic.
    await deleteSubjects(env.registryUrl, [`${topicOf('avro')}-key`, `${topicOf('avro')}-value`]);
  });

  for (const converter of converters) {
    it(`${converter}: r, u (TOAST unchanged), d, tombstone`, async () => {
      const messages = await consume(topicOf(converter), 4);
      const decoder = createDecoder(
        { debezium: { encoding: converter === 'avro' ? 'avro' : 'json', unavailable_value: 'null' } },
        {
          registry: createSchemaRegistry({ url: env.registryUrl }),
          rowSchema:
            converter === 'json-noschema'
              ? {
                  type: 'record',
                  name: 'Row',
                  fields: [
                    {
                      name: 'amount',
                      type: ['null', { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 }],
                    },
                    {
                      name: 'ratio',
                      type: [
                        'null',
                        {
                          type: 'record',
                          name: 'VariableScaleDecimal',
                          namespace: 'io.debezium.data',
                          'connect.name': 'io.debezium.data.VariableScaleDecimal',
                          fields: [
                            { name: 'scale', type: 'int' },
                            { name: 'value', type: 'bytes' },
                          ],
                        },
                      ],
                    },
                    { name: 'd', type: ['null', { type: 'int', 'connect.name': 'io.debezium.time.Date' }] },
                    {
                      name: 'tstz',
                      type: ['null', { type: 'string', 'connect.name': 'io.debezium.time.ZonedTimestamp' }],
                    },
                    {
                      name: 'doc',
                      type: ['null', { type: 'string', 'connect.name': 'io.debezium.data.Json' }],
                    },
                  ],
                }
              : undefined,
        },
      );
      const out = await decoder.decodeBatch(messages);
      assert.deepEqual(out.failures, []);
      assert.equal(out.skipped, 1);
      const [read, update, del] = out.records;
      const row = {
        id: 1,
        amount: 12345.67,
        ratio: 2.5,
        d: Date.UTC(2024, 0, 15),
        tstz: Date.UTC(2024, 0, 15, 11, 45, 30, 500),
        doc: { a: 1 },
      };
      assert.equal(read!.op, 'r');
      assert.deepStrictEqual(
        { ...(read!.root['after'] as object), big: undefined },
        { ...row, big: undefined },
      );
      assert.equal(update!.op, 'u');
      assert.deepStrictEqual(update!.root['after'], { ...row, amount: -1.5, big: null });
      assert.equal(del!.op, 'd');
      assert.deepEqual(del!.root['key'], { id: 1 });
      assert.ok(update!.position > read!.position && del!.position > update!.position);
    });
  }
});
