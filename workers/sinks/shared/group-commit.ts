/**
 * Group commit for warehouse sinks: rows from many `write()` calls are gathered into one group and
 * written by one flush, and every caller waits for the flush of the group(s) its rows joined. So
 * `write()` still resolves only when its rows are durably written (the engine commits offsets after
 * that), while the warehouse sees few, large statements.
 *
 * A group is flushed when it is full (`maxRows` rows or `maxBytes` bytes) or `maxIntervalMs` after
 * its first row arrived, whichever comes first. Flushes run one at a time, in order; a group whose
 * interval has passed while an earlier flush is still running keeps accepting rows until its own
 * flush starts (under load, groups grow instead of queueing). Rows of one `add` that do not fit in
 * the open group continue in the next one; the caller then waits for all of them.
 *
 * When a flush of rows from several callers fails with an error `retryAlone` accepts (a row's
 * values, which retrying cannot fix), each caller's rows of that group are flushed again on their
 * own, so the error reaches only the caller whose rows hold the bad row; the others' rows are written.
 */
export interface GroupCommitLimits {
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly maxIntervalMs: number;
}

export type FlushReason = 'rows' | 'bytes' | 'interval' | 'drain' | 'alone';

export interface FlushInfo {
  /** 1, 2, 3… per GroupCommit instance. */
  readonly seq: number;
  readonly reason: FlushReason;
  readonly rows: number;
  readonly bytes: number;
}

export type FlushFn<T> = (items: T[], info: FlushInfo) => Promise<void>;

export interface GroupCommitOptions {
  /** A failed flush of several callers' rows whose error this accepts is retried per caller. */
  retryAlone?: (err: unknown) => boolean;
}

/** The rows one `add` put into one group, and that caller's wait for them. */
interface Part<T> {
  readonly items: T[];
  bytes: number;
  readonly done: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

interface Group<T> {
  readonly items: T[];
  readonly parts: Part<T>[];
  rows: number;
  bytes: number;
  /** Set once the group should be flushed (and why); it may still take rows until its flush starts. */
  due: FlushReason | undefined;
  /** Full groups take no more rows. */
  full: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

function newPart<T>(): Part<T> {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Callers always await `done`; this keeps a failed part that nobody awaits yet from crashing.
  done.catch(() => undefined);
  return { items: [], bytes: 0, done, resolve, reject };
}

export class GroupCommitClosedError extends Error {
  constructor() {
    super('the sink is closed: expected write() before close(), got a write after it');
    this.name = 'GroupCommitClosedError';
  }
}

export class GroupCommit<T> {
  private readonly queue: Group<T>[] = [];
  private running = false;
  private closed = false;
  private seq = 0;
  private idle: Promise<void> = Promise.resolve();
  private idleResolve: (() => void) | undefined;

  constructor(
    private readonly limits: GroupCommitLimits,
    private readonly flush: FlushFn<T>,
    private readonly options: GroupCommitOptions = {},
  ) {}

  /** Rows waiting or being flushed. */
  get pendingRows(): number {
    return this.queue.reduce((n, g) => n + g.rows, 0);
  }

  /**
   * Adds `items` (with the byte size of each from `sizeOf`); resolves when every one of them has been
   * flushed, rejects with the flush's error if a flush they joined fails.
   */
  add(items: readonly T[], sizeOf: (item: T) => number): Promise<void> {
    if (this.closed) return Promise.reject(new GroupCommitClosedError());
    if (items.length === 0) return Promise.resolve();
    const joined: Promise<void>[] = [];
    let group: Group<T> | undefined;
    let part: Part<T> | undefined;
    for (const item of items) {
      const size = sizeOf(item);
      if (group === undefined || group.full) group = this.openGroup();
      if (group.rows > 0 && group.bytes + size > this.limits.maxBytes) {
        this.markFull(group, 'bytes');
        group = this.openGroup();
      }
      if (part === undefined || group.parts[group.parts.length - 1] !== part) {
        part = newPart<T>();
        group.parts.push(part);
        joined.push(part.done);
      }
      part.items.push(item);
      part.bytes += size;
      group.items.push(item);
      group.rows += 1;
      group.bytes += size;
      if (group.rows >= this.limits.maxRows) this.markFull(group, 'rows');
      else if (group.bytes >= this.limits.maxBytes) this.markFull(group, 'bytes');
    }
    this.pump();
    return joined.length === 1 ? joined[0]! : Promise.all(joined).then(() => undefined);
  }

  /** Flushes everything pending now, and waits for it. */
  async drain(): Promise<void> {
    for (const g of this.queue) this.markDue(g, 'drain');
    this.pump();
    await this.idle;
  }

  /** Drains, then rejects every later `add`. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
  }

  /** The open group (the last one, when not full), or a new one. */
  private openGroup(): Group<T> {
    const last = this.queue[this.queue.length - 1];
    if (last !== undefined && !last.full && !this.isFlushing(last)) return last;
    const group: Group<T> = {
      items: [],
      parts: [],
      rows: 0,
      bytes: 0,
      due: undefined,
      full: false,
      timer: undefined,
    };
    group.timer = setTimeout(() => {
      group.timer = undefined;
      this.markDue(group, 'interval');
      this.pump();
    }, this.limits.maxIntervalMs);
    this.queue.push(group);
    if (this.idleResolve === undefined) {
      this.idle = new Promise<void>((r) => {
        this.idleResolve = r;
      });
    }
    return group;
  }

  private isFlushing(g: Group<T>): boolean {
    return this.running && this.queue[0] === g;
  }

  private markFull(g: Group<T>, reason: FlushReason): void {
    g.full = true;
    this.markDue(g, reason);
  }

  private markDue(g: Group<T>, reason: FlushReason): void {
    if (g.due === undefined) g.due = reason;
    if (g.timer !== undefined) {
      clearTimeout(g.timer);
      g.timer = undefined;
    }
  }

  private pump(): void {
    if (this.running) return;
    const head = this.queue[0];
    if (head === undefined) {
      const r = this.idleResolve;
      this.idleResolve = undefined;
      r?.();
      return;
    }
    if (head.due === undefined) return;
    this.running = true;
    head.full = true;
    this.seq += 1;
    const info: FlushInfo = { seq: this.seq, reason: head.due, rows: head.rows, bytes: head.bytes };
    this.flush(head.items, info).then(
      () => this.finish(head, undefined),
      (err: unknown) => {
        const e = err ?? new Error('flush failed');
        if (head.parts.length > 1 && this.options.retryAlone?.(e)) void this.flushEachAlone(head);
        else this.finish(head, e);
      },
    );
  }

  /** The group's flush failed for a row's values: each caller's rows are flushed on their own. */
  private async flushEachAlone(g: Group<T>): Promise<void> {
    for (const p of g.parts) {
      this.seq += 1;
      const info: FlushInfo = { seq: this.seq, reason: 'alone', rows: p.items.length, bytes: p.bytes };
      try {
        await this.flush(p.items, info);
        p.resolve();
      } catch (err) {
        p.reject(err ?? new Error('flush failed'));
      }
    }
    this.finish(g, undefined);
  }

  private finish(g: Group<T>, err: unknown): void {
    this.queue.shift();
    this.running = false;
    for (const p of g.parts) {
      if (err === undefined) p.resolve();
      else p.reject(err);
    }
    this.pump();
  }
}
