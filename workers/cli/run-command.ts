import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { BackfillRuntimeOptions } from '../backfill/runtime.js';
import { errorMessage } from '../core/errors.js';
import { redactText } from '../core/secret.js';
import type { Logger } from '../core/types.js';
import { ModelRegistry } from '../inference/index.js';
import { createLogger } from '../observability/logger.js';
import { announceScrapeTarget, SCRAPE_TARGETS_ENV } from '../observability/scrape-target.js';
import { startObservabilityServer } from '../observability/server.js';
import { createTelemetry } from '../observability/telemetry.js';
import { runFleet } from '../runtime/fleet.js';
import { shouldExitWithParent, watchParent } from '../runtime/parent-watch.js';
import { Worker } from '../runtime/worker.js';
import { formatProblem } from '../spec/problems.js';
import { type ValidatedPipeline, validatePipelineFile } from '../spec/validate.js';
import { backfillEnv, connectRedis } from './backfill-command.js';

interface RunOptions {
  workers: string;
  port?: string;
  logLevel: string;
  backfill: boolean;
  backfillOnly?: boolean;
  exitWithParent?: boolean;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('Score change events: consume, decode, map features, infer, write every sink, then commit.')
    .argument('<files...>', 'pipeline YAML files (one worker runs them all)')
    .option(
      '-w, --workers <n>',
      'worker processes in the same consumer groups (crashed ones restarted with back-off; the supervisor exits 1 after STREAMSCORE_FLEET_MAX_FAILURES failures in STREAMSCORE_FLEET_FAILURE_WINDOW_MS, default 5 in 5 min)',
      '1',
    )
    .option(
      '--port <port>',
      'metrics/health port (overrides monitoring.port; 0 = off; auto = any free port, announced to Prometheus through STREAMSCORE_PROM_SD_DIR)',
    )
    .option('--backfill-only', 'process only backfill chunks (BullMQ), no Kafka consumers; needs REDIS_URL')
    .option('--no-backfill', 'do not process backfill chunks even when REDIS_URL is set')
    .option(
      '--exit-with-parent',
      'drain and exit when the parent process exits (default: when started by npx/npm, and for fleet workers)',
    )
    .option('--no-exit-with-parent', 'keep running when the parent process exits')
    .option(
      '--log-level <level>',
      'debug, info, warn or error',
      process.env['STREAMSCORE_LOG_LEVEL'] ?? 'info',
    )
    .addHelpText(
      'after',
      `
SIGTERM/SIGINT stop fetching, finish and commit in-flight batches, and exit 0.
npx/npm run the bin through \`sh -c\` and pass SIGTERM only to that shell: started that way,
a worker also drains when its parent exits. Supervisors should run \`node dist/workers/cli/main.js run\`
(or \`exec\` it) so the signal reaches the worker itself. Fleet workers stop with their supervisor.
A terminal error (bad credentials, missing table, retries exhausted) exits non-zero without
committing past unwritten records.

Examples:
  $ streamscore run pipelines/churn-scoring.yaml
  $ streamscore run --workers 2 pipelines/churn-scoring.yaml pipelines/fraud-scoring.yaml`,
    )
    .action(async (files: string[], opts: RunOptions) => {
      const logger = createLogger(opts.logLevel, { worker: process.env['STREAMSCORE_WORKER_ID'] ?? '0' });
      const workers = Number(opts.workers);
      if (!Number.isInteger(workers) || workers < 1)
        throw new Error(`--workers: expected a positive integer, got '${opts.workers}'`);
      const registry = new ModelRegistry();
      const validated: ValidatedPipeline[] = [];
      let bad = false;
      for (const f of files) {
        const v = await validatePipelineFile(f, { keepModel: workers === 1, registry });
        if (v.problems.length > 0) {
          bad = true;
          process.stderr.write(`${redactText(v.problems.map(formatProblem).join('\n'), v.secrets)}\n`);
        }
        validated.push(v);
      }
      if (bad) {
        process.exitCode = 1;
        return;
      }
      const exitWithParent = shouldExitWithParent(opts.exitWithParent);
      const port = parsePort(opts.port);
      if (workers > 1) {
        // Announced to Prometheus, each worker serves its own /metrics on a free port.
        const workerPort = process.env[SCRAPE_TARGETS_ENV] ? 'auto' : '0';
        const args = ['run', ...files, '--workers', '1', '--log-level', opts.logLevel, '--port', workerPort];
        if (opts.backfillOnly) args.push('--backfill-only');
        if (!opts.backfill) args.push('--no-backfill');
        const supervisor = await startSupervisorMetrics(
          port ?? validated[0]?.pipeline?.spec.monitoring.port ?? 0,
          validated.map((v) => v.pipeline!.metadata.name),
          logger,
        );
        process.exitCode = await runFleet({
          workers,
          module: process.argv[1] ?? fileURLToPath(new URL('./main.js', import.meta.url)),
          args,
          logger,
          exitWithParent,
          onRestart: supervisor?.restarted,
        });
        await supervisor?.close();
        return;
      }
      let worker: Worker | undefined;
      let orphaned = false;
      const stop = () => void worker?.stop();
      const parent = exitWithParent
        ? watchParent((why) => {
            logger.warn({ why }, 'Parent process gone; draining as on SIGTERM.');
            orphaned = true;
            stop();
          })
        : undefined;
      try {
        const backfill = await backfillOptions(validated, opts);
        worker = await Worker.create({
          pipelines: validated,
          logger,
          registry,
          ...(backfill ? { backfill } : {}),
          ...(port !== undefined ? { port } : {}),
        });
      } catch (err) {
        process.stderr.write(`streamscore run: ${errorMessage(err)}\n`);
        process.exit(1);
      }
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      // Orphaned while starting: stop now that there is a worker to drain.
      if (orphaned) stop();
      const code = await worker.finished;
      parent?.stop();
      process.exit(code);
    });
}

