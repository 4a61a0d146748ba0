/**
 * Shared set-up and readers of the model-rollout e2e tests (test/e2e/rollout-*.test.ts): one churn
 * CDC source, pipeline copy and control topic per test, the `model` CLI pointed at them, the
 * output topic's rows, an independent re-scoring of them, and the alias history as a timeline.
 */
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { AssignerProtocol } from 'kafkajs';
import { parseDocument } from 'yaml';
import type { AliasEvent } from '../../workers/control/events.js';
import { aliasKey, readControlState } from '../../workers/control/index.js';
import { createDecoder } from '../../workers/decode/create.js';
import { readVersion } from '../../workers/models/catalog.js';
import { ensureAliases } from './aliases.js';
import { startChurnSource } from './churn.js';
import { runCli } from './cli.js';
import { referenceSession, runReference } from './onnx-reference.js';
import { churnPipelineCopy } from './pipelines.js';
import {
  deleteTopics,
  dropDebezium,
  env,
  readTopic,
  removeChurnObjects,
  testKafka,
  withPg,
} from './stack.js';
import {
  debeziumRowKey,
  judge,
  type LastEvent,
  lastEventPerKey,
  settledTopicEnd,
  verdictLine,
} from './topic-oracle.js';
import { waitCommitted } from './topics.js';

export const MODELS = resolve('pipelines/models');

/**
 * Adds churn/`version` to a registry whose width fits the churn pipeline but whose outputs do not:
 * the ltv model (a regressor: one `variable` output, no label, no probabilities) with its input
 * declared 8 wide instead of 4 (one byte of the graph input's shape; its trees read features 0–3 only,
 * so it loads and runs), and a manifest naming churn's 8 features, with the file's true sha256.
 */
export function outputsMisfit(registryDir: string, version: string): void {
  const dir = join(registryDir, 'churn', version);
  cpSync(join(MODELS, 'ltv', '1'), dir, { recursive: true });
  const bytes = readFileSync(join(dir, 'model.onnx'));
  // GraphProto.input (field 11) `features`: float tensor, shape [(unset), 4] → [(unset), 8].
  const input = Buffer.from('5a180a086665617475726573120c0a0a080112060a000a020804', 'hex');
  const at = bytes.indexOf(input);
  if (at < 0 || bytes.indexOf(input, at + 1) >= 0)
    throw new Error("ltv/1's graph input is not where expected");
  bytes[at + input.length - 1] = 8;
  writeFileSync(join(dir, 'model.onnx'), bytes);
  const churn = parseDocument(readFileSync(join(MODELS, 'churn', '2', 'manifest.yaml'), 'utf8'));
  const doc = parseDocument(readFileSync(join(dir, 'manifest.yaml'), 'utf8'));
  doc.set('name', 'churn');
  doc.set('version', Number(version));
  doc.setIn(['inputs', 0, 'shape', 1], 8);
  doc.setIn(['inputs', 0, 'features'], churn.getIn(['inputs', 0, 'features']));
  doc.set('sha256', createHash('sha256').update(bytes).digest('hex'));
  doc.set('size_bytes', bytes.length);
  writeFileSync(join(dir, 'manifest.yaml'), doc.toString());
}

/** Every name one rollout test creates on the stack (all carrying its unique id). */
export interface RolloutNames {
  id: string;
  table: string;
  topic: string;
  topicPrefix: string;
  connector: string;
  controlTopic: string;
  group: string;
  scores: string;
  output: string;
}

export function rolloutNames(tag: string, id: string): RolloutNames {
  const table = `crm.customers_${id}`;
  return {
    id,
    table,
    topic: `${tag}${id}.${table}`,
    topicPrefix: `${tag}${id}`,
    connector: `${tag}_${id}`,
    controlTopic: `streamscore.control.${tag}-${id}`,
    group: `${tag}-${id}`,
    scores: `ml.${tag}_${id}`,
    output: `${tag}-scores-${id}`,
  };
}

/**
 * The test's CRM source (table with `customers` rows, 6-partition topic, Debezium connector) and its
 * control topic with the aliases set (e.g. `{ churn: { champion: '1' } }`).
 */
