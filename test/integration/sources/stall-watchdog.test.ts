import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Consumer, Kafka } from 'kafkajs';
import type { Logger, RawMessage } from '../../../workers/core/types.js';
import type { SourceMetrics } from '../../../workers/observability/metrics.js';
import { kafkaSourceConfig } from '../../../workers/sources/kafka/config.js';
import { KafkaSource } from '../../../workers/sources/kafka/source.js';
import { deleteGroups, deleteTopics, env, testKafka, uniqueId, waitFor } from '../../support/stack.js';

// The stall watchdog on the stack's Kafka (stall time 3 s): a consumer that holds its partitions
// without fetching them (what kafkajs #1456 / #659 do, emulated by pausing the kafkajs consumer
// behind the source's back), and a write that hangs. Each time the watchdog logs the stalled
// partition, counts it, replaces the consumer, and every record ends up handled and committed.

const kafka = testKafka('stall-watchdog');
const topics: string[] = [];
const groups: string[] = [];

after(async () => {
  await deleteTopics(topics);
  await deleteGroups(groups);
});

async function createTopic(partitions: number): Promise<string> {
  const topic = `stall-${uniqueId()}`;
  topics.push(topic);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();
  return topic;
}

async function produce(topic: string, from: number, count: number): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic,
    messages: Array.from({ length: count }, (_, i) => ({ key: `k${from + i}`, value: `v${from + i}` })),
  });
  await producer.disconnect();
}

/** Per partition, the group's committed offset minus the high watermark (0 = all committed). */
async function uncommitted(topic: string, group: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [ends, [committed]] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId: group, topics: [topic] }),
    ]);
    let behind = 0;
    for (const e of ends) {
      const c = Number(committed!.partitions.find((p) => p.partition === e.partition)?.offset ?? -1);
      behind += Number(e.high) - Math.max(c, Number(e.low));
    }
    return behind;
  } finally {
    await admin.disconnect();
  }
}

/** A source (stall time 3 s) whose kafkajs consumers, logs and watchdog metrics the test sees. */
async function startSource(topic: string, handler: (messages: RawMessage[]) => Promise<void>) {
  const group = `stall-${uniqueId()}`;
  groups.push(group);
  const consumers: Consumer[] = [];
  const client = {
    consumer: (o: Parameters<Kafka['consumer']>[0]) => {
      const c = kafka.consumer(o);
      consumers.push(c);
      return c;
    },
    admin: () => kafka.admin(),
  } as unknown as Kafka;
  const warnings: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (_o, msg) => void warnings.push(msg ?? ''),
    error: (_o, msg) => void warnings.push(msg ?? ''),
  };
  const stalled: string[] = [];
  let restarts = 0;
  const metrics: SourceMetrics = {
    lag: () => undefined,
    committed: () => undefined,
    stalled: (t, p) => void stalled.push(`${t}[${p}]`),
    restarted: () => {
      restarts += 1;
    },
  };
  const source = new KafkaSource(
    client,
    kafkaSourceConfig.parse({
      brokers: env.kafkaBrokers,
      topics: topic,
      group_id: group,
      stall_timeout_ms: 3000,
      session_timeout_ms: 10000,
      heartbeat_interval_ms: 1000,
    }),
    logger,
    { metrics },
  );
  const fatal: unknown[] = [];
  await source.start(handler, (err) => void fatal.push(err));
  return { source, group, consumers, warnings, stalled, restarts: () => restarts, fatal };
}

/** Collects every handled record's partition and offset. */
function recorder() {
  const seen = new Set<string>();
  const record = (messages: RawMessage[]) => {
    for (const m of messages) seen.add(`${m.partition}@${m.offset}`);
  };
  return { seen, record };
}

describe('kafka source: the stall watchdog on the stack', () => {
  it('replaces a consumer that holds its partitions without fetching; the rest is consumed and committed', async () => {
    const topic = await createTopic(2);
    await produce(topic, 0, 100);
    const { seen, record } = recorder();
    const s = await startSource(topic, async (messages) => record(messages));
    try {
      await waitFor(
        'the first 100 records committed',
        async () => (await uncommitted(topic, s.group)) === 0,
        30_000,
      );
      assert.equal(seen.size, 100);
      // The consumer keeps its partitions (heartbeats go on) and fetches nothing more.
      s.consumers[0]!.pause([{ topic }]);
      await produce(topic, 100, 100);
      const t0 = Date.now();
      await waitFor('the watchdog to restart the consumer', async () => s.restarts() > 0, 20_000);
      const firedAfter = Date.now() - t0;
      assert.ok(firedAfter >= 2500, `not before the stall time (${firedAfter} ms)`);
      assert.ok(s.stalled.length >= 1 && s.stalled.every((p) => p.startsWith(`${topic}[`)), s.stalled.join());
      assert.ok(
        s.warnings.some((w) => w.startsWith(`Partition ${topic}[`) && w.includes('stalled')),
        s.warnings.join('\n'),
      );
      await waitFor(
        'all 200 records committed',
        async () => (await uncommitted(topic, s.group)) === 0,
        30_000,
      );
      assert.equal(s.consumers.length, 2, 'a new consumer');
      assert.equal(seen.size, 200, 'every record handled');
      assert.equal(s.restarts(), 1, 'once: the new consumer makes progress');
      assert.deepEqual(s.fatal, []);
    } finally {
      await s.source.stop();
    }
  });

  it('replaces the consumer when a write hangs; the records are re-read, written and committed, and consumption goes on', async () => {
    const topic = await createTopic(1);
    await produce(topic, 0, 50);
    const { seen, record } = recorder();
    let release!: () => void;
    const hung = new Promise<void>((r) => {
      release = r;
    });
    let calls = 0;
    const s = await startSource(topic, async (messages) => {
      calls += 1;
      if (calls === 1) await hung; // the first write hangs (a sink that never answers)
      record(messages);
    });
    try {
      await waitFor('the watchdog to restart the consumer', async () => s.restarts() > 0, 20_000);
      assert.deepEqual(s.stalled, [`${topic}[0]`]);
      await waitFor(
        'the 50 records committed',
        async () => (await uncommitted(topic, s.group)) === 0,
        30_000,
      );
      assert.equal(seen.size, 50, 'written by the new consumer');
      // Consumption goes on.
      await produce(topic, 50, 50);
      await waitFor(
        '100 records committed',
        async () => (await uncommitted(topic, s.group)) === 0 && seen.size === 100,
        30_000,
      );
      // The hung write ends at last: it commits nothing (its consumer is gone) and fails nothing.
      release();
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await uncommitted(topic, s.group), 0);
      assert.deepEqual(s.fatal, []);
      assert.equal(s.restarts(), 1);
    } finally {
      release();
      await s.source.stop();
    }
  });
});
