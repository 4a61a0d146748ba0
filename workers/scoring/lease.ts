import type { ModelInfo } from '../core/types.js';

/** Runs the model on a feature matrix; returns one column per prediction field (already mapped). */
export interface Predictor {
  readonly outputFields: readonly string[];
  predict(features: Float32Array, rows: number): Promise<Record<string, ArrayLike<unknown>>>;
}

/** One model version leased for one batch; `release` when the batch is done with it. */
export interface LeasedModel {
  info: ModelInfo;
  predictor: Predictor;
  release(): void;
}

/** The versions one batch scores with: the primary, and a shadow and a canary when active. */
export interface ModelLease {
  primary: LeasedModel;
  shadow?: LeasedModel | undefined;
  canary?: LeasedModel | undefined;
  /** Share of keys (0–100) the canary scores. */
  canaryPercent: number;
}

/** Where batches get their models: fixed, or following aliases (rollout/pipeline-models.ts). */
export interface ModelSource {
  readonly outputFields: readonly string[];
  lease(): ModelLease;
  /** Resolves when the pipeline may write (suspension); may call onWait meanwhile. */
  waitOpen?(onWait?: () => Promise<void>): Promise<void>;
}

/** Scores a batch with a shadow model after the primary, detached from the primary's writes. */
export interface ShadowScorer {
  submit(job: ShadowJob): void;
}

export interface ShadowJob {
  shadow: LeasedModel;
  champion: ModelInfo;
  championMs: number;
  features: Float32Array;
  rows: number;
  /** Rows of the batch the primary scored (the others went to a canary); all when undefined. */
  rowsOfChampion: number[] | undefined;
  championColumns: Record<string, ArrayLike<unknown>>;
  keys: unknown[];
  positions: bigint[];
  scoredAt: Date;
}

/** A source of one fixed model (backfill tools, tests). */
export function fixedModel(info: ModelInfo, predictor: Predictor): ModelSource {
  const primary: LeasedModel = { info, predictor, release: () => undefined };
  return { outputFields: predictor.outputFields, lease: () => ({ primary, canaryPercent: 0 }) };
}
