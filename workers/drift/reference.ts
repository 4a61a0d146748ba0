import { z } from 'zod';

/**
 * Reference distributions of a model version (`distributions:` in its manifest, written by
 * tools/models/train.py): per feature and per output, quantile bins or category frequencies.
 *
 * Numeric: bin i holds the values v with edges[i-1] < v <= edges[i] (the first bin everything up to
 * edges[0], the last everything above the last edge); `counts` has one entry more than `edges`.
 * Categorical: one bin per value (numbers for booleans and small codes, strings for class labels).
 */
export type Histogram =
  | { kind: 'numeric'; edges: number[]; counts: number[]; min: number; max: number }
  | { kind: 'categorical'; values: (number | string)[]; counts: number[] };

export interface Distributions {
  /** Rows the feature histograms were made from (m, the reference size). */
  rows: number;
  features: Record<string, Histogram>;
  /**
   * By output reference in canonical form: `label`, `probabilities[<column>]`, `value`. Outputs are
   * described on a hold-out sample (`outputs_sample.rows` of them).
   */
  outputs: Record<string, Histogram>;
  outputRows: number;
}

const count = z.number().int().nonnegative();
const numeric = z
  .strictObject({
    kind: z.literal('numeric'),
    edges: z.array(z.number()),
    counts: z.array(count).min(1),
    min: z.number(),
    max: z.number(),
  })
  .superRefine((h, ctx) => {
    if (h.counts.length !== h.edges.length + 1)
      ctx.addIssue({
        code: 'custom',
        path: ['counts'],
        message: `expected ${h.edges.length + 1} counts (one more than edges), got ${h.counts.length}`,
      });
    for (let i = 1; i < h.edges.length; i++)
      if (!(h.edges[i]! > h.edges[i - 1]!))
        ctx.addIssue({
          code: 'custom',
          path: ['edges', i],
          message: `expected edges in strictly increasing order, got ${h.edges[i]} after ${h.edges[i - 1]}`,
        });
    if (h.min > h.max)
      ctx.addIssue({ code: 'custom', path: ['min'], message: `min ${h.min} is above max ${h.max}` });
  });
const categorical = z
  .strictObject({
    kind: z.literal('categorical'),
    values: z.array(z.union([z.number(), z.string()])).min(1),
    counts: z.array(count).min(1),
  })
  .superRefine((h, ctx) => {
    if (h.counts.length !== h.values.length)
      ctx.addIssue({
        code: 'custom',
        path: ['counts'],
        message: `expected one count per value (${h.values.length}), got ${h.counts.length}`,
      });
    if (new Set(h.values).size !== h.values.length)
      ctx.addIssue({ code: 'custom', path: ['values'], message: 'expected distinct values' });
  });
const histogram = z.discriminatedUnion('kind', [numeric, categorical]);

/** The manifest's `distributions:` section; counts must add up to the reference sizes. */
export const distributionsSchema = z
  .strictObject({
    rows: z.number().int().positive(),
    outputs_sample: z.strictObject({ rows: z.number().int().positive(), seed: z.number().int() }).optional(),
    features: z.record(z.string(), histogram),
    outputs: z.record(z.string(), histogram).default({}),
  })
  .superRefine((d, ctx) => {
    const check = (group: 'features' | 'outputs', rows: number) => {
      for (const [name, h] of Object.entries(d[group])) {
        const total = h.counts.reduce((a, b) => a + b, 0);
        if (total !== rows)
          ctx.addIssue({
            code: 'custom',
            path: [group, name, 'counts'],
            message: `expected counts adding up to ${rows} (${group === 'features' ? 'rows' : 'outputs_sample.rows'}), got ${total}`,
          });
      }
    };
    check('features', d.rows);
    check('outputs', d.outputs_sample?.rows ?? d.rows);
  })
  .transform(
    (d): Distributions => ({
      rows: d.rows,
      features: d.features,
      outputs: d.outputs,
      outputRows: d.outputs_sample?.rows ?? d.rows,
    }),
  );
