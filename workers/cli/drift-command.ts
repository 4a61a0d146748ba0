import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, type CommanderError, Option } from 'commander';
import { errorMessage } from '../core/errors.js';
import { redactText } from '../core/secret.js';
import { formatDrift } from '../drift/format.js';
import type { DriftSnapshot } from '../drift/monitor.js';
import { SCRAPE_TARGETS_ENV } from '../observability/scrape-target.js';
import { loadPipeline } from '../spec/load.js';
import { formatProblem } from '../spec/problems.js';

interface DriftOptions {
  worker?: string[];
  windows: string;
  format: 'text' | 'json';
}

/** Exit codes: 0 no alarm in the latest windows, 1 an alarm, 2 usage or unreachable, 3 no window closed yet. */
export const DRIFT_EXIT = { ok: 0, alarm: 1, usage: 2, noWindow: 3 } as const;

class DriftFailure extends Error {}

export function registerDrift(program: Command): void {
  program
    .command('drift')
    .description(
      "The latest drift windows of a pipeline's workers: each feature and output beside its reference distribution, PSI, threshold, alarm, null and out-of-range rates.",
    )
    .argument('<pipeline>', 'pipeline YAML file')
    .option(
      '--worker <url>',
      `a worker's monitoring address (host:port or URL; repeat for several); default: the pipeline's workers announced in $${SCRAPE_TARGETS_ENV}, else 127.0.0.1:<monitoring.port>`,
      (v: string, acc: string[] = []) => [...acc, v],
    )
    .option('--windows <n>', 'closed windows shown in the history column', '6')
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .exitOverride(usageExit)
    .addHelpText(
      'after',
      `
Each worker keeps its latest windows in memory and serves them at /drift on its monitoring port
(monitoring.port; a fleet's workers, \`run --workers N\`, each on a free port, announced to Prometheus
in $${SCRAPE_TARGETS_ENV}, which the local stack sets: without --worker every worker of the pipeline
found there is asked). A worker sees the partitions it consumes, so ask every worker of a fleet.
Exit 0 no alarm in any worker's latest window, 1 an alarm, 2 usage error or a worker unreachable,
3 no window closed yet.

Examples:
  $ streamscore drift pipelines/churn-scoring.yaml
  $ streamscore drift pipelines/churn-scoring.yaml --worker 10.0.0.5:9464 --worker 10.0.0.6:9464
  $ streamscore drift pipelines/churn-scoring.yaml --format json | jq '.[0].versions[0].windows[-1].stats'`,
    )
    .action(async (file: string, opts: DriftOptions) => {
      let secrets: Iterable<string> = [];
      try {
        const loaded = loadPipeline(file);
        secrets = loaded.secrets;
        const p = loaded.pipeline;
        if (p === undefined || loaded.problems.length > 0) {
          throw new DriftFailure(
            `${file} is not a valid pipeline:\n${loaded.problems.map(formatProblem).join('\n')}`,
          );
        }
        const windows = Number(opts.windows);
        if (!Number.isInteger(windows) || windows < 1) {
          throw new DriftFailure(`--windows expects a whole number of at least 1, got '${opts.windows}'`);
        }
        const name = p.metadata.name;
        const workers = opts.worker ?? announcedWorkers(name) ?? [`127.0.0.1:${p.spec.monitoring.port}`];
        const views: { worker: string; snapshot: DriftSnapshot }[] = [];
        for (const w of workers) {
          const snapshot = await fetchSnapshot(w, name);
          views.push({ worker: w, snapshot });
        }
        if (opts.format === 'json') {
          process.stdout.write(
            `${JSON.stringify(
              views.map((v) => ({ worker: v.worker, ...v.snapshot })),
              null,
              2,
            )}\n`,
          );
        } else {
          process.stdout.write(views.map((v) => formatDrift(v.worker, v.snapshot, windows)).join('\n'));
        }
        const latest = views.flatMap((v) =>
          v.snapshot.versions.filter((x) => x.current).map((x) => x.windows.at(-1)),
        );
        process.exitCode = latest.some((w) => w !== undefined && w.alarms > 0)
          ? DRIFT_EXIT.alarm
          : latest.some((w) => w !== undefined)
            ? DRIFT_EXIT.ok
            : DRIFT_EXIT.noWindow;
      } catch (err) {
        const message = err instanceof DriftFailure ? err.message : `drift ${file}: ${errorMessage(err)}`;
        process.stderr.write(`streamscore: ${redactText(message, secrets)}\n`);
        process.exitCode = DRIFT_EXIT.usage;
      }
    });
}

/**
 * The monitoring addresses of the pipeline's running workers as `run` announces them to
 * Prometheus (file-based service discovery: one JSON target group per process, labels `role` and
 * `pipelines`); undefined when the directory is not set or holds none.
 */
export function announcedWorkers(
  pipeline: string,
  dir = process.env[SCRAPE_TARGETS_ENV],
): string[] | undefined {
  if (dir === undefined || dir === '') return undefined;
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith('streamscore-') && n.endsWith('.json'));
  } catch {
    return undefined;
  }
  const found: string[] = [];
  for (const n of names.sort()) {
    try {
      const groups = JSON.parse(readFileSync(join(dir, n), 'utf8')) as {
        targets?: string[];
        labels?: Record<string, string>;
      }[];
      for (const g of groups) {
        if (g.labels?.['role'] !== 'worker') continue;
        if (!(g.labels['pipelines'] ?? '').split(',').includes(pipeline)) continue;
        found.push(...(g.targets ?? []));
      }
    } catch {
      // A file being replaced or removed by its process: skip it.
    }
  }
  return found.length > 0 ? found : undefined;
}

/** The pipeline's snapshot from one worker's /drift. */
async function fetchSnapshot(worker: string, pipeline: string): Promise<DriftSnapshot> {
  const base = /^https?:\/\//.test(worker) ? worker : `http://${worker}`;
  const url = `${base.replace(/\/+$/, '').replace(/\/drift$/, '')}/drift`;
  let body: unknown;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (err) {
    throw new DriftFailure(
      `cannot read ${url}: ${errorMessage(err)} (is a worker of this pipeline serving its monitoring port there? a fleet supervisor does not serve /drift, its workers do: pass --worker host:port, or set ${SCRAPE_TARGETS_ENV})`,
    );
  }
  const found = (body as { pipelines?: DriftSnapshot[] }).pipelines?.find((s) => s.pipeline === pipeline);
  if (found === undefined) {
    const names = ((body as { pipelines?: DriftSnapshot[] }).pipelines ?? []).map((s) => s.pipeline);
    throw new DriftFailure(
      `the worker at ${url} does not run pipeline '${pipeline}' with drift on (it runs: ${names.length > 0 ? names.join(', ') : 'none with drift'})`,
    );
  }
  return found;
}

/** Commander's own errors exit 2; help exits 0. */
function usageExit(err: CommanderError): never {
  process.exit(err.exitCode === 0 ? 0 : DRIFT_EXIT.usage);
}
