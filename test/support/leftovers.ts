/**
 * What the tests leave behind on the shared stack. A test names everything it creates with
 * `uniqueId()` (stack.ts) or `unique()` (integration/sinks/env.ts): 8 hex digits, in a prefix
 * (`e2e1a2b3c4d.crm.customers_1a2b3c4d`, `SCORES_1A2B3C4D`, `bf1a2b3c4d:…`). So an object counts as
 * test-created when its name holds a run of 8 hex digits, and as left behind when it is still there
 * after the suite. Replication slots, publications and Debezium connectors count whatever their
 * name: each pins WAL on the server until it is dropped. The stack's own objects (Kafka and Connect
 * internals, `crm`/`ml` schemas, `ml.streamscore_migrations`) and the demo's (`make demo`: its
 * `streamscore-demo-crm-*` connector, slot and publication, `crm.customers`, `crm.crm.customers`,
 * `ml.customer_churn_scores`, `CUSTOMER_CHURN_*`) have no such names and are allowed.
 *
 * `npx tsx test/support/leftovers.ts` lists them; `--remove` drops them (only when no test runs
 * on the stack: a running test's objects look the same).
 */
import { Redis } from 'ioredis';
import { dropReplicationSlot } from '../../workers/connect/debezium.js';
import { deleteSubjects } from '../bench/topic.js';
import { deleteGroups, deleteTopics, env, testKafka, withPg } from './stack.js';
import { warehouseSession, warehouseTable } from './warehouse.js';

/** The 8 hex digits of a test's unique id, anywhere in a name. */
export const TEST_ID = /[0-9a-f]{8}/i;
/**
 * A worker's control-topic watcher group (`streamscore-control-<host>-<pid>-<8 hex>`): deleted when
 * the worker stops, but a killed worker (the chaos tests SIGKILL them) cannot; such a group has no
 * member and no committed offset, and the broker drops it on its own at its next offsets clean-up
 * (offsets.retention.check.interval.ms). Not a test's leftover.
 */
const CONTROL_GROUP = /^streamscore-control-/;
/** `make demo` keeps its connector (and its slot and publication) running after it finishes. */
const DEMO = /^(streamscore-demo-crm-|slot_streamscore_demo_crm_|pub_streamscore_demo_crm_)/;

export interface Leftovers {
  /** Replication slots other than the demo's. */
  slots: string[];
  /** Publications other than the demo's. */
  publications: string[];
  /** Debezium connectors other than the demo's, and any connector named by a test. */
  connectors: string[];
  topics: string[];
  groups: string[];
  /** Postgres schemas (`bf_reader_<id>`, …), with everything in them. */
  schemas: string[];
  /** Postgres tables named by a test, outside those schemas. */
  tables: string[];
  /** Sink bookkeeping rows (`<schema>.streamscore_migrations`) of tables named by a test. */
  migrations: string[];
  /** Warehouse (fakesnow) tables. */
  warehouseTables: string[];
  /** Schema registry subjects. */
  subjects: string[];
  /**
   * Redis key prefixes: a test's BullMQ prefix (`bf1a2b3c4d`, the keys' first segment) or its queue
   * under the default prefix (`bull:smoke-1a2b3c4d`, the first two).
   */
  redisPrefixes: string[];
}

/**
 * An audit log's day partitions are named `<table>_pYYYYMMDD`: eight digits that are not a test id.
 * A test's audit table is still found by its own name (and its partitions with it).
 */
const DAY_PARTITION = /_p\d{8}$/;
const named = (names: Iterable<string>) =>
  [...names].filter((n) => TEST_ID.test(n.replace(DAY_PARTITION, ''))).sort();

async function connectorsLeft(): Promise<string[]> {
  const res = await fetch(`${env.connectUrl}/connectors?expand=info`);
  const all = (await res.json()) as Record<string, { info: { config: Record<string, string> } }>;
  return Object.entries(all)
    .filter(([name, c]) =>
      DEMO.test(name)
        ? false
        : TEST_ID.test(name) || c.info.config['connector.class']?.startsWith('io.debezium'),
    )
    .map(([name]) => name)
    .sort();
}

async function kafkaLeft(): Promise<{ topics: string[]; groups: string[] }> {
  const admin = testKafka('leftovers').admin();
  await admin.connect();
  try {
    return {
      topics: named(await admin.listTopics()),
      groups: named(
        (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => !CONTROL_GROUP.test(g)),
      ),
    };
  } finally {
    await admin.disconnect();
  }
}

async function postgresLeft(): Promise<
  Pick<Leftovers, 'slots' | 'publications' | 'schemas' | 'tables' | 'migrations'>
