import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import type { Logger } from '../../../workers/core/types.js';
import { kafkaSourceConfig } from '../../../workers/sources/kafka/config.js';
import { KafkaSource } from '../../../workers/sources/kafka/source.js';
import {
  partitionKey,
  type StalledPartition,
  StallWatchdog,
  type WatchdogClock,
} from '../../../workers/sources/kafka/watchdog.js';
import { watchdogEvents } from '../../support/watchdog-log.js';
import { type Deferred, deferred, FakeConsumer, settle } from './fake-consumer.js';

// The stall watchdog's rule (workers/sources/kafka/watchdog.ts) on a clock the test moves: a
// partition lagging without progress for the stall time is logged, counted and recovered; progress,
// no lag, a rebalance, a hold and an unreadable lag each restart its clock. Then the source's
// restart on fake consumers: the stalled consumer is replaced, its batches in flight never commit,
// and the new one's do.

class FakeClock implements WatchdogClock {
  t = 0;
  private timers: { fn: () => void; every: number; next: number }[] = [];
  now(): number {
    return this.t;
  }
  setInterval(fn: () => void, ms: number): unknown {
    const timer = { fn, every: ms, next: this.t + ms };
    this.timers.push(timer);
    return timer;
  }
  clearInterval(handle: unknown): void {
    this.timers = this.timers.filter((x) => x !== handle);
  }
  /** Moves time on by `ms`, firing each interval when due and letting its check finish. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.next <= end).sort((a, b) => a.next - b.next)[0];
      if (due === undefined) break;
      this.t = due.next;
      due.next += due.every;
      due.fn();
      await settle();
    }
    this.t = end;
  }
}

function recordingLogger() {
  const lines: { level: string; msg: string; fields: object }[] = [];
  const at =
    (level: string) =>
    (fields: object, msg?: string): void =>
      void lines.push({ level, msg: msg ?? '', fields });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

/** A watchdog (stall 120 s, checks every 10 s) over a probe whose lags the test sets. */
function setup(o: { held?: () => boolean } = {}) {
  const clock = new FakeClock();
  const { logger, lines } = recordingLogger();
  const lags = new Map<string, bigint>();
  let probeError: Error | undefined;
  const counted: string[] = [];
  const stalls: StalledPartition[][] = [];
  const dog = new StallWatchdog({
    stallMs: 120_000,
    checkEveryMs: 10_000,
    topics: ['t'],
    probe: async () => {
      if (probeError) throw probeError;
      return new Map(lags);
    },
    clock,
    logger,
    held: o.held,
    counted: (p) => counted.push(`${p.topic}[${p.partition}]`),
    onStall: async (s) => void stalls.push(s),
  });
  dog.start();
  return {
    clock,
    dog,
    lines,
    counted,
    stalls,
    lag: (partition: number, n: number) => lags.set(partitionKey('t', partition), BigInt(n)),
    failProbe: (err: Error | undefined) => {
      probeError = err;
    },
  };
}

describe('stall watchdog', () => {
  it('a lagging partition without progress for the stall time is logged, counted and recovered, once', async () => {
    const w = setup();
    w.dog.assigned([
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ]);
    w.lag(0, 500);
    await w.clock.advance(110_000);
    assert.equal(w.stalls.length, 0, 'not before the stall time');
    await w.clock.advance(10_000);
    assert.equal(w.stalls.length, 1);
    assert.deepEqual(
      w.stalls[0]!.map((s) => ({ ...s })),
      [{ topic: 't', partition: 0, lag: 500n, stalledMs: 120_000 }],
      'only the lagging partition',
    );
    assert.deepEqual(w.counted, ['t[0]']);
    const warned = w.lines.filter((l) => l.level === 'warn');
    assert.equal(warned.length, 1);
    assert.match(warned[0]!.msg, /t\[0\] stalled: 500 records behind and no progress for 120000 ms/);
    assert.deepEqual(warned[0]!.fields, { topic: 't', partition: 0, lag: 500, stalledMs: 120_000 });
    // The chaos suite counts stalls from these lines.
    assert.deepEqual(watchdogEvents(warned.map((l) => l.msg).join('\n')), { stalls: 1, unreadable: 0 });
    // Nothing is checked until the restarted consumer joins; then the clock starts again.
    await w.clock.advance(300_000);
    assert.equal(w.stalls.length, 1);
    w.dog.assigned([{ topic: 't', partition: 0 }]);
    await w.clock.advance(110_000);
    assert.equal(w.stalls.length, 1);
    await w.clock.advance(10_000);
    assert.equal(w.stalls.length, 2, 'still stalled after the restart: found again, a stall time later');
  });

  it('progress (a fetch or a commit) restarts the clock', async () => {
    const w = setup();
    w.dog.assigned([{ topic: 't', partition: 0 }]);
    w.lag(0, 500);
    for (let i = 0; i < 10; i++) {
      await w.clock.advance(100_000);
      w.dog.progress('t', 0);
    }
    assert.equal(w.stalls.length, 0, 'a slow partition that moves is not stalled');
    await w.clock.advance(120_000);
    assert.equal(w.stalls.length, 1);
  });

  it('a partition without lag is never stalled, and lag must be seen the whole stall time', async () => {
    const w = setup();
    w.dog.assigned([{ topic: 't', partition: 0 }]);
    await w.clock.advance(600_000);
    assert.equal(w.stalls.length, 0, 'idle at the end of its log');
    w.lag(0, 1);
    await w.clock.advance(110_000);
    assert.equal(w.stalls.length, 0, 'the clock started at the first check that saw lag');
    await w.clock.advance(10_000);
    assert.equal(w.stalls.length, 1);
  });

  it('not while the group rebalances: the clock starts again at the join', async () => {
    const w = setup();
    w.dog.assigned([{ topic: 't', partition: 0 }]);
    w.lag(0, 500);
    await w.clock.advance(100_000);
    w.dog.rebalancing();
    await w.clock.advance(300_000);
    assert.equal(w.stalls.length, 0, 'mid-rebalance');
    w.dog.assigned([{ topic: 't', partition: 0 }]);
    await w.clock.advance(110_000);
    assert.equal(w.stalls.length, 0);
    await w.clock.advance(10_000);
    assert.equal(w.stalls.length, 1);
  });

  it('not while the pipeline holds its batches on purpose (suspended)', async () => {
    let held = true;
    const w = setup({ held: () => held });
    w.dog.assigned([{ topic: 't', partition: 0 }]);
    w.lag(0, 500);
    await w.clock.advance(600_000);
    assert.equal(w.stalls.length, 0);
    held = false;
    await w.clock.advance(110_000);
    assert.equal(w.stalls.length, 0, 'the clock starts when the hold ends');
    await w.clock.advance(10_000);
    assert.equal(w.stalls.length, 1);
  });

  it('not while the lag cannot be read (broker down): said once, then the clock starts when it can', async () => {
    const w = setup();
    w.dog.assigned([{ topic: 't', partition: 0 }]);
    w.lag(0, 500);
    await w.clock.advance(60_000);
    w.failProbe(new Error('Connection error: ECONNREFUSED'));
    await w.clock.advance(300_000);
    assert.equal(w.stalls.length, 0);
    const warned = w.lines.filter((l) => l.level === 'warn');
    assert.equal(warned.length, 1, 'one warning for the whole outage');
    assert.match(warned[0]!.msg, /cannot read the lag/);
    assert.deepEqual(watchdogEvents(warned.map((l) => l.msg).join('\n')), { stalls: 0, unreadable: 1 });
    w.failProbe(undefined);
    await w.clock.advance(110_000);
    assert.equal(w.stalls.length, 0, 'the consumer gets the whole stall time after the broker is back');
    await w.clock.advance(10_000);
    assert.equal(w.stalls.length, 1);
  });

  it('stops checking when stopped', async () => {
    const w = setup();
    w.dog.assigned([{ topic: 't', partition: 0 }]);
    w.lag(0, 500);
    w.dog.stop();
    await w.clock.advance(600_000);
    assert.equal(w.stalls.length, 0);
  });
});

/** Fake consumers, a new one per `kafka.consumer()` call (the watchdog's restart makes one). */
async function startWatchedSource(overrides: Record<string, unknown> = {}) {
  const consumers: FakeConsumer[] = [];
  const kafka = {
    consumer: () => {
      const c = new FakeConsumer();
      consumers.push(c);
      return c;
    },
  } as unknown as Kafka;
  const clock = new FakeClock();
  const { logger, lines } = recordingLogger();
  const lags = new Map<string, bigint>();
  const counted: string[] = [];
  let restarts = 0;
  const config = kafkaSourceConfig.parse({
    brokers: '127.0.0.1:1',
    topics: 't',
    group_id: 'g',
    heartbeat_interval_ms: 60000,
    stall_timeout_ms: 120_000,
    ...overrides,
  });
  const source = new KafkaSource(
    kafka,
    config,
    logger,
    {
      metrics: {
        lag: () => undefined,
        committed: () => undefined,
        stalled: (topic, partition) => void counted.push(`${topic}[${partition}]`),
        restarted: () => {
          restarts += 1;
        },
      },
    },
    { clock, probe: async () => new Map(lags), checkEveryMs: 10_000 },
  );
  const writes: { offsets: string[]; done: Deferred; heartbeat: () => Promise<void> }[] = [];
  const fatal: unknown[] = [];
  await source.start(
    (messages, heartbeat) => {
      const done = deferred();
      writes.push({ offsets: messages.map((m) => m.offset), done, heartbeat });
      return done.promise;
    },
    (err) => void fatal.push(err),
  );
  await consumers[0]!.started;
  return { consumers, source, clock, lags, writes, fatal, counted, restarts: () => restarts, lines };
}

describe('kafka source: the watchdog restarts a stalled consumer', () => {
  it('a hung write: the consumer is replaced, re-reads from the last commit, and the old batch never commits', async () => {
    const h = await startWatchedSource();
    const first = h.consumers[0]!;
    first.join({ t: [0] });
    h.lags.set(partitionKey('t', 0), 10n);
    // Offsets 0–4 written and committed; 5–9 fetched, and their write hangs.
    void first.deliver('t', 0, 0, 5);
    await settle();
    h.writes[0]!.done.resolve();
    await settle();
    assert.deepEqual(first.committed('t', 0), ['5']);
    const hung = first.deliver('t', 0, 5, 5);
    await settle();
    // 120 s after the last progress (the fetch of 5–9), not before.
    await h.clock.advance(110_000);
    assert.equal(h.consumers.length, 1, 'not restarted before the stall time');
    await h.clock.advance(10_000);
    await settle();
    assert.equal(h.consumers.length, 2, 'a new consumer');
    assert.deepEqual(first.calls.slice(-2), ['stop', 'disconnect'], 'the stalled one stopped and left');
    assert.deepEqual(h.counted, ['t[0]']);
    assert.equal(h.restarts(), 1);
    assert.ok(h.lines.some((l) => /t\[0\] stalled/.test(l.msg)));
    await hung; // the old consumer's eachBatch returned (kafkajs' stop waits for it)
    // The hung batch no longer heartbeats through the retired consumer (if it had not left the
    // group, that would keep its partitions).
    const beats = first.heartbeats;
    await h.writes[1]!.heartbeat();
    assert.equal(first.heartbeats, beats, 'no heartbeat through the retired consumer');

    // The new consumer re-reads 5–9 from the last commit and commits them once written.
    const second = h.consumers[1]!;
    await second.started;
    second.join({ t: [0] });
    void second.deliver('t', 0, 5, 5);
    await settle();
    assert.equal(h.writes.length, 3);
    h.writes[2]!.done.resolve();
    await settle();
    assert.deepEqual(second.committed('t', 0), ['10']);
    // The hung write ends at last: neither committed (its consumer is gone) nor fatal.
    h.writes[1]!.done.resolve();
    await settle();
    assert.deepEqual(first.committed('t', 0), ['5'], 'nothing more through the old consumer');
    assert.deepEqual(second.committed('t', 0), ['10']);
    assert.deepEqual(h.fatal, []);
    await h.source.stop();
  });

  it('a consumer that fetches nothing while its partition lags is replaced; a failure of its old batch is not fatal', async () => {
    const h = await startWatchedSource();
    const first = h.consumers[0]!;
    first.join({ t: [0, 1] });
    void first.deliver('t', 1, 0, 3);
    await settle();
    // Partition 0 lags and is never fetched (kafkajs holding a partition without fetching).
    h.lags.set(partitionKey('t', 0), 1000n);
    await h.clock.advance(120_000);
    await settle();
    assert.equal(h.consumers.length, 2);
    assert.deepEqual(h.counted, ['t[0]'], 'partition 1 does not lag');
    h.writes[0]!.done.reject(new Error('connection reset'));
    await settle();
    assert.deepEqual(h.fatal, [], "the retired consumer's batch is re-read, not fatal");
    assert.deepEqual(first.committed('t', 1), []);
    await h.source.stop();
  });

  it('stall_timeout_ms: 0 turns it off', async () => {
    const h = await startWatchedSource({ stall_timeout_ms: 0 });
    h.consumers[0]!.join({ t: [0] });
    h.lags.set(partitionKey('t', 0), 5n);
    await h.clock.advance(3_600_000);
    assert.equal(h.consumers.length, 1);
    await h.source.stop();
  });
});
