/** Shared helpers for integration and e2e tests on the real local stack (make stack-up). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import {
  deleteConnector,
  dropReplicationSlot,
  publicationName,
  registerDebezium as register,
  slotName,
} from '../../workers/connect/debezium.js';

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
