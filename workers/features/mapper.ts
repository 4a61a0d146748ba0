import { errorMessage, PipelineError } from '../core/errors.js';
import type { ChangeRecord, Op } from '../core/types.js';
import type { CompiledExpression } from '../expr/index.js';
import type { CompiledFeature } from '../spec/checks.js';

export interface MappedBatch {
  /** Row-major feature matrix for the records in `scored`: rows × width. */
  features: Float32Array;
  width: number;
  /** Same shape as `features`: 1 where the value was null and took its on_null default (drift's null rate). */
  nullMask: Uint8Array;
  scored: ChangeRecord[];
  scoredKeys: unknown[];
  /** Deletes (and ops not in score_ops) to forward to the sinks without inference. */
  deletes: ChangeRecord[];
  deleteKeys: unknown[];
  failures: { record: ChangeRecord; error: PipelineError }[];
}

export interface FeatureMapperOptions {
  pipeline: string;
  key: CompiledExpression;
  features: readonly CompiledFeature[];
  scoreOps: readonly Op[];
  /** `features.delete_key`: where a delete's key is read from (default message_key). */
  deleteKey?: 'message_key' | 'before';
}

function where(r: ChangeRecord): string {
  return r.origin ? `${r.origin.topic}/${r.origin.partition}@${r.origin.offset}` : 'record';
}

/**
 * Fills one Float32Array per batch, in the model's input order, from the compiled expressions.
 * A record whose key or a feature cannot be computed (runtime type error, null with a `reject`
 * policy, NaN/Infinity) is returned as a failure; the rest of the batch continues.
 */
export class FeatureMapper {
  readonly width: number;
  readonly names: readonly string[];
  private readonly scoreOps: ReadonlySet<Op>;
  /** Row columns the key expression reads (`after.x` / `before.x`): a delete's message key must carry them. */
  private readonly keyColumns: readonly string[];

  constructor(private readonly opts: FeatureMapperOptions) {
    this.width = opts.features.reduce((w, f) => w + f.width, 0);
    this.names = opts.features.flatMap((f) =>
      f.width === 1 ? [f.name] : Array.from({ length: f.width }, (_, i) => `${f.name}[${i}]`),
    );
    this.scoreOps = new Set(opts.scoreOps);
    this.keyColumns = [
      ...new Set(
        opts.key.fields
          .filter((f) => (f[0] === 'after' || f[0] === 'before') && f[1] !== undefined)
          .map((f) => f[1]!),
      ),
    ];
  }

  /**
   * A delete's key. Under REPLICA IDENTITY DEFAULT a delete's `before` holds real values only for
   * the key columns (Debezium fills the table's other NOT NULL columns with 0 or ''), so by default
   * the key expression reads the Kafka message key (Debezium's key struct) as the row, and a key
   * that needs any other column fails rather than naming entity 0.
   */
  private deleteKeyOf(record: ChangeRecord): unknown {
    const root = record.root;
    if (this.opts.deleteKey === 'before') return this.opts.key.evaluate({ ...root, after: root['before'] });
    const msgKey = root['key'];
    if (typeof msgKey !== 'object' || msgKey === null || Array.isArray(msgKey)) {
      throw new Error(
        'the delete has no message key to read its entity key from (features.delete_key: message_key); with REPLICA IDENTITY FULL set delete_key: before',
      );
    }
    const k = msgKey as Record<string, unknown>;
    const missing = this.keyColumns.filter((c) => !(c in k));
    if (missing.length > 0) {
      throw new Error(
        `the key reads ${missing.map((c) => `after.${c}`).join(', ')}, which the delete's message key ` +
          `(${Object.keys(k).join(', ')}) does not carry; under REPLICA IDENTITY DEFAULT Debezium fills it ` +
          'with a default in `before`, so the delete cannot be keyed: key the pipeline on the table key, or ' +
          'with REPLICA IDENTITY FULL set features.delete_key: before',
      );
    }
    return this.opts.key.evaluate({ ...root, after: k, before: k });
  }

  map(records: readonly ChangeRecord[]): MappedBatch {
    const width = this.width;
    const out = new Float32Array(records.length * width);
    const nulls = new Uint8Array(records.length * width);
    const scored: ChangeRecord[] = [];
    const scoredKeys: unknown[] = [];
    const deletes: ChangeRecord[] = [];
    const deleteKeys: unknown[] = [];
    const failures: MappedBatch['failures'] = [];
    const features = this.opts.features;
    for (const record of records) {
      const isDelete = record.op === 'd';
      let key: unknown;
      try {
        key = isDelete ? this.deleteKeyOf(record) : this.opts.key.evaluate(record.root);
      } catch (err) {
        failures.push({ record, error: this.fail(record, 'FEATURE_KEY', `key: ${errorMessage(err)}`, err) });
        continue;
      }
      if (key === null || key === undefined) {
        failures.push({
          record,
          error: this.fail(record, 'FEATURE_KEY', `key expression '${this.opts.key.source}' is null`),
        });
        continue;
      }
      if (isDelete || !this.scoreOps.has(record.op)) {
        if (isDelete) {
          deletes.push(record);
          deleteKeys.push(key);
        }
        continue;
      }
      const base = scored.length * width;
      let col = 0;
      let failed: PipelineError | undefined;
      for (const f of features) {
        let v: unknown;
        try {
          v = f.expr.evaluate(record.root);
        } catch (err) {
          failed = this.fail(record, 'FEATURE_EVAL', `feature ${f.name}: ${errorMessage(err)}`, err);
          break;
        }
        if (f.width === 1) {
          let n: number;
          // Set for every value: a failed record's row is reused by the next one.
          nulls[base + col] = v === null || v === undefined ? 1 : 0;
          if (v === null || v === undefined) {
            if (f.onNull === 'reject') {
              failed = this.fail(
                record,
                'FEATURE_NULL',
                `feature ${f.name} is null and its on_null policy is reject`,
              );
              break;
            }
            n = f.onNull;
          } else if (typeof v === 'number') n = v;
          else if (typeof v === 'boolean') n = v ? 1 : 0;
          // An int64 beyond 2^53 (exact until here) becomes the nearest float: features are float32.
          else n = typeof v === 'bigint' ? Number(v) : (v as number);
          if (typeof n !== 'number' || !Number.isFinite(n)) {
            failed = this.fail(
              record,
              'FEATURE_NOT_FINITE',
              `feature ${f.name}: expected a finite number, got ${String(v)}`,
            );
            break;
          }
          out[base + col] = n;
          col += 1;
        } else {
          const vec = v as ArrayLike<number> | null;
          for (let i = 0; i < f.width; i++) {
            out[base + col + i] = vec ? (vec[i] ?? 0) : 0;
            nulls[base + col + i] = vec ? 0 : 1;
          }
          col += f.width;
        }
      }
      if (failed) {
        failures.push({ record, error: failed });
        continue;
      }
      scored.push(record);
      scoredKeys.push(key);
    }
    return {
      features: out.subarray(0, scored.length * width),
      width,
      nullMask: nulls.subarray(0, scored.length * width),
      scored,
      scoredKeys,
      deletes,
      deleteKeys,
      failures,
    };
  }

  private fail(record: ChangeRecord, code: string, message: string, cause?: unknown): PipelineError {
    return new PipelineError(`${where(record)}: ${message}`, {
      code,
      stage: 'features',
      pipeline: this.opts.pipeline,
      position: where(record),
      cause,
    });
  }
}
