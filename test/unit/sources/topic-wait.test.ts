import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs, { type Kafka } from 'kafkajs';
import type { Logger } from '../../../workers/core/types.js';
import { kafkaSourceConfig } from '../../../workers/sources/kafka/config.js';
import { KafkaSource } from '../../../workers/sources/kafka/source.js';
import { isTopicNotReady, TopicWait } from '../../../workers/sources/kafka/topic-wait.js';

// kafkajs is CommonJS and spreads its errors into its exports: no named ESM imports for them.
const { KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;
const retriesExceeded = (cause: Error) =>
  new KafkaJSNumberOfRetriesExceeded(cause, { retryCount: 8, retryTime: 1000 });

const unknownTopic = () =>
  new KafkaJSProtocolError({
    type: 'UNKNOWN_TOPIC_OR_PARTITION',
    code: 3,
    retriable: true,
    message: 'This server does not host this topic-partition',
  } as unknown as Error);

function recordingLogger() {
  const warnings: { fields: Record<string, unknown>; msg: string }[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (fields, msg) => void warnings.push({ fields: fields as Record<string, unknown>, msg: msg ?? '' }),
    error() {},
  };
  return { logger, warnings };
}

describe('isTopicNotReady', () => {
  it('recognises an unknown topic or a missing leader, also behind exhausted retries', () => {
    assert.equal(isTopicNotReady(unknownTopic()), true);
    assert.equal(isTopicNotReady(retriesExceeded(unknownTopic())), true);
    assert.equal(isTopicNotReady(new Error('SASL authentication failed')), false);
    assert.equal(isTopicNotReady(undefined), false);
  });
});

describe('TopicWait', () => {
  it('warns once per back-off step, naming the missing topics, then reminds at the longest delay', async () => {
    const { logger, warnings } = recordingLogger();
    const wait = new TopicWait(logger, { group: 'g' }, new AbortController().signal, {
      initialMs: 1,
      maxMs: 4,
      remindEveryMs: 60_000,
    });
    for (let i = 0; i < 6; i++) assert.equal(await wait.wait(['a', 'b'], ['b'], 'boom'), true);
    assert.deepEqual(
      warnings.map((w) => w.msg),
      [1, 2, 4].map((ms) => `Waiting for topic b to be created; retrying in ${ms} ms.`),
    );
    assert.deepEqual(warnings[0]!.fields, { group: 'g', topics: ['b'], retry_in_ms: 1, error: 'boom' });
  });

  it('names every topic when they exist but are not ready yet, and returns false at once when aborted', async () => {
    const { logger, warnings } = recordingLogger();
    const stop = new AbortController();
    const wait = new TopicWait(logger, {}, stop.signal, {
      initialMs: 60_000,
      maxMs: 60_000,
      remindEveryMs: 1,
    });
    const t0 = Date.now();
    const waiting = wait.wait(['a', 'b'], [], 'x');
    stop.abort();
    assert.equal(await waiting, false);
    assert.ok(Date.now() - t0 < 1000);
    assert.match(warnings[0]!.msg, /^Waiting for topic a, b to be ready on the brokers/);
  });
});

describe('TopicWait on a topic just created', () => {
  it('says so at info level for notReadyQuietMs, then warns; a missing topic warns at once', async () => {
    const infos: string[] = [];
    const { logger: base, warnings } = recordingLogger();
    const logger: Logger = { ...base, info: (_f, msg) => void infos.push(msg ?? '') };
    const opts = { initialMs: 1, maxMs: 1, remindEveryMs: 60_000, notReadyQuietMs: 60_000 };
    const notReady = new TopicWait(logger, {}, new AbortController().signal, opts);
    for (let i = 0; i < 3; i++) await notReady.wait(['a'], [], 'not ready');
    assert.equal(warnings.length, 0);
    assert.equal(infos.length, 3);
    assert.match(infos[0]!, /^Waiting for topic a to be ready on the brokers/);

    const missing = new TopicWait(logger, {}, new AbortController().signal, opts);
    await missing.wait(['b'], ['b'], 'missing');
    assert.deepEqual(
      warnings.map((w) => w.msg),
      ['Waiting for topic b to be created; retrying in 1 ms.'],
    );

    const late = new TopicWait(logger, {}, new AbortController().signal, { ...opts, notReadyQuietMs: 5 });
    await late.wait(['c'], [], 'not ready');
    await new Promise((r) => setTimeout(r, 10));
    await late.wait(['c'], [], 'not ready');
    assert.match(warnings.at(-1)!.msg, /^Waiting for topic c to be ready on the brokers/);
  });
});

/**
 * A kafkajs stand-in: `subscribe` fails with UNKNOWN_TOPIC_OR_PARTITION `subscribeFailures` times;
 * the test can crash the running consumer like kafkajs does (after disconnecting it).
 */
function fakeKafka(opts: { subscribeFailures: number; listed: string[] }) {
  const calls: string[] = [];
  const listeners = new Map<string, (e: { payload: { error: unknown; restart: boolean } }) => void>();
  let failures = opts.subscribeFailures;
  const consumer = {
    events: { REBALANCING: 'rebalancing', CRASH: 'crash' },
    on: (event: string, fn: (e: { payload: { error: unknown; restart: boolean } }) => void) =>
      void listeners.set(event, fn),
    connect: async () => void calls.push('connect'),
    subscribe: async () => {
      calls.push('subscribe');
      if (failures-- > 0) throw unknownTopic();
    },
    run: async () => void calls.push('run'),
    pause: () => void calls.push('pause'),
    stop: async () => void calls.push('stop'),
    disconnect: async () => void calls.push('disconnect'),
    commitOffsets: async () => undefined,
  };
  const admin = { connect: async () => {}, disconnect: async () => {}, listTopics: async () => opts.listed };
  const kafka = { consumer: () => consumer, admin: () => admin } as unknown as Kafka;
  const crash = (error: unknown) => {
    calls.push('crash');
    listeners.get('crash')!({ payload: { error, restart: false } });
  };
  return { kafka, calls, crash };
}

const sourceConfig = kafkaSourceConfig.parse({
  brokers: 'b:9092',
  topics: ['cdc.a', 'cdc.b'],
  group_id: 'g',
});
const until = async (check: () => boolean) => {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check());
};

