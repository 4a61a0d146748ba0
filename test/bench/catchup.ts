/**
 * Catch-up measurement shared by the end-to-end runs and the peers: a consumer group works through
 * a pre-loaded backlog; completion is its committed offsets (admin.fetchOffsets) reaching the
 * topic's end. The rate is taken over the steady window, from the first commit to the end (or to
 * the time cap), so start-up (model load, group join) is reported apart.
 */
import { readFileSync } from 'node:fs';
import type { Kafka } from 'kafkajs';
import { type CpuReading, cpuSince, readCpu } from './procstat.js';

export interface CatchUpOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  /** High watermarks per partition to reach. */
  end: Map<number, bigint>;
  /** Offsets the group starts from (default 0 everywhere). */
  start?: Map<number, bigint>;
  /** Process roots whose CPU is accounted (name → pid or pids), read at the window's ends. */
  cpuRoots: () => Record<string, number | number[] | undefined>;
  /** Stop measuring this long after the first commit even if the end is not reached. */
  capSeconds: number;
  /** Give up when nothing is committed this long after the start. */
  startTimeoutSeconds: number;
  /** Called once when the first commit is seen (e.g. to start the worker's measurement window). */
  onFirstCommit?: () => void;
  /** Aborts early (the process under test died). */
  failed?: () => string | undefined;
}

export interface CatchUpResult {
  completed: boolean;
  /** Messages committed inside the steady window. */
  events: number;
  seconds: number;
  events_per_s: number | null;
  startup_seconds: number | null;
  total_seconds: number;
  cpu_seconds: Record<string, number>;
  /** CPU µs per message, by accounted process group, plus `machine` (all processes on the machine). */
  cpu_us_per_event: Record<string, number>;
  /** Share of the machine's busy CPU not accounted to the measured roots (other load on the box). */
  unaccounted_cpu_share: number | null;
  /** 1-minute load average at the end of the window (runnable processes; 2 = both cores busy). */
  load_avg_1m: number;
  error?: string;
}

export async function measureCatchUp(o: CatchUpOptions): Promise<CatchUpResult> {
  const started = performance.now();
  const startOf = (p: number) => o.start?.get(p) ?? 0n;
  const progress = (c: Map<number, bigint>) =>
    [...o.end].reduce((a, [p, e]) => {
      const v = c.get(p) ?? startOf(p);
      return a + Math.min(Number(v), Number(e)) - Number(startOf(p));
    }, 0);
  const done = (c: Map<number, bigint>) => [...o.end].every(([p, e]) => (c.get(p) ?? startOf(p)) >= e);

  let first: { t: number; n: number; cpu: CpuReading } | undefined;
  let last: { t: number; n: number; cpu: CpuReading } | undefined;
  let completed = false;
  let error: string | undefined;
  const admin = o.kafka.admin();
  await admin.connect();
  try {
    for (;;) {
      const f = o.failed?.();
      if (f) {
        error = f;
        break;
      }
      const c = await committedWith(admin, o.groupId, o.topic);
      const n = progress(c);
      const now = performance.now();
      if (!first && n > 0) {
        first = { t: now, n, cpu: readCpu(o.cpuRoots()) };
        o.onFirstCommit?.();
      }
      if (done(c)) {
        completed = true;
        if (first?.t === now)
          error = 'the backlog was consumed within one poll: no steady window (too few events)';
        last = { t: now, n, cpu: readCpu(o.cpuRoots()) };
        break;
      }
      if (first && (now - first.t) / 1000 >= o.capSeconds) {
        last = { t: now, n, cpu: readCpu(o.cpuRoots()) };
        break;
      }
      if (!first && (now - started) / 1000 > o.startTimeoutSeconds) {
        error = `nothing committed within ${o.startTimeoutSeconds} s`;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
  const result: CatchUpResult = {
    completed,
    events: 0,
    seconds: 0,
    events_per_s: null,
    startup_seconds: first ? (first.t - started) / 1000 : null,
    total_seconds: (performance.now() - started) / 1000,
    cpu_seconds: {},
    cpu_us_per_event: {},
    unaccounted_cpu_share: null,
    load_avg_1m: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
    ...(error ? { error } : {}),
  };
  if (first && last && last.n > first.n) {
    const d = cpuSince(first.cpu, last.cpu);
    const events = last.n - first.n;
    result.events = events;
    result.seconds = d.wall;
    result.events_per_s = events / d.wall;
    const accounted = Object.values(d.byName).reduce((a, b) => a + b, 0);
    result.cpu_seconds = { ...d.byName, machine: d.machine };
    for (const [k, v] of Object.entries(result.cpu_seconds)) result.cpu_us_per_event[k] = (v / events) * 1e6;
    result.unaccounted_cpu_share = d.machine > 0 ? Math.max(0, 1 - accounted / d.machine) : null;
  }
  return result;
}

async function committedWith(
  admin: ReturnType<Kafka['admin']>,
  groupId: string,
  topic: string,
): Promise<Map<number, bigint>> {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] });
  const out = new Map<number, bigint>();
  for (const p of res[0]?.partitions ?? []) {
    if (p.offset !== '-1') out.set(p.partition, BigInt(p.offset));
  }
  return out;
}
