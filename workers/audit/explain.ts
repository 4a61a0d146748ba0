import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import { errorMessage } from '../core/errors.js';
import { ModelRegistry, type OnnxModel } from '../inference/index.js';
import { manifestBeside } from '../models/catalog.js';
import { loadModelVersion } from '../rollout/load.js';
import { modelFile } from '../rollout/targets.js';
import type { CheckedSpec } from '../spec/checks.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import { auditTableOf } from './config.js';
import { findRecords } from './lookup.js';
import type { FeaturePolicy } from './record.js';
import { auditObjects } from './sql.js';

/** How `explain` attributes a score; printed with every attribution and in the README. */
export const ATTRIBUTION_METHOD =
  'one-at-a-time replacement by the training median: each feature alone is set to its reference value ' +
  '(the median of the training data, from the model manifest) and the same model version (sha256 checked) ' +
  'is re-run; attribution = score of the decision − score with that feature at its reference. It ignores ' +
  'interactions between features, so the attributions need not sum to the score minus the score with every ' +
  'feature at its reference. Features under hash/omit cannot be attributed: their value is not kept.';

/** An audit record as stored (workers/audit/record.ts auditRecord). */
export interface AuditRecordJson {
  decision_id: string;
  pipeline: string;
  pipeline_sha256: string;
  worker: string;
  model: RecordedModel | null;
  shadow: RecordedModel | null;
  source: {
    topic?: string;
    partition?: number;
    offset?: string;
    backfill?: boolean;
    api?: boolean;
    request_id?: string;
    position: string;
    /** Written by logs before the commit time moved to `event_at` alone. */
    commit_ts?: string;
  };
  key: unknown;
  features: Record<string, unknown>;
  outputs: Record<string, unknown>;
  event_at: string;
  scored_at: string;
}

export interface RecordedModel {
  name: string;
  version: string;
  alias: string | null;
  sha256: string | null;
}

/** A human override of a decision (`streamscore audit override`), recorded in the decision's chain. */
export interface OverrideView {
  decisionId: string;
  value: unknown;
  by: string;
  reason: string;
  at: string;
}

