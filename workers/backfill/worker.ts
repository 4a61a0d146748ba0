import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { errorMessage, PipelineError } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import { type ChunkProgress, type ScoringPath, scoreChunk } from './chunk.js';
import { type BackfillSpec, createTableReader } from './create.js';
import {
  type ChunkData,
  type ChunkResult,
  JOB,
  type PlanData,
  type RunData,
  type RunResult,
  scheduledRunId,
} from './jobs.js';
import { BackfillQueues } from './queues.js';
import type { TableReader } from './reader.js';

export interface BackfillWorkerOptions {
  pipeline: string;
  spec: BackfillSpec;
  /** The pipeline's assembled scoring path, shared with its streaming consumer. */
  path: ScoringPath;
  connection: Redis;
  /** BullMQ key prefix (default `bull`). */
  prefix?: string;
  logger: Logger;
  /** Defaults to the reader of `spec.source`, closed with the worker. */
  reader?: TableReader;
  /** Register (or remove) the pipeline's cron schedule at start. Default true. */
  syncSchedule?: boolean;
}

/** Thrown inside a chunk when its run was cancelled; fails the chunk without retries. */
class RunCancelled extends UnrecoverableError {
  constructor() {
    super('cancelled');
  }
}

/**
 * Processes one pipeline's backfill jobs (layout in `jobs.ts`) with two BullMQ workers:
 *
 * - chunks, `spec.concurrency` at a time, each through the shared scoring path. A chunk's lock is
 *   held for `lock_ms` and renewed every half of it; the chunk of a killed worker is noticed as
 *   stalled by any live worker after one to two `lock_ms` and retried (up to `attempts` stalls).
 *   A non-retryable PipelineError (e.g. a missing column, a bad `where`, a terminal sink error)
 *   fails the chunk at once with its code and message as the reason; other errors retry with
 *   exponential back-off from `backoff_ms`, `attempts` times in all.
 * - runs and plans, one at a time: a `plan` job (from the cron schedule) plans and enqueues a run;
 *   a `run` job, processed when all of its chunks have finished, sums them up and fails when any
 *   chunk failed or the run was cancelled.
 */
export class BackfillWorker {
  readonly queues: BackfillQueues;
  private readonly reader: TableReader;
  private chunkWorker: Worker<ChunkData, ChunkResult> | undefined;
  private runWorker: Worker<RunData | PlanData, RunResult | { runId: string }> | undefined;

  private constructor(private readonly opts: BackfillWorkerOptions) {
    this.queues = new BackfillQueues(opts.pipeline, {
      connection: opts.connection,
      ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
    });
    this.reader =
      opts.reader ??
      createTableReader(opts.spec, { pipeline: opts.pipeline, poolSize: opts.spec.concurrency + 1 });
  }

  static async create(opts: BackfillWorkerOptions): Promise<BackfillWorker> {
    const w = new BackfillWorker(opts);
    await w.start();
    return w;
  }

  private async start(): Promise<void> {
    const { spec, connection } = this.opts;
    const prefix = this.queues.prefix;
    await this.queues.register();
    if (this.opts.syncSchedule !== false) await this.queues.syncSchedule(spec);
    this.chunkWorker = new Worker<ChunkData, ChunkResult>(
      this.queues.names.chunks,
      (job, _token, signal) => this.processChunk(job, signal),
      {
        connection,
        prefix,
        concurrency: spec.concurrency,
        lockDuration: spec.lock_ms,
        stalledInterval: spec.lock_ms,
        maxStalledCount: spec.attempts,
        autorun: false,
      },
    );
    this.runWorker = new Worker<RunData | PlanData, RunResult | { runId: string }>(
      this.queues.names.runs,
      (job) =>
        job.name === JOB.plan ? this.processPlan(job as Job<PlanData>) : this.finishRun(job as Job<RunData>),
      {
        connection,
        prefix,
        concurrency: 1,
        lockDuration: spec.lock_ms,
        stalledInterval: spec.lock_ms,
        autorun: false,
      },
    );
    for (const w of [this.chunkWorker, this.runWorker] as Worker[]) {
      w.on('failed', (job, err) => {
        if (!job) return;
        const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
        if (err instanceof RunCancelled) return;
        this.opts.logger.warn(
          { pipeline: this.opts.pipeline, job: job.id, attempt: job.attemptsMade, final, error: err.message },
          final ? 'Backfill job failed.' : 'Backfill job failed; it will be retried.',
        );
      });
      w.on('error', (err) =>
        this.opts.logger.warn(
          { pipeline: this.opts.pipeline, error: errorMessage(err) },
          'Backfill worker error.',
        ),
      );
      void w.run();
    }
    await Promise.all([this.chunkWorker.waitUntilReady(), this.runWorker.waitUntilReady()]);
  }

