/**
 * CPU time and memory of processes from /proc (Linux): a worker and its children, the stack's
 * Postgres (postmaster + backends) and Kafka broker, and the whole machine for context.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { benchPostgresPid } from './postgres.js';

const TICK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

interface Stat {
  pid: number;
  ppid: number;
  /** Own user+system time, and that of reaped children, in seconds. */
  self: number;
  reaped: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const f = (n: number) => Number(rest[n - 3]);
  return { pid, ppid: f(4), self: (f(14) + f(15)) / TICK, reaped: (f(16) + f(17)) / TICK };
}

function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = readStat(Number(d));
    if (s) out.push(s);
  }
  return out;
}

/** `root` and its live descendants. */
export function processTree(root: number): number[] {
  const stats = allStats();
  const kids = new Map<number, number[]>();
  for (const s of stats) kids.set(s.ppid, [...(kids.get(s.ppid) ?? []), s.pid]);
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of kids.get(p) ?? []) walk(c);
  };
  if (stats.some((s) => s.pid === root)) walk(root);
  return out;
}

/**
 * CPU seconds of a process tree: every live member's own time plus what its reaped children used.
 * Differences of two readings give the CPU spent in between (children that exited in between are
 * counted through their parent's reaped time).
 */
export function treeCpuSeconds(root: number): number {
  let total = 0;
  for (const p of processTree(root)) {
    const s = readStat(p);
    if (s) total += s.self + s.reaped;
  }
  return total;
}

/** Peak resident set (VmHWM) and current RSS of one process, MB. */
export function memoryMb(pid: number): { peak: number; rss: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
    return { peak: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024 };
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = v[0]! + v[1]! + v[2]! + v[5]! + v[6]! + v[7]!;
  return busy / TICK;
}

function pidFile(name: string): number | undefined {
  const f = `.stack/run/${name}.pid`;
  if (!existsSync(f)) return undefined;
  const pid = Number(readFileSync(f, 'utf8').trim());
  return readStat(pid) ? pid : undefined;
}

/**
 * The service processes this benchmark accounts for (undefined when external or down): the
 * bench's own Postgres (test/bench/postgres.ts) and the stack's broker.
 */
export function stackPids(): { postgres: number | undefined; kafka: number | undefined } {
  const pg = benchPostgresPid();
  return { postgres: pg !== undefined && readStat(pg) ? pg : undefined, kafka: pidFile('kafka') };
}

/** A reading of several CPU counters at once; `since` gives the deltas in seconds. */
export interface CpuReading {
  at: number;
  machine: number;
  byName: Record<string, number>;
}

export function readCpu(roots: Record<string, number | number[] | undefined>): CpuReading {
  const byName: Record<string, number> = {};
  for (const [name, r] of Object.entries(roots)) {
    if (r === undefined) continue;
    const list = Array.isArray(r) ? r : [r];
    byName[name] = list.reduce((a, p) => a + treeCpuSeconds(p), 0);
  }
  return { at: performance.now(), machine: machineBusySeconds(), byName };
}

export function cpuSince(
  a: CpuReading,
  b: CpuReading,
): { wall: number; machine: number; byName: Record<string, number> } {
  const byName: Record<string, number> = {};
  for (const k of Object.keys(b.byName)) byName[k] = (b.byName[k] ?? 0) - (a.byName[k] ?? 0);
  return { wall: (b.at - a.at) / 1000, machine: b.machine - a.machine, byName };
}

export function machineInfo(): Record<string, unknown> {
  const cpu = cpus();
  const version = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.error) return null;
    return (
      `${r.stdout ?? ''}\n${r.stderr ?? ''}`
        .split('\n')
        .map((l) => l.trim())
        .find((l) => l.length > 0) ?? null
    );
  };
  let kernel: string | null = null;
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    kernel = null;
  }
  return {
    cores: cpu.length,
    cpu_model: cpu[0]?.model ?? null,
    memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel,
    load_avg_at_start: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
    versions: {
      node: process.version,
      kafka: kafkaVersion(),
      postgres: version('psql', ['--version']),
      kcat: kcatVersion(),
      java: version('java', ['-version']),
      python: version('python3', ['--version']),
    },
  };
}

function kcatVersion(): string | null {
  const r = spawnSync('kcat', ['-V'], { encoding: 'utf8' });
  if (r.error) return null;
  return /Version\s+\S+/.exec(`${r.stdout}${r.stderr}`)?.[0] ?? null;
}

function kafkaVersion(): string | null {
  try {
    const jar = readdirSync('.stack/lib/kafka').find((f) => /^kafka-clients-.*\.jar$/.test(f));
    return jar ? jar.replace(/^kafka-clients-|\.jar$/g, '') : null;
  } catch {
    return null;
  }
}