/** One decision row of the audit table, with the overrides recorded against it. */
export interface StoredDecision {
  decisionId: string;
  chain: string;
  seq: string;
  key: string;
  position: string;
  writtenAt: string;
  record: AuditRecordJson;
  overrides?: OverrideView[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isDecisionId(id: string): boolean {
  return UUID.test(id);
}

/**
 * The decision to explain: the one with `decisionId`, or else the newest decision of `key` (by
 * written_at, then seq): the current prediction, since the sink's order guard only writes (and
 * audits) a row whose position is greater than the stored one. Other records of the log (overrides,
 * rollout events: they have a `type`) are not decisions; the overrides of the decision come with it.
 */
export async function findDecision(
  db: Knex,
  table: string,
  key: string,
  decisionId?: string,
): Promise<StoredDecision | undefined> {
  const o = auditObjects(table);
  const [d] = await findRecords(db, o, decisionId === undefined ? { key } : { decisionId }, 'decision', {
    limit: 1,
  });
  if (d === undefined) return undefined;
  // A record names its decision context (pipeline, worker, model, shadow: see decisionContext):
  // merged back in here, so the record reads whole.
  const ctxId = d.record['context'];
  let context: Record<string, unknown> = {};
  if (typeof ctxId === 'string') {
    const c = await db.raw<{ rows: { context: string }[] }>(
      `SELECT context FROM ${o.contexts} WHERE id = ?`,
      [ctxId],
    );
    if (c.rows[0] !== undefined) context = JSON.parse(c.rows[0].context) as Record<string, unknown>;
  }
  const overrides = await findRecords(db, o, { key: d.key }, 'override', {
    chain: d.chain,
    where: { sql: "f.r->>'overrides' = ?", bindings: [d.decisionId] },
  });
  overrides.reverse();
  const record = { ...d.record, ...context } as unknown as AuditRecordJson;
  return {
    decisionId: d.decisionId,
    chain: d.chain,
    seq: d.seq,
    key: d.key,
    position: String(record.source?.position ?? ''),
    writtenAt: d.writtenAt.toISOString(),
    record,
    overrides: overrides.map((x) => ({
      decisionId: String(x.record['decision_id']),
      value: x.record['value'],
      by: String(x.record['by']),
      reason: String(x.record['reason']),
      at: typeof x.record['at'] === 'string' ? x.record['at'] : x.writtenAt.toISOString(),
    })),
  };
}

// --------------------------------------------------------------------------- features

/** A feature of the decision: name, expression, and its value as recorded (or why it is not shown). */
export interface FeatureView {
  name: string;
  expression: string;
  policy: FeaturePolicy;
  /** The recorded value (policy full). */
  value?: number | null;
  /** The keyed hash of the value (policy hash; record.ts hashedValue). */
  hash?: string;
  note?: string;
}

export const HASH_NOTE = 'value kept out (hash policy)';
export const OMIT_NOTE = 'not recorded (omit policy)';

/** Feature columns in model input order: a one-hot feature `plan` of width 3 is plan[0], plan[1], plan[2]. */
export function featureColumns(checked: CheckedSpec): { name: string; feature: string }[] {
  return checked.features.flatMap((f) =>
    f.width === 1
      ? [{ name: f.name, feature: f.name }]
      : Array.from({ length: f.width }, (_, i) => ({ name: `${f.name}[${i}]`, feature: f.name })),
  );
}

function expressionOf(p: Pipeline, feature: string): string | undefined {
  const d = p.spec.features.map[feature];
  if (d === undefined) return undefined;
  return typeof d === 'string' ? d : d.expr;
}

/** A hashed value: `h:` + 22 base64url (keyed; record.ts), or `sha256:` + hex (logs written before). */
const HASHED = /^(h:[A-Za-z0-9_-]{22}|sha256:[0-9a-f]{64})$/;

/** A recorded feature value: a number, a hash, or absent (omitted). Non-finite numbers are stored as their name. */
function readValue(v: unknown): { policy: FeaturePolicy; value?: number | null; hash?: string } {
  if (v === undefined) return { policy: 'omit' };
  if (typeof v === 'string' && HASHED.test(v)) return { policy: 'hash', hash: v };
  if (typeof v === 'number') return { policy: 'full', value: v };
  if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return { policy: 'full', value: Number(v) };
  if (typeof v === 'boolean') return { policy: 'full', value: v ? 1 : 0 };
  return { policy: 'full', value: v === null ? null : Number(v) };
}

/**
 * Every feature column of the pipeline, in model input order, with the value the record holds;
 * then any recorded feature the pipeline no longer has.
 */
export function featureViews(p: Pipeline, checked: CheckedSpec, record: AuditRecordJson): FeatureView[] {
  const recorded = record.features ?? {};
  const cols = featureColumns(checked);
  const views: FeatureView[] = cols.map((c) =>
    view(c.name, expressionOf(p, c.feature) ?? '', recorded[c.name]),
  );
  const known = new Set(cols.map((c) => c.name));
  for (const name of Object.keys(recorded)) {
    if (!known.has(name)) views.push(view(name, '(not in the pipeline file now)', recorded[name]));
  }
  return views;
}

function view(name: string, expression: string, raw: unknown): FeatureView {
  const v = readValue(raw);
  if (v.policy === 'hash') return { name, expression, policy: 'hash', hash: v.hash!, note: HASH_NOTE };
  if (v.policy === 'omit') return { name, expression, policy: 'omit', note: OMIT_NOTE };
  return { name, expression, policy: 'full', value: v.value ?? null };
}

// --------------------------------------------------------------------------- attribution

/** One model input: its recorded value (undefined when kept out) and its reference value. */
export interface AttributionColumn {
  name: string;
  value: number | undefined;
  reference: number | undefined;
}

export interface FeatureAttribution {
  feature: string;
  value: number;
  reference: number;
  /** The score with this feature alone at its reference. */
  scoreAtReference: number;
  /** Score of the decision − scoreAtReference. */
  attribution: number;
}

export interface AttributionResult {
  scoreField: string;
  /** The score re-computed in-process from the recorded values (kept-out features at their reference). */
  rescored: number;
  /** The score with every feature at its reference. */
  baseline: number;
  /** In model input order. */
  features: FeatureAttribution[];
  notAttributed: { feature: string; reason: string }[];
  /** Kept-out features, held at their reference value in every evaluation. */
  heldAtReference: string[];
}

function scoreOf(col: ArrayLike<unknown> | undefined, i: number): number {
  return Number(col?.[i]);
}

/**
 * Attributes the `scoreField` output of `model` at the recorded point: one batch, with the point
 * itself, every feature at its reference, and one row per attributable feature with that feature
 * alone at its reference. Kept-out features are held at their reference value everywhere (their value
 * is unknown); a kept-out feature without a reference value makes the point unknown: throws.
 */
export async function computeAttribution(
  model: OnnxModel,
  scoreField: string,
  columns: readonly AttributionColumn[],
): Promise<AttributionResult> {
  const width = columns.length;
  const notAttributed: AttributionResult['notAttributed'] = [];
  const held: string[] = [];
  const point = new Float32Array(width);
  const baseline = new Float32Array(width);
  const attributable: number[] = [];
  columns.forEach((c, j) => {
    if (c.value === undefined) {
      if (c.reference === undefined) {
        throw new Error(
          `${c.name} is kept out of the record and has no reference value: the model cannot be re-run`,
        );
      }
      held.push(c.name);
      notAttributed.push({ feature: c.name, reason: 'value not kept: hash or omit policy' });
      point[j] = c.reference;
    } else {
      point[j] = c.value;
      if (c.reference === undefined)
        notAttributed.push({ feature: c.name, reason: 'no reference value in the model manifest' });
      else attributable.push(j);
    }
    baseline[j] = c.reference ?? point[j]!;
  });
  const rows = 2 + attributable.length;
  const batch = new Float32Array(rows * width);
  batch.set(point, 0);
  batch.set(baseline, width);
  attributable.forEach((j, r) => {
    const at = (2 + r) * width;
    batch.set(point, at);
    batch[at + j] = columns[j]!.reference!;
  });
  const predictions = await model.predict(batch, rows, width);
  const col = predictions.columns[scoreField];
  if (col === undefined) throw new Error(`the model has no output field '${scoreField}'`);
  const rescored = scoreOf(col, 0);
  return {
    scoreField,
    rescored,
    baseline: scoreOf(col, 1),
    features: attributable.map((j, r) => {
      const s = scoreOf(col, 2 + r);
      return {
        feature: columns[j]!.name,
        value: point[j]!,
        reference: Math.fround(columns[j]!.reference!),
        scoreAtReference: s,
        attribution: rescored - s,
      };
    }),
    notAttributed,
    heldAtReference: held,
  };
}

// --------------------------------------------------------------------------- explanation

export interface AttributionView extends AttributionResult {
  method: string;
  /** The manifest the reference values come from. */
  referenceFrom: string;
  model: { name: string; version: string; sha256: string };
  /** The score as recorded in the decision. */
  recorded: number | null;
  /** Sum of the attributions (compare with rescored − baseline). */
  sum: number;
}

export interface Explanation {
  pipeline: string;
  table: string;
  decision: { id: string; key: string; chain: string; seq: string; writtenAt: string };
  source: AuditRecordJson['source'];
  eventAt: string;
  scoredAt: string;
  worker: string;
  pipelineSha256: { recorded: string; current: string; same: boolean };
  model: RecordedModel | null;
  shadow: RecordedModel | null;
  features: FeatureView[];
  outputs: Record<string, unknown>;
  score: { field: string; value: number | null } | null;
  attribution: AttributionView | null;
  /** Human overrides of this decision, oldest first. */
  overrides: OverrideView[];
  notes: string[];
}

export interface ExplainOptions {
  /** The output field to attribute; default: the first float output of the pipeline. */
  output?: string;
  registry?: ModelRegistry;
}

/** The first float output field of the pipeline's model (e.g. churn_probability). */
function defaultScoreField(model: OnnxModel): string | undefined {
  return model.fieldTypes.find((f) => f.type === 'float')?.name;
}

/** Explains one stored decision: its record, the pipeline's feature expressions, and the attribution. */
export async function explainDecision(
  file: string,
  p: Pipeline,
  checked: CheckedSpec,
  d: StoredDecision,
  opts: ExplainOptions = {},
): Promise<Explanation> {
  const r = d.record;
  const notes: string[] = [];
  const current = createHash('sha256').update(readFileSync(file)).digest('hex');
  if (current !== r.pipeline_sha256) {
    notes.push(
      'the pipeline file changed since this decision (its sha256 differs): expressions are those of the file now',
    );
  }
  const features = featureViews(p, checked, r);
  let attribution: AttributionView | null = null;
  let score: Explanation['score'] = null;
  const m = r.model ?? null;
  if (m === null) notes.push('the record names no model: no attribution');
  else {
    const registry = opts.registry ?? new ModelRegistry();
    let model: OnnxModel | undefined;
    try {
      model = (await loadModelVersion({ file, pipeline: p, checked, version: m.version, registry })).model;
    } catch (err) {
      notes.push(
        `model ${m.name} version ${m.version} cannot be loaded: ${errorMessage(err)}; no attribution`,
      );
    }
    if (model !== undefined) {
      try {
        const field = opts.output ?? defaultScoreField(model);
        if (field === undefined) throw new Error('the model has no float output to attribute (use --output)');
        if (!model.outputFields.includes(field)) {
          throw new Error(`no output field '${field}' (fields: ${model.outputFields.join(', ')})`);
        }
        const recorded = typeof r.outputs[field] === 'number' ? (r.outputs[field] as number) : null;
        score = { field, value: recorded };
        attribution = await attributionOf(file, p, checked, r, m, model, field, recorded, notes);
      } catch (err) {
        notes.push(`no attribution: ${errorMessage(err)}`);
      } finally {
        await model.close();
      }
    }
  }
  return {
    pipeline: p.metadata.name,
    table: auditTableOf(p) ?? '',
    decision: { id: d.decisionId, key: d.key, chain: d.chain, seq: d.seq, writtenAt: d.writtenAt },
    source: r.source,
    eventAt: r.event_at,
    scoredAt: r.scored_at,
    worker: r.worker,
    pipelineSha256: { recorded: r.pipeline_sha256, current, same: current === r.pipeline_sha256 },
    model: r.model,
    shadow: r.shadow,
    features,
    outputs: r.outputs,
    score,
    attribution,
    overrides: d.overrides ?? [],
    notes,
  };
}

async function attributionOf(
  file: string,
  p: Pipeline,
  checked: CheckedSpec,
  r: AuditRecordJson,
  m: RecordedModel,
  model: OnnxModel,
  field: string,
  recorded: number | null,
  notes: string[],
): Promise<AttributionView | null> {
  if (m.sha256 === null) throw new Error('the record has no model sha256 to check the model against');
  if (m.sha256 !== model.sha256) {
    throw new Error(
      `version ${m.version} in the registry has sha256 ${model.sha256}, the decision was made by ${m.sha256}`,
    );
  }
  const path = modelFile(file, p, m.version);
  const manifest = manifestBeside(path);
  if (manifest?.reference === undefined) {
    notes.push(
      `no attribution: the manifest of ${m.name} version ${m.version} has no reference values (regenerate it with tools/models/train.py)`,
    );
    return null;
  }
  const cols = featureColumns(checked);
  const modelNames = manifest.features;
  const columns: AttributionColumn[] = cols.map((c, j) => {
    const v = readValue(r.features?.[c.name]);
    const refName = modelNames?.[j] ?? c.name;
    const value = v.policy === 'full' && typeof v.value === 'number' ? v.value : undefined;
    return { name: c.name, value, reference: manifest.reference?.[refName] };
  });
  const res = await computeAttribution(model, field, columns);
  if (res.heldAtReference.length > 0) {
    notes.push(
      `${res.heldAtReference.join(', ')} ${res.heldAtReference.length === 1 ? 'is' : 'are'} kept out of the record: held at the reference value in every evaluation, so the attributions are those of a point that differs from the decision's (re-scored ${fmt(res.rescored)}, recorded ${recorded === null ? 'none' : fmt(recorded)})`,
    );
  } else if (recorded !== null && Math.abs(res.rescored - recorded) > 1e-6) {
    notes.push(
      `re-scoring the recorded features gives ${fmt(res.rescored)}, the decision recorded ${fmt(recorded)}: the attributions may not describe this decision`,
    );
  }
  return {
    ...res,
    method: ATTRIBUTION_METHOD,
    referenceFrom: manifest.manifestPath,
    model: { name: m.name, version: m.version, sha256: model.sha256 },
    recorded,
    sum: res.features.reduce((s, f) => s + f.attribution, 0),
  };
}

// --------------------------------------------------------------------------- text

/** A float32 value as the shortest decimal that reads back as the same float32; other numbers as they are. */
export function showNumber(v: number | null | undefined): string {
  if (v === null || v === undefined) return 'null';
  if (!Number.isFinite(v) || Number.isInteger(v) || Math.fround(v) !== v) return String(v);
  for (let p = 1; p <= 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return String(s);
  }
  return String(v);
}

function fmt(v: number): string {
  return v.toFixed(6);
}

function signed(v: number): string {
  return `${v >= 0 ? '+' : ''}${v.toFixed(6)}`;
}

function table(rows: string[][], indent = '  '): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      (
        indent + r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')
      ).trimEnd(),
    )
    .join('\n');
}

