import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger, RawMessage } from '../../core/types.js';
import { OffsetCommitter } from './committer.js';
import type { KafkaSourceConfig } from './config.js';

/** Handles one partition's fetched messages; resolves when all are durably handled. */
export type BatchHandler = (messages: RawMessage[], heartbeat: () => Promise<void>) => Promise<void>;

function toRaw(topic: string, partition: number, m: KafkaMessage): RawMessage {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  return { topic, partition, offset: m.offset, key: m.key, value: m.value, headers, timestamp: m.timestamp };
}

/**
 * Kafka consumer-group source. Offsets are committed manually, per partition, only after the
 * handler resolved for every message up to them (sent by an OffsetCommitter, off the fetch loop), and never for a partition this worker no longer
 * owns (a stale batch after a rebalance is dropped uncommitted; its new owner re-reads it).
 * Fetching for a partition waits while its batch is in flight, which bounds memory (backpressure).
 */
export class KafkaSource {
  private consumer: Consumer | undefined;
  private committer: OffsetCommitter | undefined;
  private stopping = false;
  private failed = false;
  private onFatal: ((err: unknown) => void) | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: KafkaSourceConfig,
    private readonly logger: Logger,
  ) {}

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
      (offsets) => consumer.commitOffsets(offsets),
      (err, offsets) =>
        this.logger.warn(
          {
            error: err instanceof Error ? err.message : String(err),
            partitions: offsets.map((o) => `${o.topic}[${o.partition}]@${o.offset}`).join(' '),
          },
          'Offset commit failed; the records are written, and the next commit (or the next owner) covers them.',
        ),
    );
    // Before partitions move, send the offsets of what is already written (fewer re-reads).
    consumer.on(consumer.events.REBALANCING, () => void this.committer?.flush());
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) onFatal(e.payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: c.topics, fromBeginning: c.from_beginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, c.partitions_consumed_concurrently),
      eachBatch: async (payload) => this.onBatch(payload, handler),
    });
  }

  private async onBatch(payload: EachBatchPayload, handler: BatchHandler): Promise<void> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    if (batch.messages.length === 0 || !isRunning() || isStale() || this.failed) return;
    const messages = batch.messages.map((m) => toRaw(batch.topic, batch.partition, m));
    // Heartbeats keep flowing while a long batch (slow sink, retries) is in flight.
    const beat = setInterval(
      () => void heartbeat().catch(() => undefined),
      this.config.heartbeat_interval_ms,
    );
    try {
      await handler(messages, heartbeat);
    } catch (err) {
      // Not resolved, not committed: the worker stops and the batch is re-read by the next owner.
      this.failed = true;
      this.onFatal?.(err);
      return;
    } finally {
      clearInterval(beat);
    }
    if (isStale()) {
      this.logger.info(
        { topic: batch.topic, partition: batch.partition },
        'Partition revoked during a batch; not committing.',
      );
      return;
    }
    const next = (BigInt(batch.lastOffset()) + 1n).toString();
    payload.resolveOffset(batch.lastOffset());
    // The commit goes out off the fetch loop; while stopping it is awaited (the group is left next).
    this.committer!.add({ topic: batch.topic, partition: batch.partition, offset: next });
    if (this.stopping) await this.committer!.flush();
    await heartbeat();
  }

  /** Stops fetching, waits for in-flight batches (which commit), and disconnects. */
  async stop(): Promise<void> {
    if (this.stopping || !this.consumer) return;
    this.stopping = true;
    await this.committer?.flush();
    await this.consumer.stop();
    await this.consumer.disconnect();
  }
}