export async function startRolloutSource(
  n: RolloutNames,
  customers: number,
  aliases: Record<string, Record<string, string>>,
): Promise<void> {
  await startChurnSource({
    kafka: testKafka(`rollout-${n.id}`),
    table: n.table,
    topic: n.topic,
    connector: n.connector,
    topicPrefix: n.topicPrefix,
    customers,
  });
  await ensureAliases(aliases, n.controlTopic);
}

/** The environment a worker of the pipeline copy runs with (and the CLI, for the control topic). */
export function rolloutEnv(n: RolloutNames, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CHURN_TOPIC: n.topic,
    CHURN_GROUP: n.group,
    CHURN_SCORES_TABLE: n.scores,
    CHURN_OUTPUT_TOPIC: n.output,
    CHURN_DLQ: `${n.group}.dlq`,
    CHURN_SOURCE_TABLE: n.table,
    CHURN_ENCODING: 'json',
    METRICS_PORT: '0',
    STREAMSCORE_CONTROL_TOPIC: n.controlTopic,
    ...extra,
  };
}

/**
 * The churn pipeline copy of a rollout test: no warehouse (not the subject here), the Kafka sink
 * with every streamscore.* header (by default upserts carry none: their value has the same fields),
 * and the caller's edits (registry, canary …).
 */
export function rolloutPipeline(
  n: RolloutNames,
  edit?: NonNullable<Parameters<typeof churnPipelineCopy>[1]>['edit'],
): string {
  return churnPipelineCopy(`rollout-${n.id}`, {
    warehouse: false,
    edit: (doc) => {
      const sinks = doc.getIn(['spec', 'sinks']) as { items: { hasIn(p: string[]): boolean }[] };
      const kafkaAt = sinks.items.findIndex((s) => s.hasIn(['kafka']));
      doc.setIn(['spec', 'sinks', kafkaAt, 'kafka', 'headers'], 'all');
      edit?.(doc);
    },
  });
}

/** Removes everything a rollout test made: connector and slot, topics, group, tables, pipeline copy. */
export async function removeRollout(
  n: RolloutNames,
  workerEnv: Record<string, string>,
  pipelineFile: string,
): Promise<void> {
  await dropDebezium(n.connector);
  await removeChurnObjects(workerEnv);
  await deleteTopics([n.controlTopic]);
  rmSync(dirname(pipelineFile), { recursive: true, force: true });
}

/**
 * `streamscore model <args…>` on the test's control topic, registry and pipeline folder. The
 * control topic goes in the environment too: the pipeline copy names it through
 * ${STREAMSCORE_CONTROL_TOPIC}, and the CLI checks only the pipelines following the alias on it.
 */
export function modelCli(
  args: string[],
  o: { controlTopic: string; pipelineFile: string; models?: string },
): Promise<{ code: number | null; output: string }> {
  return runCli(
    [
      'model',
      ...args,
      '--models',
      o.models ?? MODELS,
      '--pipelines',
      dirname(o.pipelineFile),
      '--control-topic',
      o.controlTopic,
      '--brokers',
      env.kafkaBrokers,
      '--by',
      'rollout-e2e',
    ],
    { STREAMSCORE_CONTROL_TOPIC: o.controlTopic },
  );
}

/** Every move of `model`@`alias` on the control topic, in topic order. */
export async function aliasHistory(
  controlTopic: string,
  model: string,
  alias: string,
): Promise<AliasEvent[]> {
  const state = await readControlState(testKafka('rollout-history'), controlTopic);
  return state.aliases.get(aliasKey(model, alias))?.history ?? [];
}

/** The target of the alias at `t` (ms): the last move at or before it. */
export function targetAt(history: readonly AliasEvent[], t: number): string | undefined {
  let v: string | undefined;
  for (const e of history) if (Date.parse(e.at) <= t) v = e.version;
  return v;
}

