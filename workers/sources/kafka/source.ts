import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { errorMessage, PipelineError } from '../../core/errors.js';
import type { Logger, RawMessage } from '../../core/types.js';
import type { SourceMetrics } from '../../observability/metrics.js';
import type { BatchTrace, BatchTracer } from '../../observability/tracing.js';
import { OffsetCommitter, type PartitionOffset } from './committer.js';
import type { KafkaSourceConfig } from './config.js';
import { isTopicNotReady, missingTopics, TopicWait } from './topic-wait.js';
import { InFlightWindow } from './window.js';

/**
 * Handles one partition's fetched messages; resolves when all are durably handled. `trace` (only
 * when tracing is on) is the batch's spans: the handler adds its stages, the source ends it after
 * the commit.
 */
export type BatchHandler = (
  messages: RawMessage[],
  heartbeat: () => Promise<void>,
  trace?: BatchTrace,
) => Promise<void>;

/** What the source reports besides its records (both optional). */
export interface KafkaSourceObservers {
  /** Consumer lag per partition and acknowledged commits. */
  metrics?: SourceMetrics | undefined;
  /** Spans per batch, ending with its commit; undefined = tracing off. */
  tracer?: BatchTracer | undefined;
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** Shared by every message without headers (most CDC records): nothing to allocate. */
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

function toRaw(topic: string, partition: number, m: KafkaMessage): RawMessage {
  let headers: Record<string, string> = NO_HEADERS as Record<string, string>;
  const h = m.headers;
  if (h !== undefined) {
    for (const k in h) {
      const v = h[k];
      if (v === undefined) continue;
      if (headers === NO_HEADERS) headers = {};
      headers[k] = Array.isArray(v) ? v.map(String).join(',') : String(v);
    }
  }
  return { topic, partition, offset: m.offset, key: m.key, value: m.value, headers, timestamp: m.timestamp };
}

/**
 * Kafka consumer-group source. Offsets are committed manually, per partition, only after the
 * handler resolved for every message up to them (sent by an OffsetCommitter, off the fetch loop),
 * and never for a partition this worker no longer owns: a batch commits only in the group
 * generation it was fetched in. Every rebalance this member goes through (kafkajs' GROUP_JOIN)
 * starts a new one, so the batches in flight then, and the offsets waiting to be sent, are dropped
 * uncommitted; whoever owns the partition now re-reads them from the last commit (kafkajs re-reads
 * every assigned partition from its committed offset after a rebalance anyway, so a partition this
 * member keeps loses nothing by it). kafkajs' `isStale()` only means "a seek happened", not
 * "revoked", so it cannot tell this by itself.
 * A partition has a bounded window of batches in flight (see window.ts): the next fetch overlaps
 * earlier batches' writes, and fetching waits when the window is full (backpressure).
 */
export class KafkaSource {
  private consumer: Consumer | undefined;
  private committer: OffsetCommitter | undefined;
  /** Per partition, the batches in flight (each settles after every earlier one). */
  private readonly windows = new Map<string, InFlightWindow>();
  private stopping = false;
  private failed = false;
  private onFatal: ((err: unknown) => void) | undefined;
  /** Aborts a wait for topics when the source stops. */
  private readonly stopSignal = new AbortController();
  /** Subscribing (after waiting for the topics) and starting the consumer, in the background. */
  private starting: Promise<void> | undefined;
  /** Whether the consumer was started (kafkajs `run`) and did not crash since. */
  private running = false;
  /** Whether it is subscribing, or waiting for its topics to exist (the worker is not ready meanwhile). */
  waiting = false;
  /** Group generations this member has joined (GROUP_JOINs seen); a batch commits only in its own. */
  private generation = 0;
  /** Partitions assigned in the current generation; undefined until the first join. */
  private assigned: Set<string> | undefined;
  /** Per partition, the high watermark at its last fetch and the offset last committed (for the lag). */
  private readonly ends = new Map<string, { highWatermark: bigint; committed: bigint }>();

  constructor(
    private readonly kafka: Kafka,
    private readonly config: KafkaSourceConfig,
    private readonly logger: Logger,
    private readonly observers: KafkaSourceObservers = {},
  ) {}

