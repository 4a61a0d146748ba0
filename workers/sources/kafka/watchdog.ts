import type { Kafka } from 'kafkajs';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/types.js';

/**
 * The stall watchdog's rule. A partition is *stalled* when, for `stallMs` without a break, it is
 * assigned to this member in a settled group generation, the pipeline is not held on purpose (a
 * suspension), every check sees it lag (its high watermark above the group's committed offset,
 * both read from the brokers by an admin client: a consumer that fetches nothing gets no fetch
 * responses to read them from), and it makes no progress (no batch of it fetched, no commit of it
 * acknowledged). Each of these restarts its clock: a rebalance (from REBALANCING until the next
 * GROUP_JOIN nothing is checked), a hold, a check that sees no lag, a check whose read fails (the
 * lag is not known then, e.g. while the broker is down: a consumer gets the whole stall time after
 * the broker is back), and progress. A slow sink is backpressure, not a stall, as long as its
 * batches settle (each commit is progress); a batch that does not settle for the whole stall time
 * (a hung write) stalls its partition once no more of it can be fetched.
 */

/** The watchdog's time, injectable so tests drive it by hand. */
export interface WatchdogClock {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export function systemWatchdogClock(): WatchdogClock {
  return {
    now: () => Date.now(),
    setInterval: (fn, ms) => {
      const t = setInterval(fn, ms);
      t.unref();
      return t;
    },
    clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
  };
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** Records of each partition of `topics` not yet committed by the group (absent = unknown, no lag). */
export type LagProbe = (topics: readonly string[]) => Promise<Map<string, bigint>>;

export interface StalledPartition extends TopicPartition {
  /** Records behind, at the check that found it stalled. */
  lag: bigint;
  /** How long it lagged without progress. */
  stalledMs: number;
}

export interface StallWatchdogOptions {
  /** Lag without progress for this long is a stall. */
  stallMs: number;
  /** Time between checks; a fraction of `stallMs` by default. */
  checkEveryMs?: number;
  topics: readonly string[];
  probe: LagProbe;
  clock: WatchdogClock;
  logger: Logger;
  /** Whether the pipeline holds its batches on purpose (a suspension): then nothing stalls. */
  held?: () => boolean;
  /** Counts each stalled partition. */
  counted?: (p: StalledPartition) => void;
  /** Recovers (restarts the consumer); no check runs until it settled and the group is joined again. */
  onStall: (stalled: StalledPartition[]) => Promise<void>;
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** Checks by default every sixth of the stall time, at least every 10 s and at most every 100 ms. */
export function defaultCheckEvery(stallMs: number): number {
  return Math.min(10_000, Math.max(100, Math.floor(stallMs / 6)));
}

export class StallWatchdog {
  /** This generation's partitions and since when each has lagged without progress; undefined between generations. */
  private partitions: Map<string, TopicPartition & { quietSince: number }> | undefined;
  private timer: unknown;
  private checking = false;
  private probeFailed = false;
  private readonly checkEveryMs: number;

  constructor(private readonly o: StallWatchdogOptions) {
    this.checkEveryMs = o.checkEveryMs ?? defaultCheckEvery(o.stallMs);
  }

  start(): void {
    if (this.timer === undefined)
      this.timer = this.o.clock.setInterval(() => void this.check(), this.checkEveryMs);
  }

  stop(): void {
    if (this.timer !== undefined) this.o.clock.clearInterval(this.timer);
    this.timer = undefined;
    this.partitions = undefined;
  }

  /** The group is rebalancing: nothing is checked until the next `assigned`. */
  rebalancing(): void {
    this.partitions = undefined;
  }

  /** A generation joined with these partitions; each one's clock starts now. */
  assigned(partitions: Iterable<TopicPartition>): void {
    const now = this.o.clock.now();
    const map = new Map<string, TopicPartition & { quietSince: number }>();
    for (const p of partitions)
      map.set(partitionKey(p.topic, p.partition), {
        topic: p.topic,
        partition: p.partition,
        quietSince: now,
      });
    this.partitions = map;
  }

  /** A batch of the partition was fetched, or a commit of it acknowledged. */
  progress(topic: string, partition: number): void {
    const p = this.partitions?.get(partitionKey(topic, partition));
    if (p !== undefined) p.quietSince = this.o.clock.now();
  }

