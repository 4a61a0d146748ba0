import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { createDecoder } from '../../workers/decode/create.js';
import { startChurnSource } from '../support/churn.js';
import { type RunningCli, startCli } from '../support/cli.js';
import { waitForWorkers } from '../support/fleet.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import {
  deleteGroups,
  dropDebezium,
  dropPgTables,
  env,
  removeChurnObjects,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';
import { TcpProxy } from '../support/tcp-proxy.js';

// Chaos on the real stack: a --workers 2 fleet whose workers are SIGKILLed while 20k change events
// flow, the sink's Postgres taken away for 10 s, and a full replay by a new consumer group.
const id = uniqueId();
const table = `crm.customers_${id}`;
const scores = `ml.churn_${id}`;
const topic = `chaos${id}.${table}`;
const connector = `chaos_${id}`;
const CUSTOMERS = 2000;
const UPDATES = 18000;
const kafka = new Kafka({
  brokers: env.kafkaBrokers.split(','),
  clientId: `chaos-${id}`,
  logLevel: logLevel.NOTHING,
});
const proxy = new TcpProxy(new URL(env.databaseUrl).hostname, Number(new URL(env.databaseUrl).port || 5432));
let fleet: RunningCli | undefined;
const readerGroups: string[] = [];
// The warehouse sinks are tested in the churn e2e; here the subject is Kafka, the fleet and Postgres.
const pipelineFile = churnPipelineCopy(`chaos-${id}`, { warehouse: false });

function pipelineEnv(group: string): Record<string, string> {
  const db = new URL(env.databaseUrl);
  db.host = `127.0.0.1:${proxy.port}`;
  return {
    CHURN_TOPIC: topic,
    CHURN_GROUP: group,
    CHURN_SCORES_TABLE: scores,
    CHURN_OUTPUT_TOPIC: `chaos-scores-${id}`,
    CHURN_DLQ: `chaos-${id}.dlq`,
    CHURN_WH_TABLE: `CHAOS_${id.toUpperCase()}`,
    CHURN_WH_HISTORY_TABLE: `CHAOS_HISTORY_${id.toUpperCase()}`,
    CHURN_ENCODING: 'json',
    METRICS_PORT: '0',
    DATABASE_URL: db.toString(),
  };
}

before(async () => {
  await proxy.start();
  await startChurnSource({ kafka, table, topic, connector, topicPrefix: `chaos${id}`, customers: CUSTOMERS });
});

after(async () => {
  await fleet?.stop();
  await dropDebezium(connector);
  await proxy.stop();
  for (const group of [`chaos-${id}`, `chaos-replay-${id}`]) await removeChurnObjects(pipelineEnv(group));
  await dropPgTables(table);
  await deleteGroups(readerGroups);
});

/** Total messages on the topic once Debezium has caught up (two equal reads 2 s apart). */
async function settledEndOffset(): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const total = async () => (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  let last = -1;
  for (;;) {
    const now = await total();
    if (now === last) break;
    last = now;
    await new Promise((r) => setTimeout(r, 2000));
  }
  await admin.disconnect();
  return last;
}

/** Latest event position per customer on the topic, read independently through the decoder. */
async function latestPositions(expected: number): Promise<Map<number, bigint>> {
  const decoder = createDecoder({ debezium: { encoding: 'json' } });
  const latest = new Map<number, bigint>();
  let seen = 0;
  const groupId = `chaos-reader-${uniqueId()}`;
  readerGroups.push(groupId);
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const raw = batch.messages.map((m) => ({
        topic,
        partition: batch.partition,
        offset: m.offset,
        key: m.key,
        value: m.value,
        headers: {},
        timestamp: m.timestamp,
      }));
      const decoded = await decoder.decodeBatch(raw);
      for (const r of decoded.records) {
        const row = (r.root['after'] ?? r.root['before']) as { customer_id: number };
        const prev = latest.get(Number(row.customer_id));
        if (prev === undefined || r.position > prev) latest.set(Number(row.customer_id), r.position);
      }
      seen += batch.messages.length;
    },
  });
  await waitFor(`${expected} events`, async () => seen >= expected, 120000);
  await consumer.disconnect();
  return latest;
}

async function tableState(): Promise<Map<number, { position: string; scoredAt: string }>> {
  return withPg(async (c) => {
    const r = await c.query(
      `select customer_id, source_position::text as p, scored_at::text as s from ${scores}`,
    );
    return new Map(r.rows.map((x) => [Number(x.customer_id), { position: x.p, scoredAt: x.s }]));
  });
}

test('SIGKILL workers of a --workers 2 fleet three times and cut Postgres for 10 s while 20k events flow: nothing lost, latest version wins', async () => {
  fleet = startCli(['run', '--no-backfill', '--workers', '2', pipelineFile], pipelineEnv(`chaos-${id}`));
  await waitFor('snapshot scored', async () => (await tableState()).size >= CUSTOMERS, 120000);

  const updates = (async () => {
    for (let i = 0; i < UPDATES / 500; i++) {
      await withPg((c) =>
        c.query(
          `update ${table} set tickets_90d = coalesce(tickets_90d, 0) + 1, updated_at = now()
           where customer_id in (select (1 + ((g * 7919 + $1::int * 104729) % ${CUSTOMERS}))::bigint from generate_series(1, 500) g)`,
          [i],
        ),
      );
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  for (let kill = 0; kill < 3; kill++) {
    await new Promise((r) => setTimeout(r, 2500));
    const pids = await waitForWorkers(fleet!, 2, 120000);
    process.kill(pids[kill % 2]!, 'SIGKILL');
    if (kill === 1) {
      proxy.pause();
      await new Promise((r) => setTimeout(r, 10000));
      proxy.resume();
    }
  }
  await updates;

  const latest = await latestPositions(await settledEndOffset());
  await waitFor(
    'every key at its latest position',
    async () => {
      const state = await tableState();
      for (const [k, pos] of latest) if (state.get(k)?.position !== pos.toString()) return false;
      return state.size === CUSTOMERS;
    },
    180000,
  );
});

test('replaying the topic from the beginning with a new consumer group leaves every row unchanged', async () => {
  await fleet!.stop();
  const beforeReplay = await tableState();
  const replay = startCli(['run', '--no-backfill', pipelineFile], pipelineEnv(`chaos-replay-${id}`));
  try {
    const groupDone = async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const end = await admin.fetchTopicOffsets(topic);
        const committed = await admin.fetchOffsets({ groupId: `chaos-replay-${id}`, topics: [topic] });
        const parts = committed[0]?.partitions ?? [];
        return end.every((e) => parts.find((p) => p.partition === e.partition)?.offset === e.offset);
      } finally {
        await admin.disconnect();
      }
    };
    await waitFor('replay consumed the whole topic', groupDone, 180000);
  } finally {
    await replay.stop();
  }
  assert.deepEqual(await tableState(), beforeReplay);
});