  /**
   * Connects (bad credentials or unreachable brokers reject here), then subscribes and consumes in
   * the background: a topic that does not exist yet (or was just created and is not on every broker
   * yet) is waited for with back-off and a warning naming it, until it appears or `stop()` is
   * called. Whether the consumer's request creates a missing topic is the broker's choice
   * (`auto.create.topics.enable`, on in the local stack): then the topic exists at once, but is not
   * ready on the brokers for a moment, and that moment is waited for the same way. Any other
   * error of the background start is fatal (`onFatal`), as are crashes of the running consumer,
   * except a crash on a topic the brokers do not know (yet): right after a topic is created its
   * metadata may not have reached every broker, and the consumer waits for it again.
   */
  async start(handler: BatchHandler, onFatal: (err: unknown) => void): Promise<void> {
    const c = this.config;
    this.onFatal = onFatal;
    const consumer = this.kafka.consumer({
      groupId: c.group_id,
      sessionTimeout: c.session_timeout_ms,
      heartbeatInterval: c.heartbeat_interval_ms,
      maxBytesPerPartition: c.max_bytes_per_partition,
      retry: { retries: 8, restartOnFailure: async () => false },
    });
    this.consumer = consumer;
    this.committer = new OffsetCommitter(
      (offsets) => consumer.commitOffsets(offsets).then(() => this.onCommitted(offsets)),
      (err, offsets) =>
        this.logger.warn(
          {
            error: err instanceof Error ? err.message : String(err),
            partitions: offsets.map((o) => `${o.topic}[${o.partition}]@${o.offset}`).join(' '),
          },
          'Offset commit failed; the records are written, and the next commit (or the next owner) covers them.',
        ),
    );
    // Before partitions move, send the offsets of what is already written (fewer re-reads): the
    // group accepts commits of the current generation while it prepares the rebalance.
    consumer.on(consumer.events.REBALANCING, () => void this.committer?.flush());
    // Joined (again): a new generation. What was fetched before it is no longer committed.
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.generation += 1;
      const assigned = new Set<string>();
      for (const [topic, partitions] of Object.entries(e.payload.memberAssignment))
        for (const p of partitions) assigned.add(partitionKey(topic, p));
      this.assigned = assigned;
      this.forgetRevoked(assigned);
      const dropped = this.committer?.clear() ?? [];
      if (dropped.length > 0)
        this.logger.info(
          { partitions: dropped.map((o) => `${o.topic}[${o.partition}]@${o.offset}`).join(' ') },
          'Rebalanced before these offsets were sent; not committing them (the partitions are re-read from the last commit).',
        );
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (e.payload.restart) return;
      this.running = false;
      if (!this.stopping && !this.failed && isTopicNotReady(e.payload.error)) {
        this.logger.warn(
          { group: c.group_id, topics: c.topics, error: errorMessage(e.payload.error) },
          'Consumer stopped on a topic the brokers do not know (yet); waiting for it.',
        );
        this.runInBackground(consumer, handler);
      } else this.fail(e.payload.error);
    });
    await consumer.connect();
    this.runInBackground(consumer, handler);
  }

  private runInBackground(consumer: Consumer, handler: BatchHandler): void {
    this.starting = this.subscribeAndRun(consumer, handler).catch((err: unknown) => {
      if (!this.stopping) this.fail(err);
    });
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.onFatal?.(err);
  }

  /** Subscribes once every topic is there (waiting with back-off), then runs the consumer. */
  private async subscribeAndRun(consumer: Consumer, handler: BatchHandler): Promise<void> {
    const c = this.config;
    const wait = new TopicWait(this.logger, { group: c.group_id }, this.stopSignal.signal);
    this.waiting = true;
    for (;;) {
      if (this.stopping) return;
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: c.topics, fromBeginning: c.from_beginning });
        break;
      } catch (err) {
        if (!isTopicNotReady(err)) throw err;
        const missing = await missingTopics(this.kafka, c.topics);
        if (!(await wait.wait(c.topics, missing, errorMessage(err)))) return;
      }
    }
    this.waiting = false;
    if (this.stopping) return;
    if (wait.waited)
      this.logger.info({ group: c.group_id, topics: c.topics }, 'Topics available; consuming.');
    // Set first: a crash while joining is reported (CRASH clears it) before `run` resolves.
    this.running = true;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, c.partitions_consumed_concurrently),
      eachBatch: async (payload) => this.onBatch(payload, handler),
    });
  }

  /**
   * Starts the batch and returns once the partition's window has room, so the next fetch overlaps
   * this batch's sink writes (kafkajs fetches from the resolved offset, so it is resolved at once). The offset is committed when
   * this batch and every earlier one of the partition are written, and never for a partition
   * revoked meanwhile (its new owner re-reads it).
   */
  private async onBatch(payload: EachBatchPayload, handler: BatchHandler): Promise<void> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    if (batch.messages.length === 0 || !isRunning() || isStale() || this.failed || this.stopping) return;
    const key = partitionKey(batch.topic, batch.partition);
    // Not (or no longer) this member's partition: its owner reads it.
    if (this.assigned !== undefined && !this.assigned.has(key)) return;
    const generation = this.generation;
    const messages = batch.messages.map((m) => toRaw(batch.topic, batch.partition, m));
    const trace = this.observers.tracer?.start(messages);
    if (this.observers.metrics !== undefined) this.onFetched(key, batch.topic, batch.partition, batch);
    let window = this.windows.get(key);
    if (window === undefined) {
      window = new InFlightWindow(this.config.max_records_in_flight);
      this.windows.set(key, window);
    }
    const previous = window.newest;
    const next = (BigInt(batch.lastOffset()) + 1n).toString();
    payload.resolveOffset(batch.lastOffset());
    // Heartbeats keep flowing while a long batch (slow sink, retries) is in flight.
    const beat = setInterval(
      () => void heartbeat().catch(() => undefined),
      this.config.heartbeat_interval_ms,
    );
    const work = handler(messages, heartbeat, trace);
    // The commit span: from this batch written to its offset acknowledged (after every earlier batch).
    const committing = trace
      ? work.then(
          () => trace.stage('commit'),
          () => undefined,
        )
      : undefined;
    const tail: Promise<void> = Promise.all([previous, work])
      .then(
        () => {
          if (this.failed) return trace?.end(undefined, { 'streamscore.committed': false });
          if (generation !== this.generation || isStale()) {
            this.logger.info(
              { topic: batch.topic, partition: batch.partition, offset: next },
              'Rebalanced during a batch; not committing it (the partition is re-read from the last commit).',
            );
            return trace?.end(undefined, { 'streamscore.committed': false });
          }
          this.committer!.add(
            { topic: batch.topic, partition: batch.partition, offset: next },
            trace &&
              ((err) =>
                void committing!.then((span) => {
                  span?.end(err);
                  trace.end(err, { 'streamscore.committed': err === undefined });
                })),
          );
        },
        (err: unknown) => {
          trace?.end(err, { 'streamscore.committed': false });
          // Not committed: the worker stops and the batch is re-read by the next owner. A batch
          // abandoned because the worker stops while its pipeline is suspended is no failure.
          if (this.stopping && PipelineError.is(err) && err.code === 'BATCH_ABANDONED') return;
          this.fail(err);
        },
      )
      .finally(() => clearInterval(beat));
    window.add(tail, messages.length);
    await window.ready();
    await heartbeat().catch(() => undefined);
  }

  /** Records a partition's high watermark at this fetch and reports its lag. */
  private onFetched(key: string, topic: string, partition: number, batch: EachBatchPayload['batch']): void {
    let end = this.ends.get(key);
    const highWatermark = BigInt(batch.highWatermark);
    if (end === undefined) {
      // Nothing committed by this member yet: count from the first record it fetched.
      end = { highWatermark, committed: BigInt(batch.firstOffset() ?? batch.highWatermark) };
      this.ends.set(key, end);
    } else end.highWatermark = highWatermark;
    const from = end.committed;
    this.observers.metrics!.lag(topic, partition, Number(highWatermark > from ? highWatermark - from : 0n));
  }

  /** A partition another member now owns reports no lag here (its owner reports it). */
  private forgetRevoked(assigned: ReadonlySet<string>): void {
    for (const key of this.ends.keys()) {
      if (assigned.has(key)) continue;
      this.ends.delete(key);
      const [topic, partition] = key.split('\u0000') as [string, string];
      this.observers.metrics?.lag(topic, Number(partition), 0);
    }
  }

  private onCommitted(offsets: PartitionOffset[]): void {
    const metrics = this.observers.metrics;
    if (metrics === undefined) return;
    metrics.committed();
    for (const o of offsets) {
      const key = partitionKey(o.topic, o.partition);
      const end = this.ends.get(key);
      const committed = BigInt(o.offset);
      if (end === undefined) continue;
      end.committed = committed;
      metrics.lag(
        o.topic,
        o.partition,
        Number(end.highWatermark > committed ? end.highWatermark - committed : 0n),
      );
    }
  }

  /** Stops waiting for topics or fetching, waits for in-flight batches (which commit), and disconnects. */
  async stop(): Promise<void> {
    if (this.stopping || !this.consumer) return;
    this.stopping = true;
    this.stopSignal.abort();
    // A crash just before stopping may have begun another start: wait for the newest.
    let started: Promise<void> | undefined;
    while (started !== this.starting) {
      started = this.starting;
      await started;
    }
    if (this.running) this.consumer.pause(this.config.topics.map((topic) => ({ topic })));
    // New batches are left unresolved (re-read later); the ones in flight finish and commit
    // before the group is left (a partition's newest batch settles after all its earlier ones).
    await Promise.all([...this.windows.values()].map((w) => w.newest));
    await this.committer?.flush();
    await this.consumer.stop();
    await this.consumer.disconnect();
  }
}
