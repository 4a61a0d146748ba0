import { FlowProducer, type Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BackfillSpec } from './create.js';
import {
  type ChunkData,
  type ChunkResult,
  chunkJobId,
  DEFAULT_PREFIX,
  JOB,
  type PlanData,
  pipelinesKey,
  type QueueNames,
  queueNames,
  type RunData,
  type RunResult,
} from './jobs.js';
import { type BackfillFilter, describeRange, type KeyRange, type TableReader } from './reader.js';

const DAY_S = 86_400;

export interface EnqueuedRun {
  runId: string;
  chunks: number;
  plannedRows: number;
  /** False when a run with this id already existed: nothing was planned or added. */
  created: boolean;
}

export type RunState = 'running' | 'finishing' | 'completed' | 'failed' | 'cancelled' | 'unknown';

export interface ChunkFailure {
  index: number;
  range: string;
  reason: string;
}

/** A run as `status` shows it: counts from the run's dependencies, rows from the chunks' results. */
export interface RunStatus {
  runId: string;
  pipeline: string;
  table: string;
  state: RunState;
  trigger: RunData['trigger'];
  createdAt: number;
  finishedAt: number | undefined;
  cancelledAt: number | undefined;
  chunks: { total: number; done: number; failed: number; active: number; pending: number };
  rows: {
    planned: number;
    /** Rows of completed chunks. */
    done: number;
    /** Rows so far of chunks being processed (their progress). */
    inFlight: number;
  };
  deadLettered: number;
  failures: ChunkFailure[];
  /** The run's own failure: which chunks failed, or that it was cancelled. */
  reason: string | undefined;
}

export interface ScheduleInfo {
  pipeline: string;
  id: string;
  cron: string;
  tz: string;
  /** Next firing, epoch ms. */
  next: number | undefined;
  /** Firings so far. */
  fired: number;
}

export interface BackfillQueuesOptions {
  connection: Redis;
  /** BullMQ key prefix (default `bull`); tests use their own for isolation. */
  prefix?: string;
}

/**
 * The BullMQ queues of one pipeline's backfills (layout in `jobs.ts`): enqueue a run as a flow of
 * chunks, read its status, cancel it, keep its cron schedule. The connection is passed in and
 * not closed here.
 */
export class BackfillQueues {
  readonly names: QueueNames;
  readonly prefix: string;
  readonly chunks: Queue<ChunkData, ChunkResult>;
  readonly runs: Queue<RunData | PlanData, RunResult>;
  private flows: FlowProducer | undefined;

  constructor(
    readonly pipeline: string,
    private readonly options: BackfillQueuesOptions,
  ) {
    this.names = queueNames(pipeline);
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    const base = { connection: options.connection, prefix: this.prefix };
    this.chunks = new Queue(this.names.chunks, base);
    this.runs = new Queue(this.names.runs, base);
  }

  /** Records the pipeline in the set `status` and `schedules` read. */
  async register(): Promise<void> {
    await this.options.connection.sadd(pipelinesKey(this.prefix), this.pipeline);
  }