/** The versions the alias pointed to at some instant of [from, to] (ms). */
export function targetsDuring(history: readonly AliasEvent[], from: number, to: number): Set<string> {
  const out = new Set<string>();
  const first = targetAt(history, from);
  if (first !== undefined) out.add(first);
  for (const e of history) {
    const at = Date.parse(e.at);
    if (at > from && at <= to) out.add(e.version);
  }
  return out;
}

/** One upsert of the output topic. */
export interface ScoredMessage {
  key: string;
  version: string;
  /** The streamscore.model.sha256 header ('' when absent). */
  sha256Header: string;
  /** scored_at in ms: when the row's batch took its model lease. */
  scoredAt: number;
  position: bigint;
  probability: number;
  label: number;
  /** The model's input row, in the pipeline's feature order (booleans as 0/1). */
  features: number[];
}

/** The churn model's input, in order (every churn version takes the same 8 features). */
const FEATURES = readVersion(MODELS, 'churn', '1').features ?? [];

/** The upserts of the output topic (JSON), in topic order per partition. */
export async function readScores(topic: string): Promise<ScoredMessage[]> {
  const out: ScoredMessage[] = [];
  for (const m of await readTopic(topic, 120_000)) {
    if (m.value === null) continue;
    const v = JSON.parse(m.value.toString()) as {
      key: number | string;
      churn_probability: number;
      churn_label: number;
      features: Record<string, number | boolean>;
      model_version: string;
      source_position: string;
      scored_at: string;
    };
    out.push({
      key: String(v.key),
      version: v.model_version,
      sha256Header: m.headers['streamscore.model.sha256']?.toString() ?? '',
      scoredAt: Date.parse(v.scored_at),
      position: BigInt(v.source_position),
      probability: v.churn_probability,
      label: Number(v.churn_label),
      features: FEATURES.map((f) => Number(v.features[f])),
    });
  }
  return out;
}

/** The manifest sha256 of each churn version. */
export function manifestSha(version: string, models = MODELS): string {
  return readVersion(models, 'churn', version).sha256;
}

/**
 * Re-scores every message with the version it names, through onnxruntime directly (churn/1's scores
 * are churn/2's: the same trees without the ZipMap, whose probabilities tensor the reference reads).
 * Returns the messages whose stored probability is not that version's (to 1e-6), and how many
 * messages would have had another score under another version (so a wrong version shows).
 */
export async function rescore(
  messages: readonly ScoredMessage[],
  versions: readonly string[],
): Promise<{ mismatched: ScoredMessage[]; distinguishable: number }> {
  const file = (v: string) => join(MODELS, 'churn', v === '1' ? '2' : v, 'model.onnx');
  const scores = new Map<string, Float32Array>();
  for (const v of versions) {
    const session = await referenceSession(file(v));
    const r = await runReference(
      session,
      messages.map((m) => m.features),
      ['probabilities'],
    );
    scores.set(v, r['probabilities']!.data as Float32Array);
    await session.release();
  }
  const mismatched: ScoredMessage[] = [];
  let distinguishable = 0;
  messages.forEach((m, i) => {
    const own = scores.get(m.version)?.[i * 2 + 1];
    if (own === undefined || Math.abs(own - m.probability) > 1e-6) mismatched.push(m);
    const others = versions.filter((v) => v !== m.version).map((v) => scores.get(v)![i * 2 + 1]!);
    if (others.some((o) => Math.abs(o - m.probability) > 1e-6)) distinguishable += 1;
  });
  return { mismatched, distinguishable };
}

/** Customer id → the source topic's partition (Debezium keys a row by its primary key). */
export async function sourcePartitions(topic: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of await readTopic(topic, 120_000)) {
    if (m.key === null) continue;
    const k = JSON.parse(m.key.toString()) as { payload?: { customer_id: number } };
    out.set(String(k.payload?.customer_id), m.partition);
  }
  return out;
}

