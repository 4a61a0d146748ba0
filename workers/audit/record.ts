import { hash } from 'node:crypto';
import { bigintAsText } from '../core/int64.js';
import type { ModelInfo, PredictionRow } from '../core/types.js';

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
  /** The secret key of the `hash` policy (`audit.hash_key`); required when a feature is hashed. */
  hashKey?: string | undefined;
}

/** The record's fields, bound once per batch layout (each with its `"name":` prefix). */
export interface AuditLayout {
  outputs: { name: string; prefix: string; index: number }[];
  features: {
    name: string;
    prefix: string;
    index: number;
    policy: FeaturePolicy;
    /** Hashed values already computed for this feature (hash policy), while worth keeping. */
    hashed?: FeatureHashes;
  }[];
  /** The last event time and its ISO text (rows of one transaction share it). */
  lastEventMs: number;
  lastEventIso: string;
  /** The last scoring time and its ISO text (a batch's rows share one Date). */
  lastScored: Date | undefined;
  lastScoredIso: string;
  /** The last source topic and its `{"topic":…` opening (a write's rows share a few topics). */
  lastTopic: string | undefined;
  lastTopicOpening: string;
}

/**
 * One feature's keyed hashes already computed (value → `"h:…"`), kept by the sink across batches:
 * a feature with few distinct values (a flag, a plan, a count) is hashed once per value, not once
 * per record. The map restarts when it reaches `HASH_CACHE_SIZE` entries; a feature whose values
 * were found there less often than not over a whole fill (an amount, a timestamp) stops being
 * kept: its entries would only outlive their records and burden the garbage collector.
 */
export interface FeatureHashes {
  values: Map<unknown, string>;
  hits: number;
  /** false once the feature's values proved too rarely repeated to keep. */
  keep: boolean;
}
export type HashCache = Map<string, FeatureHashes>;
const HASH_CACHE_SIZE = 4096;

export function auditLayout(ctx: AuditContext, fields: readonly string[], cache?: HashCache): AuditLayout {
  const outputs: AuditLayout['outputs'] = [];
  const features: AuditLayout['features'] = [];
  fields.forEach((f, index) => {
    if (f.startsWith('feature.')) {
      const name = f.slice('feature.'.length);
      // A one-hot feature's columns (`plan[0]`, `plan[1]`, …) take the feature's policy.
      const base = /^(.*)\[\d+\]$/.exec(name)?.[1];
      const policy =
        ctx.policies[name] ?? (base === undefined ? undefined : ctx.policies[base]) ?? ctx.defaultPolicy;
      if (policy === 'omit') return;
      let hashed: FeatureHashes | undefined;
      if (policy === 'hash' && cache !== undefined) {
        hashed = cache.get(name);
        if (hashed === undefined) {
          hashed = { values: new Map(), hits: 0, keep: true };
          cache.set(name, hashed);
        }
      }
      features.push({
        name,
        prefix: `${asciiJson(name)}:`,
        index,
        policy,
        ...(hashed?.keep ? { hashed } : {}),
      });
    } else outputs.push({ name: f, prefix: `${asciiJson(f)}:`, index });
  });
  if (ctx.hashKey === undefined && features.some((f) => f.policy === 'hash'))
    throw new Error('audit: a feature is under the hash policy but no hash_key was given');
  return {
    outputs,
    features,
    lastEventMs: Number.NaN,
    lastEventIso: '',
    lastScored: undefined,
    lastScoredIso: '',
    lastTopic: undefined,
    lastTopicOpening: '',
  };
}

/** A hashed value through its feature's cache (`FeatureHashes`). */
function cachedHash(c: FeatureHashes, v: unknown, key: string): string {
  const known = c.values.get(v);
  if (known !== undefined) {
    c.hits++;
    return known;
  }
  const value = `"${hashedValue(v, key)}"`;
  if (c.values.size >= HASH_CACHE_SIZE) {
    // A whole fill: HASH_CACHE_SIZE misses and c.hits hits.
    c.keep = c.hits >= HASH_CACHE_SIZE;
    c.hits = 0;
    c.values.clear();
  }
  if (c.keep) c.values.set(v, value);
  return value;
}

// (JSON text holds no raw control character: whatever is not printable ASCII is escaped.)
const NON_ASCII = /[^ -~]/g;
const escapeUnit = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * JSON text of `v` in ASCII alone: characters beyond it as `\uXXXX` escapes (the same JSON value),
 * so that a record's text is its bytes one for one and is copied into its block as such.
 */
function asciiJson(v: unknown): string {
  return (JSON.stringify(v, bigintAsText) ?? 'null').replace(NON_ASCII, escapeUnit);
}

/** A value as JSON: numbers as numbers (non-finite ones as their name), int64 beyond 2^53 as digits. */
function valueJson(v: unknown): string {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : `"${v}"`;
  if (typeof v === 'bigint') return `"${v}"`;
  return asciiJson(v);
}

/** What a hashed value is stored as: `h:` and 22 base64url characters (128 bits of a keyed sha256). */
export const HASHED_VALUE = /^h:[A-Za-z0-9_-]{22}$/;

/**
 * A value under the `hash` policy: the first 128 bits of sha256(key, NUL, value text), base64url.
 * Keyed, because a plain hash of a small value set (an amount, an age) is reversed by trying every
 * value; with the key kept secret, equal values still show as equal across records, and whoever
 * holds the key can check a claimed value (`streamscore audit hash`).
 */
