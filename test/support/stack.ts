/** Shared helpers for integration and e2e tests on the real local stack (make stack-up). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

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

/** The database part of DATABASE_URL, as Debezium's connector wants it. */
function dbParts() {
  const u = new URL(env.databaseUrl);
  return {
    'database.hostname': u.hostname,
    'database.port': u.port || '5432',
    'database.user': decodeURIComponent(u.username || 'postgres'),
    'database.password': decodeURIComponent(u.password || 'postgres'),
    'database.dbname': u.pathname.slice(1),
  };
}

export interface ConnectorOptions {
  name: string;
  topicPrefix: string;
  tables: string[];
  converter: 'json' | 'json-noschema' | 'avro';
}

/** Registers a Debezium PostgreSQL connector through Kafka Connect's REST API and waits until its task runs. */
export async function registerDebezium(o: ConnectorOptions): Promise<void> {
  const converters: Record<string, string> =
    o.converter === 'avro'
      ? Object.fromEntries(
          ['key', 'value'].flatMap((side) => [
            [`${side}.converter`, 'io.apicurio.registry.utils.converter.AvroConverter'],
            [`${side}.converter.apicurio.registry.url`, env.registryUrl.replace(/\/apis\/ccompat\/v7$/, '/apis/registry/v2')],
            [`${side}.converter.apicurio.registry.auto-register`, 'true'],
            [`${side}.converter.apicurio.registry.find-latest`, 'true'],
            // Confluent wire format: magic byte + 4-byte id, no headers.
            [`${side}.converter.apicurio.registry.id-handler`, 'io.apicurio.registry.serde.Legacy4ByteIdHandler'],
            [`${side}.converter.apicurio.registry.headers.enabled`, 'false'],
            [`${side}.converter.apicurio.registry.use-id`, 'contentId'],
          ]),
        )
      : {
          'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
          'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
          'key.converter.schemas.enable': String(o.converter === 'json'),
          'value.converter.schemas.enable': String(o.converter === 'json'),
        };
  const config = {
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    ...dbParts(),
    'topic.prefix': o.topicPrefix,
    'table.include.list': o.tables.join(','),
    'plugin.name': 'pgoutput',
    'slot.name': `slot_${o.name.replace(/[^a-z0-9_]/g, '_')}`,
    'publication.name': `pub_${o.name.replace(/[^a-z0-9_]/g, '_')}`,
    'publication.autocreate.mode': 'filtered',
    'snapshot.mode': 'initial',
    ...converters,
  };
  const res = await fetch(`${env.connectUrl}/connectors/${o.name}/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(config),
  });
  if (!res.ok) throw new Error(`registering connector ${o.name}: HTTP ${res.status} ${await res.text()}`);
  await waitFor(`connector ${o.name} task RUNNING`, async () => {
    const s = (await (await fetch(`${env.connectUrl}/connectors/${o.name}/status`)).json()) as {
      tasks?: { state: string; trace?: string }[];
    };
    const t = s.tasks?.[0];
    if (t?.state === 'FAILED') throw new Error(`connector ${o.name} failed: ${t.trace?.split('\n')[0]}`);
    return t?.state === 'RUNNING';
  });
}

/** Deletes a connector and its replication slot and publication. */
export async function dropDebezium(name: string): Promise<void> {
  await fetch(`${env.connectUrl}/connectors/${name}`, { method: 'DELETE' }).catch(() => undefined);
  const id = name.replace(/[^a-z0-9_]/g, '_');
  await withPg(async (c) => {
    await waitFor(
      `slot_${id} inactive`,
      async () => {
        const r = await c.query('select active from pg_replication_slots where slot_name = $1', [
          `slot_${id}`,
        ]);
        return r.rows.length === 0 || r.rows[0].active === false;
      },
      30000,
    ).catch(() => undefined);
    await c
      .query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1', [
        `slot_${id}`,
      ])
      .catch(() => undefined);
    await c.query(`drop publication if exists pub_${id}`);
  });
}