function describeModel(m: RecordedModel | null): string {
  if (m === null) return 'none';
  return `${m.name} version ${m.version}${m.alias ? ` (alias ${m.alias})` : ''} sha256 ${m.sha256 ?? 'unknown'}`;
}

/** The explanation for people. */
export function formatExplanation(e: Explanation): string {
  const s = e.source;
  const committed = `committed ${s.commit_ts ?? e.eventAt}`;
  const src = s.backfill
    ? `backfill, position ${s.position}, ${committed}`
    : s.api
      ? `API request ${s.request_id}, position ${s.position}`
      : `${s.topic} partition ${s.partition} offset ${s.offset}, position ${s.position}, ${committed}`;
  const out: string[] = [
    `Decision ${e.decision.id} of ${e.pipeline} for key ${e.decision.key}`,
    table([
      ['change event', src],
      ['event at', e.eventAt],
      ['scored at', `${e.scoredAt} by worker ${e.worker}`],
      ['written at', `${e.decision.writtenAt} (${e.table}, chain ${e.decision.chain} seq ${e.decision.seq})`],
      ['model', describeModel(e.model)],
      ...(e.shadow ? [['shadow', describeModel(e.shadow)]] : []),
      [
        'pipeline',
        `sha256 ${e.pipelineSha256.recorded}${e.pipelineSha256.same ? ' (the file now)' : ' (the file has changed since)'}`,
      ],
    ]),
    '',
    'Features',
    table([
      ['name', 'expression', 'value'],
      ...e.features.map((f) => [
        f.name,
        f.expression,
        f.policy === 'full' ? showNumber(f.value) : f.policy === 'hash' ? `${f.hash} ${f.note}` : f.note!,
      ]),
    ]),
    '',
    'Outputs',
    table(
      Object.entries(e.outputs).map(([k, v]) => [k, typeof v === 'number' ? String(v) : JSON.stringify(v)]),
    ),
  ];
  const a = e.attribution;
  if (a !== null) {
    const ranked = [...a.features].sort((x, y) => Math.abs(y.attribution) - Math.abs(x.attribution));
    out.push(
      '',
      `Main elements of the decision (score: ${a.scoreField} = ${a.recorded === null ? 'not recorded' : String(a.recorded)})`,
      ...wrap(`Method: ${a.method}`, 100).map((l) => `  ${l}`),
      `  Reference values: ${a.referenceFrom}; model ${a.model.name} version ${a.model.version} sha256 ${a.model.sha256}.`,
      '',
      table([
        ['feature', 'value', 'reference', 'score at reference', 'attribution'],
        ...ranked.map((f) => [
          f.feature,
          showNumber(f.value),
          showNumber(f.reference),
          fmt(f.scoreAtReference),
          signed(f.attribution),
        ]),
      ]),
      '',
      `  re-scored ${fmt(a.rescored)}; every feature at its reference ${fmt(a.baseline)}; sum of attributions ${signed(a.sum)} vs ${signed(a.rescored - a.baseline)}`,
    );
    for (const n of a.notAttributed) out.push(`  not attributed: ${n.feature} (${n.reason})`);
  } else out.push('', 'Main elements of the decision: not computed (see the notes)');
  if (e.overrides.length > 0) {
    out.push('', 'Overridden by people');
    for (const o of e.overrides)
      out.push(`  ${o.at} by ${o.by}: ${JSON.stringify(o.value)} (${o.reason}; override ${o.decisionId})`);
  }
  if (e.notes.length > 0) out.push('', 'Notes', ...e.notes.map((n) => `  - ${n}`));
  return `${out.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}
