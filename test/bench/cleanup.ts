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
const TABLE = /^bench_(quix_)?[0-9a-f]{8}(__tombstones|__shadow)?$|^bench_jdbc_[0-9a-f]{8}$/;

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
  await withPg(async (c) => {
    for (const t of tables) await c.query(`drop table if exists ${t}`);
  });
  process.stdout.write(`removed ${topics.length} topics, ${groups.length} groups, ${tables.length} tables\n`);
}
