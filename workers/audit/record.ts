import { createHash, randomUUID } from 'node:crypto';
import { bigintAsText } from '../core/int64.js';
import type { ModelInfo, PredictionBatch, PredictionRow } from '../core/types.js';

export type FeaturePolicy = 'full' | 'hash' | 'omit';

/** What every audit record of a pipeline shares, and how its row values are read. */
export interface AuditContext {
  pipeline: string;
  /** sha256 of the pipeline file's bytes as loaded. */
  pipelineSha256: string;
  /** `<host>-<pid>` of the writing worker. */
  worker: string;
  /** Policy per feature name (features not listed: `defaultPolicy`). */
  policies: Readonly<Record<string, FeaturePolicy>>;
  defaultPolicy: FeaturePolicy;
}

/** The record's fields, bound once per batch layout. */
export interface AuditLayout {
  outputs: { name: string; index: number }[];
  features: { name: string; index: number; policy: FeaturePolicy }[];
}

export function auditLayout(ctx: AuditContext, fields: readonly string[]): AuditLayout {
  const outputs: AuditLayout['outputs'] = [];
  const features: AuditLayout['features'] = [];
  fields.forEach((f, index) => {
    if (f.startsWith('feature.')) {
      const name = f.slice('feature.'.length);
      // A one-hot feature's columns (`plan[0]`, `plan[1]`, …) take the feature's policy.
      const base = /^(.*)\[\d+\]$/.exec(name)?.[1];
      const policy =
        ctx.policies[name] ?? (base === undefined ? undefined : ctx.policies[base]) ?? ctx.defaultPolicy;
      if (policy !== 'omit') features.push({ name, index, policy });
    } else outputs.push({ name: f, index });
  });
  return { outputs, features };
}

/** A value as JSON: numbers as numbers (non-finite ones as their name), int64 beyond 2^53 as digits. */
function valueJson(v: unknown): string {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : JSON.stringify(String(v));
  if (typeof v === 'bigint') return JSON.stringify(v.toString());
  return JSON.stringify(v, bigintAsText) ?? 'null';
}

/** `sha256:<hex>` of a value's text: comparable across records, without the value itself. */
export function hashedValue(v: unknown): string {
  const text =
    typeof v === 'bigint'
      ? v.toString()
      : typeof v === 'number'
        ? String(v)
        : JSON.stringify(v, bigintAsText);
  return `sha256:${createHash('sha256')
    .update(text ?? 'null')
    .digest('hex')}`;
}

function modelJson(m: ModelInfo | undefined): string {
  if (m === undefined) return 'null';
  return JSON.stringify({
    name: m.name,
    version: m.version,
    alias: m.alias ?? null,
    sha256: m.sha256 ?? null,
  });
}

/** The hash chain a row's record joins: its Kafka partition, or `backfill`. */
export function auditChain(row: PredictionRow): string {
  const o = row.origin;
  return o === undefined ? 'backfill' : `${o.topic}/${o.partition}`;
}

/**
 * One decision record as JSON text (stored as jsonb; the chain hashes jsonb's canonical text):
 * decision id, pipeline and its file's sha256, worker, model (name, version, alias, sha256) and the
 * shadow's, the source position (topic, partition, offset; the ordering position; the commit time),
 * the entity key, the features by name under their policy, the outputs, event and scoring times.
 */
export function auditRecord(
  ctx: AuditContext,
  layout: AuditLayout,
  row: PredictionRow,
  batch: PredictionBatch,
): string {
  const v = row.values;
  let features = '';
  for (const f of layout.features) {
    const value = f.policy === 'hash' ? JSON.stringify(hashedValue(v[f.index])) : valueJson(v[f.index]);
    features += `${features === '' ? '' : ','}${JSON.stringify(f.name)}:${value}`;
  }
  let outputs = '';
  for (const o of layout.outputs)
    outputs += `${outputs === '' ? '' : ','}${JSON.stringify(o.name)}:${valueJson(v[o.index])}`;
  const o = row.origin;
  const source =
    o === undefined
      ? `{"backfill":true,"position":"${row.position}","commit_ts":"${new Date(row.sourceTsMs).toISOString()}"}`
      : `{"topic":${JSON.stringify(o.topic)},"partition":${o.partition},"offset":${JSON.stringify(o.offset)},"position":"${row.position}","commit_ts":"${new Date(row.sourceTsMs).toISOString()}"}`;
  return (
    `{"decision_id":"${randomUUID()}","pipeline":${JSON.stringify(ctx.pipeline)},"pipeline_sha256":"${ctx.pipelineSha256}",` +
    `"worker":${JSON.stringify(ctx.worker)},"model":${modelJson(row.model ?? batch.model)},"shadow":${modelJson(batch.shadow)},` +
    `"source":${source},"key":${valueJson(row.key)},"features":{${features}},"outputs":{${outputs}},` +
    `"event_at":"${new Date(row.sourceTsMs).toISOString()}","scored_at":"${row.scoredAt.toISOString()}"}`
  );
}
