import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../../../workers/inference/batcher.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A model path as a pipeline would write it: relative to the repository (when run from there). */
export function modelPath(name: string, version: number): string {
  const abs = fileURLToPath(
    new URL(`../../../pipelines/models/${name}/${version}/model.onnx`, import.meta.url),
  );
  const rel = relative(process.cwd(), abs);
  return rel.startsWith('..') ? abs : rel;
}

export interface Golden {
  model: string;
  sha256: string;
  features: string[];
  rows: number[][];
  classes?: (string | number)[];
  label?: (string | number)[];
  probabilities?: number[][];
  value?: number[];
}

export function golden(name: string, version: number): Golden {
  return JSON.parse(readFileSync(`${ROOT}pipelines/models/${name}/${version}/golden.json`, 'utf8')) as Golden;
}

export function flatten(rows: readonly (readonly number[])[]): Float32Array {
  const width = rows[0]?.length ?? 0;
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => {
    out.set(r, i * width);
  });
  return out;
}

/** Timers that fire only when the test advances time. */
export class FakeClock implements Clock {
  now = 0;
  #next = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Move time forward, firing due timers in order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      let dueId: number | undefined;
      let dueAt = Number.POSITIVE_INFINITY;
      for (const [id, t] of this.#timers) {
        if (t.at <= until && t.at < dueAt) {
          dueId = id;
          dueAt = t.at;
        }
      }
      if (dueId === undefined) break;
      const t = this.#timers.get(dueId)!;
      this.#timers.delete(dueId);
      this.now = t.at;
      t.fn();
    }
    this.now = until;
  }
}

/** Let pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
