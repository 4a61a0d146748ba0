/** Helpers of the rollout e2e tests (shadow, suspension): a model that throws, metrics, sink reads. */
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { TopicMessage } from './stack.js';
import { withPg } from './stack.js';

// --- A churn model that loads and fits, and throws on every run --------------------------------

const varint = (n: number | bigint): number[] => {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? b : b | 0x80);
  } while (v !== 0n);
  return out;
};
const tag = (no: number, wire: number) => varint((no << 3) | wire);
const num = (no: number, v: number | bigint) => [...tag(no, 0), ...varint(v)];
const bytes = (no: number, payload: number[] | Uint8Array | string) => {
  const b = typeof payload === 'string' ? [...Buffer.from(payload)] : [...payload];
  return [...tag(no, 2), ...varint(b.length), ...b];
};

/** ValueInfoProto of a tensor: elem_type (1 float, 7 int64), dims (null: the symbolic batch dim). */
function tensorInfo(name: string, elemType: number, dims: (number | null)[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, d === null ? bytes(2, 'N') : num(1, d)));
  const tensor = [...num(1, elemType), ...bytes(2, shape)];
  return [...bytes(1, name), ...bytes(2, bytes(1, tensor))];
}

/**
 * An ONNX model with churn/2's signature (input `features` float [N,8]; outputs `label` int64 [N]
 * and `probabilities` float [N,2]) whose graph gathers columns 100 and 101 of the 8 features: it
 * loads and passes every signature check, and onnxruntime rejects each run ("indices element out
 * of data bounds").
 */
export function throwingChurnModel(): Buffer {
  const indices = Buffer.alloc(16);
  indices.writeBigInt64LE(100n, 0);
  indices.writeBigInt64LE(101n, 8);
  const initializer = [...num(1, 2), ...num(2, 7), ...bytes(8, 'far_columns'), ...bytes(9, indices)];
  const attrInt = (name: string, v: number) => [...bytes(1, name), ...num(3, v), ...num(20, 2)];
  const gather = [
    ...bytes(1, 'features'),
    ...bytes(1, 'far_columns'),
    ...bytes(2, 'probabilities'),
    ...bytes(3, 'gather'),
    ...bytes(4, 'Gather'),
    ...bytes(5, attrInt('axis', 1)),
  ];
  const argmax = [
    ...bytes(1, 'probabilities'),
    ...bytes(2, 'label'),
    ...bytes(3, 'argmax'),
    ...bytes(4, 'ArgMax'),
    ...bytes(5, attrInt('axis', 1)),
    ...bytes(5, attrInt('keepdims', 0)),
  ];
  const graph = [
    ...bytes(1, gather),
    ...bytes(1, argmax),
    ...bytes(2, 'throws_at_run'),
    ...bytes(5, initializer),
    ...bytes(11, tensorInfo('features', 1, [null, 8])),
    ...bytes(12, tensorInfo('label', 7, [null])),
    ...bytes(12, tensorInfo('probabilities', 1, [null, 2])),
  ];
  const model = [
    ...num(1, 8),
    ...bytes(2, 'streamscore-tests'),
    ...bytes(7, graph),
    ...bytes(8, [...bytes(1, ''), ...num(2, 17)]),
  ];
  return Buffer.from(model);
}

/**
 * A model registry in a tmp folder: the repository's churn versions, plus churn/`version` that
 * throws on every run (throwingChurnModel, with a manifest holding its sha256).
 */
export function registryWithThrowingChurn(version: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'streamscore-registry-'));
  cpSync(resolve('pipelines/models/churn'), join(dir, 'churn'), { recursive: true });
  const to = join(dir, 'churn', version);
  mkdirSync(to, { recursive: true });
  const onnx = throwingChurnModel();
  writeFileSync(join(to, 'model.onnx'), onnx);
  const manifest = parseDocument(readFileSync(join(dir, 'churn', '2', 'manifest.yaml'), 'utf8'));
  manifest.set('version', Number(version));
  manifest.set('description', 'churn/2’s signature; every run throws (e2e test of a failing shadow)');
  manifest.set('sha256', createHash('sha256').update(onnx).digest('hex'));
  manifest.set('size_bytes', onnx.length);
  writeFileSync(join(to, 'manifest.yaml'), manifest.toString());
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// --- Worker metrics -----------------------------------------------------------------------------

/** The worker's /metrics text. */
export async function metricsText(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/**
 * The sum of a metric's samples whose labels include every `labels` pair (0 when none):
 * `metricValue(text, 'streamscore_shadow_skipped_total', { reason: 'failed' })`.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

// --- Sink reads ---------------------------------------------------------------------------------

/** A Postgres scores table's rows as JSON text without `scored_at`, by customer id. */
export async function pgRowsWithoutScoredAt(table: string): Promise<Map<string, string>> {
  return withPg(async (c) => {
    const r = await c.query<{ k: string; row: string }>(
      `select customer_id::text as k, (to_jsonb(t) - 'scored_at')::text as row from ${table} t order by customer_id`,
    );
    return new Map(r.rows.map((x) => [x.k, x.row]));
  });
}

/** An output message's value bytes with the `"scored_at":"…"` member cut out (tombstones: `null`). */
export function valueWithoutScoredAt(m: TopicMessage): string {
  if (m.value === null) return 'null';
  const text = m.value.toString('utf8');
  const cut = text.replace(/,"scored_at":"[^"]*"/, '');
  if (cut === text) throw new Error(`no scored_at in an output message: ${text.slice(0, 200)}`);
  return cut;
}

/** Per key (message key text), the sequence of what `project` makes of its messages, in offset order. */
export function perKey<T>(messages: TopicMessage[], project: (m: TopicMessage) => T): Map<string, T[]> {
  const sorted = [...messages].sort((a, b) =>
    a.partition !== b.partition ? a.partition - b.partition : Number(BigInt(a.offset) - BigInt(b.offset)),
  );
  const out = new Map<string, T[]>();
  for (const m of sorted) {
    const k = m.key?.toString() ?? '';
    const list = out.get(k) ?? [];
    list.push(project(m));
    out.set(k, list);
  }
  return out;
}

/** The (key, position) of each scored (non-tombstone) message of a JSON output topic, as `key@position`. */
export function scoredPairs(messages: TopicMessage[]): string[] {
  return messages.flatMap((m) => {
    if (m.value === null) return [];
    const v = JSON.parse(m.value.toString()) as { key: unknown; source_position: string };
    return [`${m.key?.toString() ?? String(v.key)}@${v.source_position}`];
  });
}

/** The upserts (non-tombstones) of a JSON output topic by `key@source_position`, values parsed. */
export function upsertsByEvent<T>(messages: TopicMessage[]): Map<string, T & { source_position: string }> {
  const out = new Map<string, T & { source_position: string }>();
  for (const m of messages) {
    if (m.value === null) continue;
    const v = JSON.parse(m.value.toString()) as T & { source_position: string };
    out.set(`${m.key?.toString() ?? ''}@${v.source_position}`, v);
  }
  return out;
}
