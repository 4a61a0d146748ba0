/**
 * Backfill throughput: one customers table backfilled by `streamscore run --backfill-only` worker
 * processes, variant by variant, each into a fresh scores table. Measures, never asserts. Per
 * variant: rows/s (run created → finished), worker CPU and the CPU of the Postgres backends serving
 * the workers (source reads and sink writes, found by the workers' socket ports), in µs per row,
 * and the CPU seconds of every Postgres process, the Kafka broker and Redis during the run (the
 * machine is shared: those are upper bounds), read from /proc.
 *
 * Used by the bench's `backfill` section (test/bench/main.ts) and by test/e2e/backfill-bench.ts.
 */
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import {
  churnEnv,
  churnPipeline,
  createCustomers,
  dropWarehouseTables,
  runFinished,
  runIdOf,
  testQueues,
} from '../e2e/backfill-support.js';
import { type RunningCli, runCli, startCli } from '../support/cli.js';
import { dropPgTables, removeChurnObjects, uniqueId, withPg } from '../support/stack.js';

const TICK = 100; // clock ticks per second of /proc/<pid>/stat (USER_HZ)

export interface BackfillVariant {
  name: string;
  processes: number;
  /** `spec.backfill` fields over the churn pipeline's (and the schema's defaults). */
  backfill: Record<string, unknown>;
  /** The Kafka sink too (default); false: the Postgres sink alone. */
  kafkaSink?: boolean;
  /** The committed pipeline's Snowflake sinks (fakesnow) too, on a smaller table of this many rows. */
  warehouseRows?: number;
}

/** The releases' defaults before issue 20 (500-row fetches and writes, 2 chunks per worker). */
const OLD = { fetch_rows: 500, concurrency: 2 };

/** What the bench reports: 1 and 2 workers, with and without the Kafka sink, at the defaults and the old ones. */
export const BENCH_VARIANTS: BackfillVariant[] = [
  { name: '1w_postgres', processes: 1, backfill: {}, kafkaSink: false },
  { name: '2w_postgres', processes: 2, backfill: {}, kafkaSink: false },
  { name: '1w_postgres_kafka', processes: 1, backfill: {} },
  { name: '2w_postgres_kafka', processes: 2, backfill: {} },
  { name: '1w_postgres_old_defaults', processes: 1, backfill: OLD, kafkaSink: false },
  { name: '2w_postgres_old_defaults', processes: 2, backfill: OLD, kafkaSink: false },
  { name: '1w_postgres_kafka_old_defaults', processes: 1, backfill: OLD },
  { name: '2w_postgres_kafka_old_defaults', processes: 2, backfill: OLD },
];

/** More, for test/e2e/backfill-bench.ts. */
export const MORE_VARIANTS: BackfillVariant[] = [
  { name: '1w_postgres_kafka_c2', processes: 1, backfill: { concurrency: 2 } },
  { name: '1w_postgres_c2', processes: 1, backfill: { concurrency: 2 }, kafkaSink: false },
  { name: '1w_postgres_f2000', processes: 1, backfill: { fetch_rows: 2000 }, kafkaSink: false },
  { name: '1w_warehouse', processes: 1, backfill: {}, warehouseRows: 3000 },
  { name: '2w_warehouse', processes: 2, backfill: {}, warehouseRows: 3000 },
];

export interface BackfillResult {
  variant: string;
  processes: number;
  kafka_sink: boolean;
  backfill: Record<string, unknown>;
  state: string;
  rows: number;
  seconds: number;
  rows_per_s: number;
  /** Worker CPU (all worker processes) per row. */
  worker_cpu_us_per_row: number;
  /** CPU of the Postgres backends serving the workers, per row. */
  postgres_cpu_us_per_row: number;
  cpu_seconds: Record<string, number>;
  /** Largest peak RSS (VmHWM) of one worker process, start-up included. */
  rss_mb_peak: number | null;
}

/** VmHWM of `pid` in MB (null once it has ended). */
function peakRssMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** utime + stime in seconds of every process whose command line matches. */
function cpuSeconds(match: (cmdline: string, comm: string) => boolean): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!match(cmd, comm)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended
    }
  }
  return ticks / TICK;
}

function processCpu(pids: number[]): number {
  return pids.reduce((s, pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return s + (Number(f[11]) + Number(f[12])) / TICK;
    } catch {
      return s;
    }
  }, 0);
}

/** Local TCP ports of the sockets `pids` hold (from /proc/<pid>/fd and /proc/net/tcp{,6}). */
function localPorts(pids: readonly number[]): number[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
          if (m) inodes.add(m[1]!);
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      // the process ended
    }
  }
  const ports: number[] = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9]!)) ports.push(Number.parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/**
 * CPU seconds so far of the Postgres backends serving the workers' connections (source reads and
 * sink writes), by backend pid: the other Postgres processes on the machine (other tests, WAL
 * senders) are left out.
 */
async function backendCpu(pids: readonly number[]): Promise<Map<number, number>> {
  const ports = localPorts(pids);
  const rows = await withPg((c) =>
    c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])', [ports]),
  );
  return new Map(rows.rows.map((r) => [r.pid, processCpu([r.pid])]));
}

