/**
 * A stand-in for a kafkajs consumer, driven by hand: the test delivers batches to the source's
 * `eachBatch` itself, emits group events (a rebalance's GROUP_JOIN, REBALANCING, CRASH), and
 * sees every `commitOffsets` call. The handler's writes are deferred promises the test settles,
 * so it decides when "every sink" has written a batch, or that a write failed.
 */
import type { EachBatchPayload, Kafka } from 'kafkajs';
import { silentLogger } from '../../../workers/core/silent-logger.js';
import type { RawMessage } from '../../../workers/core/types.js';
import { kafkaSourceConfig } from '../../../workers/sources/kafka/config.js';
import {
  type BatchHandler,
  KafkaSource,
  type KafkaSourceObservers,
} from '../../../workers/sources/kafka/source.js';

export interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run (several turns of the event loop). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

export interface Commit {
  topic: string;
  partition: number;
  offset: string;
}

const EVENTS = {
  GROUP_JOIN: 'consumer.group_join',
  REBALANCING: 'consumer.rebalancing',
  CRASH: 'consumer.crash',
} as const;

export class FakeConsumer {
  readonly events = EVENTS;
  /** Every commitOffsets call, in order, with the offsets it carried. */
  readonly commits: Commit[][] = [];
  /** The order of lifecycle calls (commit, pause, stop, disconnect). */
  readonly calls: string[] = [];
  /** While set, commitOffsets waits for it (a commit request in flight). */
  commitGate: Deferred | undefined;
  private readonly listeners = new Map<string, ((e: unknown) => void)[]>();
  private eachBatch: ((p: EachBatchPayload) => Promise<void>) | undefined;
  private readonly running = deferred();
  /** Seeks the test made "happen" (kafkajs' isStale() is true for such a partition). */
  readonly seeks = new Set<string>();
  resolved: Commit[] = [];
  /** Heartbeats sent through the batches' payloads. */
  heartbeats = 0;
  /** The options the source created this consumer with (kafkajs' `consumer(config)`). */
  options: Record<string, unknown> | undefined;

  on(event: string, listener: (e: unknown) => void): () => void {
    const list = this.listeners.get(event) ?? [];
    list.push(listener);
    this.listeners.set(event, list);
    return () => undefined;
  }

  emit(event: string, payload: unknown): void {
    for (const l of this.listeners.get(event) ?? [])
      l({ id: 0, type: event, timestamp: Date.now(), payload });
  }

  /** A rebalance completed: this member (memberId) now owns `assignment` (topic → partitions). */
  join(assignment: Record<string, number[]>, memberId = 'member-1'): void {
    this.emit(EVENTS.GROUP_JOIN, {
      duration: 1,
      groupId: 'g',
      isLeader: true,
      leaderId: memberId,
      groupProtocol: 'RoundRobinAssigner',
      memberId,
      memberAssignment: assignment,
    });
  }

  async connect(): Promise<void> {}
  async subscribe(): Promise<void> {}

  async run(opts: {
    autoCommit?: boolean;
    eachBatch: (p: EachBatchPayload) => Promise<void>;
  }): Promise<void> {
    if (opts.autoCommit !== false) throw new Error('the fake consumer only models autoCommit: false');
    this.eachBatch = opts.eachBatch;
    this.running.resolve();
  }

  /** Resolves once the source has called run(). */
  get started(): Promise<void> {
    return this.running.promise;
  }

  async commitOffsets(offsets: Commit[]): Promise<void> {
    this.calls.push('commit');
    this.commits.push(offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })));
    if (this.commitGate) await this.commitGate.promise;
  }

  pause(): void {
    this.calls.push('pause');
  }

  async stop(): Promise<void> {
    this.calls.push('stop');
  }

  async disconnect(): Promise<void> {
    this.calls.push('disconnect');
  }

  /**
   * Hands the source a fetched batch of `count` messages from `first` on, as kafkajs' runner does;
   * resolves when eachBatch returns (the source let kafkajs fetch on).
   */
  deliver(topic: string, partition: number, first: number, count: number): Promise<void> {
    if (!this.eachBatch) throw new Error('the source has not started consuming');
    const messages = Array.from({ length: count }, (_, i) => ({
      offset: String(first + i),
      key: Buffer.from(`k${first + i}`),
      value: Buffer.from('{}'),
      timestamp: '0',
      attributes: 0,
      headers: {},
    }));
    const payload = {
      batch: {
        topic,
        partition,
        highWatermark: String(first + count),
        messages,
        lastOffset: () => String(first + count - 1),
        firstOffset: () => String(first),
        isEmpty: () => count === 0,
        offsetLag: () => '0',
        offsetLagLow: () => '0',
      },
      resolveOffset: (offset: string) => this.resolved.push({ topic, partition, offset }),
      heartbeat: async () => {
        this.heartbeats += 1;
      },
      pause: () => () => undefined,
      commitOffsetsIfNecessary: async () => undefined,
      uncommittedOffsets: () => ({ topics: [] }),
      isRunning: () => true,
      isStale: () => this.seeks.has(`${topic}:${partition}`),
    };
    return this.eachBatch(payload as unknown as EachBatchPayload);
  }

  /** Every offset committed for a partition, in order. */
  committed(topic: string, partition: number): string[] {
    return this.commits
      .flat()
      .filter((c) => c.topic === topic && c.partition === partition)
      .map((c) => c.offset);
  }
}

export interface Harness {
  consumer: FakeConsumer;
  source: KafkaSource;
  /** One entry per handler call: the messages it got and the deferred write the test settles. */
  writes: { messages: RawMessage[]; done: Deferred }[];
  fatal: unknown[];
}

/**
 * A KafkaSource on a FakeConsumer, started. By default the handler's writes wait for the test
 * (`writes`); `handler` replaces it (e.g. a real BatchProcessor over gated sinks).
 */
export async function startSource(
  opts: {
    config?: Record<string, unknown>;
    handler?: BatchHandler;
    /** The source's metrics and tracer (none by default). */
    observers?: KafkaSourceObservers;
  } = {},
): Promise<Harness> {
  const consumer = new FakeConsumer();
  const kafka = {
    consumer: (options: Record<string, unknown>) => {
      consumer.options = options;
      return consumer;
    },
  } as unknown as Kafka;
  const config = kafkaSourceConfig.parse({
    brokers: '127.0.0.1:1',
    topics: 't',
    group_id: 'g',
    heartbeat_interval_ms: 60000,
    ...opts.config,
  });
  const source = new KafkaSource(kafka, config, silentLogger, opts.observers);
  const writes: Harness['writes'] = [];
  const fatal: unknown[] = [];
  await source.start(
    opts.handler ??
      ((messages) => {
        const done = deferred();
        writes.push({ messages, done });
        return done.promise;
      }),
    (err) => fatal.push(err),
  );
  await consumer.started;
  return { consumer, source, writes, fatal };
}