function parsePort(raw: string | undefined): number | 'auto' | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'auto') return 'auto';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`--port: expected a port number, 0 (off) or auto, got '${raw}'`);
  return n;
}

/**
 * A fleet supervisor's own /metrics (streamscore_worker_restarts), on the pipelines' metrics port
 * (its workers use free ports of their own), announced to Prometheus like a worker. When that
 * port is taken, the fleet runs without it (a warning says so).
 */
async function startSupervisorMetrics(
  wanted: number | 'auto',
  pipelines: string[],
  logger: Logger,
): Promise<{ restarted(slot: number, failed: boolean): void; close(): Promise<void> } | undefined> {
  if (wanted === 0) return undefined;
  const telemetry = createTelemetry('streamscore');
  const restarts = telemetry.provider.getMeter('streamscore').createCounter('streamscore_worker_restarts', {
    description:
      'Fleet workers restarted by their supervisor (failed: it had exited non-zero or was killed).',
  });
  const attrs = { pipelines: pipelines.join(',') };
  restarts.add(0, { ...attrs, failed: 'true' });
  restarts.add(0, { ...attrs, failed: 'false' });
  let server: Server;
  try {
    server = await startObservabilityServer(wanted === 'auto' ? 0 : wanted, telemetry.exporter, {
      live: () => true,
      ready: () => true,
    });
  } catch (err) {
    // The workers do their job without it: a busy port costs the restart count, not the fleet.
    logger.warn({ port: wanted, error: errorMessage(err) }, 'Fleet supervisor metrics not served.');
    return undefined;
  }
  const address = server.address();
  const target = announceScrapeTarget({
    dir: process.env[SCRAPE_TARGETS_ENV],
    port: address !== null && typeof address === 'object' ? address.port : 0,
    labels: { role: 'supervisor', pipelines: attrs.pipelines },
    logger,
  });
  return {
    restarted: (_slot, failed) => restarts.add(1, { ...attrs, failed: String(failed) }),
    async close() {
      target?.remove();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Backfill chunks are processed when a pipeline has a backfill section and REDIS_URL is set (or
 * `--backfill-only` is given), unless `--no-backfill`.
 */
async function backfillOptions(
  validated: readonly ValidatedPipeline[],
  opts: RunOptions,
): Promise<BackfillRuntimeOptions | undefined> {
  const any = validated.some((v) => v.pipeline?.spec.backfill !== undefined);
  if (opts.backfillOnly && (!opts.backfill || !any)) {
    throw new Error('--backfill-only: none of the pipelines has a spec.backfill section to process');
  }
  if (!opts.backfill || !any || (!opts.backfillOnly && process.env['REDIS_URL'] === undefined))
    return undefined;
  const env = backfillEnv();
  return {
    connection: await connectRedis(env.redis),
    prefix: env.prefix,
    only: opts.backfillOnly === true,
  };
}
