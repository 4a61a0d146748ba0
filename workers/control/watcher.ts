import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Consumer, Kafka } from 'kafkajs';
import { errorMessage } from '../core/errors.js';
import { silentLogger } from '../core/silent-logger.js';
import type { Logger } from '../core/types.js';
import {
  type AliasState,
  aliasKey,
  applyControlEvent,
  type ControlEvent,
  type ControlState,
  emptyControlState,
  parseControlEvent,
} from './events.js';
import { ensureControlTopic } from './topic.js';

/** Where an event was read: its record's partition, offset and broker timestamp (ms, as text). */
export interface ControlRecordMeta {
  partition: number;
  offset: string;
  timestamp: string;
}

export type ControlListener = (e: ControlEvent, s: ControlState, meta: ControlRecordMeta) => void;

export interface ControlWatcherOptions {
  kafka: Kafka;
  topic: string;
  logger: Logger;
  /** Create the topic when missing (default true). Without, a missing topic is an empty state and nothing is watched. */
  create?: boolean;
  /** How long `start` may take to join and read the topic to its end (default 30 s). */
  timeoutMs?: number;
}

/**
 * Follows the control topic and keeps the fold of every record read so far. A kafkajs consumer with a
 * group of its own (`streamscore-control-<host>-<pid>-<random>`) that never commits and always reads
 * from the beginning, long-polling at most 100 ms: a record appended to the topic is folded within a
 * fetch round trip. `start` resolves once the records that were there at start are folded, so the
 * caller knows every alias before it scores anything. A record that does not parse is logged (topic,
 * partition, offset) and skipped: one bad record never stops a fleet.
 */
export class ControlWatcher {
  readonly topic: string;
  readonly groupId: string;
  readonly #kafka: Kafka;
  readonly #logger: Logger;
  readonly #state = emptyControlState();
  readonly #listeners = new Set<ControlListener>();
  /** Next offset to fold per partition: a rejoin restarts from the beginning, nothing is folded twice. */
  readonly #next = new Map<number, bigint>();
  #consumer: Consumer | undefined;
  #closed = false;

  private constructor(opts: ControlWatcherOptions) {
    this.topic = opts.topic;
    this.#kafka = opts.kafka;
    this.#logger = opts.logger;
    const host = hostname().replace(/[^A-Za-z0-9._-]/g, '_');
    this.groupId = `streamscore-control-${host}-${process.pid}-${randomBytes(4).toString('hex')}`;
  }

  static async start(opts: ControlWatcherOptions): Promise<ControlWatcher> {
    const w = new ControlWatcher(opts);
    try {
      await w.#start(opts.create ?? true, opts.timeoutMs ?? 30_000);
    } catch (err) {
      await w.close().catch(() => undefined);
      throw err;
    }
    return w;
  }

  /** The live state (mutated as records arrive; copy what you keep). */
  get state(): ControlState {
    return this.#state;
  }

  /** The alias's current state, if it was ever set. */
  alias(model: string, alias: string): AliasState | undefined {
    return this.#state.aliases.get(aliasKey(model, alias));
  }

  /** Whether the pipeline is suspended now. */
  suspended(pipeline: string): boolean {
    return this.#state.pipelines.get(pipeline)?.suspended === true;
  }

  /** Called for each event after it is folded into the state; returns the unsubscribe function. */
  onEvent(listener: ControlListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Leaves the group and deletes it, so no consumer group is left behind. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    const consumer = this.#consumer;
    if (!consumer) return;
    await consumer.disconnect();
    await this.#deleteGroup();
  }

  async #start(create: boolean, timeoutMs: number): Promise<void> {
    const admin = this.#kafka.admin();
    await admin.connect();
    let end: { partition: number; high: bigint }[];
    try {
      if (create) await ensureControlTopic(admin, this.topic);
      else if (!(await admin.listTopics()).includes(this.topic)) return;
      // The end at start: `start` resolves once every partition is read up to here. Nothing below
      // the log start offset can be read (only if someone shortened the retention).
      const offsets = await admin.fetchTopicOffsets(this.topic);
      end = offsets.map((o) => ({ partition: o.partition, high: BigInt(o.high) }));
      for (const o of offsets) this.#next.set(o.partition, BigInt(o.low));
    } finally {
      await admin.disconnect();
    }

    const consumer = this.#kafka.consumer({
      groupId: this.groupId,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
      // Always come back: a watcher that stopped would leave its worker on a stale alias, silently.
      retry: { retries: 8, restartOnFailure: async () => true },
    });
    this.#consumer = consumer;
    let joined = false;
    let ready: () => void = () => undefined;
    const caughtUp = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const check = () => {
      if (joined && end.every((p) => (this.#next.get(p.partition) ?? 0n) >= p.high)) ready();
    };
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
      check();
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.#logger.error(
        { topic: this.topic, group: this.groupId, err: errorMessage(e.payload.error) },
        `control topic consumer crashed (${e.payload.restart ? 'restarting' : 'not restarting'})`,
      );
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        this.#receive(partition, message.offset, message.value, message.timestamp);
        check();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        caughtUp,
        new Promise((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `control topic ${this.topic}: not read to its end within ${timeoutMs / 1000} s (is Kafka reachable?)`,
                ),
              ),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  #receive(partition: number, offsetText: string, value: Buffer | null, timestamp: string): void {
    const offset = BigInt(offsetText);
    if (offset < (this.#next.get(partition) ?? 0n)) return;
    this.#next.set(partition, offset + 1n);
    const where = { topic: this.topic, partition, offset: offsetText };
    if (value === null) {
      this.#logger.warn(where, 'skipping a control record without a value');
      return;
    }
    let e: ControlEvent;
    try {
      e = parseControlEvent(value, `${this.topic}/${partition}@${offsetText}`);
    } catch (err) {
      this.#logger.error(
        { ...where, err: errorMessage(err) },
        `skipping a bad control record: ${errorMessage(err)}`,
      );
      return;
    }
    applyControlEvent(this.#state, e);
    for (const listener of this.#listeners) {
      try {
        listener(e, this.#state, { partition, offset: offsetText, timestamp });
      } catch (err) {
        this.#logger.error({ ...where, err: errorMessage(err) }, 'a control event listener failed');
      }
    }
  }

  async #deleteGroup(): Promise<void> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      // Right after the leave, the coordinator may still count the member: retry briefly.
      for (let attempt = 1; ; attempt++) {
        try {
          await admin.deleteGroups([this.groupId]);
          return;
        } catch (err) {
          const left = (await admin.listGroups()).groups.some((g) => g.groupId === this.groupId);
          if (!left) return;
          if (attempt >= 20) {
            this.#logger.warn(
              { group: this.groupId, err: errorMessage(err) },
              'could not delete the control watcher’s consumer group',
            );
            return;
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    } finally {
      await admin.disconnect();
    }
  }
}

/** The state of the control topic now, read once (the CLI). A missing topic is an empty state. */
export async function readControlState(
  kafka: Kafka,
  topic: string,
  logger: Logger = silentLogger,
): Promise<ControlState> {
  const w = await ControlWatcher.start({ kafka, topic, logger, create: false });
  const state = w.state;
  await w.close();
  return state;
}
