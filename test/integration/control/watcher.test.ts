import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import kafkajs, { type Kafka } from 'kafkajs';
import {
  type AliasEvent,
  appendControlEvent,
  type ControlEvent,
  ControlWatcher,
  eventStamp,
  readControlState,
} from '../../../workers/control/index.js';
import type { Logger } from '../../../workers/core/types.js';
import { deleteGroups, deleteTopics, testKafka, uniqueId } from '../../support/stack.js';

// The control topic on the real broker: a change is folded by every watcher within 2 s (measured and
// printed), a restarted watcher holds the full state once `start` resolves, a bad record is skipped,
// and a closed watcher leaves no consumer group behind.
const kafka: Kafka = testKafka('control-watcher-test');
const topics: string[] = [];
const groups: string[] = [];

after(async () => {
  await deleteTopics(topics);
  await deleteGroups(groups); // a safety net: each watcher deletes its own
});

function topic(): string {
  const t = `ctl-watch-${uniqueId()}`;
  topics.push(t);
  return t;
}

const logged: { level: string; obj: object; msg?: string | undefined }[] = [];
const logger: Logger = {
  debug() {},
  info() {},
  warn: (obj, msg) => logged.push({ level: 'warn', obj, msg }),
  error: (obj, msg) => logged.push({ level: 'error', obj, msg }),
};

async function watch(t: string): Promise<ControlWatcher> {
  const w = await ControlWatcher.start({ kafka, topic: t, logger });
  groups.push(w.groupId);
  return w;
}

function promote(version: string, from: string | null): AliasEvent {
  return {
    type: 'alias',
    action: 'promote',
    model: 'churn',
    alias: 'champion',
    version,
    from,
    sha256: version.repeat(64).slice(0, 64),
    by: 'test',
    reason: `to ${version}`,
    ...eventStamp(),
  };
}

/** Resolves with the ms from now until `w` has folded the event with this id. */
function seen(w: ControlWatcher, id: string, started: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`event ${id} not seen within 10 s`)), 10_000);
    const off = w.onEvent((e) => {
      if (e.id !== id) return;
      clearTimeout(timer);
      off();
      resolve(performance.now() - started);
    });
  });
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

describe('control watcher on the real broker', () => {
  it('creates the topic with 1 partition, retention.ms=-1, cleanup.policy=delete', async () => {
    const t = topic();
    const w = await watch(t);
    await w.close();
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [meta] = (await admin.fetchTopicMetadata({ topics: [t] })).topics;
      assert.equal(meta?.partitions.length, 1);
      const cfg = await admin.describeConfigs({
        resources: [
          {
            type: kafkajs.ConfigResourceTypes.TOPIC,
            name: t,
            configNames: ['retention.ms', 'cleanup.policy'],
          },
        ],
        includeSynonyms: false,
      });
      const entries = Object.fromEntries(
        cfg.resources[0]!.configEntries.map((c) => [c.configName, c.configValue]),
      );
      assert.deepEqual(entries, { 'retention.ms': '-1', 'cleanup.policy': 'delete' });
    } finally {
      await admin.disconnect();
    }
  });

  it('a change is seen within 2 s (20 appends, latency printed), by two watchers alike', async () => {
    const t = topic();
    const [a, b] = await Promise.all([watch(t), watch(t)]);
    const total: number[] = [];
    const afterAck: number[] = [];
    try {
      let from: string | null = null;
      for (let i = 1; i <= 20; i++) {
        const e = promote(String(i), from);
        from = e.version;
        const started = performance.now();
        const both = Promise.all([seen(a, e.id, started), seen(b, e.id, started)]);
        await appendControlEvent(kafka, t, e);
        const acked = performance.now() - started;
        const [la, lb] = await both;
        total.push(la, lb);
        afterAck.push(la - acked, lb - acked);
        assert.equal(a.alias('churn', 'champion')?.version, String(i));
        assert.equal(b.alias('churn', 'champion')?.version, String(i));
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    const fmt = (xs: number[]) =>
      `p50 ${pct(xs, 0.5).toFixed(0)} ms, p99 ${pct(xs, 0.99).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
    console.log(`control watcher latency, append call → folded (2 watchers × 20): ${fmt(total)}`);
    console.log(`control watcher latency, broker ack → folded: ${fmt(afterAck)}`);
    assert.ok(Math.max(...total) < 2000, `a watcher took ${Math.max(...total).toFixed(0)} ms`);
  });

  it('a restarted watcher holds the full state once start resolves (catch-up), and folds nothing twice', async () => {
    const t = topic();
    const first = await watch(t);
    const events: ControlEvent[] = [
      promote('1', null),
      promote('2', '1'),
      promote('3', '2'),
      { ...promote('2', '3'), action: 'rollback' },
      {
        type: 'pipeline',
        action: 'suspend',
        pipeline: 'churn-scoring',
        by: 'risk',
        reason: 'drift',
        ...eventStamp(),
      },
    ];
    const last = seen(first, events[events.length - 1]!.id, performance.now());
    for (const e of events) await appendControlEvent(kafka, t, e);
    await last;
    await first.close();
    const started = performance.now();
    const second = await watch(t);
    const ms = performance.now() - started;
    try {
      console.log(`restarted watcher caught up with ${events.length} records in ${ms.toFixed(0)} ms`);
      assert.deepEqual(second.state, first.state);
      const a = second.alias('churn', 'champion')!;
      assert.deepEqual([a.version, a.stack, a.history.length], ['2', ['1', '2'], 4]);
      assert.equal(second.suspended('churn-scoring'), true);
      // The one-shot read of the CLI sees the same.
      assert.deepEqual(await readControlState(kafka, t), first.state);
    } finally {
      await second.close();
    }
  });

  it('a bad record is logged with topic, partition and offset and skipped; the next one is folded', async () => {
    const t = topic();
    const w = await watch(t);
    try {
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic: t,
        messages: [{ key: 'alias/churn/champion', value: '{"type":"alias",' }],
      });
      await producer.send({ topic: t, messages: [{ key: 'pipeline/x', value: null }] });
      await producer.disconnect();
      const e = promote('1', null);
      const ok = seen(w, e.id, performance.now());
      await appendControlEvent(kafka, t, e);
      await ok;
      assert.equal(w.alias('churn', 'champion')?.version, '1');
      const bad = logged.find((l) => (l.obj as { topic?: string }).topic === t && l.level === 'error');
      assert.ok(bad, 'the bad record was logged');
      assert.deepEqual(
        [(bad.obj as { partition?: number }).partition, (bad.obj as { offset?: string }).offset],
        [0, '0'],
      );
      assert.match(bad.msg ?? '', new RegExp(`control record ${t}/0@0: not JSON`));
      assert.ok(
        logged.some(
          (l) => (l.obj as { offset?: string }).offset === '1' && /without a value/.test(l.msg ?? ''),
        ),
      );
    } finally {
      await w.close();
    }
  });

  it('close deletes the watcher’s consumer group; a one-shot read of a missing topic creates nothing', async () => {
    const t = topic();
    const w = await watch(t);
    const admin = kafka.admin();
    await admin.connect();
    try {
      assert.ok((await admin.listGroups()).groups.some((g) => g.groupId === w.groupId));
      await w.close();
      assert.ok(!(await admin.listGroups()).groups.some((g) => g.groupId === w.groupId), 'group left behind');
      const missing = topic();
      const s = await readControlState(kafka, missing);
      assert.equal(s.aliases.size + s.pipelines.size, 0);
      assert.ok(!(await admin.listTopics()).includes(missing));
    } finally {
      await admin.disconnect();
    }
  });
});
