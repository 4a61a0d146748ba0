import { makePosition } from '../core/position.js';
import type { ChangeRecord, ModelInfo, Op, PredictionBatch, Sink } from '../core/types.js';
import { Uuid7Source } from '../core/uuid7.js';
import { plainRoot } from '../decode/plain.js';
import type { FeatureMapper } from '../features/mapper.js';
import type { Metrics } from '../observability/metrics.js';
import { type RetryPolicy, withRetry } from '../runtime/retry.js';
import { InputError, type InputReader } from './input.js';
import type { ModelSource, ShadowScorer } from './lease.js';
import { scoreMapped } from './score.js';

/** One scored record: what decided, and what it said. */
export interface Decision {
  ok: true;
  /** A new UUID per scored record. */
  decisionId: string;
  /** The entity key (the `features.key` expression). */
  key: unknown;
  /** Prediction fields (`model.outputs`), by name. */
  outputs: Record<string, unknown>;
  /** The feature vector the model saw, by feature name (float32 values, as numbers). */
  features: Record<string, number>;
  /** The version that decided (a canary's when the key is in its share). */
  model: ModelInfo;
  /** The shadow that also scored it (its outputs go only to the comparison table). */
  shadow?: ModelInfo;
  /** Ordering position of the prediction: the request time (µs), as a sink stores it. */
  position: bigint;
}

/** Why one record was not scored; `path` names the record (`[2]`) or its bad value (`[2].after.seats`). */
export interface ScoreFailure {
  ok: false;
  /** `bad_input`: a value is not what the row schema says; `unscorable`: a feature or the key cannot be computed. */
  code: 'bad_input' | 'unscorable';
  path: string;
  message: string;
}

export type ScoredResult = Decision | ScoreFailure;

export interface ScoreOptions {
  /** The request that submitted the records: carried onto their rows (audit `source.api`). */
  request?: string;
  /**
   * Score and write nothing when any record fails: reject with ScoreRejectedError listing the
   * failures instead (the HTTP API's behaviour). Default false: failures are returned in place.
   */
  allOrNothing?: boolean;
}

/** A named, stable error of the scorer (never a record's: those are ScoreFailures). */
export class ScorerError extends Error {
  constructor(
    /** `suspended` (the pipeline is suspended), `write_failed` (write-through), `rejected`. */
    readonly code: 'suspended' | 'write_failed' | 'rejected',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ScorerError';
  }

  static is(err: unknown): err is ScorerError {
    return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'ScorerError';
  }
}

/** `allOrNothing` and some record failed: nothing was scored or written. */
export class ScoreRejectedError extends ScorerError {
  constructor(readonly failures: readonly ScoreFailure[]) {
    super('rejected', failures.map((f) => `${f.path}: ${f.message}`).join('; '));
  }
}

export interface ScorerDeps {
  pipeline: string;
  mapper: FeatureMapper;
  models: ModelSource;
  /** The pipeline's suspension, if any: a suspended pipeline scores nothing (ScorerError suspended). */
  suspended?: () => { by: string; reason: string } | undefined;
  /** Checks and converts inputs against the row schema; without one, `after` is taken as it is. */
  reader: InputReader | undefined;
  /** Debezium envelope roots (`after`, `source`, …) or plain records (the row's fields and `key`). */
  envelope: boolean;
  /** Plain records: `key_field` of the decoder. */
  keyField?: string | undefined;
  /** The op records get: `c` when the pipeline scores creates, else its first score op. */
  op: Op;
  shadow?: ShadowScorer | undefined;
  /** Write-through: every scored row goes to these sinks before `score` resolves. */
  sinks?: readonly Sink[] | undefined;
  retry?: RetryPolicy;
  metrics?: Metrics | undefined;
  /** Clock (tests); the time of a request is the source time its features see and its position. */
  now?: () => Date;
}

/**
 * Scores records given directly (not read from Kafka or a table) with a pipeline's compiled
 * features and model versions — the same `scoreMapped` the stream and backfills run — and
 * optionally writes them through to the pipeline's sinks with the order guard (position = the
 * request time). Concurrent `score` calls are gathered into one inference call per model version
 * by the sessions' micro-batchers. One promise per call, never per record.
 */
export class Scorer {
  /** Decision ids: UUIDv7, time-ordered (the audit log finds a decision's block by its id's range). */
  readonly #ids = new Uuid7Source();
  readonly fields: readonly string[];
  #lastUs = 0n;

  constructor(private readonly deps: ScorerDeps) {
    this.fields = [...deps.models.outputFields, ...deps.mapper.names.map((n) => `feature.${n}`)];
  }

  get pipeline(): string {
    return this.deps.pipeline;
  }

  /** The request's time: its ms as `source.ts_ms`, and a µs position unique within this process. */
  #clock(): { ms: number; us: bigint } {
    const ms = (this.deps.now?.() ?? new Date()).getTime();
    let us = BigInt(ms) * 1000n;
    if (us <= this.#lastUs) us = this.#lastUs + 1n;
    this.#lastUs = us;
    return { ms, us };
  }

