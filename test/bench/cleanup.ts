/**
 * Removes what interrupted bench runs left behind: topics, consumer groups, registry subjects and
 * tables whose names match the bench's own patterns exactly (`npx tsx test/bench/main.ts --cleanup`).
 * Not run automatically: another bench may be running on the same stack.
 */
import { Kafka, logLevel } from 'kafkajs';
import { env, withPg } from '../support/stack.js';
import { deleteGroups, deleteSubjects, deleteTopics } from './topic.js';

const TOPIC =
  /^bench[0-9a-f]{8}(avro|json)\.crm\.customers$|^bench-(scores|dlq|out|quix-out)-[0-9a-f]{8}$|^bench-control-[0-9a-f]{8}-(swap|shadow)$/;
const GROUP = /^bench-(e2e|lat|quix|consume|sample|rollread)-[0-9a-f]{8}$|^connect-bench_jdbc_[0-9a-f]{8}$/;
const TABLE =
  /^bench_(quix_)?[0-9a-f]{8}(__tombstones|__shadow|__audit(__blocks|__heads|__contexts|_p[0-9]{8})?)?$|^bench_jdbc_[0-9a-f]{8}$/;
/** An audit log's functions (audit.ts: `<table>__append`, `__hash`, `__maintain`). */
const FUNCTION = /^bench_[0-9a-f]{8}__audit__(append|hash|maintain)$/;

export async function cleanupLeftovers(): Promise<void> {
  const kafka = new Kafka({
    brokers: env.kafkaBrokers.split(','),
    clientId: 'bench-cleanup',
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const topics = (await admin.listTopics()).filter((t) => TOPIC.test(t));
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => GROUP.test(g));
  await admin.disconnect();
  await deleteTopics(kafka, topics);
  await deleteGroups(kafka, groups);
  await deleteSubjects(
    env.registryUrl,
    topics.filter((t) => t.endsWith('.crm.customers')).flatMap((t) => [`${t}-key`, `${t}-value`]),
  );
  const tables = await withPg(async (c) => {
    const r = await c.query(`select schemaname || '.' || tablename as t, tablename from pg_tables`);
    return r.rows
      .filter((x: { tablename: string }) => TABLE.test(x.tablename))
      .map((x: { t: string }) => x.t);
  });
  const functions = await withPg(async (c) => {
    for (const t of tables) await c.query(`drop table if exists ${t} cascade`);
    const r = await c.query(
      `select p.oid::regprocedure::text as f, p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace`,
    );
    const found = r.rows
      .filter((x: { proname: string }) => FUNCTION.test(x.proname))
      .map((x: { f: string }) => x.f);
    for (const f of found) await c.query(`drop function if exists ${f}`);
    return found;
  });
  process.stdout.write(
    `removed ${topics.length} topics, ${groups.length} groups, ${tables.length} tables, ${functions.length} functions\n`,
  );
}
