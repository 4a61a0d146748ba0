import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import type { ShadowJob, ShadowScorer } from '../scoring/lease.js';
import type { ShadowPairBatch } from '../shadow/index.js';

/** What the runner counts (the worker exports them as metrics). */
export interface ShadowCounters {
  pairs(n: number, agreements: number | undefined, flips: number): void;
  absDelta(v: number): void;
  inferenceMs(ms: number): void;
  skipped(n: number, reason: 'backlog' | 'failed'): void;
}

export interface ShadowRunnerOptions {
  pipeline: string;
  compare: { score: string; label?: string | undefined; threshold: number };
  /** Where pairs are written (the comparison table). */
  table: { write(b: ShadowPairBatch): Promise<unknown> };
  /** Jobs scored or written at once; beyond, a job is skipped and counted, never waited for. */
  maxPending: number;
  counters: ShadowCounters;
  logger: Logger;
}

/**
 * Scores batches with the shadow model after the primary, compares the pairs (metrics) and writes
 * them to the comparison table, all detached from the primary's path: a slow shadow is skipped
 * (counted) once `maxPending` jobs are in flight, and a failing one is logged and counted. Neither
 * ever delays or fails the primary's writes.
 */
export class ShadowRunner implements ShadowScorer {
  #pending = new Set<Promise<void>>();
  #lastErrorLog = 0;

  constructor(private readonly opts: ShadowRunnerOptions) {}

  get pending(): number {
    return this.#pending.size;
  }

  submit(job: ShadowJob): void {
    const rows = job.rowsOfChampion?.length ?? job.rows;
    if (this.#pending.size >= this.opts.maxPending) {
      job.shadow.release();
      this.opts.counters.skipped(rows, 'backlog');
      return;
    }
    const p = this.#run(job)
      .catch((err: unknown) => {
        this.opts.counters.skipped(rows, 'failed');
        const now = Date.now();
        if (now - this.#lastErrorLog > 10_000) {
          this.#lastErrorLog = now;
          this.opts.logger.warn(
            { pipeline: this.opts.pipeline, shadow: job.shadow.info.version, error: errorMessage(err) },
            'Shadow scoring or its comparison write failed; the primary is not affected (logged at most every 10 s).',
          );
        }
      })
      .finally(() => {
        job.shadow.release();
        this.#pending.delete(p);
      });
    this.#pending.add(p);
  }

  async #run(job: ShadowJob): Promise<void> {
    const started = performance.now();
    const shadowColumns = await job.shadow.predictor.predict(job.features, job.rows);
    const shadowMs = performance.now() - started;
    this.opts.counters.inferenceMs(shadowMs);
    const only = job.rowsOfChampion;
    const pick = <T>(values: ArrayLike<T>): T[] =>
      only === undefined ? Array.from(values) : only.map((i) => values[i]!);
    // The primary's columns hold only its share of a canary split, already in `only`'s order.
    const champ = (f: string) =>
      only === undefined ? job.championColumns[f]! : Array.from(job.championColumns[f]!);
    const fields = Object.keys(job.championColumns);
    const batch: ShadowPairBatch = {
      pipeline: this.opts.pipeline,
      champion: { ...job.champion, ms: job.championMs },
      shadow: { ...job.shadow.info, ms: shadowMs },
      scoredAt: job.scoredAt,
      keys: pick(job.keys),
      positions: pick(job.positions).map(String),
      fields,
      championColumns: Object.fromEntries(fields.map((f) => [f, champ(f)])),
      shadowColumns: Object.fromEntries(fields.map((f) => [f, pick(shadowColumns[f]!)])),
    };
    this.#count(batch);
    await this.opts.table.write(batch);
  }

  #count(b: ShadowPairBatch): void {
    const { score, label, threshold } = this.opts.compare;
    const cs = b.championColumns[score]!;
    const ss = b.shadowColumns[score]!;
    const cl = label === undefined ? undefined : b.championColumns[label]!;
    const sl = label === undefined ? undefined : b.shadowColumns[label]!;
    const n = b.keys.length;
    let flips = 0;
    let agreements = 0;
    for (let i = 0; i < n; i++) {
      const c = Number(cs[i]);
      const s = Number(ss[i]);
      if (c >= threshold !== s >= threshold) flips++;
      this.opts.counters.absDelta(Math.abs(s - c));
      if (cl !== undefined && sl !== undefined && String(cl[i]) === String(sl[i])) agreements++;
    }
    this.opts.counters.pairs(n, label === undefined ? undefined : agreements, flips);
  }

  /** Wait for the jobs in flight (shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.#pending]);
  }
}
