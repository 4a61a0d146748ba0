import type { Redis } from 'ioredis';
import type { Logger } from '../core/types.js';
import type { ScoringPath } from './chunk.js';
import type { BackfillSpec } from './create.js';
import { BackfillWorker } from './worker.js';

/** What `streamscore run` passes to its Worker to process backfill chunks too. */
export interface BackfillRuntimeOptions {
  connection: Redis;
  /** BullMQ key prefix (default `bull`). */
  prefix?: string;
  /** Do not consume Kafka: only process backfill chunks (`--backfill-only`). */
  only?: boolean;
}

export interface BackfillRuntime {
  /** Pipelines whose chunks are processed. */
  readonly pipelines: readonly string[];
  close(): Promise<void>;
}

/**
 * Starts a BackfillWorker for every pipeline that has a `backfill` section, on the pipeline's own
 * scoring path, and registers (or removes) each pipeline's cron schedule.
 */
export async function startBackfillWorkers(args: {
  pipelines: readonly { name: string; spec: BackfillSpec | undefined; path: ScoringPath }[];
  options: BackfillRuntimeOptions;
  logger: Logger;
}): Promise<BackfillRuntime> {
  const workers: BackfillWorker[] = [];
  try {
    for (const p of args.pipelines) {
      if (!p.spec) continue;
      workers.push(
        await BackfillWorker.create({
          pipeline: p.name,
          spec: p.spec,
          path: p.path,
          connection: args.options.connection,
          ...(args.options.prefix === undefined ? {} : { prefix: args.options.prefix }),
          logger: args.logger,
        }),
      );
    }
  } catch (err) {
    await Promise.all(workers.map((w) => w.close().catch(() => undefined)));
    throw err;
  }
  return {
    pipelines: workers.map((w) => w.queues.pipeline),
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
