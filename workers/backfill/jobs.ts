import { randomBytes } from 'node:crypto';
import { fnv1a } from '../sinks/shared/identifiers.js';
import type { BackfillFilter, KeyRange } from './reader.js';

/**
 * BullMQ layout of backfills, per pipeline:
 * - queue `streamscore-backfill-<pipeline>`: one `chunk` job per key range;
 * - queue `streamscore-backfill-<pipeline>.runs`: one `run` job per run, the parent of its chunks
 *   (a flow), processed once every chunk has completed or failed; and the `plan` jobs a cron
 *   schedule creates.
 * The set `<prefix>:streamscore-backfill:pipelines` names the pipelines that have queues, for
 * `status` and `schedules`.
 */
export const QUEUE_BASE = 'streamscore-backfill-';
export const DEFAULT_PREFIX = 'bull';

export interface QueueNames {
  chunks: string;
  runs: string;
}

export function queueNames(pipeline: string): QueueNames {
  return { chunks: `${QUEUE_BASE}${pipeline}`, runs: `${QUEUE_BASE}${pipeline}.runs` };
}

export function pipelinesKey(prefix: string): string {
  return `${prefix}:${QUEUE_BASE.slice(0, -1)}:pipelines`;
}

export const JOB = { run: 'run', chunk: 'chunk', plan: 'plan' } as const;

export interface RunData {
  runId: string;
  pipeline: string;
  table: string;
  chunks: number;
  /** Rows matching the filter when planned. */
  plannedRows: number;
  filter: BackfillFilter;
  trigger: 'cli' | 'schedule';
  createdAt: number;
  /** Set by `backfill cancel`: remaining chunks fail fast with "cancelled". */
  cancelledAt?: number;
}

export interface ChunkData {
  runId: string;
  pipeline: string;
  /** Source table the run was planned on; a worker reading another table does not take the chunk. */
  table: string;
  index: number;
  range: KeyRange;
  filter: BackfillFilter;
}

/** Data of the jobs a cron schedule creates: plan and enqueue a run of everything. */
export interface PlanData {
  pipeline: string;
}

export interface ChunkResult {
  /** Rows read. */
  rows: number;
  scored: number;
  deleted: number;
  deadLettered: number;
  ms: number;
  /** Snapshot position of the read, µs since the epoch (as text). */
  snapshotUs: string;
}

export interface RunResult {
  chunks: number;
  rows: number;
  scored: number;
  deadLettered: number;
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function checkRunId(id: string): string {
  if (!RUN_ID.test(id)) {
    throw new Error(`run id: expected letters, digits, '_', '.' or '-' (at most 128), got '${id}'`);
  }
  return id;
}

/** `20261124T150102` (UTC) */
export function stamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').slice(0, 15);
}

/** A new run id: pipeline, UTC time, 4 random hex digits. */
export function newRunId(pipeline: string, at: Date): string {
  return `${pipeline}-${stamp(at)}-${randomBytes(2).toString('hex')}`;
}

/** The run id of a scheduled firing: the same for every attempt of the same firing. */
export function scheduledRunId(pipeline: string, firedAtMs: number): string {
  return `${pipeline}-sched-${stamp(new Date(firedAtMs))}`;
}

/** Deterministic chunk job id: run id, index and a hash of the bounds and filter. */
export function chunkJobId(runId: string, index: number, range: KeyRange, filter: BackfillFilter): string {
  const h = fnv1a(JSON.stringify([range, filter]))
    .toString(16)
    .padStart(8, '0');
  return `${runId}.${String(index).padStart(5, '0')}-${h}`;
}