  /**
   * Plans the chunks of a run and adds them as one flow (the run job, parent of every chunk job),
   * atomically. Chunk ids are deterministic, and a run id that exists already is left as it is,
   * so enqueuing the same run twice adds no work.
   */
  async enqueue(args: {
    runId: string;
    reader: TableReader;
    spec: BackfillSpec;
    filter: BackfillFilter;
    trigger: RunData['trigger'];
    now?: Date;
  }): Promise<EnqueuedRun> {
    const existing = await this.runs.getJob(args.runId);
    if (existing && existing.name === JOB.run) {
      const d = existing.data as RunData;
      return { runId: args.runId, chunks: d.chunks, plannedRows: d.plannedRows, created: false };
    }
    const plan = await args.reader.planChunks(args.filter, args.spec.chunk_size);
    const data: RunData = {
      runId: args.runId,
      pipeline: this.pipeline,
      table: args.reader.table,
      chunks: plan.ranges.length,
      plannedRows: plan.rows,
      filter: args.filter,
      trigger: args.trigger,
      createdAt: (args.now ?? new Date()).getTime(),
    };
    await this.register();
    this.flows ??= new FlowProducer({ connection: this.options.connection, prefix: this.prefix });
    await this.flows.add({
      name: JOB.run,
      queueName: this.names.runs,
      data,
      opts: {
        jobId: args.runId,
        attempts: 1,
        removeOnComplete: { age: 30 * DAY_S },
        removeOnFail: { age: 30 * DAY_S },
      },
      children: plan.ranges.map((range, index) => ({
        name: JOB.chunk,
        queueName: this.names.chunks,
        data: {
          runId: args.runId,
          pipeline: this.pipeline,
          table: args.reader.table,
          index,
          range,
          filter: args.filter,
        },
        opts: {
          jobId: chunkJobId(args.runId, index, range, args.filter),
          attempts: args.spec.attempts,
          backoff: { type: 'exponential', delay: args.spec.backoff_ms },
          ignoreDependencyOnFailure: true,
          removeOnComplete: { age: 7 * DAY_S },
          removeOnFail: { age: 30 * DAY_S },
        },
      })),
    });
    return { runId: args.runId, chunks: plan.ranges.length, plannedRows: plan.rows, created: true };
  }

  async runData(runId: string): Promise<RunData | undefined> {
    const job = await this.runs.getJob(runId);
    return job && job.name === JOB.run ? (job.data as RunData) : undefined;
  }

  /** Status of one run, or undefined when this pipeline has no run of that id. */
  async status(runId: string, options: { failures?: number } = {}): Promise<RunStatus | undefined> {
    const job = await this.runs.getJob(runId);
    if (!job || job.name !== JOB.run) return undefined;
    const data = job.data as RunData;
    const [state, counts] = await Promise.all([job.getState(), job.getDependenciesCount()]);
    const done = counts.processed ?? 0;
    const failed = counts.ignored ?? 0;
    let rows = 0;
    let deadLettered = 0;
    for await (const r of this.processedResults(job)) {
      rows += r.rows;
      deadLettered += r.deadLettered;
    }
    const active = (await this.chunks.getJobs(['active'])).filter((j) => j?.data?.runId === runId);
    const inFlight = active.reduce((n, j) => n + progressRows(j.progress), 0);
    const failures = failed > 0 ? await this.failures(job, options.failures ?? 5) : [];
    return {
      runId,
      pipeline: data.pipeline,
      table: data.table,
      state: runState(state, data, job.failedReason),
      trigger: data.trigger,
      createdAt: data.createdAt,
      finishedAt: job.finishedOn,
      cancelledAt: data.cancelledAt,
      chunks: {
        total: data.chunks,
        done,
        failed,
        active: active.length,
        pending: Math.max(0, data.chunks - done - failed - active.length),
      },
      rows: { planned: data.plannedRows, done: rows, inFlight },
      deadLettered,
      failures,
      reason: job.failedReason || undefined,
    };
  }

  /** Recent runs, newest first. */
  async recentRuns(limit: number): Promise<RunStatus[]> {
    const jobs = await this.runs.getJobs(
      ['waiting-children', 'waiting', 'active', 'completed', 'failed'],
      0,
      limit * 4,
    );
    const runs = jobs
      .filter((j) => j?.name === JOB.run)
      .sort((a, b) => b.timestamp - a.timestamp)
      .slice(0, limit);
    const out: RunStatus[] = [];
    for (const j of runs) {
      const s = await this.status(j.id!, { failures: 0 });
      if (s) out.push(s);
    }
    return out;
  }

  /**
   * Marks a run cancelled: chunks not yet started fail at once with "cancelled", chunks in
   * progress stop after their current fetch; the run then ends as cancelled. Returns false when
   * the run does not exist or has already finished.
   */
  async cancel(runId: string, now = new Date()): Promise<boolean> {
    const job = await this.runs.getJob(runId);
    if (!job || job.name !== JOB.run) return false;
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') return false;
    await job.updateData({ ...(job.data as RunData), cancelledAt: now.getTime() });
    return true;
  }

