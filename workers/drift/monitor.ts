import type { ModelInfo } from '../core/types.js';
import { WindowAccumulator } from './accumulator.js';
import { evaluateWindow, type WindowReport } from './evaluate.js';
import { statPlans } from './plan.js';
import type { Distributions } from './reference.js';

export interface DriftWindowOptions {
  /** A window closes after this many rows… */
  events: number;
  /** …or this long after it opened, once it holds at least `minEvents` rows. */
  maxSeconds: number;
  minEvents: number;
}

export interface DriftMonitorOptions {
  pipeline: string;
  /** Columns of the feature matrix (FeatureMapper.names). */
  featureNames: readonly string[];
  /** Prediction fields, in the order of a row's values (the outputs come first). */
  outputFields: readonly string[];
  /** `spec.model.outputs`: prediction field → output reference. */
  outputRefs?: Readonly<Record<string, string>> | undefined;
  window: DriftWindowOptions;
  /** Benjamini–Hochberg false-discovery rate across a window's features and outputs. */
  fdr: number;
  /**
   * The reference distributions of a model version (its manifest's); undefined when it has none,
   * which leaves that version unmonitored. Called once per version the monitor sees.
   */
  distributions(info: ModelInfo): Distributions | undefined;
  /** Called with each closed window (metrics, alarm log, alarm topic). Must not throw. */
  onWindow(report: WindowReport): void;
  /** A version starts being monitored (unmonitored: names without a reference) or is left. */
  onVersion?(info: ModelInfo, state: 'monitored' | 'no-reference' | 'retired', unmonitored: string[]): void;
  /** A failure inside the monitor (never thrown into the batch path); the monitor then stops watching. */
  onError?(err: unknown): void;
  /** Closed windows kept per version for `/drift` (default 6). */
  keep?: number;
  now?: () => number;
}

/** One model version's windows. */
interface VersionWindows {
  info: ModelInfo;
  acc: WindowAccumulator | undefined;
  startedAt: number;
  seq: number;
  history: WindowReport[];
}

/** What `/drift` serves: per pipeline, the monitored version's open window and latest closed ones. */
export interface DriftSnapshot {
  pipeline: string;
  window: DriftWindowOptions;
  fdr: number;
  versions: {
    model: string;
    version: string;
    sha256?: string;
    current: boolean;
    monitored: boolean;
    open: { startedAt: string; events: number } | null;
    windows: WindowReport[];
  }[];
}

/**
 * Streaming drift of one pipeline: the primary model version's rows, in windows of
 * `window.events` rows (or `max_seconds`), each feature and output compared with the version's
 * reference distributions when the window closes. A new primary version (alias move, rollback)
 * starts its own windows: the open window of the previous version is dropped, its closed ones are
 * kept for `/drift` (the last two versions). Rows a canary scored are not observed.
 */
export class DriftMonitor {
  #current: VersionWindows | undefined;
  #failed = false;
  #previous: VersionWindows | undefined;
  readonly #keep: number;
  readonly #now: () => number;

