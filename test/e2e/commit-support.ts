/**
 * Shared by the e2e tests of the commit rule and of terminal failures: a small plain-JSON
 * pipeline (one partition, the churn model, one Postgres sink), its records, and what the group
 * has committed. Every name carries the test's unique id.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { deleteGroups, deleteTopics, dropPgTables, env, testKafka, withPg } from '../support/stack.js';

export interface SmallPipeline {
  id: string;
  topic: string;
  group: string;
  table: string;
  file: string;
}

/**
 * Writes the pipeline to a temporary directory. `errors` is its spec.errors; `databaseUrl` lets a
 * test put a proxy between the sink and Postgres; `postgres` overrides fields of the sink. A short
 * session timeout lets a restarted worker's group forget a SIGKILLed member quickly.
 */
export function smallPipeline(
  name: string,
  id: string,
  opts: {
    errors?: Record<string, unknown>;
    databaseUrl?: string;
    postgres?: Record<string, unknown>;
    /** Fields added to (or replacing) spec.model. */
    model?: Record<string, unknown>;
  } = {},
): SmallPipeline {
  const p = {
    topic: `${name}-${id}`,
    group: `${name}-${id}`,
    table: `ml.${name.replaceAll('-', '_')}_${id}`,
  };
  const features = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`f${i + 1}`, `v * ${i + 1}`]));
  const doc = {
    apiVersion: 'streamscore/v1',
    kind: 'Pipeline',
    metadata: { name: `${name}-${id}` },
    spec: {
      source: {
        kafka: {
          brokers: env.kafkaBrokers,
          topics: p.topic,
          group_id: p.group,
          session_timeout_ms: 6000,
          heartbeat_interval_ms: 1000,
        },
      },
      decode: { json: {} },
      features: { key: 'id', map: features },
      model: {
        name: 'churn',
        version: 1,
        path: resolve('pipelines/models/churn/1/model.onnx'),
        batch: { max_size: 512, max_wait_ms: 5 },
        outputs: { p: 'probabilities[1]' },
        ...opts.model,
      },
      sinks: [
        {
          postgres: {
            url: opts.databaseUrl ?? env.databaseUrl,
            table: p.table,
            key: ['id'],
            columns: { id: 'key', p: 'p' },
            create_table: true,
            ...opts.postgres,
          },
        },
      ],
      errors: opts.errors ?? {},
      monitoring: { port: 0 },
    },
  };
  const dir = join(tmpdir(), `streamscore-test-${name}-${id}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, stringify(doc));
  return { id, ...p, file };
}

const kafka = testKafka('e2e-commit');

export async function createTopic(topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Produces records {id, v} for ids [from, to], in order, on partition 0; `raw` values as given. */
export async function produce(
  topic: string,
  ids: number[],
  raw: Record<number, string> = {},
  headers?: Record<string, string>,
): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: ids.map((id) => ({
        partition: 0,
        key: String(id),
        value: raw[id] ?? JSON.stringify({ id, v: id / 10 }),
        ...(headers ? { headers } : {}),
      })),
    });
  } finally {
    await producer.disconnect();
  }
}

/** The group's committed offset of partition 0 (the next record it would read); -1 when none. */
export async function committedOffset(group: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return Number(t?.partitions.find((p) => p.partition === 0)?.offset ?? -1);
  } finally {
    await admin.disconnect();
  }
}

/** The ids in the pipeline's table (none if it does not exist yet). */
export async function writtenIds(table: string): Promise<number[]> {
  return withPg(async (c) => {
    const exists = await c.query('select to_regclass($1) as t', [table]);
    if (exists.rows[0].t === null) return [];
    const r = await c.query(`select id from ${table} order by id::int`);
    return r.rows.map((x) => Number(x.id));
  });
}

/** Drops what a test created: the table (with its tombstones and bookkeeping), topic, group, file. */
export async function cleanUp(p: SmallPipeline): Promise<void> {
  rmSync(dirname(p.file), { recursive: true, force: true });
  await dropPgTables(p.table);
  await deleteGroups([p.group]); // waits for a SIGKILLed member's session (6 s) to end
  await deleteTopics([p.topic]);
}

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