> {
  return withPg(async (c) => {
    const col = async (sql: string) => (await c.query(sql)).rows.map((r) => String(Object.values(r)[0]));
    const schemas = named(
      await col(
        `select nspname from pg_namespace where nspname !~ '^pg_' and nspname <> 'information_schema'`,
      ),
    );
    const inTestSchema = (qualified: string) => schemas.includes(qualified.split('.')[0]!);
    const tables = named(
      await col(
        `select schemaname || '.' || tablename from pg_tables where schemaname !~ '^pg_' and schemaname <> 'information_schema'`,
      ),
    ).filter((t) => !inTestSchema(t));
    const migrations: string[] = [];
    for (const book of await col(
      `select schemaname || '.' || tablename from pg_tables where tablename = 'streamscore_migrations'`,
    )) {
      if (inTestSchema(book)) continue;
      for (const name of named(await col(`select name from ${book}`))) migrations.push(`${book}: ${name}`);
    }
    return {
      slots: (await col('select slot_name from pg_replication_slots')).filter((s) => !DEMO.test(s)).sort(),
      publications: (await col('select pubname from pg_publication')).filter((p) => !DEMO.test(p)).sort(),
      schemas,
      tables,
      migrations,
    };
  });
}

async function warehouseLeft(): Promise<string[]> {
  const wh = await warehouseSession();
  try {
    const db = process.env['SNOWFLAKE_DATABASE'] ?? 'STREAMSCORE';
    const schema = process.env['SNOWFLAKE_SCHEMA'] ?? 'PUBLIC';
    const rows = await wh.execute(
      `SELECT TABLE_NAME FROM "${db}".INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = '${schema}'`,
    );
    return named(rows.map((r) => String(r['TABLE_NAME'])));
  } finally {
    await wh.close();
  }
}

async function subjectsLeft(): Promise<string[]> {
  return named((await (await fetch(`${env.registryUrl}/subjects`)).json()) as string[]);
}

async function redisScan(each: (keys: string[], r: Redis) => Promise<void>): Promise<void> {
  const r = new Redis(env.redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'COUNT', 1000);
      await each(keys, r);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

/** The test-named prefix of a key, if any (deeper segments are job ids, which may look like hex). */
function redisPrefix(key: string): string | undefined {
  const [first, second] = key.split(':');
  if (TEST_ID.test(first!)) return first;
  if (second !== undefined && TEST_ID.test(second)) return `${first}:${second}`;
  return undefined;
}

async function redisLeft(): Promise<string[]> {
  const prefixes = new Set<string>();
  await redisScan(async (keys) => {
    for (const k of keys) {
      const p = redisPrefix(k);
      if (p !== undefined) prefixes.add(p);
    }
  });
  return [...prefixes].sort();
}

/** Everything test-created that is on the stack now. */
export async function findLeftovers(): Promise<Leftovers> {
  const pg = await postgresLeft();
  return {
    slots: pg.slots,
    publications: pg.publications,
    connectors: await connectorsLeft(),
    ...(await kafkaLeft()),
    schemas: pg.schemas,
    tables: pg.tables,
    migrations: pg.migrations,
    warehouseTables: await warehouseLeft(),
    subjects: await subjectsLeft(),
    redisPrefixes: await redisLeft(),
  };
}

export const isClean = (l: Leftovers) => Object.values(l).every((v: string[]) => v.length === 0);

/** One line per kind that has leftovers. */
export function describeLeftovers(l: Leftovers): string {
  return Object.entries(l)
    .filter(([, v]) => v.length > 0)
    .map(([k, v]: [string, string[]]) => `${k} (${v.length}): ${v.join(', ')}`)
    .join('\n');
}

/** Drops what `findLeftovers` found: connectors first (they hold their slots), then the rest. */
export async function removeLeftovers(l: Leftovers): Promise<void> {
  for (const c of l.connectors) await fetch(`${env.connectUrl}/connectors/${c}`, { method: 'DELETE' });
  await withPg(async (c) => {
    for (const s of l.slots) await dropReplicationSlot(c, s, 30000);
    for (const p of l.publications) await c.query(`drop publication if exists "${p}"`);
    for (const s of l.schemas) await c.query(`drop schema if exists "${s}" cascade`);
    for (const t of l.tables) await c.query(`drop table if exists ${t} cascade`);
    for (const m of l.migrations) {
      const [book, name] = m.split(': ');
      await c.query(`delete from ${book} where name = $1`, [name]);
    }
  });
  await deleteTopics(l.topics);
  await deleteGroups(l.groups);
  const wh = await warehouseSession();
  try {
    for (const t of l.warehouseTables) await wh.execute(`DROP TABLE IF EXISTS ${warehouseTable(t)}`);
  } finally {
    await wh.close();
  }
  await deleteSubjects(env.registryUrl, l.subjects);
  const prefixes = new Set(l.redisPrefixes);
  await redisScan(async (keys, r) => {
    const gone = keys.filter((k) => prefixes.has(redisPrefix(k) ?? ''));
    if (gone.length > 0) await r.del(...gone);
  });
}

if (process.argv[1]?.endsWith('leftovers.ts')) {
  const found = await findLeftovers();
  process.stdout.write(`${describeLeftovers(found) || 'nothing left behind'}\n`);
  if (process.argv.includes('--remove') && !isClean(found)) {
    await removeLeftovers(found);
    process.stdout.write(
      `removed; now: ${describeLeftovers(await findLeftovers()) || 'nothing left behind'}\n`,
    );
  }
}
