import type { PredictionRow } from '../core/types.js';
import type { MappedBatch } from '../features/mapper.js';
import { inCanary } from '../rollout/canary.js';
import type { ModelLease, ShadowJob } from './lease.js';

/** What one batch's mapped records became: prediction rows for the sinks, and the shadow's job. */
export interface ScoredBatch {
  /** One row per scored record (in `mapped.scored` order), then one per delete (`mapped.deletes`). */
  rows: PredictionRow[];
  /**
   * The shadow's job when the lease has a shadow and `shadow` was asked for: hand it to a
   * ShadowScorer, which releases the shadow's lease; otherwise the caller releases it.
   */
  shadowJob: ShadowJob | undefined;
  /** Primary (and canary) inference time in ms; 0 when nothing was scored. */
  inferenceMs: number;
}

export interface ScoreArgs {
  lease: ModelLease;
  /** Prediction fields, in the order of `PredictionBatch.fields`. */
  outputFields: readonly string[];
  /** Number of features (names), the width of `values` after the outputs. */
  featureCount: number;
  scoredAt: Date;
  /** Build the shadow's job (when the lease has a shadow). */
  shadow: boolean;
}

/**
 * The part of the data path every entry mode shares (stream, backfill, HTTP, embedded): a mapped
 * batch → one inference call per model version (the primary, and a canary's sticky share of keys)
 * → prediction rows whose `values` are the outputs then every feature. Deletes become rows without
 * values. One promise per batch, never per record.
 */
export async function scoreMapped(mapped: MappedBatch, args: ScoreArgs): Promise<ScoredBatch> {
  const { lease, outputFields: fields, featureCount, scoredAt } = args;
  const rows: PredictionRow[] = [];
  const n = mapped.scored.length;
  let shadowJob: ShadowJob | undefined;
  let inferenceMs = 0;
  if (n > 0) {
    const width = mapped.width;
    const split = lease.canary ? splitCanary(mapped.scoredKeys, lease.canaryPercent) : undefined;
    const started = performance.now();
    const scored = await scoreSplit(lease, mapped.features, n, width, split);
    inferenceMs = performance.now() - started;
    const canaryInfo = lease.canary?.info;
    const primaryOuts = fields.map((f) => scored.primary[f]!);
    const canaryOuts = scored.canary ? fields.map((f) => scored.canary![f]!) : primaryOuts;
    for (let i = 0; i < n; i++) {
      const rec = mapped.scored[i]!;
      const values = new Array<unknown>(fields.length + featureCount);
      const onCanary = split !== undefined && split.side[i] === 1;
      const outs = onCanary ? canaryOuts : primaryOuts;
      const at = split === undefined ? i : split.indexIn[i]!;
      for (let o = 0; o < outs.length; o++) values[o] = outs[o]![at];
      for (let f = 0; f < featureCount; f++) values[fields.length + f] = mapped.features[i * width + f];
      const row: PredictionRow = {
        key: mapped.scoredKeys[i],
        op: rec.op,
        values,
        position: rec.position,
        scoredAt,
        sourceTsMs: rec.sourceTsMs,
        origin: rec.origin,
      };
      if (onCanary) row.model = canaryInfo!;
      if (rec.request !== undefined) row.request = rec.request;
      rows.push(row);
    }
    if (lease.shadow && args.shadow) {
      shadowJob = {
        shadow: lease.shadow,
        champion: lease.primary.info,
        championMs: inferenceMs,
        features: mapped.features,
        rows: n,
        rowsOfChampion: split?.primaryRows,
        championColumns: scored.primary,
        keys: mapped.scoredKeys,
        positions: mapped.scored.map((r) => r.position),
        scoredAt,
      };
    }
  }
  mapped.deletes.forEach((rec, i) => {
    const row: PredictionRow = {
      key: mapped.deleteKeys[i],
      op: 'd',
      values: [],
      position: rec.position,
      scoredAt,
      sourceTsMs: rec.sourceTsMs,
    };
    if (rec.request !== undefined) row.request = rec.request;
    rows.push(row);
  });
  return { rows, shadowJob, inferenceMs };
}

/** Which rows a canary scores: side[i] = 1 for the canary; indexIn[i] = the row's index on its side. */
interface CanarySplit {
  side: Uint8Array;
  indexIn: Uint32Array;
  primaryRows: number[];
  canaryRows: number[];
}

function splitCanary(keys: readonly unknown[], percent: number): CanarySplit {
  const n = keys.length;
  const side = new Uint8Array(n);
  const indexIn = new Uint32Array(n);
  const primaryRows: number[] = [];
  const canaryRows: number[] = [];
  for (let i = 0; i < n; i++) {
    if (inCanary(keys[i], percent)) {
      side[i] = 1;
      indexIn[i] = canaryRows.length;
      canaryRows.push(i);
    } else {
      indexIn[i] = primaryRows.length;
      primaryRows.push(i);
    }
  }
  return { side, indexIn, primaryRows, canaryRows };
}

function pick(features: Float32Array, width: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    out.set(features.subarray(r * width, (r + 1) * width), i * width);
  }
  return out;
}

/** The primary's columns (all rows, or its share of a canary split) and the canary's share. */
async function scoreSplit(
  lease: ModelLease,
  features: Float32Array,
  n: number,
  width: number,
  split: CanarySplit | undefined,
): Promise<{ primary: Record<string, ArrayLike<unknown>>; canary?: Record<string, ArrayLike<unknown>> }> {
  if (split === undefined || split.canaryRows.length === 0) {
    return { primary: await lease.primary.predictor.predict(features, n) };
  }
  const canary = lease.canary!.predictor.predict(
    pick(features, width, split.canaryRows),
    split.canaryRows.length,
  );
  const primary =
    split.primaryRows.length === 0
      ? Promise.resolve({})
      : lease.primary.predictor.predict(pick(features, width, split.primaryRows), split.primaryRows.length);
  const [p, c] = await Promise.all([primary, canary]);
  return { primary: p, canary: c };
}
