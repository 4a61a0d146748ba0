/**
 * Runs `streamscore run` as a child process the way an operator would (compiled JavaScript, see
 * `cliCommand`), with the bench probe preloaded (event-loop delay, memory; see probe.mjs) and
 * optionally `--cpu-prof`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { memoryMb, processTree } from './procstat.js';
import { type Spawned, spawnLogged } from './spawned.js';

const PROBE = resolve('test/bench/probe.mjs');
// One build per bench process: two bench runs at once (other engineers' on a shared machine) must
// not delete each other's compiled CLI while their workers start from it.
const BENCH_DIST = resolve(`.bench/dist-${process.pid}`);
const BENCH_CLI = `${BENCH_DIST}/workers/cli/main.js`;
process.once('exit', () => rmSync(BENCH_DIST, { recursive: true, force: true }));

let built: { args: string[]; mode: 'bench-dist' | 'tsx' } | undefined;

/**
 * How the CLI is started: compiled once per bench run from the current workers/ sources into
 * .bench/dist-<pid> (tsc, a few seconds; removed when the bench exits), so workers run plain JavaScript as in production and the
 * measurement holds no TypeScript-loader work; from the sources through tsx when that fails.
 */
export function cliCommand(): { args: string[]; mode: 'bench-dist' | 'tsx' } {
  if (built) return built;
  rmSync(BENCH_DIST, { recursive: true, force: true });
  const tsc = spawnSync(
    process.execPath,
    [resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', BENCH_DIST],
    {
      encoding: 'utf8',
    },
  );
  built = existsSync(BENCH_CLI)
    ? { args: [BENCH_CLI], mode: 'bench-dist' }
    : { args: ['--import', 'tsx', resolve('workers/cli/main.ts')], mode: 'tsx' };
  if (tsc.status !== 0)
    process.stderr.write(
      `bench: tsc reported problems (${built.mode} used): ${(tsc.stdout + tsc.stderr).slice(0, 400)}\n`,
    );
  return built;
}

export interface RunningWorker extends Omit<Spawned, 'stop'> {
  /** Starts a new measurement window in every worker process (SIGUSR2 to the probe). */
  markWindow(): void;
  /** Per worker process: event-loop delay since the last window mark, peak RSS. */
  probes(): WorkerProbe[];
  stop(): Promise<number | null>;
}

export interface WorkerProbe {
  pid: number;
  /** Monotonic clock (µs, as V8 profiles use) when the measurement window started. */
  window_start_mono_us: number;
  event_loop_delay_ms: { p50: number; p99: number; p999: number; max: number; mean: number };
  rss_mb_peak: number;
  /** Peaks (MiB) of the JS heap reserved and used, and of memory outside it (probe.mjs). */
  memory_peak_mb?: { heap_total: number; heap_used: number; external: number; array_buffers: number };
}

export function startWorker(args: {
  pipeline: string;
  workers: number;
  env: Record<string, string>;
  logFile: string;
  cpuProfDir?: string;
}): RunningWorker {
  const probeDir = resolve(`.bench/probe-${process.pid}-${Date.now()}`);
  mkdirSync(probeDir, { recursive: true });
  const cli = cliCommand();
  // BENCH_WORKER_NODE_ARGS: Node/V8 flags for the workers alone (an A/B of heap settings).
  const nodeArgs = [
    '--import',
    PROBE,
    ...(process.env['BENCH_WORKER_NODE_ARGS']?.split(' ').filter(Boolean) ?? []),
  ];
  if (args.cpuProfDir) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${args.cpuProfDir}`);
  const proc = spawnLogged(
    process.execPath,
    [
      ...nodeArgs,
      ...cli.args,
      'run',
      args.pipeline,
      '--workers',
      String(args.workers),
      '--no-backfill',
      '--port',
      '0',
      '--log-level',
      'warn',
    ],
    {
      env: { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1', BENCH_PROBE_DIR: probeDir, ...args.env },
      logFile: args.logFile,
    },
  );
  const nodePids = () => processTree(proc.pid);
  return {
    ...proc,
    markWindow() {
      for (const p of nodePids()) {
        try {
          process.kill(p, 'SIGUSR2');
        } catch {
          // exited
        }
      }
    },
    probes() {
      const list: WorkerProbe[] = [];
      for (const p of nodePids()) {
        const f = join(probeDir, `${p}.json`);
        if (!existsSync(f)) continue;
        try {
          const d = JSON.parse(readFileSync(f, 'utf8')) as {
            event_loop_delay_ms: WorkerProbe['event_loop_delay_ms'];
            max_rss_mb: number;
            window_start_mono_us: number;
            memory_peak_mb?: WorkerProbe['memory_peak_mb'];
          };
          const mem = memoryMb(p);
          list.push({
            pid: p,
            window_start_mono_us: d.window_start_mono_us,
            event_loop_delay_ms: d.event_loop_delay_ms,
            rss_mb_peak: mem ? Math.round(mem.peak) : d.max_rss_mb,
            ...(d.memory_peak_mb ? { memory_peak_mb: d.memory_peak_mb } : {}),
          });
        } catch {
          // being rewritten; skip
        }
      }
      return list;
    },
    async stop() {
      const c = await proc.stop(40000);
      rmSync(probeDir, { recursive: true, force: true });
      return c;
    },
  };
}

/** The processes of a fleet that do the work: the children when there are any, else the root. */
export function workerPids(w: RunningWorker): number[] {
  const tree = processTree(w.pid);
  return tree.length > 1 ? tree.slice(1) : tree;
}

/**
 * An idle Node process with the same probe: its event-loop delay is what the machine's scheduler
 * alone adds (other processes competing for the cores), the floor under any latency measured here.
 */
export function startIdleProbe(): { stop(): Promise<{ p50: number; p99: number; max: number } | null> } {
  const dir = resolve(`.bench/probe-idle-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  const proc = spawnLogged(process.execPath, ['--import', PROBE, '-e', 'setInterval(() => {}, 1000)'], {
    env: { ...process.env, BENCH_PROBE_DIR: dir },
    logFile: '/dev/null',
  });
  return {
    async stop() {
      let out: { p50: number; p99: number; max: number } | null = null;
      try {
        const d = JSON.parse(readFileSync(join(dir, `${proc.pid}.json`), 'utf8')) as {
          event_loop_delay_ms: { p50: number; p99: number; max: number };
        };
        out = {
          p50: d.event_loop_delay_ms.p50,
          p99: d.event_loop_delay_ms.p99,
          max: d.event_loop_delay_ms.max,
        };
      } catch {
        out = null;
      }
      await proc.stop(5000);
      rmSync(dir, { recursive: true, force: true });
      return out;
    },
  };
}
