import type { Histogram } from './reference.js';

/** One monitored column: a feature (a column of the feature matrix) or an output (a prediction field). */
export interface StatPlan {
  /** Feature name, or the output's prediction field name (e.g. churn_probability). */
  name: string;
  role: 'feature' | 'output';
  /** Column of the feature matrix, or index of the output in a prediction row's values. */
  source: number;
  reference: Histogram;
  /** Rows behind the reference counts (m). */
  referenceRows: number;
}

const NUMERIC = 0;
const CATEGORY_NUMBER = 1;
const CATEGORY_STRING = 2;

/**
 * Bin counts of one window, in typed arrays: for stat k, bins k·stride … k·stride + bins_k − 1, then
 * one "other" bin (a category the reference never saw). Also per stat: values seen, nulls, and values
 * out of the reference's range (below its min, above its max, or an unknown category).
 */
export class WindowAccumulator {
  readonly stride: number;
  readonly counts: Uint32Array;
  readonly seen: Uint32Array;
  readonly nulls: Uint32Array;
  readonly outOfRange: Uint32Array;
  /** Rows observed (each row adds one value or one null to every stat). */
  rows = 0;
  readonly #kind: Uint8Array;
  readonly #edges: Float64Array[];
  readonly #lo: Float64Array;
  readonly #hi: Float64Array;
  readonly #strings: (Map<string, number> | undefined)[];
  readonly #features: Int32Array;
  readonly #outputs: Int32Array;
  /** Per stat: its column of the feature matrix, or its index in a row's values. */
  readonly #source: Int32Array;

  constructor(readonly plans: readonly StatPlan[]) {
    const K = plans.length;
    this.stride = Math.max(1, ...plans.map((p) => p.reference.counts.length)) + 1;
    this.counts = new Uint32Array(K * this.stride);
    this.seen = new Uint32Array(K);
    this.nulls = new Uint32Array(K);
    this.outOfRange = new Uint32Array(K);
    this.#kind = new Uint8Array(K);
    this.#lo = new Float64Array(K);
    this.#hi = new Float64Array(K);
    this.#edges = [];
    this.#strings = [];
    for (let k = 0; k < K; k++) {
      const h = plans[k]!.reference;
      if (h.kind === 'numeric') {
        this.#kind[k] = NUMERIC;
        this.#edges.push(Float64Array.from(h.edges));
        this.#lo[k] = h.min;
        this.#hi[k] = h.max;
        this.#strings.push(undefined);
      } else if (h.values.every((v) => typeof v === 'number')) {
        this.#kind[k] = CATEGORY_NUMBER;
        this.#edges.push(Float64Array.from(h.values as number[]));
        this.#strings.push(undefined);
      } else {
        this.#kind[k] = CATEGORY_STRING;
        this.#edges.push(new Float64Array(0));
        this.#strings.push(new Map(h.values.map((v, i) => [String(v), i])));
      }
    }
    this.#features = Int32Array.from(plans.flatMap((p, k) => (p.role === 'feature' ? [k] : [])));
    this.#outputs = Int32Array.from(plans.flatMap((p, k) => (p.role === 'output' ? [k] : [])));
    this.#source = Int32Array.from(plans.map((p) => p.source));
  }

  reset(): void {
    this.counts.fill(0);
    this.seen.fill(0);
    this.nulls.fill(0);
    this.outOfRange.fill(0);
    this.rows = 0;
  }

  /**
   * Adds rows [from, to) of the batch: feature values from the row-major matrix (`nullMask`, same
   * shape, marks values that were null and took their on_null default), outputs from each row's
   * values. Index math and typed-array increments only.
   */
  add(
    features: Float32Array,
    width: number,
    nullMask: Uint8Array | undefined,
    outputs: readonly { values: readonly unknown[] }[] | undefined,
    from: number,
    to: number,
  ): void {
    const fs = this.#features;
    const os = this.#outputs;
    const src = this.#source;
    for (let i = from; i < to; i++) {
      const base = i * width;
      for (let j = 0; j < fs.length; j++) {
        const k = fs[j]!;
        const at = base + src[k]!;
        if (nullMask !== undefined && nullMask[at] === 1) this.nulls[k]!++;
        this.#addNumber(k, features[at]!);
      }
      if (outputs !== undefined && os.length > 0) {
        const values = outputs[i]!.values;
        for (let j = 0; j < os.length; j++) {
          const k = os[j]!;
          const v = values[src[k]!];
          if (typeof v === 'number') {
            if (Number.isNaN(v)) this.nulls[k]!++;
            else this.#addNumber(k, v);
          } else if (typeof v === 'bigint') this.#addNumber(k, Number(v));
          else if (typeof v === 'string') this.#addString(k, v);
          else if (typeof v === 'boolean') this.#addNumber(k, v ? 1 : 0);
          else this.nulls[k]!++;
        }
      }
    }
    this.rows += to - from;
  }

  #addNumber(k: number, v: number): void {
    const kind = this.#kind[k]!;
    const e = this.#edges[k]!;
    const at = k * this.stride;
    this.seen[k]!++;
    if (kind === NUMERIC) {
      // First edge at or above v (bins are (e[i-1], e[i]]); past the last edge: the last bin.
      let lo = 0;
      let hi = e.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (v <= e[mid]!) hi = mid;
        else lo = mid + 1;
      }
      this.counts[at + lo]!++;
      if (v < this.#lo[k]! || v > this.#hi[k]!) this.outOfRange[k]!++;
      return;
    }
    if (kind === CATEGORY_NUMBER) {
      for (let b = 0; b < e.length; b++) {
        if (e[b] === v) {
          this.counts[at + b]!++;
          return;
        }
      }
      this.counts[at + e.length]!++;
      this.outOfRange[k]!++;
      return;
    }
    this.#addString(k, String(v));
  }

  #addString(k: number, v: string): void {
    const map = this.#strings[k];
    const at = k * this.stride;
    if (map === undefined) {
      const n = Number(v);
      if (v.trim() !== '' && Number.isFinite(n)) this.#addNumber(k, n);
      else {
        this.seen[k]!++;
        this.counts[at + this.plans[k]!.reference.counts.length]!++;
        this.outOfRange[k]!++;
      }
      return;
    }
    this.seen[k]!++;
    const b = map.get(v);
    if (b !== undefined) this.counts[at + b]!++;
    else {
      this.counts[at + map.size]!++;
      this.outOfRange[k]!++;
    }
  }
}