/** The group's members (by member id) and the partitions of `topic` each owns now. */
export async function groupAssignment(group: string, topic: string): Promise<Map<string, number[]>> {
  const admin = testKafka('rollout-assignment').admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([group]);
    const out = new Map<string, number[]>();
    for (const m of groups[0]?.members ?? []) {
      const a = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
      out.set(
        m.memberId,
        [...(a?.assignment[topic] ?? [])].sort((x, y) => x - y),
      );
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/** A Postgres scores table's rows: key → position, version, sha256, scored_at (ms). */
export async function scoresTable(
  table: string,
): Promise<Map<string, { position: string; version: string; sha256: string; scoredAt: number }>> {
  return withPg(async (c) => {
    const r = await c.query(
      `select customer_id::text as k, source_position::text as p, model_version as v, model_sha256 as s,
              (extract(epoch from scored_at) * 1000)::float8 as t
       from ${table}`,
    );
    return new Map(
      r.rows.map((x) => [
        String(x.k),
        { position: String(x.p), version: String(x.v), sha256: String(x.s), scoredAt: Number(x.t) },
      ]),
    );
  });
}

/** A scores table judged against the CDC topic once the worker group has committed all of it. */
export interface TableVerdict {
  /** Every key's last event on the topic (read independently, through the decoder). */
  last: Map<string, LastEvent>;
  events: number;
  undecodable: number;
  rows: Awaited<ReturnType<typeof scoresTable>>;
  /** Keys lost, stale or resurrected, plus rows of keys the topic never had. */
  wrong: number;
  line: string;
}

/**
 * Waits for Debezium to settle and for the group to commit the whole topic (committed means written
 * on every sink), then compares the scores table with every key's last event: each key present at
 * exactly that position, nothing else.
 */
export async function judgeScores(n: RolloutNames, onTimeout: (err: Error) => never): Promise<TableVerdict> {
  const end = await settledTopicEnd(n.topic);
  const oracle = await lastEventPerKey(
    n.topic,
    createDecoder({ debezium: { encoding: 'json' } }),
    debeziumRowKey('customer_id'),
  );
  await waitCommitted(n.group, n.topic, end, 120_000).catch(onTimeout);
  const rows = await scoresTable(n.scores);
  const v = judge(oracle.last, new Map([...rows].map(([k, r]) => [k, r.position])));
  const extra = [...rows.keys()].filter((k) => !oracle.last.has(k));
  return {
    last: oracle.last,
    events: oracle.events,
    undecodable: oracle.failures,
    rows,
    wrong: v.lost.length + v.stale.length + v.resurrected.length + extra.length,
    line: `${verdictLine(v)}; ${extra.length} extra${extra.length > 0 ? ` (e.g. ${extra.slice(0, 5).join(', ')})` : ''}`,
  };
}

/** The source table's keys now (the oracle's key set: no test here deletes). */
export async function sourceKeys(table: string): Promise<Set<string>> {
  return withPg(async (c) => {
    const r = await c.query(`select customer_id::text as k from ${table}`);
    return new Set(r.rows.map((x) => String(x.k)));
  });
}

/** Updates `perRound` customers of [1, customers] a round, `pauseMs` apart, until `done` and ≥ `minRounds`. */
export async function churnUpdates(o: {
  table: string;
  customers: number;
  perRound: number;
  pauseMs: number;
  minRounds: number;
  done: () => boolean;
  onRound?: (round: number) => void;
}): Promise<number> {
  let round = 0;
  for (; round < o.minRounds || !o.done(); round++) {
    await withPg((c) =>
      c.query(
        `update ${o.table} set tickets_90d = coalesce(tickets_90d, 0) + 1, updated_at = now()
         where customer_id in (select (1 + (g::bigint * 7919 + $1::bigint * 104729) % ${o.customers})::bigint
                               from generate_series(1, ${o.perRound}) g)`,
        [round],
      ),
    );
    o.onRound?.(round + 1);
    await new Promise((r) => setTimeout(r, o.pauseMs));
  }
  return round;
}

/** The sum of a Prometheus text exposition's samples of `name` (with or without `_total`, any labels). */
export function metricSum(text: string, name: string): number {
  const re = new RegExp(`^${name}(?:_total)?(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'gm');
  return [...text.matchAll(re)].reduce((sum, m) => sum + Number(m[1]), 0);
}
