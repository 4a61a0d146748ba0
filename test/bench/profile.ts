/** Summarises V8 .cpuprofile files (node --cpu-prof): self time by function and by area. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  files: number;
  /** Sampled time of the profiles (ms), idle included. */
  total_ms: number;
  /** Share of non-idle samples by area (onnxruntime native, kafkajs, pg, decode, features, ...). */
  by_area: Record<string, number>;
  /** Top functions by self time, share of non-idle samples. */
  top: { fn: string; where: string; share: number }[];
}

function area(url: string, fn: string): string {
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(program)') return 'program (native, incl. onnxruntime run)';
  if (url.includes('node_modules/kafkajs')) return 'kafkajs';
  if (url.includes('node_modules/pg') || url.includes('node_modules/knex')) return 'pg/knex';
  if (url.includes('node_modules/onnxruntime')) return 'onnxruntime (js)';
  if (url.includes('node_modules/avsc')) return 'avsc';
  if (url.includes('node_modules/')) return 'other deps';
  const m = /workers\/([a-z-]+)\//.exec(url);
  if (m) return `workers/${m[1]}`;
  if (url.startsWith('node:') || url === '')
    return fn === 'run' ? 'native call (e.g. session.run)' : 'node core/native';
  return 'other';
}

/**
 * `since` (pid → monotonic µs, the clock V8 profiles use) drops the samples taken before each
 * process's measurement window: start-up (module loading, model load, group join) is left out.
 */
export function summarizeProfiles(
  dir: string,
  top = 20,
  since?: ReadonlyMap<number, number>,
): ProfileSummary | null {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return null;
  }
  if (files.length === 0) return null;
  const self = new Map<string, { fn: string; where: string; ms: number; area: string }>();
  let total = 0;
  let idle = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile;
    const pid = Number(/^CPU\.\d+\.\d+\.(\d+)\./.exec(f)?.[1]);
    const from = since?.get(pid) ?? 0;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const ms = new Map<number, number>();
    if (p.samples && p.timeDeltas) {
      let t = p.startTime;
      for (let i = 0; i < p.samples.length; i++) {
        const d = p.timeDeltas[i] ?? 0;
        t += d;
        if (t < from) continue;
        const id = p.samples[i]!;
        ms.set(id, (ms.get(id) ?? 0) + d / 1000);
      }
    }
    for (const [id, t] of ms) {
      const n = byId.get(id)!;
      const fn = n.callFrame.functionName || '(anonymous)';
      const where = `${n.callFrame.url.replace(/^.*\/(node_modules|workers)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
      const key = `${fn}@${where}`;
      const a = area(n.callFrame.url, fn);
      const e = self.get(key) ?? { fn, where, ms: 0, area: a };
      e.ms += t;
      self.set(key, e);
      total += t;
      if (a === 'idle') idle += t;
    }
  }
  const busy = Math.max(1e-9, total - idle);
  const byArea: Record<string, number> = {};
  for (const e of self.values()) {
    if (e.area === 'idle') continue;
    byArea[e.area] = (byArea[e.area] ?? 0) + e.ms / busy;
  }
  const sorted = [...self.values()].filter((e) => e.area !== 'idle').sort((a, b) => b.ms - a.ms);
  return {
    files: files.length,
    total_ms: total,
    by_area: Object.fromEntries(Object.entries(byArea).sort((a, b) => b[1] - a[1])),
    top: sorted.slice(0, top).map((e) => ({ fn: e.fn, where: e.where, share: e.ms / busy })),
  };
}
