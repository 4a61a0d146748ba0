import type { PredictionBatch, PredictionRow, Sink, SinkCapabilities } from '../core/types.js';
import { isRowDataError } from './row-isolation.js';

interface Pending {
  readonly batch: PredictionBatch;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * One write in flight per sink; the writes that arrive meanwhile are merged into the next one.
 *
 * The runtime processes several partitions' batches at once, and each ends in a `write` to every
 * sink. Sent as they come, six partitions cost six transactions (or produce requests) per fetch,
 * each with its own round trips. Merged, the sink sees one statement per in-flight period: under
 * load batches grow instead of queueing, and when idle a write goes out on the next turn of the
 * event loop (no timer: the writes of one turn are merged, nothing waits longer). Every caller still resolves only when the write holding its rows has completed,
 * and rejects with that write's error (each caller's own retry then re-enters the queue).
 *
 * When a merged write fails for the values of a row (`SINK_DATA`), each caller's batch is written
 * again alone, so the error reaches only the caller that holds the row.
 *
 * Writes are merged only up to `capabilities.maxBatchRows` rows; a larger batch is written alone.
 * Rows keep their arrival order, and batches from one caller are never reordered.
 */
export class CoalescingSink implements Sink {
  readonly name: string;
  readonly capabilities: SinkCapabilities;
  private readonly queue: Pending[] = [];
  private inFlight = false;
  private scheduled = false;

  constructor(private readonly inner: Sink) {
    this.name = inner.name;
    this.capabilities = inner.capabilities;
  }

  /** Writes waiting behind the one in flight. */
  get queued(): number {
    return this.queue.length;
  }

  open(): Promise<void> {
    return this.inner.open();
  }

  write(batch: PredictionBatch): Promise<void> {
    if (batch.rows.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      this.schedule();
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * Starts the next write on the next turn of the event loop: the partitions' batches that one
   * inference run completes all reach `write` within the same turn, and go out as one write.
   */
  private schedule(): void {
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const max = this.capabilities.maxBatchRows;
    const taken: Pending[] = [this.queue.shift()!];
    let rows = taken[0]!.batch.rows.length;
    const first = taken[0]!.batch;
    for (;;) {
      const head = this.queue[0];
      if (head === undefined || rows + head.batch.rows.length > max || !sameShape(first, head.batch)) break;
      const next = this.queue.shift()!;
      rows += next.batch.rows.length;
      taken.push(next);
    }
    this.inFlight = true;
    let write: Promise<void>;
    try {
      write = this.inner.write(taken.length === 1 ? taken[0]!.batch : merge(taken, rows));
    } catch (err) {
      write = Promise.reject(err);
    }
    write.then(
      () => this.settle(taken, undefined),
      (err: unknown) => {
        if (taken.length > 1 && isRowDataError(err)) this.writeEachAlone(taken);
        else this.settle(taken, err ?? new Error(`${this.name}: write failed`));
      },
    );
  }

  /**
   * A merged write failed for the values of some row: only the caller whose batch holds that row
   * should see the error (and isolate it), so each caller's batch is written again on its own.
   */
  private writeEachAlone(taken: readonly Pending[]): void {
    const each = async () => {
      for (const p of taken) {
        try {
          await this.inner.write(p.batch);
          p.resolve();
        } catch (err) {
          p.reject(err);
        }
      }
    };
    void each().then(() => this.settle([], undefined));
  }

  private settle(taken: readonly Pending[], err: unknown): void {
    this.inFlight = false;
    for (const p of taken) {
      if (err === undefined) p.resolve();
      else p.reject(err);
    }
    this.pump();
  }
}

const sameShape = (a: PredictionBatch, b: PredictionBatch) =>
  a.pipeline === b.pipeline && a.model === b.model && a.shadow === b.shadow && a.fields === b.fields;

function merge(taken: readonly Pending[], count: number): PredictionBatch {
  const first = taken[0]!.batch;
  const rows = new Array<PredictionRow>(count);
  let at = 0;
  for (const p of taken) {
    for (const r of p.batch.rows) rows[at++] = r;
  }
  return { pipeline: first.pipeline, model: first.model, shadow: first.shadow, fields: first.fields, rows };
}
