import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AssignerProtocol } from 'kafkajs';
import { createDecoder } from '../../workers/decode/create.js';
import { EnvelopeEncoder } from '../bench/events.js';
import { assertDistFresh, type RunningDist, startDist } from '../support/dist-cli.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import {
  deleteGroups,
  deleteTopics,
  dropPgTables,
  testKafka,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';
import {
  debeziumRowKey,
  judge,
  lastEventPerKey,
  settledTopicEnd,
  verdictLine,
} from '../support/topic-oracle.js';

// Scaling out as Kubernetes (KEDA) does it: separate single-worker processes joining and leaving the
// pipeline's consumer group while change events flow — 1 → 3 → 6 workers on a 6-partition topic,
// then back to 3 and 1 (each stopped by SIGTERM, as a pod is). At every step the group spreads the
// partitions over the members; afterwards the lag returns to 0 and every key's row is its last
// event's (none lost, none stale), checked against the topic read independently.
assertDistFresh();

const id = uniqueId();
const prefix = `scale${id}`;
const topic = `${prefix}.crm.customers`;
const names = {
  group: `scale-${id}`,
  table: `ml.scale_${id}`,
  output: `scale-scores-${id}`,
  dlq: `scale-${id}.dlq`,
};
const PARTITIONS = 6;
const KEYS = 5000;
/** Changes per second offered while the fleet grows and shrinks. */
const RATE = 1500;
const kafka = testKafka(`scale-${id}`);
const pipeline = churnPipelineCopy(`scale-${id}`, { warehouse: false });
const workers: RunningDist[] = [];

after(async () => {
  for (const w of workers) await w.stop('SIGKILL');
  await deleteTopics([topic, names.output, names.dlq]);
  await deleteGroups([names.group]);
  await dropPgTables(names.table);
});

function startWorker(): RunningDist {
  const w = startDist(['run', '--no-backfill', '--port', '0', pipeline], {
    env: {
      CHURN_TOPIC: topic,
      CHURN_GROUP: names.group,
      CHURN_SCORES_TABLE: names.table,
      CHURN_OUTPUT_TOPIC: names.output,
      CHURN_DLQ: names.dlq,
      CHURN_ENCODING: 'json',
      STREAMSCORE_LOG_LEVEL: 'warn',
    },
  });
  workers.push(w);
  return w;
}

/** Change events at RATE per second (every key updated in turn, positions increasing) until stopped. */
function startLoad(): { stop(): Promise<number> } {
  const encoder = new EnvelopeEncoder({ prefix }, 'json');
  const producer = kafka.producer();
  let running = true;
  let sent = 0;
  const loop = (async () => {
    await producer.connect();
    while (running) {
      const t0 = Date.now();
      const messages = [];
      for (let i = 0; i < RATE / 10; i++, sent++) {
        messages.push(
          ...encoder.encode({
            op: sent < KEYS ? 'c' : 'u',
            id: (sent % KEYS) + 1,
            version: Math.floor(sent / KEYS),
            tsUs: Date.now() * 1000,
            lsn: 0x70000000 + sent,
            txId: sent + 1,
          }),
        );
      }
      await producer.send({ topic, messages });
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - t0))));
    }
    await producer.disconnect();
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return sent;
    },
  };
}

/** The group's members and the partitions each is assigned. */
async function assignment(): Promise<number[][]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([names.group]);
    const group = groups[0]!;
    if (group.state !== 'Stable') return [];
    return group.members.map(
      (m) => AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [],
    );
  } finally {
    await admin.disconnect();
  }
}

/** Records on the topic not yet committed by the group. */
async function lag(): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId: names.group, topics: [topic] });
    return ends.reduce((sum, e) => {
      const c = Number(committed?.partitions.find((p) => p.partition === e.partition)?.offset ?? -1);
      return sum + Number(e.offset) - Math.max(0, c);
    }, 0);
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the group is stable with `n` members sharing all partitions, each with at least one. */
async function waitForMembers(n: number): Promise<number[][]> {
  const running = () => workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  return waitFor(
    `${n} members sharing the ${PARTITIONS} partitions`,
    async () => {
      const dead = workers.filter((w) => !running().includes(w) && !stopped.has(w));
      if (dead.length > 0) throw new Error(`a worker exited:\n${dead[0]!.output().slice(-3000)}`);
      const members = await assignment();
      const partitions = members.flat().sort((a, b) => a - b);
      const spread =
        members.length === n &&
        members.every((p) => p.length >= 1) &&
        partitions.join() === [...Array(PARTITIONS).keys()].join();
      return spread ? members : undefined;
    },
    120_000,
  );
}

const stopped = new Set<RunningDist>();
async function stopWorkers(count: number): Promise<void> {
  const leaving = workers.filter((w) => !stopped.has(w)).slice(-count);
  for (const w of leaving) stopped.add(w);
  const codes = await Promise.all(leaving.map((w) => w.stop('SIGTERM')));
  assert.deepEqual(
    codes,
    leaving.map(() => 0),
    `each drains and exits 0:\n${leaving.map((w) => w.output().slice(-1500)).join('\n---\n')}`,
  );
}

test('a fleet grown 1 → 3 → 6 workers under load and shrunk back to 1: partitions spread at each step, lag back to 0, nothing lost', async (t) => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();

  const load = startLoad();
  // The lag, sampled every second: its peak during each step is reported (the README's figures).
  let peak = 0;
  const sampler = setInterval(() => {
    lag().then(
      (l) => {
        peak = Math.max(peak, l);
      },
      () => undefined,
    );
  }, 1000);
  const steps: string[] = [];
  const step = async (n: number) => {
    const members = await waitForMembers(n);
    // A few seconds at this size under load.
    await new Promise((r) => setTimeout(r, 5000));
    steps.push(
      `${n} workers: partitions ${members.map((p) => p.length).join('/')}, lag ${await lag()} (peak ${peak} since the last step)`,
    );
    peak = 0;
  };
  startWorker();
  await step(1);
  for (let i = 0; i < 2; i++) startWorker();
  await step(3);
  for (let i = 0; i < 3; i++) startWorker();
  await step(6);
  await stopWorkers(3);
  await step(3);
  await stopWorkers(2);
  await step(1);
  const sent = await load.stop();
  clearInterval(sampler);

  await waitFor('the lag to return to 0', async () => (await lag()) === 0, 120_000);
  steps.push(`after the load (${sent} changes): lag 0`);
  t.diagnostic(steps.join('; '));

  await settledTopicEnd(topic);
  const { last, failures } = await lastEventPerKey(
    topic,
    createDecoder({ debezium: { encoding: 'json' } }),
    debeziumRowKey('customer_id'),
  );
  assert.equal(failures, 0);
  assert.equal(last.size, Math.min(KEYS, sent));
  const rows = await withPg(async (c) => {
    const r = await c.query(`select customer_id::text k, source_position::text p from ${names.table}`);
    return new Map(r.rows.map((x: { k: string; p: string }) => [x.k, x.p]));
  });
  const verdict = judge(last, rows);
  assert.equal(verdictLine(verdict), 'lost 0, stale 0, resurrected 0, extra 0');
  assert.equal(rows.size, last.size);
  await stopWorkers(1);
});
