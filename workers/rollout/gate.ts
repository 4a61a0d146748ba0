import { PipelineError } from '../core/errors.js';

/** Why and by whom a pipeline is suspended. */
export interface Suspension {
  by: string;
  reason: string;
  at: string;
}

/**
 * Suspension of one pipeline: while closed, batches wait before scoring (the consumer keeps its
 * session alive through `onWait`, and no offset is committed past them), so nothing is written and
 * nothing is skipped; opening it lets them continue where they stopped.
 */
export class SuspendGate {
  #suspension: Suspension | undefined;
  #opened: (() => void) | undefined;
  #open: Promise<void> = Promise.resolve();
  #stopping = false;
  /** Settles when the latest caller of waitOpen has passed (see waitOpen). */
  #turn: Promise<void> = Promise.resolve();

  get suspended(): Suspension | undefined {
    return this.#suspension;
  }

  suspend(s: Suspension): void {
    if (this.#suspension === undefined) {
      this.#open = new Promise((r) => {
        this.#opened = r;
      });
    }
    this.#suspension = s;
  }

  resume(): void {
    if (this.#suspension === undefined) return;
    this.#suspension = undefined;
    this.#opened?.();
    this.#opened = undefined;
  }

  /**
   * The worker is stopping: batches waiting while suspended give up (BATCH_ABANDONED, never
   * committed: they are re-read after the restart) instead of holding the drain.
   */
  abandonWaiting(): void {
    this.#stopping = true;
    this.#opened?.();
  }

  /**
   * Resolves at once while open; while suspended, calls `onWait` every `everyMs` until resumed.
   * Callers leave in the order they came: released all at once (each from its own timer or
   * heartbeat), a partition's batches raced to the sinks, and a key's older prediction reached the
   * output topic after its newer one.
   */
  async waitOpen(onWait?: () => Promise<void>, everyMs = 1000): Promise<void> {
    const before = this.#turn;
    let leave!: () => void;
    this.#turn = new Promise((r) => {
      leave = r;
    });
    try {
      await before;
      await this.#waitOpen(onWait, everyMs);
    } finally {
      leave();
    }
  }

  async #waitOpen(onWait: (() => Promise<void>) | undefined, everyMs: number): Promise<void> {
    while (this.#suspension !== undefined) {
      if (this.#stopping) {
        throw new PipelineError(
          'the pipeline is suspended and the worker is stopping: batch left uncommitted',
          {
            code: 'BATCH_ABANDONED',
            stage: 'source',
            retryable: true,
          },
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.#open, new Promise<void>((r) => (timer = setTimeout(r, everyMs)))]);
      clearTimeout(timer);
      if (this.#suspension !== undefined) await onWait?.();
    }
  }
}