const parties = {
  postgres: (_: string, comm: string) => comm === 'postgres',
  kafka: (cmd: string) => cmd.includes('kafka.Kafka '),
  redis: (_: string, comm: string) => comm === 'redis-server',
};

/**
 * Backfills a `rows`-row customers table once per variant. `nodeArgs` go to every worker process
 * (e.g. `--cpu-prof`); `log` gets one line per variant.
 */
export async function runBackfillBench(opts: {
  rows: number;
  variants: readonly BackfillVariant[];
  nodeArgs?: readonly string[];
  log?: (line: string) => void;
}): Promise<{ rows: number; results: BackfillResult[] }> {
  const { rows: ROWS, variants } = opts;
  const id = uniqueId();
  const base = churnEnv(id);
  const table = base['CHURN_SOURCE_TABLE']!;
  opts.log?.(`creating ${ROWS} customers in ${table}`);
  await createCustomers(table, ROWS);
  const small = `${table}_small`;
  if (variants.some((v) => v.warehouseRows))
    await createCustomers(small, Math.max(...variants.map((v) => v.warehouseRows ?? 0)));
  const results: BackfillResult[] = [];
  try {
    for (const [i, v] of variants.entries())
      results.push(await runVariant(`${id}v${i}`, v, v.warehouseRows ? small : table, opts));
  } finally {
    await dropPgTables(table, small);
  }
  return { rows: ROWS, results };
}

async function runVariant(
  vid: string,
  v: BackfillVariant,
  table: string,
  opts: { nodeArgs?: readonly string[]; log?: (line: string) => void },
): Promise<BackfillResult> {
  const e: Record<string, string> = {
    ...churnEnv(vid),
    CHURN_SOURCE_TABLE: table,
    STREAMSCORE_LOG_LEVEL: 'warn',
  };
  const file = churnPipeline(vid, v.backfill, { warehouse: v.warehouseRows !== undefined });
  if (v.kafkaSink === false) {
    const doc = parseDocument(readFileSync(file, 'utf8'));
    doc.setIn(['spec', 'sinks'], [doc.getIn(['spec', 'sinks', 0])]);
    writeFileSync(file, doc.toString());
  }
  const { queues, close } = testQueues(vid);
  const workers: RunningCli[] = [];
  try {
    for (let p = 0; p < v.processes; p++)
      workers.push(startCli(['run', '--backfill-only', file], e, opts.nodeArgs ?? []));
    // Measured from when every worker takes chunks (model loaded, sinks open), so their start-up
    // (module loading, which a loaded machine stretches past any fixed wait) is not counted.
    const ready = Date.now() + 120_000;
    while ((await queues.chunks.getWorkersCount()) < v.processes) {
      if (Date.now() > ready) throw new Error(`${v.name}: the workers did not start within 120 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const pids = workers.map((w) => w.child.pid!);
    const backendsBefore = await backendCpu(pids);
    const before = {
      workers: processCpu(pids),
      ...Object.fromEntries(Object.entries(parties).map(([k, m]) => [k, cpuSeconds(m)])),
    } as Record<string, number>;
    const res = await runCli(['backfill', file], e);
    const runId = runIdOf(res.output);
    const s = await runFinished(queues, runId, 600_000);
    let backends = 0;
    for (const [pid, cpu] of await backendCpu(pids)) backends += cpu - (backendsBefore.get(pid) ?? 0);
    const after = {
      workers: processCpu(pids),
      ...Object.fromEntries(Object.entries(parties).map(([k, m]) => [k, cpuSeconds(m)])),
    } as Record<string, number>;
    const seconds = ((s.finishedAt ?? Date.now()) - s.createdAt) / 1000;
    const cpu = Object.fromEntries(Object.keys(after).map((k) => [k, +(after[k]! - before[k]!).toFixed(1)]));
    cpu['postgres_backends'] = +backends.toFixed(1);
    const done = Math.max(1, s.rows.done);
    const r: BackfillResult = {
      variant: v.name,
      processes: v.processes,
      kafka_sink: v.kafkaSink !== false,
      backfill: v.backfill,
      state: s.state,
      rows: s.rows.done,
      seconds: +seconds.toFixed(1),
      rows_per_s: Math.round(s.rows.done / seconds),
      worker_cpu_us_per_row: +((cpu['workers']! * 1e6) / done).toFixed(1),
      postgres_cpu_us_per_row: +((backends * 1e6) / done).toFixed(1),
      cpu_seconds: cpu,
      rss_mb_peak: pids.reduce<number | null>((m, pid) => {
        const r = peakRssMb(pid);
        return r === null ? m : Math.max(m ?? 0, r);
      }, null),
    };
    opts.log?.(JSON.stringify(r));
    return r;
  } finally {
    for (const w of workers) await w.stop();
    await close();
    await removeChurnObjects({ ...e, CHURN_SOURCE_TABLE: undefined });
    if (v.warehouseRows) await dropWarehouseTables(e);
  }
}
