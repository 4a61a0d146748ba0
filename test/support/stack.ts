/** Shared helpers for integration and e2e tests on the real local stack (make stack-up). */
import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import {
  connectorConfig,
  deleteConnector,
  dropReplicationSlot,
  publicationName,
  registerDebezium as register,
  slotName,
} from '../../workers/connect/debezium.js';
import { warehouseSession, warehouseTable } from './warehouse.js';

export const env = {
  kafkaBrokers: process.env['KAFKA_BROKERS'] ?? '127.0.0.1:19092',
  registryUrl: process.env['SCHEMA_REGISTRY_URL'] ?? 'http://127.0.0.1:18081/apis/ccompat/v7',
  databaseUrl: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:15432/streamscore',
  redisUrl: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:16379',
  connectUrl: process.env['KAFKA_CONNECT_URL'] ?? 'http://127.0.0.1:18083',
};

/** A short unique suffix for table, topic, group and slot names of one test. */
export function uniqueId(): string {
  return randomBytes(4).toString('hex');
}

export async function withPg<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: env.databaseUrl });
  // A server that goes away (a chaos test restarts it) fails the query in flight, which `fn` sees;
  // without a listener, the client's 'error' event would also crash the test process.
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export interface ConnectorOptions {
  name: string;
  topicPrefix: string;
  tables: string[];
  converter: 'json' | 'json-noschema' | 'avro';
}

/** Registers a Debezium PostgreSQL connector on the stack's Kafka Connect and waits until its task runs. */
export async function registerDebezium(o: ConnectorOptions): Promise<void> {
  await register({
    ...o,
    connectUrl: env.connectUrl,
    databaseUrl: env.databaseUrl,
    registryUrl: env.registryUrl,
  });
}

/** Deletes a connector and its replication slot and publication. */
export async function dropDebezium(name: string): Promise<void> {
  await deleteConnector(env.connectUrl, name);
  await withPg(async (c) => {
    await dropReplicationSlot(c, slotName(name), 30000);
    await c.query(`drop publication if exists ${publicationName(name)}`);
  });
}

/** A kafkajs client for a test's admin work and reads (kafkajs' own logging off). */
export function testKafka(clientId = 'streamscore-tests'): Kafka {
  return new Kafka({ brokers: env.kafkaBrokers.split(','), clientId, logLevel: logLevel.NOTHING });
}

/**
 * Registers a Debezium connector like `registerDebezium`, with extra Kafka Connect settings on top
 * (e.g. an InsertHeader transform, so the events carry headers), and waits until its task runs.
 */