  /** One check (the timer runs it); returns the partitions it found stalled (and recovered). */
  async check(): Promise<StalledPartition[]> {
    if (this.checking) return [];
    this.checking = true;
    try {
      return await this.checkOnce();
    } finally {
      this.checking = false;
    }
  }

  private restartClocks(): void {
    const now = this.o.clock.now();
    for (const p of this.partitions?.values() ?? []) p.quietSince = now;
  }

  private async checkOnce(): Promise<StalledPartition[]> {
    if (this.partitions === undefined || this.partitions.size === 0) return [];
    if (this.o.held?.()) {
      this.restartClocks();
      return [];
    }
    let lags: Map<string, bigint>;
    try {
      lags = await this.o.probe(this.o.topics);
      if (this.probeFailed)
        this.o.logger.info({ topics: this.o.topics }, 'Stall watchdog reads the lag again.');
      this.probeFailed = false;
    } catch (err) {
      if (!this.probeFailed)
        this.o.logger.warn(
          { topics: this.o.topics, error: errorMessage(err) },
          'Stall watchdog cannot read the lag; no partition counts as stalled until it can.',
        );
      this.probeFailed = true;
      this.restartClocks();
      return [];
    }
    // A rebalance or a hold may have begun while the offsets were read.
    const partitions = this.partitions;
    if (partitions === undefined || this.o.held?.()) return [];
    const now = this.o.clock.now();
    const stalled: StalledPartition[] = [];
    for (const [key, p] of partitions) {
      const lag = lags.get(key) ?? 0n;
      if (lag <= 0n) p.quietSince = now;
      else if (now - p.quietSince >= this.o.stallMs)
        stalled.push({ topic: p.topic, partition: p.partition, lag, stalledMs: now - p.quietSince });
    }
    if (stalled.length === 0) return stalled;
    for (const s of stalled) {
      this.o.logger.warn(
        { topic: s.topic, partition: s.partition, lag: Number(s.lag), stalledMs: s.stalledMs },
        `Partition ${s.topic}[${s.partition}] stalled: ${s.lag} records behind and no progress for ${s.stalledMs} ms; restarting the consumer.`,
      );
      this.o.counted?.(s);
    }
    // Until the restarted consumer joins, nothing is checked (its GROUP_JOIN calls `assigned`).
    this.partitions = undefined;
    await this.o.onStall(stalled);
    return stalled;
  }
}

/**
 * A LagProbe on an admin client of the source's cluster: per partition, its high watermark minus
 * the group's committed offset. A partition the group never committed counts from its low
 * watermark when the consumer starts from the beginning; otherwise its lag is unknown (the
 * consumer starts at the end of the log, wherever that was) until the first commit.
 */
export function adminLagProbe(
  kafka: Kafka,
  groupId: string,
  fromBeginning: boolean,
): { probe: LagProbe; close(): Promise<void> } {
  let admin: ReturnType<Kafka['admin']> | undefined;
  let connected: Promise<void> | undefined;
  const probe: LagProbe = async (topics) => {
    if (admin === undefined) {
      admin = kafka.admin();
      connected = admin.connect();
    }
    try {
      await connected;
    } catch (err) {
      admin = undefined; // connect again next time
      throw err;
    }
    const lags = new Map<string, bigint>();
    const [ends, committed] = await Promise.all([
      Promise.all(
        topics.map(async (topic) => ({ topic, partitions: await admin!.fetchTopicOffsets(topic) })),
      ),
      admin.fetchOffsets({ groupId, topics: [...topics] }),
    ]);
    const commits = new Map<string, bigint>();
    for (const t of committed)
      for (const p of t.partitions) commits.set(partitionKey(t.topic, p.partition), BigInt(p.offset));
    for (const { topic, partitions } of ends)
      for (const p of partitions) {
        const key = partitionKey(topic, p.partition);
        const c = commits.get(key) ?? -1n;
        const from = c >= 0n ? c : fromBeginning ? BigInt(p.low) : undefined;
        if (from === undefined) continue;
        const high = BigInt(p.high);
        lags.set(key, high > from ? high - from : 0n);
      }
    return lags;
  };
  return {
    probe,
    async close() {
      const a = admin;
      admin = undefined;
      if (a !== undefined) await a.disconnect().catch(() => undefined);
    },
  };
}