  async score(inputs: readonly unknown[], opts: ScoreOptions = {}): Promise<ScoredResult[]> {
    const d = this.deps;
    const results = new Array<ScoredResult>(inputs.length);
    const failures: ScoreFailure[] = [];
    const fail = (i: number, f: ScoreFailure) => {
      results[i] = f;
      failures.push(f);
    };
    const { ms, us } = this.#clock();
    const position = makePosition(us, 0);
    const records: ChangeRecord[] = [];
    const indexOf = new Map<ChangeRecord, number>();
    for (let i = 0; i < inputs.length; i++) {
      let row: { after: Record<string, unknown>; key: unknown };
      try {
        row = this.#read(inputs[i], `[${i}]`);
      } catch (err) {
        if (!InputError.is(err)) throw err;
        fail(i, { ok: false, code: 'bad_input', path: err.path, message: err.detail });
        continue;
      }
      const rec = this.#record(row, ms, us, position, opts.request);
      records.push(rec);
      indexOf.set(rec, i);
    }
    if (failures.length > 0 && opts.allOrNothing) throw new ScoreRejectedError(failures);
    const suspension = d.suspended?.();
    if (suspension !== undefined) {
      throw new ScorerError(
        'suspended',
        `pipeline ${d.pipeline} is suspended by ${suspension.by}: ${suspension.reason}`,
      );
    }
    const mapped = d.mapper.map(records);
    for (const f of mapped.failures) {
      const i = indexOf.get(f.record)!;
      fail(i, {
        ok: false,
        code: 'unscorable',
        path: `[${i}]`,
        message: f.error.message.replace(/^record: /, ''),
      });
    }
    if (mapped.failures.length > 0 && opts.allOrNothing) throw new ScoreRejectedError(failures);

    const lease = d.models.lease();
    let handedOff = false;
    try {
      const scored = await scoreMapped(mapped, {
        lease,
        outputFields: d.models.outputFields,
        featureCount: d.mapper.names.length,
        scoredAt: new Date(ms),
        shadow: d.shadow !== undefined,
      });
      // Decision ids before any write: a stored decision carries the id the caller gets.
      for (const row of scored.rows) row.decision = this.#ids.next(ms);
      if (scored.shadowJob) {
        handedOff = true;
        d.shadow!.submit(scored.shadowJob);
      }
      if (d.sinks !== undefined && d.sinks.length > 0 && scored.rows.length > 0) {
        await this.#write({
          pipeline: d.pipeline,
          model: lease.primary.info,
          shadow: lease.shadow?.info,
          fields: this.fields,
          rows: scored.rows,
        });
      }
      const outputs = d.models.outputFields;
      const names = d.mapper.names;
      const shadow = lease.shadow?.info;
      scored.rows.forEach((row, r) => {
        const i = indexOf.get(mapped.scored[r]!)!;
        const out: Record<string, unknown> = {};
        for (let o = 0; o < outputs.length; o++) out[outputs[o]!] = row.values[o];
        const features: Record<string, number> = {};
        for (let f = 0; f < names.length; f++) features[names[f]!] = row.values[outputs.length + f] as number;
        results[i] = {
          ok: true,
          decisionId: row.decision!,
          key: row.key,
          outputs: out,
          features,
          model: row.model ?? lease.primary.info,
          ...(shadow ? { shadow } : {}),
          position: row.position,
        };
      });
    } finally {
      lease.primary.release();
      lease.canary?.release();
      if (!handedOff) lease.shadow?.release();
    }
    return results;
  }

  #read(input: unknown, path: string): { after: Record<string, unknown>; key: unknown } {
    if (this.deps.reader !== undefined) return this.deps.reader.read(input, path);
    const rec = input as { after?: unknown; key?: unknown } | null;
    const after = rec?.after;
    if (typeof after !== 'object' || after === null || Array.isArray(after)) {
      throw InputError.expected(`${path}.after`, 'an object of the row’s columns', typeof after);
    }
    return { after: after as Record<string, unknown>, key: rec?.key ?? null };
  }

  #record(
    row: { after: Record<string, unknown>; key: unknown },
    ms: number,
    us: bigint,
    position: bigint,
    request: string | undefined,
  ): ChangeRecord {
    const d = this.deps;
    const root = d.envelope
      ? {
          before: null,
          after: row.after,
          source: { connector: 'streamscore', name: 'api', ts_ms: ms, ts_us: Number(us) },
          op: d.op,
          ts_ms: ms,
          key: row.key,
        }
      : plainRoot(row.after, row.key, d.keyField);
    return { op: d.op, root, position, sourceTsMs: ms, origin: undefined, request };
  }

  async #write(batch: PredictionBatch): Promise<void> {
    const d = this.deps;
    const retry = d.retry ?? { maxRetries: 0, initialBackoffMs: 100 };
    try {
      await Promise.all(
        d.sinks!.map((sink) =>
          withRetry(() => sink.write(batch), retry, {
            onRetry: (err, attempt, delay) => d.metrics?.sinkRetry(sink.name, err, attempt, delay),
          }),
        ),
      );
    } catch (err) {
      throw new ScorerError('write_failed', `the predictions were not stored: ${(err as Error).message}`, {
        cause: err,
      });
    }
    d.metrics?.recordsOut.add(batch.rows.length);
  }
}