export async function registerDebeziumWith(
  o: ConnectorOptions,
  extra: Record<string, string>,
): Promise<void> {
  const config = {
    ...connectorConfig({
      ...o,
      connectUrl: env.connectUrl,
      databaseUrl: env.databaseUrl,
      registryUrl: env.registryUrl,
    }),
    ...extra,
  };
  const res = await fetch(`${env.connectUrl}/connectors/${o.name}/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(config),
  });
  if (!res.ok)
    throw new Error(`Kafka Connect refused connector ${o.name}: HTTP ${res.status} ${await res.text()}`);
  await waitFor(`connector ${o.name} running`, async () => {
    const s = (await (await fetch(`${env.connectUrl}/connectors/${o.name}/status`)).json()) as {
      tasks?: { state: string; trace?: string }[];
    };
    const t = s.tasks?.[0];
    if (t?.state === 'FAILED') throw new Error(`connector ${o.name} failed: ${t.trace?.split('\n')[0]}`);
    return t?.state === 'RUNNING';
  });
}

/** One message of a topic, as a reader gets it: bytes and headers untouched. */
export interface TopicMessage {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
}

/**
 * The end offsets of `topic`, asked again while the broker answers with a retriable error (a topic
 * just created, or a broker just restarted, whose partition leaders are not known yet:
 * NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE), up to `timeoutMs`.
 */
export async function topicOffsets(
  admin: Admin,
  topic: string,
  timeoutMs = 30_000,
): Promise<{ partition: number; offset: string; high: string; low: string }[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (err) {
      if ((err as { retriable?: unknown }).retriable !== true || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Every message of `topic` from the beginning to its end at the time of the call, through a
 * consumer group of its own that is deleted afterwards.
 */
export async function readTopic(topic: string, timeoutMs = 60000): Promise<TopicMessage[]> {
  const kafka = testKafka(`read-${topic}`);
  const admin = kafka.admin();
  await admin.connect();
  const end = await topicOffsets(admin, topic);
  await admin.disconnect();
  const group = `read-${uniqueId()}`;
  const consumer = kafka.consumer({ groupId: group });
  const out: TopicMessage[] = [];
  const next = new Map<number, bigint>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        next.set(partition, BigInt(message.offset) + 1n);
        const headers: Record<string, Buffer> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) {
          if (v !== undefined) headers[k] = Buffer.isBuffer(v) ? v : Buffer.from(String(v));
        }
        out.push({ partition, offset: message.offset, key: message.key, value: message.value, headers });
      },
    });
    await waitFor(
      `${topic} read to its end`,
      async () => end.every((p) => (next.get(p.partition) ?? 0n) >= BigInt(p.high)),
      timeoutMs,
    );
  } finally {
    await consumer.disconnect();
    await deleteGroups([group]);
  }
  return out;
}

/** Deletes the topics that exist among `topics`. */
export async function deleteTopics(topics: string[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    // Once each: the broker refuses a request that names a topic twice (INVALID_REQUEST).
    const gone = [...new Set(topics)].filter((t) => existing.has(t));
    if (gone.length > 0) await admin.deleteTopics({ topics: gone, timeout: 30000 });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Deletes consumer groups that exist among `groups`, waiting (up to 30 s) for members that are
 * still leaving; throws if one cannot be deleted.
 */
export async function deleteGroups(groups: string[]): Promise<void> {
  if (groups.length === 0) return;
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const existing = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
    for (const g of [...new Set(groups)].filter((x) => existing.has(x))) {
      await waitFor(
        `consumer group ${g} deleted`,
        async () => {
          await admin.deleteGroups([g]);
          return true;
        },
        30000,
      );
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * Drops Postgres tables and their `__tombstones` tables, when they exist, and the sink's bookkeeping
 * of them (`<schema>.streamscore_migrations`, left by sinks with `create_table: true`).
 */
export async function dropPgTables(...tables: string[]): Promise<void> {
  await withPg(async (c) => {
    for (const t of tables) {
      await c.query(`drop table if exists ${t}, ${t}__tombstones`);
      const schema = t.includes('.') ? t.split('.')[0] : 'public';
      const book = `${schema}.streamscore_migrations`;
      if ((await c.query('select to_regclass($1) as t', [book])).rows[0].t === null) continue;
      await c.query(`delete from ${book} where name = any($1)`, [
        [`create table ${t}`, `create table ${t}__tombstones`],
      ]);
    }
  });
}

/** A TCP port that was free a moment ago (bound to port 0 and released), e.g. for a worker's metrics. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Drops warehouse (Snowflake / fakesnow) tables and their `__TOMBSTONES` tables, when they exist. */
export async function dropSnowflakeTables(...tables: string[]): Promise<void> {
  const wh = await warehouseSession();
  try {
    for (const t of tables.flatMap((x) => [x, `${x}__TOMBSTONES`])) {
      await wh.execute(`DROP TABLE IF EXISTS ${warehouseTable(t)}`);
    }
  } finally {
    await wh.close();
  }
}

/**
 * Removes what `streamscore run`/`backfill` of pipelines/churn-scoring.yaml makes under the
 * environment `e` (the CHURN_* variables a test sets): the input, output and dead-letter topics,
 * the consumer group, the Postgres scores and source tables, the warehouse tables. Unset ones are skipped.
 */
export async function removeChurnObjects(e: Record<string, string | undefined>): Promise<void> {
  const set = (...names: string[]) => names.flatMap((n) => (e[n] ? [e[n]] : []));
  await deleteTopics(set('CHURN_TOPIC', 'CHURN_OUTPUT_TOPIC', 'CHURN_DLQ'));
  await deleteGroups(set('CHURN_GROUP'));
  await dropPgTables(...set('CHURN_SCORES_TABLE', 'CHURN_SOURCE_TABLE'));
  await dropSnowflakeTables(...set('CHURN_WH_TABLE', 'CHURN_WH_HISTORY_TABLE'));
}
