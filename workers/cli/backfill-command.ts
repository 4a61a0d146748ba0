import { type Command, Option } from 'commander';
import type { Redis } from 'ioredis';
import { createTableReader } from '../backfill/create.js';
import { resolveFilter } from '../backfill/filter.js';
import { checkRunId, DEFAULT_PREFIX, newRunId } from '../backfill/jobs.js';
import { formatProgress, formatRunLine, formatStatus, RateMeter } from '../backfill/progress.js';
import { BackfillQueues, backfillPipelines, findRun, type RunStatus } from '../backfill/queues.js';
import type { TableReader } from '../backfill/reader.js';
import { connectRedis, type RedisSettings, redisSettings } from '../backfill/redis.js';
import { BackfillWorker } from '../backfill/worker.js';
import { errorMessage } from '../core/errors.js';
import { redactText } from '../core/secret.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics, noopMeter } from '../observability/metrics.js';
import { assembleValidated } from '../runtime/assemble.js';
import { formatProblem } from '../spec/problems.js';
import { type ValidatedPipeline, validatePipelineFile } from '../spec/validate.js';

/** Environment of the backfill commands (and of `run`'s backfill workers). */
export interface BackfillEnv {
  /** REDIS_URL, REDIS_PASSWORD(_FILE), REDIS_TLS_CA_FILE: see backfill/redis.ts. */
  redis: RedisSettings;
  /** BullMQ key prefix: STREAMSCORE_BACKFILL_PREFIX, default `bull`. */
  prefix: string;
}

export function backfillEnv(env: NodeJS.ProcessEnv = process.env): BackfillEnv {
  return {
    redis: redisSettings(env),
    prefix: env['STREAMSCORE_BACKFILL_PREFIX'] || DEFAULT_PREFIX,
  };
}

export { connectRedis };