  /** Stops taking jobs, waits for the chunks in progress to finish, closes the reader. */
  async close(): Promise<void> {
    await Promise.all([this.chunkWorker?.close(), this.runWorker?.close()]);
    await this.queues.close();
    if (!this.opts.reader) await this.reader.close();
  }

  private async processChunk(job: Job<ChunkData, ChunkResult>, signal?: AbortSignal): Promise<ChunkResult> {
    const data = job.data;
    if (data.table !== this.reader.table) {
      // Workers of one pipeline name disagree about its source (a config change being rolled out,
      // or a test's environment): leave the chunk to a worker that reads its table.
      throw new Error(
        `chunk of ${data.table}, but this worker's pipeline ${this.opts.pipeline} reads ${this.reader.table}`,
      );
    }
    const cancelled = async () => (await this.queues.runData(data.runId))?.cancelledAt !== undefined;
    if (await cancelled()) throw new RunCancelled();
    try {
      return await scoreChunk({
        data,
        reader: this.reader,
        path: this.opts.path,
        fetchRows: this.opts.spec.fetch_rows,
        ...(signal ? { signal } : {}),
        checkpoint: async (progress: ChunkProgress) => {
          await job.updateProgress({ ...progress });
          if (await cancelled()) throw new RunCancelled();
        },
      });
    } catch (err) {
      if (err instanceof UnrecoverableError) throw err;
      if (PipelineError.is(err) && !err.retryable)
        throw new UnrecoverableError(`${err.code}: ${err.message}`);
      throw err;
    }
  }

  private async processPlan(job: Job<PlanData>): Promise<{ runId: string }> {
    const firedAt = Number(/:(\d{10,})$/.exec(job.id ?? '')?.[1] ?? job.timestamp);
    const runId = scheduledRunId(this.opts.pipeline, firedAt);
    try {
      await this.queues.enqueue({
        runId,
        reader: this.reader,
        spec: this.opts.spec,
        filter: { where: this.opts.spec.where ? [this.opts.spec.where] : [], since: null },
        trigger: 'schedule',
      });
    } catch (err) {
      if (PipelineError.is(err) && !err.retryable)
        throw new UnrecoverableError(`${err.code}: ${err.message}`);
      throw err;
    }
    return { runId };
  }

  private async finishRun(job: Job<RunData>): Promise<RunResult> {
    const data = job.data;
    const [values, failures] = await Promise.all([
      job.getChildrenValues<ChunkResult>(),
      job.getIgnoredChildrenFailures(),
    ]);
    const result: RunResult = { chunks: 0, rows: 0, scored: 0, deadLettered: 0 };
    for (const v of Object.values(values)) {
      result.chunks += 1;
      result.rows += v.rows;
      result.scored += v.scored;
      result.deadLettered += v.deadLettered;
    }
    const failed = Object.values(failures);
    if (data.cancelledAt !== undefined) {
      throw new UnrecoverableError(`cancelled; ${result.chunks} of ${data.chunks} chunks had completed`);
    }
    if (failed.length > 0) {
      throw new UnrecoverableError(`${failed.length} of ${data.chunks} chunks failed; first: ${failed[0]}`);
    }
    return result;
  }
}
