import type { FieldType, PredictionSchema } from '../../core/types.js';

/** Prefix of feature fields in `PredictionBatch.fields`. */
export const FEATURE_PREFIX = 'feature.';

export interface FieldSlot {
  /** Output name, or the feature name without its `feature.` prefix. */
  readonly name: string;
  readonly type: FieldType;
  /** Index into `PredictionRow.values`. */
  readonly index: number;
}

/** The schema's fields split into model outputs and features, each with its index into `row.values`. */
export function fieldSlots(schema: PredictionSchema): { outputs: FieldSlot[]; features: FieldSlot[] } {
  const outputs: FieldSlot[] = [];
  const features: FieldSlot[] = [];
  schema.fields.forEach((f, index) => {
    if (f.name.startsWith(FEATURE_PREFIX))
      features.push({ name: f.name.slice(FEATURE_PREFIX.length), type: f.type, index });
    else outputs.push({ name: f.name, type: f.type, index });
  });
  return { outputs, features };
}

/** Key part names in schema order, or undefined for a scalar key. */
export function keyParts(schema: PredictionSchema): string[] | undefined {
  return typeof schema.key === 'string' ? undefined : Object.keys(schema.key.parts);
}