  constructor(private readonly opts: DriftMonitorOptions) {
    this.#keep = opts.keep ?? 6;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Hook of the batch path, after scoring: `rows` of the feature matrix (row-major, `width` wide;
   * `nullMask` marks values that were null), `predictions[i].values` the outputs of row i (rows
   * with their own `model` were scored by a canary and are skipped), `info` the primary's version.
   */
  observe(
    features: Float32Array,
    rows: number,
    width: number,
    predictions: readonly { values: readonly unknown[]; model?: unknown }[],
    info: ModelInfo,
    nullMask?: Uint8Array,
  ): void {
    if (this.#failed) return;
    try {
      this.#observe(features, rows, width, predictions, info, nullMask);
    } catch (err) {
      // Drift is a bystander: a failure here must never fail or delay the batch.
      this.#failed = true;
      this.opts.onError?.(err);
    }
  }

  #observe(
    features: Float32Array,
    rows: number,
    width: number,
    predictions: readonly { values: readonly unknown[]; model?: unknown }[],
    info: ModelInfo,
    nullMask: Uint8Array | undefined,
  ): void {
    const v = this.#versionOf(info);
    const acc = v.acc;
    if (acc === undefined || rows === 0) return;
    const limit = this.opts.window.events;
    let from = 0;
    let i = 0;
    // Runs of rows the primary scored, split where a window fills up.
    while (i < rows) {
      if (predictions[i]?.model !== undefined) {
        if (i > from) acc.add(features, width, nullMask, predictions, from, i);
        from = ++i;
        if (acc.rows >= limit) this.#close(v, 'events');
        continue;
      }
      i++;
      if (acc.rows + (i - from) >= limit) {
        acc.add(features, width, nullMask, predictions, from, i);
        from = i;
        this.#close(v, 'events');
      }
    }
    if (i > from) acc.add(features, width, nullMask, predictions, from, i);
    this.tick();
  }

  /** Closes the open window when it is `max_seconds` old and holds `min_events` rows (call it now and then). */
  tick(): void {
    const v = this.#current;
    if (v?.acc === undefined) return;
    const w = this.opts.window;
    if (v.acc.rows >= w.minEvents && this.#now() - v.startedAt >= w.maxSeconds * 1000) this.#close(v, 'time');
  }

  snapshot(): DriftSnapshot {
    const versions = [this.#current, this.#previous].filter((v): v is VersionWindows => v !== undefined);
    return {
      pipeline: this.opts.pipeline,
      window: this.opts.window,
      fdr: this.opts.fdr,
      versions: versions.map((v) => ({
        model: v.info.name,
        version: v.info.version,
        ...(v.info.sha256 === undefined ? {} : { sha256: v.info.sha256 }),
        current: v === this.#current,
        monitored: v.acc !== undefined,
        open:
          v.acc === undefined || v !== this.#current
            ? null
            : { startedAt: new Date(v.startedAt).toISOString(), events: v.acc.rows },
        windows: [...v.history],
      })),
    };
  }

  #versionOf(info: ModelInfo): VersionWindows {
    const cur = this.#current;
    if (cur !== undefined && cur.info.version === info.version && cur.info.sha256 === info.sha256) return cur;
    if (cur !== undefined) {
      cur.acc?.reset();
      this.opts.onVersion?.(cur.info, 'retired', []);
    }
    const next: VersionWindows = {
      info,
      acc: undefined,
      startedAt: this.#now(),
      seq: 0,
      history: [],
    };
    const d = this.opts.distributions(info);
    if (d === undefined) this.opts.onVersion?.(info, 'no-reference', []);
    else {
      const { plans, unmonitored } = statPlans({
        featureNames: this.opts.featureNames,
        outputFields: this.opts.outputFields,
        outputRefs: this.opts.outputRefs,
        distributions: d,
      });
      next.acc = plans.length > 0 ? new WindowAccumulator(plans) : undefined;
      this.opts.onVersion?.(info, next.acc ? 'monitored' : 'no-reference', unmonitored);
    }
    this.#previous = cur;
    this.#current = next;
    return next;
  }

  #close(v: VersionWindows, closedBy: 'events' | 'time'): void {
    const acc = v.acc!;
    const now = this.#now();
    const report = evaluateWindow(acc, this.opts.fdr, {
      pipeline: this.opts.pipeline,
      model: v.info.name,
      version: v.info.version,
      ...(v.info.sha256 === undefined ? {} : { sha256: v.info.sha256 }),
      seq: ++v.seq,
      startedAt: new Date(v.startedAt).toISOString(),
      endedAt: new Date(now).toISOString(),
      closedBy,
    });
    acc.reset();
    v.startedAt = now;
    v.history.push(report);
    if (v.history.length > this.#keep) v.history.shift();
    this.opts.onWindow(report);
  }
}
