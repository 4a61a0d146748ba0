import { makePosition } from '../../../workers/core/position.js';
import { Secret } from '../../../workers/core/secret.js';
import type { Op, PredictionBatch, PredictionRow, PredictionSchema } from '../../../workers/core/types.js';
import type { PostgresSinkConfig } from '../../../workers/sinks/postgres/config.js';

/** Outputs churn_probability (float) and churn_label (int), features tenure_months (float) and plan (string). */
export const schema: PredictionSchema = {
  key: 'int',
  fields: [
    { name: 'churn_probability', type: 'float' },
    { name: 'churn_label', type: 'int' },
    { name: 'feature.tenure_months', type: 'float' },
    { name: 'feature.plan', type: 'string' },
  ],
};

export const fields = schema.fields.map((f) => f.name);

export const compositeSchema: PredictionSchema = {
  key: { parts: { tenant: 'string', customer_id: 'int' } },
  fields: schema.fields,
};

/** Position at commit second `t` (µs = t × 10^6) with tiebreak `lsn`. */
export const pos = (t: number, lsn = 0) => makePosition(BigInt(t) * 1_000_000n, lsn);

export const SCORED_AT = new Date('2026-01-02T03:04:05.678Z');

export function row(key: unknown, position: bigint, p = 0.5, op: Op = 'u'): PredictionRow {
  return {
    key,
    op,
    values: op === 'd' ? [] : [p, p >= 0.5 ? 1 : 0, 12, 'pro'],
    position,
    scoredAt: SCORED_AT,
    sourceTsMs: Number(position / 10n ** 20n / 1000n),
  };
}

export const del = (key: unknown, position: bigint) => row(key, position, 0, 'd');

export function batch(rows: PredictionRow[], model = { name: 'churn', version: '1' }): PredictionBatch {
  return { pipeline: 'test-pipeline', model, fields, rows };
}

export const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

export function pgConfig(overrides: Partial<PostgresSinkConfig> = {}): PostgresSinkConfig {
  return {
    url: new Secret(process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:15432/streamscore'),
    table: 'ml.scores',
    key: ['customer_id'],
    columns: {
      customer_id: 'key',
      churn_probability: 'churn_probability',
      churn_label: 'churn_label',
      tenure_months: 'feature.tenure_months',
    },
    on_delete: 'delete',
    create_table: true,
    write_mode: 'unnest',
    max_rows_per_statement: 1000,
    prepared_statements: true,
    pool_size: 4,
    backfill: true,
    ...overrides,
  };
}

/** The prediction message value `row(key, position, p)` becomes (see workers/sinks/kafka/message.ts). */
export function expectedMessage(key: unknown, position: bigint, p: number, format: 'json' | 'avro' = 'json') {
  return {
    key,
    churn_probability: p,
    churn_label: p >= 0.5 ? 1 : 0,
    features: { tenure_months: 12, plan: 'pro' },
    model_name: 'churn',
    model_version: '1',
    source_position: position.toString(),
    source_ts_ms: Number(position / 10n ** 20n / 1000n),
    scored_at: format === 'json' ? SCORED_AT.toISOString() : SCORED_AT.getTime(),
    op: 'u',
  };
}