/** A KafkaSource on `fakeKafka(opts)`, started: what it logged and reported as fatal. */
async function startSource(opts: { subscribeFailures: number; listed: string[] }) {
  const fake = fakeKafka(opts);
  const { logger, warnings } = recordingLogger();
  const source = new KafkaSource(fake.kafka, sourceConfig, logger);
  const fatal: unknown[] = [];
  await source.start(
    async () => {},
    (err) => void fatal.push(err),
  );
  return { ...fake, source, warnings, fatal };
}

describe('KafkaSource start-up', () => {
  it('waits in the background for a missing topic, then subscribes and runs', async () => {
    const { calls, source, warnings, fatal } = await startSource({ subscribeFailures: 2, listed: ['cdc.a'] });
    assert.equal(source.waiting, true, 'start resolves while the topic is waited for');
    await until(() => calls.includes('run'));
    assert.equal(source.waiting, false);
    assert.deepEqual(fatal, []);
    assert.deepEqual(
      warnings.map((w) => w.fields['topics']),
      [['cdc.b'], ['cdc.b']],
    );
    await source.stop();
    assert.deepEqual(calls.slice(-3), ['pause', 'stop', 'disconnect']);
  });

  it('waits again, instead of failing, when the consumer crashes on a topic the brokers do not know yet', async () => {
    const { calls, crash, source, warnings, fatal } = await startSource({
      subscribeFailures: 0,
      listed: ['cdc.a', 'cdc.b'],
    });
    await until(() => calls.includes('run'));
    crash(retriesExceeded(unknownTopic()));
    await until(() => calls.filter((c) => c === 'run').length === 2);
    assert.deepEqual(fatal, []);
    assert.match(warnings[0]!.msg, /topic the brokers do not know \(yet\); waiting for it/);
    crash(new Error('group authorization failed'));
    assert.equal(fatal.length, 1, 'any other crash is fatal');
    await source.stop();
  });

  it('stops promptly while waiting, without running the consumer', async () => {
    const { calls, source, fatal } = await startSource({ subscribeFailures: 1_000, listed: [] });
    await until(() => source.waiting);
    const t0 = Date.now();
    await source.stop();
    assert.ok(Date.now() - t0 < 200, `${Date.now() - t0} ms`);
    assert.ok(!calls.includes('run') && !calls.includes('pause'));
    assert.deepEqual(fatal, []);
    assert.equal(calls.at(-1), 'disconnect');
  });
});
