import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { errorMessage, PipelineError } from '../../core/errors.js';
import type { Logger, RawMessage } from '../../core/types.js';
import type { SourceMetrics } from '../../observability/metrics.js';
import type { BatchTrace, BatchTracer } from '../../observability/tracing.js';
import { InFlightBudget, messageBytes } from './budget.js';
import { OffsetCommitter, type PartitionOffset } from './committer.js';
import type { KafkaSourceConfig } from './config.js';
import { isTopicNotReady, missingTopics, TopicWait } from './topic-wait.js';
import {
  adminLagProbe,
  type LagProbe,
  type StalledPartition,
  StallWatchdog,
  systemWatchdogClock,
  type WatchdogClock,
} from './watchdog.js';
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

/** What the stall watchdog depends on (all optional: the process clock, an admin client's offsets). */
export interface KafkaSourceWatchdogDeps {
  clock?: WatchdogClock;
  /** Whether the pipeline holds its batches on purpose (suspended, or waiting for the schema registry): no partition stalls meanwhile. */
  held?: () => boolean;
  /** Reads the partitions' lag; by default an admin client reads the brokers' and the group's offsets. */
  probe?: LagProbe;
  /** Time between the watchdog's checks (a sixth of the stall time by default). */
  checkEveryMs?: number;
}

/** Longest wait for a consumer the watchdog restarts to stop and disconnect before it is abandoned. */
const RETIRE_TIMEOUT_MS = 10_000;

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
 * A stall watchdog (watchdog.ts: the rule) restarts the consumer when a partition lags without
 * progress for `stall_timeout_ms`: the batches in flight are left to finish but never commit,
 * the kafkajs consumer is stopped and replaced by a new one, which re-reads every partition from
 * its last commit (sinks are idempotent and order-guarded, so a batch written twice is harmless).
 */