  /**
   * Registers the pipeline's cron schedule as a BullMQ job scheduler (id = the pipeline name) that
   * adds a `plan` job at every firing, or removes it when the pipeline has no schedule any more.
   */
  async syncSchedule(spec: BackfillSpec | undefined): Promise<void> {
    await this.register();
    const schedule = spec?.schedule;
    if (!schedule) {
      await this.runs.removeJobScheduler(this.pipeline);
      return;
    }
    await this.runs.upsertJobScheduler(
      this.pipeline,
      { pattern: schedule.cron, tz: schedule.tz },
      {
        name: JOB.plan,
        data: { pipeline: this.pipeline },
        opts: {
          attempts: spec.attempts,
          backoff: { type: 'exponential', delay: spec.backoff_ms },
          removeOnComplete: { count: 100 },
          removeOnFail: { count: 100 },
        },
      },
    );
  }

  async schedules(): Promise<ScheduleInfo[]> {
    return (await this.runs.getJobSchedulers(0, -1, true)).map((s) => ({
      pipeline: this.pipeline,
      id: s.id ?? s.key,
      cron: s.pattern ?? (s.every ? `every ${s.every} ms` : ''),
      tz: s.tz ?? 'UTC',
      next: s.next,
      fired: s.iterationCount ?? 0,
    }));
  }

  async close(): Promise<void> {
    await this.flows?.close();
    await this.chunks.close();
    await this.runs.close();
  }

  private async *processedResults(job: Job): AsyncGenerator<ChunkResult> {
    let cursor = 0;
    do {
      const page = await job.getDependencies({ processed: { cursor, count: 500 } });
      for (const v of Object.values(page.processed ?? {})) {
        const r = (typeof v === 'string' ? JSON.parse(v) : v) as ChunkResult | null;
        if (r) yield r;
      }
      cursor = page.nextProcessedCursor ?? 0;
    } while (cursor !== 0);
  }

  private async failures(job: Job, limit: number): Promise<ChunkFailure[]> {
    const ignored = await job.getIgnoredChildrenFailures();
    const out: ChunkFailure[] = [];
    for (const [key, reason] of Object.entries(ignored)) {
      const id = key.slice(key.lastIndexOf(':') + 1);
      const index = Number(/\.(\d+)-[0-9a-f]+$/.exec(id)?.[1] ?? -1);
      let range = '';
      if (out.length < limit) {
        const child = await this.chunks.getJob(id);
        range = child ? describeRange(child.data.range as KeyRange) : '';
      }
      out.push({ index, range, reason });
    }
    return out.sort((a, b) => a.index - b.index);
  }
}

function progressRows(p: unknown): number {
  return typeof p === 'object' && p !== null && typeof (p as { rows?: unknown }).rows === 'number'
    ? (p as { rows: number }).rows
    : 0;
}

function runState(state: string, data: RunData, failedReason: string | undefined): RunState {
  switch (state) {
    case 'completed':
      return 'completed';
    case 'failed':
      return data.cancelledAt !== undefined && /cancelled/.test(failedReason ?? '') ? 'cancelled' : 'failed';
    case 'waiting-children':
      return 'running';
    case 'waiting':
    case 'active':
    case 'delayed':
    case 'prioritized':
      return 'finishing';
    default:
      return 'unknown';
  }
}

/** Pipelines that have backfill queues under `prefix`. */
export async function backfillPipelines(connection: Redis, prefix = DEFAULT_PREFIX): Promise<string[]> {
  return (await connection.smembers(pipelinesKey(prefix))).sort();
}

/** Finds the pipeline a run belongs to. */
export async function findRun(
  connection: Redis,
  runId: string,
  prefix = DEFAULT_PREFIX,
): Promise<BackfillQueues | undefined> {
  for (const p of await backfillPipelines(connection, prefix)) {
    const q = new BackfillQueues(p, { connection, prefix });
    if (await q.runData(runId)) return q;
    await q.close();
  }
  return undefined;
}
