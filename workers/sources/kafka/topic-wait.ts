import { setTimeout as delay } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import type { Logger } from '../../core/types.js';

/**
 * kafkajs errors meaning a topic or one of its partitions is not (yet) known to the broker that
 * answered: the topic does not exist, or was just created and its metadata or leader has not
 * reached every broker. Searched along `cause` (kafkajs wraps exhausted retries).
 */
const NOT_READY = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

export function isTopicNotReady(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; depth++) {
    const type = (e as { type?: unknown }).type;
    if ((typeof type === 'string' && NOT_READY.has(type)) || e.name === 'KafkaJSTopicMetadataNotLoaded') {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The subset of `topics` the cluster does not list (none: they exist but are not ready everywhere yet). */
export async function missingTopics(kafka: Kafka, topics: readonly string[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    return topics.filter((t) => !existing.has(t));
  } finally {
    await admin.disconnect();
  }
}

export interface TopicWaitOptions {
  initialMs: number;
  maxMs: number;
  /** At the longest delay, the warning is repeated at most this often. */
  remindEveryMs: number;
  /**
   * Topics that exist but are not ready on the brokers (just created: leaders being elected) are
   * waited for this long with info messages before the wait warns (default 0: warn at once).
   */
  notReadyQuietMs?: number;
}

export const TOPIC_WAIT: TopicWaitOptions = {
  initialMs: 500,
  maxMs: 10_000,
  remindEveryMs: 300_000,
  notReadyQuietMs: 5_000,
};

/**
 * The back-off of a source waiting for its topics: delays double from `initialMs` to `maxMs`. It
 * warns once per back-off step (each time the delay grows, then every `remindEveryMs` at the
 * longest delay), naming the topics, never once per poll. A topic just created (it exists, its
 * partitions are not ready yet) is routine for `notReadyQuietMs`: said at info level meanwhile.
 */
export class TopicWait {
  private attempt = 0;
  private startedAt: number | undefined;
  private warnedDelay = 0;
  private warnedAt = 0;

  constructor(
    private readonly logger: Logger,
    private readonly fields: Record<string, unknown>,
    private readonly signal: AbortSignal,
    private readonly opts: TopicWaitOptions = TOPIC_WAIT,
  ) {}

  /** Whether it has waited at all. */
  get waited(): boolean {
    return this.attempt > 0;
  }

  /**
   * Waits the next delay; resolves false at once when the signal aborts (the worker is stopping).
   * `missing`: the topics the cluster does not list; empty when they exist but are not ready yet.
   */
  async wait(topics: readonly string[], missing: readonly string[], error: string): Promise<boolean> {
    const ms = Math.min(this.opts.initialMs * 2 ** this.attempt, this.opts.maxMs);
    this.attempt += 1;
    const now = Date.now();
    this.startedAt ??= now;
    const waitingFor = missing.length > 0 ? missing : topics;
    const fields = { ...this.fields, topics: waitingFor, retry_in_ms: ms, error };
    const message =
      missing.length > 0
        ? `Waiting for topic ${waitingFor.join(', ')} to be created; retrying in ${ms} ms.`
        : `Waiting for topic ${waitingFor.join(', ')} to be ready on the brokers (just created?); retrying in ${ms} ms.`;
    if (missing.length === 0 && now - this.startedAt < (this.opts.notReadyQuietMs ?? 0)) {
      this.logger.info(fields, message);
    } else if (ms !== this.warnedDelay || now - this.warnedAt >= this.opts.remindEveryMs) {
      this.warnedDelay = ms;
      this.warnedAt = now;
      this.logger.warn(fields, message);
    }
    if (this.signal.aborted) return false;
    await delay(ms, undefined, { signal: this.signal }).catch(() => undefined);
    return !this.signal.aborted;
  }
}