export function hashedValue(v: unknown, key: string): string {
  const text =
    typeof v === 'bigint'
      ? v.toString()
      : typeof v === 'number'
        ? String(v)
        : (JSON.stringify(v, bigintAsText) ?? 'null');
  return `h:${hash('sha256', `${key}\0${text}`, 'base64url').slice(0, 22)}`;
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

/**
 * What many decisions share — pipeline and its file's sha256, worker, model, shadow — kept once in
 * the log's `__contexts` table under the sha256 of its text (content-addressed: `audit verify`
 * recomputes it), and named by each record (`context`).
 */
export interface DecisionContext {
  id: string;
  text: string;
}

export function decisionContext(
  ctx: AuditContext,
  model: ModelInfo | undefined,
  shadow: ModelInfo | undefined,
): DecisionContext {
  const text =
    `{"pipeline":${JSON.stringify(ctx.pipeline)},"pipeline_sha256":"${ctx.pipelineSha256}",` +
    `"worker":${JSON.stringify(ctx.worker)},"model":${modelJson(model)},"shadow":${modelJson(shadow)}}`;
  return { id: hash('sha256', text, 'hex'), text };
}

/** The hash chain a row's record joins: its Kafka partition, `api` (serve) or `backfill`. */
export function auditChain(row: PredictionRow): string {
  const o = row.origin;
  if (o !== undefined) return `${o.topic}/${o.partition}`;
  return row.request !== undefined ? 'api' : 'backfill';
}

/**
 * One decision record as JSON text, in ASCII alone (`asciiJson`; its block's bytes, hashed as
 * they are):
 * decision id, the context it was made in (`decisionContext`: pipeline, its file's sha256, worker,
 * model, shadow), the source position (topic, partition, offset and the ordering position; or the
 * backfill's position; or the API request), the entity key, the features by name under their
 * policy, the outputs, the event (source commit) and scoring times.
 */
export function auditRecord(
  ctx: AuditContext,
  layout: AuditLayout,
  row: PredictionRow,
  context: DecisionContext,
  decisionId: string,
): string {
  const v = row.values;
  let features = '';
  for (const f of layout.features) {
    const x = v[f.index];
    let value: string;
    if (f.policy !== 'hash') value = valueJson(x);
    else if (f.hashed?.keep) value = cachedHash(f.hashed, x, ctx.hashKey!);
    else value = `"${hashedValue(x, ctx.hashKey!)}"`;
    features += features === '' ? f.prefix + value : `,${f.prefix}${value}`;
  }
  let outputs = '';
  for (const o of layout.outputs) {
    const value = valueJson(v[o.index]);
    outputs += outputs === '' ? o.prefix + value : `,${o.prefix}${value}`;
  }
  const o = row.origin;
  const source =
    o !== undefined
      ? `${topicOpening(layout, o.topic)},"partition":${o.partition},"offset":"${o.offset}","position":"${row.position}"}`
      : row.request !== undefined
        ? `{"api":true,"request_id":${asciiJson(row.request)},"position":"${row.position}"}`
        : `{"backfill":true,"position":"${row.position}"}`;
  if (row.sourceTsMs !== layout.lastEventMs) {
    layout.lastEventMs = row.sourceTsMs;
    layout.lastEventIso = new Date(row.sourceTsMs).toISOString();
  }
  return (
    `{"decision_id":"${decisionId}","context":"${context.id}","source":${source},` +
    `"key":${valueJson(row.key)},"features":{${features}},"outputs":{${outputs}},` +
    `"event_at":"${layout.lastEventIso}","scored_at":"${scoredIso(layout, row.scoredAt)}"}`
  );
}

function topicOpening(layout: AuditLayout, topic: string): string {
  if (layout.lastTopic !== topic) {
    layout.lastTopic = topic;
    layout.lastTopicOpening = `{"topic":${asciiJson(topic)}`;
  }
  return layout.lastTopicOpening;
}

/** A row's scoring time as ISO text; the rows of a batch share one Date, converted once. */
function scoredIso(layout: AuditLayout, at: Date): string {
  if (layout.lastScored !== at) {
    layout.lastScored = at;
    layout.lastScoredIso = at.toISOString();
  }
  return layout.lastScoredIso;
}

/**
 * The order a write's records are kept in: grouped by chain (chains in name order, so that
 * concurrent writers lock chain heads in one order), by position within a chain (the rows of a
 * partition usually come in that order already: then nothing is sorted). The rows of `chains[c]`
 * are `ordered[groupEnds[c - 1] ?? 0 … groupEnds[c] - 1]`.
 */
export function auditOrder(rows: readonly PredictionRow[]): {
  chains: string[];
  ordered: PredictionRow[];
  groupEnds: number[];
} {
  const groups = new Map<string, number[]>();
  for (let i = 0; i < rows.length; i++) {
    const chain = auditChain(rows[i]!);
    const g = groups.get(chain);
    if (g === undefined) groups.set(chain, [i]);
    else g.push(i);
  }
  const chains = [...groups.keys()].sort();
  const ordered: PredictionRow[] = [];
  const groupEnds: number[] = [];
  for (const chain of chains) {
    const g = groups.get(chain)!;
    let sorted = true;
    for (let k = 1; k < g.length && sorted; k++) sorted = rows[g[k - 1]!]!.position <= rows[g[k]!]!.position;
    if (!sorted) {
      g.sort((x, y) => {
        const a = rows[x]!.position;
        const b = rows[y]!.position;
        return a < b ? -1 : a > b ? 1 : x - y;
      });
    }
    for (const i of g) ordered.push(rows[i]!);
    groupEnds.push(ordered.length);
  }
  return { chains, ordered, groupEnds };
}
