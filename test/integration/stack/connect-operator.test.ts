import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import {
  connectorStates,
  connectorStatus,
  restartFailedTasks,
  slotName,
} from '../../../workers/connect/debezium.js';
import { ConnectOperator } from '../../support/connect-operator.js';
import {
  deleteGroups,
  deleteTopics,
  dropDebezium,
  env,
  registerDebeziumWith,
  uniqueId,
  waitFor,
  withPg,
} from '../../support/stack.js';

/**
 * The chaos scenarios' Connect operator (test/support/connect-operator.ts) on the real Kafka
 * Connect: a Debezium task that FAILED — here its retries are off and its replication connection is
 * cut — is restarted, and the change made while it was down still arrives.
 */
const id = uniqueId();
const table = `op_customers_${id}`;
const name = `op-${id}`;
const prefix = `op${id}`;
const topic = `${prefix}.public.${table}`;
const group = `op-it-${id}`;

async function taskState(): Promise<string | undefined> {
  const s = await connectorStatus(env.connectUrl, name);
  return typeof s === 'number' ? undefined : s.tasks?.[0]?.state;
}

after(async () => {
  await dropDebezium(name);
  await withPg((c) => c.query(`drop table if exists public.${table}`));
  await deleteGroups([group]);
  await deleteTopics([topic]);
});

test('a FAILED Debezium task is restarted by the operator, and a change made while it was down arrives', async () => {
  await withPg(async (c) => {
    await c.query(`create table public.${table} (id int primary key, name text)`);
    await c.query(`insert into public.${table} values (1, 'before')`);
  });
  // Retries off: the replication connection's loss fails the task instead of restarting it.
  await registerDebeziumWith(
    { name, topicPrefix: prefix, tables: [`public.${table}`], converter: 'json-noschema' },
    { 'errors.max.retries': '0' },
  );
  assert.deepEqual(await restartFailedTasks(env.connectUrl, name), [], 'a running task is left alone');

  // Its replication connection cut once it streams (the slot active: the snapshot is over).
  await waitFor('the slot active', () =>
    withPg(async (c) => {
      const r = await c.query(
        'select pg_terminate_backend(active_pid) as cut from pg_replication_slots where slot_name = $1 and active_pid is not null',
        [slotName(name)],
      );
      return r.rows[0]?.cut === true;
    }),
  );
  await waitFor('the task FAILED', async () => (await taskState()) === 'FAILED', 60_000);
  await withPg((c) => c.query(`update public.${table} set name = 'while failed' where id = 1`));
  assert.match(await connectorStates(env.connectUrl, name), /^connector RUNNING, task 0 FAILED: \S/);

  const said: string[] = [];
  const operator = new ConnectOperator(env.connectUrl, name, (w) => said.push(w), 500);
  operator.start();
  try {
    await waitFor('the task running again', async () => (await taskState()) === 'RUNNING', 60_000);
  } finally {
    operator.stop();
  }
  assert.equal(operator.restarts.length, 1, said.join('\n'));
  assert.equal(await connectorStates(env.connectUrl, name), 'connector RUNNING, task 0 RUNNING');
  assert.equal(await connectorStates(env.connectUrl, `${name}-none`), 'status HTTP 404');
  assert.match(said[0]!, /FAILED .*restarted through Connect's REST API/);

  const kafka = new Kafka({
    brokers: env.kafkaBrokers.split(','),
    clientId: group,
    logLevel: logLevel.NOTHING,
  });
  // Debezium creates the topic with its first record: it may not be served yet (subscribing to a
  // topic the broker does not host fails at once with UNKNOWN_TOPIC_OR_PARTITION).
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(
      `topic ${topic} served`,
      async () => {
        if (!(await admin.listTopics()).includes(topic)) return false;
        const [meta] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
        return (meta?.partitions.length ?? 0) > 0 && meta!.partitions.every((p) => p.leader >= 0);
      },
      90_000,
    );
  } finally {
    await admin.disconnect();
  }
  const consumer = kafka.consumer({ groupId: group });
  await consumer.connect();
  const names: string[] = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value === null) return;
        const v = JSON.parse(message.value.toString()) as { after?: { name?: string } };
        if (v.after?.name !== undefined) names.push(v.after.name);
      },
    });
    await waitFor(
      'the change made while the task was FAILED',
      async () => names.includes('while failed'),
      60_000,
    );
  } finally {
    await consumer.disconnect();
  }
});
