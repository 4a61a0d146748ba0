/**
 * A bound on the rows one pipeline has waiting or being scored in this process. A request is
 * admitted whole or not at all: beyond the bound the server answers 429 (with Retry-After) at
 * once, instead of queueing work it cannot finish within its timeout.
 */
export class Admission {
  #rows = 0;

  constructor(readonly maxRows: number) {
    if (!Number.isInteger(maxRows) || maxRows < 1)
      throw new RangeError(`maxRows must be >= 1, got ${maxRows}`);
  }

  /** Rows admitted and not yet left. */
  get rows(): number {
    return this.#rows;
  }

  /** Admits `n` rows if they fit; the caller must `leave(n)` once they are scored (or failed). */
  tryEnter(n: number): boolean {
    if (this.#rows + n > this.maxRows) return false;
    this.#rows += n;
    return true;
  }

  leave(n: number): void {
    this.#rows = Math.max(0, this.#rows - n);
  }
}
