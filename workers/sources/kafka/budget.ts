/**
 * The bytes of fetched records (keys + values) a source holds in flight across all its partitions:
 * fetched, and not yet written by every sink. Each partition's window (window.ts) bounds one
 * partition; this bounds the worker's share of the pipeline whatever the number of partitions it
 * owns, so memory per worker does not grow with the partitions assigned to it.
 *
 * A fetched batch always enters (its bytes are already in memory); `ready()` holds the consumer's
 * next fetch until the bytes in flight are back within the budget. Batches leave when they settle,
 * whatever their outcome.
 */
export class InFlightBudget {
  private held = 0;
  private waiters: (() => void)[] = [];

  /** `maxBytes` 0: no bound. */
  constructor(readonly maxBytes: number) {}

  /** Bytes of the batches in flight. */
  get bytes(): number {
    return this.held;
  }

  /** Registers a batch of `bytes`; they are released when `done` settles. */
  add(done: Promise<unknown>, bytes: number): void {
    this.held += bytes;
    const leave = () => {
      this.held -= bytes;
      if (this.fits()) for (const w of this.waiters.splice(0)) w();
    };
    done.then(leave, leave);
  }

  /** Resolves when at most `maxBytes` are in flight (at once without a bound). */
  ready(): Promise<void> {
    if (this.fits()) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  /** Lets every waiter go (the consumer is being retired and must not wait). */
  release(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private fits(): boolean {
    return this.maxBytes === 0 || this.held <= this.maxBytes;
  }
}

/** Bytes a fetched message holds: its key and value. */
export function messageBytes(m: { key: Buffer | null; value: Buffer | null }): number {
  return (m.key?.length ?? 0) + (m.value?.length ?? 0);
}
