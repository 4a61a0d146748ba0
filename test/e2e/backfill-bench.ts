/**
 * Backfill throughput on the local stack: the same 200k-row table backfilled with 1 and 2 worker
 * processes (and variants), each into a fresh scores table. Measures, never asserts. Reports rows/s
 * (run created → finished) and the CPU seconds each party used during the run (worker processes,
 * Postgres, Kafka broker, Redis), read from /proc, to show what bounds it.
 *
 *   set -a; . .stack/env; set +a; npx tsx test/e2e/backfill-bench.ts [rows]
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { type RunningCli, runCli, startCli } from '../support/cli.js';
import { uniqueId } from '../support/stack.js';
import {
  churnEnv,
  churnPipeline,
  createCustomers,
  dropTables,
  dropWarehouseTables,
  runFinished,
  runIdOf,
  testQueues,
} from './backfill-support.js';

const ROWS = Number(process.argv[2] ?? 200_000);
const TICK = 100; // clock ticks per second of /proc/<pid>/stat (USER_HZ)

interface Variant {
  name: string;
  processes: number;
  backfill: Record<string, unknown>;
  kafkaSink?: boolean;
  /** The committed pipeline's Snowflake sinks (fakesnow) too, on a smaller table of this many rows. */
  warehouseRows?: number;
}

const variants: Variant[] = [
  { name: '1 process, concurrency 2', processes: 1, backfill: {} },
  { name: '2 processes, concurrency 2', processes: 2, backfill: {} },
  { name: '1 process, concurrency 4', processes: 1, backfill: { concurrency: 4 } },
  { name: '1 process, concurrency 2, no Kafka sink', processes: 1, backfill: {}, kafkaSink: false },
  {
    name: '1 process, concurrency 2, with the warehouse sinks',
    processes: 1,
    backfill: {},
    warehouseRows: 3000,
  },
  {
    name: '2 processes, concurrency 2, with the warehouse sinks',
    processes: 2,
    backfill: {},
    warehouseRows: 3000,
  },
];

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

const parties = {
  postgres: (_: string, comm: string) => comm === 'postgres',
  kafka: (cmd: string) => cmd.includes('kafka.Kafka '),
  redis: (_: string, comm: string) => comm === 'redis-server',
};

async function main(): Promise<void> {
  const id = uniqueId();
  const base = churnEnv(id);
  const table = base['CHURN_SOURCE_TABLE']!;
  process.stdout.write(`creating ${ROWS} customers in ${table}\n`);
  await createCustomers(table, ROWS);
  const small = `${table}_small`;
  if (variants.some((v) => v.warehouseRows))
    await createCustomers(small, Math.max(...variants.map((v) => v.warehouseRows ?? 0)));
  const results: Record<string, unknown>[] = [];
  for (const [i, v] of variants.entries()) {
    const vid = `${id}v${i}`;
    const e: Record<string, string> = {
      ...churnEnv(vid),
      CHURN_SOURCE_TABLE: v.warehouseRows ? small : table,
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
      for (let p = 0; p < v.processes; p++) workers.push(startCli(['run', '--backfill-only', file], e));
      await new Promise((r) => setTimeout(r, 4000)); // model load, connections
      const pids = workers.map((w) => w.child.pid!);
      const before = {
        workers: processCpu(pids),
        ...Object.fromEntries(Object.entries(parties).map(([k, m]) => [k, cpuSeconds(m)])),
      } as Record<string, number>;
      const res = await runCli(['backfill', file], e);
      const runId = runIdOf(res.output);
      const s = await runFinished(queues, runId, 600_000);
      const after = {
        workers: processCpu(pids),
        ...Object.fromEntries(Object.entries(parties).map(([k, m]) => [k, cpuSeconds(m)])),
      } as Record<string, number>;
      const seconds = ((s.finishedAt ?? Date.now()) - s.createdAt) / 1000;
      const cpu = Object.fromEntries(
        Object.keys(after).map((k) => [k, +(after[k]! - before[k]!).toFixed(1)]),
      );
      const r = {
        variant: v.name,
        state: s.state,
        rows: s.rows.done,
        seconds: +seconds.toFixed(1),
        rowsPerSecond: Math.round(s.rows.done / seconds),
        cpuSeconds: cpu,
      };
      results.push(r);
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } finally {
      for (const w of workers) await w.stop();
      await close();
      await dropTables(e['CHURN_SCORES_TABLE']!);
      if (v.warehouseRows) await dropWarehouseTables(e);
    }
  }
  await dropTables(table, small);
  process.stdout.write(
    `${JSON.stringify({ rows: ROWS, cpus: (await import('node:os')).cpus().length, results }, null, 2)}\n`,
  );
}

await main();
