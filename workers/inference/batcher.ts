/**
 * Micro-batching: callers hand in chunks of rows (a fetch's records, a backfill page) and the
 * batcher cuts them into batches of at most `maxSize` rows, runs up to `maxInFlight` batches at a
 * time (one by default), and resolves each caller once every row it added has been through a run.
 * A batch starts when it is full, or when its first row has waited `maxWaitMs`; while the runs in
 * flight hold every slot, the next batch keeps filling (up to `maxSize`), so batches grow under load
 * and latency stays bounded when idle. Batches start in the order they were cut.
 *
 * One promise per `add`, never per row. A failed run rejects every caller with rows in that batch.
 * The batcher never copies rows: `run` receives slices of the callers' chunks.
 */

/** Timers, injectable so tests drive time by hand. */
export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process's timers. */
export function systemClock(): Clock {
  return {
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
}

/** Rows [start, start + count) of a caller's chunk. */
export interface ChunkSlice<C> {
  readonly chunk: C;
  readonly start: number;
  readonly count: number;
}

/** Where a caller's rows landed: rows [offset, offset + count) of a batch's result. */
export interface BatchSlice<P> {
  readonly result: P;
  readonly offset: number;
  readonly count: number;
}

export interface MicroBatcherOptions<C, P> {
  /** Largest batch, in rows (>= 1). */
  maxSize: number;
  /** Longest the first row of a batch waits for the batch to fill (>= 0). */
  maxWaitMs: number;
  clock?: Clock;
  /** Runs in flight at once (>= 1; default 1). */
  maxInFlight?: number;
  /** Run one batch: its slices in order, `rows` in total. Called at most `maxInFlight` times at once. */
  run(slices: readonly ChunkSlice<C>[], rows: number): Promise<P>;
}

interface Waiter<P> {
  readonly parts: BatchSlice<P>[];
  remaining: number;
  settled: boolean;
  resolve(parts: BatchSlice<P>[]): void;
  reject(err: unknown): void;
}

interface Entry<C, P> {
  readonly slice: ChunkSlice<C>;
  readonly waiter: Waiter<P>;
  readonly part: number;
  readonly offset: number;
}

interface Batch<C, P> {
  readonly entries: Entry<C, P>[];
  rows: number;
  /** Its wait is over (timer fired or flush asked). */
  due: boolean;
}

export class BatcherClosedError extends Error {
  constructor() {
    super('the batcher is closed');
    this.name = 'BatcherClosedError';
  }
}

export class MicroBatcher<C, P> {
  readonly maxSize: number;
  readonly maxWaitMs: number;
  readonly #clock: Clock;
  readonly #run: (slices: readonly ChunkSlice<C>[], rows: number) => Promise<P>;
  /** Full batches waiting for the runner. */
  readonly #sealed: Batch<C, P>[] = [];
  #open: Batch<C, P> | null = null;
  #timer: unknown = null;
  readonly #maxInFlight: number;
  /** Runs in flight. */
  #running = 0;
  #closed = false;
  #idle: (() => void)[] = [];

  constructor(options: MicroBatcherOptions<C, P>) {
    if (!Number.isInteger(options.maxSize) || options.maxSize < 1) {
      throw new RangeError(`maxSize must be an integer >= 1, got ${options.maxSize}`);
    }
    if (!(options.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be >= 0, got ${options.maxWaitMs}`);
    const inFlight = options.maxInFlight ?? 1;
    if (!Number.isInteger(inFlight) || inFlight < 1)
      throw new RangeError(`maxInFlight must be an integer >= 1, got ${inFlight}`);
    this.#maxInFlight = inFlight;
    this.maxSize = options.maxSize;
    this.maxWaitMs = options.maxWaitMs;
    this.#clock = options.clock ?? systemClock();
    this.#run = options.run;
  }

  /** Rows added but not yet handed to `run`. */
  get pendingRows(): number {
    return this.#sealed.reduce((n, b) => n + b.rows, 0) + (this.#open?.rows ?? 0);
  }

  get running(): boolean {
    return this.#running > 0;
  }

  /**
   * Add rows [0, rows) of `chunk`. Resolves, once all of them have been run, with where they landed:
   * usually one slice; more when the rows spilled over into following batches.
   */
  add(chunk: C, rows: number): Promise<BatchSlice<P>[]> {
    if (this.#closed) return Promise.reject(new BatcherClosedError());
    if (!Number.isInteger(rows) || rows < 0)
      return Promise.reject(new RangeError(`rows must be an integer >= 0, got ${rows}`));
    if (rows === 0) return Promise.resolve([]);
    const promise = new Promise<BatchSlice<P>[]>((resolve, reject) => {
      const waiter: Waiter<P> = { parts: [], remaining: 0, settled: false, resolve, reject };
      let start = 0;
      let part = 0;
      while (start < rows) {
        const open = this.#openBatch();
        const count = Math.min(rows - start, this.maxSize - open.rows);
        open.entries.push({ slice: { chunk, start, count }, waiter, part: part++, offset: open.rows });
        open.rows += count;
        start += count;
        if (open.rows === this.maxSize) this.#seal();
      }
      waiter.remaining = part;
    });
    this.#pump();
    return promise;
  }

  /** Start everything added so far without waiting for `maxWaitMs`; resolves when it has all run. */
  flush(): Promise<void> {
    if (this.#open !== null) this.#open.due = true;
    this.#pump();
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Refuse further rows, run what is pending, resolve when done. */
  close(): Promise<void> {
    this.#closed = true;
    return this.flush();
  }

  #openBatch(): Batch<C, P> {
    if (this.#open === null) {
      const batch: Batch<C, P> = { entries: [], rows: 0, due: false };
      this.#open = batch;
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = null;
        batch.due = true;
        this.#pump();
      }, this.maxWaitMs);
    }
    return this.#open;
  }

  #seal(): void {
    if (this.#open === null) return;
    this.#sealed.push(this.#open);
    this.#open = null;
    if (this.#timer !== null) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  #isIdle(): boolean {
    return this.#running === 0 && this.#sealed.length === 0 && this.#open === null;
  }

  #pump(): void {
    while (this.#running < this.#maxInFlight) {
      if (this.#sealed.length === 0 && this.#open?.due === true) this.#seal();
      const batch = this.#sealed.shift();
      if (batch === undefined) break;
      this.#start(batch);
    }
    if (this.#isIdle()) for (const resolve of this.#idle.splice(0)) resolve();
  }

  #start(batch: Batch<C, P>): void {
    this.#running++;
    let run: Promise<P>;
    try {
      run = this.#run(
        batch.entries.map((e) => e.slice),
        batch.rows,
      );
    } catch (err) {
      run = Promise.reject(err);
    }
    run.then(
      (result) => {
        for (const e of batch.entries) {
          const w = e.waiter;
          if (w.settled) continue;
          w.parts[e.part] = { result, offset: e.offset, count: e.slice.count };
          if (--w.remaining === 0) {
            w.settled = true;
            w.resolve(w.parts);
          }
        }
        this.#done();
      },
      (err: unknown) => {
        for (const e of batch.entries) {
          if (e.waiter.settled) continue;
          e.waiter.settled = true;
          e.waiter.reject(err);
        }
        this.#done();
      },
    );
  }

  #done(): void {
    this.#running--;
    this.#pump();
  }
}