interface StartOptions {
  where: string[];
  since?: string;
  runId?: string;
  wait?: boolean;
  work?: boolean;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

export function registerBackfill(program: Command): void {
  const backfill = program
    .command('backfill')
    .description(
      'Score every row of a pipeline’s source table in key-range chunks on BullMQ (processed by `streamscore run`).',
    )
    .addHelpText(
      'after',
      `
Environment: REDIS_URL (default redis://127.0.0.1:6379; rediss://[user@]host:port for TLS);
REDIS_PASSWORD or REDIS_PASSWORD_FILE (the user's password); REDIS_TLS_CA_FILE (CA to trust);
STREAMSCORE_BACKFILL_PREFIX (BullMQ key prefix, default bull).

Examples:
  $ streamscore backfill pipelines/churn-scoring.yaml --wait
  $ streamscore backfill pipelines/churn-scoring.yaml --work        # no worker running: process it here
  $ streamscore backfill pipelines/churn-scoring.yaml --since 24h --where "plan <> 'basic'"
  $ streamscore backfill status
  $ streamscore backfill status churn-scoring-20261124T030000-1a2b
  $ streamscore backfill cancel churn-scoring-20261124T030000-1a2b
  $ streamscore backfill schedules`,
    );

  backfill
    .command('start', { isDefault: true })
    .description('Plan the chunks of a run and enqueue them (the default subcommand).')
    .argument('<pipeline>', 'pipeline YAML file with a backfill section')
    .addOption(
      new Option('--where <sql>', 'extra SQL condition on the source table (repeatable, ANDed)')
        .argParser((v: string, prev: string[]) => [...prev, v])
        .default([]),
    )
    .option('--since <window>', 'only rows updated since: a duration (24h, 7d) or an ISO date/time')
    .option('--run-id <id>', 'run id; enqueuing an existing run id again adds nothing')
    .option('--wait', 'show live progress on stderr; exit non-zero if a chunk failed')
    .option(
      '--work',
      'also process chunks in this process (the pipeline’s concurrency) until the run ends; implies --wait',
    )
    .action(async (file: string, opts: StartOptions) => {
      process.exitCode = await start(file, opts);
    });

  backfill
    .command('status')
    .description('Show one run (chunks, rows, failures with their reasons), or the recent runs.')
    .argument('[run-id]', 'run id')
    .option('--limit <n>', 'recent runs per pipeline', '10')
    .action(async (runId: string | undefined, opts: { limit: string }) => {
      process.exitCode = await withQueues(async (redis, prefix) => {
        if (runId !== undefined) {
          const q = await findRun(redis, runId, prefix);
          if (!q) return fail(`no backfill run '${runId}'`);
          const s = (await q.status(runId))!;
          await q.close();
          process.stdout.write(`${formatStatus(s)}\n`);
          return s.state === 'failed' ? 1 : 0;
        }
        const lines: string[] = [];
        for (const p of await backfillPipelines(redis, prefix)) {
          const q = new BackfillQueues(p, { connection: redis, prefix });
          for (const s of await q.recentRuns(Number(opts.limit) || 10)) lines.push(formatRunLine(s));
          await q.close();
        }
        process.stdout.write(lines.length === 0 ? 'no backfill runs\n' : `${lines.join('\n')}\n`);
        return 0;
      });
    });

  backfill
    .command('cancel')
    .description('Cancel a run: pending chunks fail as cancelled, chunks in progress stop after their fetch.')
    .argument('<run-id>', 'run id')
    .action(async (runId: string) => {
      process.exitCode = await withQueues(async (redis, prefix) => {
        const q = await findRun(redis, runId, prefix);
        if (!q) return fail(`no backfill run '${runId}'`);
        const cancelled = await q.cancel(runId);
        const s = (await q.status(runId))!;
        await q.close();
        if (!cancelled) {
          process.stdout.write(`run ${runId} has already finished (${s.state})\n`);
          return 0;
        }
        const left = s.chunks.total - s.chunks.done - s.chunks.failed;
        process.stdout.write(`cancelling run ${runId}: ${left} of ${s.chunks.total} chunks not done\n`);
        return 0;
      });
    });

  backfill
    .command('schedules')
    .description('List the cron schedules registered from pipelines (by `streamscore run`).')
    .action(async () => {
      process.exitCode = await withQueues(async (redis, prefix) => {
        const lines: string[] = [];
        for (const p of await backfillPipelines(redis, prefix)) {
          const q = new BackfillQueues(p, { connection: redis, prefix });
          for (const s of await q.schedules()) {
            const next = s.next === undefined ? '-' : new Date(s.next).toISOString();
            lines.push(
              `${s.pipeline.padEnd(28)} ${s.cron.padEnd(18)} ${s.tz.padEnd(16)} next ${next}  fired ${s.fired}`,
            );
          }
          await q.close();
        }
        process.stdout.write(lines.length === 0 ? 'no backfill schedules\n' : `${lines.join('\n')}\n`);
        return 0;
      });
    });
}

function fail(message: string): number {
  process.stderr.write(`streamscore backfill: ${message}\n`);
  return 1;
}

async function withQueues(fn: (redis: Redis, prefix: string) => Promise<number>): Promise<number> {
  let redis: Redis | undefined;
  try {
    const env = backfillEnv();
    redis = await connectRedis(env.redis);
    return await fn(redis, env.prefix);
  } catch (err) {
    return fail(errorMessage(err));
  } finally {
    redis?.disconnect();
  }
}

async function start(file: string, opts: StartOptions): Promise<number> {
  const v = await validatePipelineFile(file, { keepModel: opts.work === true });
  if (!v.pipeline) {
    process.stderr.write(`${redactText(v.problems.map(formatProblem).join('\n'), v.secrets)}\n`);
    return 1;
  }
  const spec = v.pipeline.spec.backfill;
  const name = v.pipeline.metadata.name;
  if (!spec) return fail(`${file}: the pipeline has no spec.backfill section`);
  const now = new Date();
  let runId: string;
  let filter: ReturnType<typeof resolveFilter>;
  try {
    runId = opts.runId === undefined ? newRunId(name, now) : checkRunId(opts.runId);
    filter = resolveFilter(spec, { where: opts.where, since: opts.since }, now);
  } catch (err) {
    return fail(errorMessage(err));
  }
  return withQueues(async (redis, prefix) => {
    const queues = new BackfillQueues(name, { connection: redis, prefix });
    const reader = createTableReader(spec, { pipeline: name, poolSize: spec.concurrency + 1 });
    let local: LocalWorker | undefined;
    try {
      const run = await queues.enqueue({ runId, reader, spec, filter, trigger: 'cli', now });
      process.stdout.write(
        run.created
          ? `run ${run.runId}: ${run.chunks} chunks, ${run.plannedRows} rows of ${reader.table}\n`
          : `run ${run.runId} already exists (${run.chunks} chunks); nothing added\n`,
      );
      if (opts.work) local = await startLocalWorker(v, reader, redis, prefix);
      return opts.wait || opts.work ? await watch(queues, run.runId) : 0;
    } catch (err) {
      return fail(redactText(errorMessage(err), v.secrets));
    } finally {
      await local?.close();
      await v.model?.close();
      await reader.close();
      await queues.close();
    }
  });
}

interface LocalWorker {
  close(): Promise<void>;
}

/** `--work`: the pipeline assembled as `streamscore run` assembles it, processing chunks here. */
async function startLocalWorker(
  v: ValidatedPipeline,
  reader: TableReader,
  connection: Redis,
  prefix: string,
): Promise<LocalWorker> {
  const p = v.pipeline!;
  const logger = createLogger(process.env['STREAMSCORE_LOG_LEVEL'] ?? 'warn', { worker: 'backfill-cli' });
  const a = await assembleValidated(v, {
    metrics: createMetrics(noopMeter(), p.metadata.name, logger),
    logger,
  });
  await a.open();
  const worker = await BackfillWorker.create({
    pipeline: p.metadata.name,
    spec: p.spec.backfill!,
    path: a.processor.backfill,
    connection,
    prefix,
    logger,
    reader,
    syncSchedule: false,
  }).catch(async (err) => {
    await a.close();
    throw err;
  });
  return {
    async close() {
      await worker.close();
      await a.close();
    },
  };
}

/** Live progress on stderr until the run finishes; Ctrl-C stops watching (the run goes on). */
async function watch(queues: BackfillQueues, runId: string): Promise<number> {
  const tty = process.stderr.isTTY === true;
  const meter = new RateMeter();
  let interrupted = false;
  const onInt = () => {
    interrupted = true;
  };
  process.once('SIGINT', onInt);
  let lastLine = '';
  let lastPrinted = 0;
  let warnedIdle = false;
  const started = Date.now();
  let s: RunStatus | undefined;
  try {
    for (;;) {
      s = await queues.status(runId);
      if (!s) return fail(`run ${runId} disappeared`);
      const now = Date.now();
      meter.add(now, s.rows.done + s.rows.inFlight);
      const line = formatProgress(s, meter.rate());
      const final = TERMINAL.has(s.state);
      if (tty) process.stderr.write(`\r${line}\x1b[K`);
      else if (final || (line !== lastLine && now - lastPrinted >= 5000)) {
        process.stderr.write(`${line}\n`);
        lastPrinted = now;
      }
      lastLine = line;
      if (final) break;
      if (!warnedIdle && now - started > 5000 && s.chunks.done + s.chunks.active === 0) {
        warnedIdle = true;
        if ((await queues.chunks.getWorkersCount()) === 0) {
          process.stderr.write(
            `${tty ? '\n' : ''}no worker is processing ${queues.names.chunks}; start one (streamscore run --backfill-only <pipeline.yaml>) or enqueue with --work\n`,
          );
        }
      }
      if (interrupted) {
        process.stderr.write(
          `${tty ? '\n' : ''}stopped watching; the run goes on: streamscore backfill status ${runId}\n`,
        );
        return 130;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    process.removeListener('SIGINT', onInt);
  }
  if (tty) process.stderr.write('\n');
  if (s.state !== 'completed') {
    process.stderr.write(`${formatStatus(s)}\n`);
    return 1;
  }
  return 0;
}