export class KafkaSource {
  private consumer: Consumer | undefined;
  private committer: OffsetCommitter | undefined;
  /** Per partition, the batches in flight (each settles after every earlier one). */
  private readonly windows = new Map<string, InFlightWindow>();
  /** The bytes in flight across the current consumer's partitions (a new one per consumer). */
  private budget: InFlightBudget;
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
  private handler: BatchHandler | undefined;
  /** Consumers created so far (the watchdog replaces a stalled one); a batch knows its own. */
  private epoch = 0;
  /** Releases the current consumer's batches waiting for room in their window (it is being retired). */
  private retire: (() => void) | undefined;
  private retired: Promise<void> = new Promise(() => undefined);
  /** A restart by the watchdog in progress. */
  private restarting: Promise<void> | undefined;
  private watchdog: StallWatchdog | undefined;
  private closeProbe: (() => Promise<void>) | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: KafkaSourceConfig,
    private readonly logger: Logger,
    private readonly observers: KafkaSourceObservers = {},
    private readonly watchdogDeps: KafkaSourceWatchdogDeps = {},
  ) {
    this.budget = new InFlightBudget(config.max_bytes_in_flight);
  }

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
    this.onFatal = onFatal;
    this.handler = handler;
    const consumer = this.newConsumer();
    await consumer.connect();
    this.runInBackground(consumer, handler);
    this.startWatchdog();
  }

  /** A kafkajs consumer of the group, with its committer and event handlers; the current one. */
  private newConsumer(): Consumer {
    const c = this.config;
    const consumer = this.kafka.consumer({
      groupId: c.group_id,
      sessionTimeout: c.session_timeout_ms,
      heartbeatInterval: c.heartbeat_interval_ms,
      maxBytesPerPartition: c.max_bytes_per_partition,
      retry: { retries: 8, restartOnFailure: async () => false },
    });
    this.epoch += 1;
    this.consumer = consumer;
    // The batches of a consumer the watchdog retired may never settle (that may be why it was
    // retired): they keep their own budget, and the new consumer starts from an empty one.
    this.budget.release();
    this.budget = new InFlightBudget(c.max_bytes_in_flight);
    this.retired = new Promise((r) => {
      this.retire = r;
    });
    const committer = new OffsetCommitter(
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
    this.committer = committer;
    /** Events of a consumer the watchdog retired are not this source's any more. */
    const current = () => this.consumer === consumer && this.restarting === undefined;
    // Before partitions move, send the offsets of what is already written (fewer re-reads): the
    // group accepts commits of the current generation while it prepares the rebalance.
    consumer.on(consumer.events.REBALANCING, () => {
      if (!current()) return;
      this.watchdog?.rebalancing();
      void committer.flush();
    });
    // Joined (again): a new generation. What was fetched before it is no longer committed.
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      if (!current()) return;
      this.generation += 1;
      const assigned = new Set<string>();
      const partitions: { topic: string; partition: number }[] = [];
      for (const [topic, ps] of Object.entries(e.payload.memberAssignment))
        for (const partition of ps) {
          assigned.add(partitionKey(topic, partition));
          partitions.push({ topic, partition });
        }
      this.assigned = assigned;
      this.forgetRevoked(assigned);
      this.watchdog?.assigned(partitions);
      const dropped = committer.clear();
      if (dropped.length > 0)
        this.logger.info(
          { partitions: dropped.map((o) => `${o.topic}[${o.partition}]@${o.offset}`).join(' ') },
          'Rebalanced before these offsets were sent; not committing them (the partitions are re-read from the last commit).',
        );
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (e.payload.restart || !current()) return;
      this.running = false;
      if (!this.stopping && !this.failed && isTopicNotReady(e.payload.error)) {
        this.logger.warn(
          { group: c.group_id, topics: c.topics, error: errorMessage(e.payload.error) },
          'Consumer stopped on a topic the brokers do not know (yet); waiting for it.',
        );
        this.runInBackground(consumer, this.handler!);
      } else this.fail(e.payload.error);
    });
    return consumer;
  }

  private startWatchdog(): void {
    const c = this.config;
    if (c.stall_timeout_ms === 0 || this.watchdog !== undefined) return;
    const d = this.watchdogDeps;
    let probe = d.probe;
    if (probe === undefined) {
      const admin = adminLagProbe(this.kafka, c.group_id, c.from_beginning);
      probe = admin.probe;
      this.closeProbe = admin.close;
    }
    const metrics = this.observers.metrics;
    this.watchdog = new StallWatchdog({
      stallMs: c.stall_timeout_ms,
      checkEveryMs: d.checkEveryMs,
      topics: c.topics,
      probe,
      clock: d.clock ?? systemWatchdogClock(),
      logger: this.logger,
      held: d.held,
      counted: (p) => metrics?.stalled?.(p.topic, p.partition),
      onStall: (stalled) => this.restart(stalled),
    });
    this.watchdog.start();
  }

  /**
   * Replaces the consumer (the watchdog found a partition stalled): the batches in flight are left
   * to finish but never commit (nor fail the worker: their records are re-read), the offsets not
   * sent yet are dropped, the old consumer stops and leaves the group (abandoned after
   * RETIRE_TIMEOUT_MS: a consumer stuck in a fetch may never stop), and a new one joins and reads
   * every partition from its last commit.
   */
  private restart(stalled: StalledPartition[]): Promise<void> {
    if (this.stopping || this.failed || this.restarting !== undefined || this.consumer === undefined)
      return Promise.resolve();
    const old = this.consumer;
    const inFlight = [...this.windows.entries()].map(
      ([key, w]) => `${key.replace('\u0000', '[')}]: ${w.size}`,
    );
    this.logger.warn(
      {
        group: this.config.group_id,
        partitions: stalled.map((s) => `${s.topic}[${s.partition}]`).join(' '),
        batchesInFlight: inFlight.join(' '),
      },
      'Stall watchdog: restarting the consumer; it re-reads from the last commit.',
    );
    this.observers.metrics?.restarted?.();
    const done = (async () => {
      this.generation += 1;
      this.assigned = new Set();
      this.windows.clear();
      this.committer?.clear();
      this.retire?.();
      this.running = false;
      const retiring = old
        .stop()
        .then(() => old.disconnect())
        .catch((err: unknown) =>
          this.logger.warn({ error: errorMessage(err) }, 'The stalled consumer did not stop cleanly.'),
        );
      const timedOut = await Promise.race([
        retiring.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), RETIRE_TIMEOUT_MS).unref()),
      ]);
      if (timedOut)
        this.logger.warn(
          { timeoutMs: RETIRE_TIMEOUT_MS },
          'The stalled consumer did not stop in time; abandoned (its group session expires).',
        );
      if (this.stopping || this.failed) return;
      const consumer = this.newConsumer();
      this.restarting = undefined;
      this.runInBackground(consumer, this.handler!);
    })()
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        this.restarting = undefined;
      });
    this.restarting = done;
    return done;
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
    const { batch, isRunning, isStale } = payload;
    if (batch.messages.length === 0 || !isRunning() || isStale() || this.failed || this.stopping) return;
    const key = partitionKey(batch.topic, batch.partition);
    // Not (or no longer) this member's partition: its owner reads it.
    if (this.assigned !== undefined && !this.assigned.has(key)) return;
    const generation = this.generation;
    const epoch = this.epoch;
    const retired = this.retired;
    // Once the watchdog retired this consumer, its batches' heartbeats stop: a retired consumer
    // that did not manage to leave must not keep its partitions by them (its session expires).
    const heartbeat = () => (epoch === this.epoch ? payload.heartbeat() : Promise.resolve());
    this.watchdog?.progress(batch.topic, batch.partition);
    const messages = batch.messages.map((m) => toRaw(batch.topic, batch.partition, m));
    let bytes = 0;
    for (const m of messages) bytes += messageBytes(m);
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
              epoch !== this.epoch
                ? 'Consumer restarted during a batch; not committing it (the partition is re-read from the last commit).'
                : 'Rebalanced during a batch; not committing it (the partition is re-read from the last commit).',
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
          // Fetched by a consumer the watchdog retired: its records are re-read by the new one.
          if (epoch !== this.epoch) {
            this.logger.warn(
              { topic: batch.topic, partition: batch.partition, error: errorMessage(err) },
              'A batch of a restarted consumer failed; not committed, its records are re-read.',
            );
            return;
          }
          this.fail(err);
        },
      )
      .finally(() => clearInterval(beat));
    window.add(tail, messages.length);
    const budget = this.budget;
    budget.add(tail, bytes);
    // A consumer being retired by the watchdog stops waiting for room (kafkajs' stop waits for it).
    await Promise.race([window.ready(), retired]);
    // Then the worker's bytes in flight: kafkajs fetches again only once every partition's
    // batch has returned, so this holds the next fetch of every partition.
    await Promise.race([budget.ready(), retired]);
    if (epoch !== this.epoch) return;
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
    for (const o of offsets) this.watchdog?.progress(o.topic, o.partition);
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
    this.watchdog?.stop();
    await this.restarting;
    await this.closeProbe?.();
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
