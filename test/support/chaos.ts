/**
 * The fault-injection harness of issue 19: one scenario = a `streamscore run --workers 2` fleet of
 * the churn pipeline (Postgres scores table with its audit log, output topic) under steady load,
 * real faults on the stack's own services (test/support/stack-services.ts) while it runs, and one
 * checker for every scenario:
 *
 * - the oracle: every key's last change as its source holds it at the end — the synthetic change
 *   stream's own record of what it produced (a Debezium-shaped Avro stream at `rate` events/s,
 *   test/bench/events.ts), a CRM table captured by a real Debezium connector (its final rows; the
 *   position of the topic's last event for each, which must carry that row), and a backfilled
 *   table (each row at the position of the read that completed its chunk);
 * - every sink against it (judge: lost, stale, resurrected, extra keys): the scores table, and the
 *   output topic as a position-guarded reader ends;
 * - position regressions: a trigger on the scores table records every row write that lowers a
 *   key's position (an update, or an insert under a newer delete's tombstone), at the moment it
 *   happens, not only in the end state;
 * - the audit log: no decision id twice, no (key, position) twice, exactly one record per row;
 * - the fleet: both workers alive at the end; the lag — how long ago the oldest event not yet
 *   written (committed) was due at the source, an event the broker has not taken yet included;
 *   for a Debezium topic, since its offset appeared — sampled every 500 ms, back under 5 s within
 *   90 s of each fault's end (the moment the service answers again).
 *
 * Each scenario prints one table row (`chaos | scenario | events | lost | stale | regressions |
 * recovery`); test/run.mjs gathers them into a table at the end of a run.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { Redis } from 'ioredis';
import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import { auditObjects } from '../../workers/audit/sql.js';
import { BackfillQueues } from '../../workers/backfill/queues.js';
import { connectorStates } from '../../workers/connect/debezium.js';
import { makePosition } from '../../workers/core/position.js';
import { createDecoder } from '../../workers/decode/create.js';
import { createSchemaRegistry } from '../../workers/decode/registry.js';
import { dropAudit } from '../bench/audit.js';
import { avroValueSchema, ChangeStream, EnvelopeEncoder, type EventNames, topicOf } from '../bench/events.js';
import { createTopic, deleteSubjects, registerSchemas } from '../bench/topic.js';
import { completedChunks, PIPELINE } from '../e2e/backfill-support.js';
import { CUSTOMERS_DDL, churnChanges, insertCustomers } from './churn.js';
import { type RunningCli, runCli, startCli } from './cli.js';
import { ConnectOperator } from './connect-operator.js';
import { fleetWorkerPids, waitForWorkers } from './fleet.js';
import { churnPipelineCopy } from './pipelines.js';
import {
  deleteTopics,
  dropDebezium,
  env,
  registerDebezium,
  removeChurnObjects,
  testKafka,
  uniqueId,
  waitFor,
  withPg,
} from './stack.js';
import { servicePid, serviceUp } from './stack-services.js';
import {
  debeziumRowKey,
  judge,
  type LastEvent,
  lastEventPerKey,
  outputTopicRows,
  type SinkVerdict,
  verdictLine,
} from './topic-oracle.js';
import { waitCommitted } from './topics.js';
import { watchdogEvents } from './watchdog-log.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pass bounds of issue 19: lag back under LAG_BOUND_S within RECOVERY_BOUND_S of a fault's end. */
export const LAG_BOUND_S = 5;
export const RECOVERY_BOUND_S = 90;

/** What a scenario's fault function gets: the fleet, and a log of faults and of when each ended. */
export interface ChaosContext {
  fleet: RunningCli;
  /** The pipeline's Postgres scores table (e.g. to lock it: a slow sink). */
  scores: string;
  /** Seconds since the load started, e.g. `12.5 s`. */
  at(): string;
  /** Notes a fault (for the report). */
  note(what: string): void;
  /** The fault `what` is over now (the service answers again): recovery is measured from here. */
  healed(what: string): void;
  /**
   * Waits until the lag is under the bound again after the last fault (at most the recovery
   * bound and 5 s), so the next fault starts on a recovered fleet and each recovery is its own.
   */
  recovered(): Promise<void>;
  /** Starts one more worker of the pipeline (a plain `run`, same group); stopped at the end. */
  startWorker(): RunningCli;
  /** Backfill scenarios: the run's status (chunks done …), undefined before it is enqueued. */
  backfillProgress(): Promise<{ done: number; total: number; active: number } | undefined>;
  /**
   * Registers version `n` of the synthetic topic's value schema (the same fields, its own `doc`:
   * the same bytes, framed with a new id) and returns its id.
   */
  registerValueVersion(n: number): Promise<number>;
  /** From the next batch on, the load frames its values with schema id `id`. */
  frameValuesWith(id: number): void;
  /** The worst lag sampled so far, seconds. */
  maxLag(): number;
}

export interface ScenarioOptions {
  /** The table row's name, e.g. `broker SIGKILL ×2`. */
  name: string;
  /** Synthetic change events per second, and for how long (more when an outage holds the producer). */
  rate: number;
  seconds: number;
  /** Live keys of the synthetic stream before its first event. */
  entities?: number;
  /** A CRM table captured by Debezium and changed through the run (keys from 10,000,001). */
  cdc?: {
    customers: number;
    perRound: { updates: number; deletes: number; inserts: number };
    roundMs: number;
  };
  /** A backfill of a table of `rows` rows (keys from 20,000,001), enqueued once the load runs. */
  backfill?: { rows: number; chunkSize: number; lockMs: number };
  /** The faults, run while the load runs; resolves when the last is over. */
  faults(ctx: ChaosContext): Promise<void>;
  /**
   * Fail on any message in the dead-letter topic (every scenario reports their count): a
   * dead-lettered change whose key changes again later is invisible to the oracle.
   */
  noDeadLetters?: boolean;
  /** Fail on any stall the watchdogs found: the fault holds the pipeline on purpose (it waits). */
  noStalls?: boolean;
}

/**
 * Stall watchdog: its stall time in the scenarios' pipelines (the default is 2 minutes), so that a
 * consumer that does not come back after a fault is restarted within a scenario's recovery bound.
 */
export const CHAOS_STALL_MS = 30_000;

export interface ChaosRow {
  scenario: string;
  events: number;
  lost: number;
  stale: number;
  regressions: number;
  /** Seconds from each fault's end until the lag was under LAG_BOUND_S; undefined: never. */
  recoveries: { fault: string; seconds: number | undefined }[];
}

/** `chaos | broker SIGKILL ×2 | 301,000 | 0 | 0 | 0 | 7.5 s (3.0, 7.5)` */
export function rowLine(r: ChaosRow): string {
  const secs = r.recoveries.map((x) => (x.seconds === undefined ? 'never' : x.seconds.toFixed(1)));
  const worst = r.recoveries.some((x) => x.seconds === undefined)
    ? 'never'
    : `${Math.max(0, ...r.recoveries.map((x) => x.seconds!)).toFixed(1)} s`;
  return `chaos | ${r.scenario} | ${r.events.toLocaleString('en-US')} | ${r.lost} | ${r.stale} | ${r.regressions} | ${worst}${secs.length > 1 ? ` (${secs.join(', ')})` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

/**
 * When each synthetic event was due (its batch's place in the schedule), to measure lag as users
 * see it: how long ago the oldest event not yet written was due at the source. An event not yet
 * acknowledged by the broker (it is away) counts from its due time too, so a restarted broker
 * with its backlog still to come does not look like a recovered pipeline.
 */
class DueTimes {
  /** Per partition, where each batch's messages landed (base offset) and when the batch was due. */
  private readonly landed = new Map<number, { offset: bigint; due: number }[]>();
  private readonly pending = new Map<number, number>();

  sending(batch: number, due: number): void {
    this.pending.set(batch, due);
  }

  landedAt(batch: number, due: number, at: { partition: number; baseOffset?: string }[]): void {
    this.pending.delete(batch);
    for (const m of at) {
      if (m.baseOffset === undefined) continue;
      const list = this.landed.get(m.partition) ?? [];
      list.push({ offset: BigInt(m.baseOffset), due });
      this.landed.set(m.partition, list);
    }
  }

  /**
   * Due time of the oldest event not yet acknowledged, or acknowledged but not committed:
   * `uncommitted` names each partition with events past its committed offset (→ that offset).
   * Offsets are contiguous on the topic (one producer): offset c is in the batch with the greatest
   * base offset ≤ c; every batch based after c is uncommitted too (a resend may be older).
   */
  oldest(uncommitted: Map<number, bigint>): number | undefined {
    let oldest = Math.min(Number.POSITIVE_INFINITY, ...this.pending.values());
    for (const [partition, c] of uncommitted) {
      let holding: { offset: bigint; due: number } | undefined;
      for (const e of this.landed.get(partition) ?? []) {
        if (e.offset > c) oldest = Math.min(oldest, e.due);
        else if (holding === undefined || e.offset > holding.offset) holding = e;
      }
      if (holding) oldest = Math.min(oldest, holding.due);
    }
    return Number.isFinite(oldest) ? oldest : undefined;
  }
}

/**
 * `rate` synthetic change events a second for `seconds` (plus a tombstone per delete), encoded
 * up front (on a shared machine the run's CPU goes to sending), and every key's last change.
 * `send()` produces them on schedule, acks -1; a send that fails (the broker away) is retried,
 * with a new producer, until it is acknowledged, and the schedule then catches up. Resend
 * duplicates are harmless: same positions. It resolves with the number of resends.
 */
function prepareLoad(o: {
  kafka: Kafka;
  topic: string;
  names: EventNames;
  ids: { key: number; value: number };
  rate: number;
  seconds: number;
  entities: number;
  seed: number;
  due: DueTimes;
}): {
  last: Map<string, LastEvent>;
  events: number;
  send(): Promise<number>;
  /** Frames the values of the batches not sent yet with schema id `id` (same layout). */
  reframe(id: number): void;
} {
  const enc = new EnvelopeEncoder(o.names, 'avro', o.ids);
  const total = o.rate * o.seconds;
  const stream = new ChangeStream(
    { entities: o.entities, createShare: 0.1, deleteShare: 0.05, seed: o.seed },
    total,
  );
  const last = new Map<string, LastEvent>();
  let producer: Promise<Producer> | undefined;
  let resends = 0;
  const connect = async () => {
    const p = o.kafka.producer({ allowAutoTopicCreation: false });
    await p.connect();
    return p;
  };
  /** Sends one batch until it is acknowledged, with a new producer after a failure. */
  const deliver = async (messages: Message[], batch: number, due: number) => {
    o.due.sending(batch, due);
    for (;;) {
      producer ??= connect();
      const current = producer;
      try {
        const meta = await (await current).send({
          topic: o.topic,
          messages,
          acks: -1,
          compression: CompressionTypes.None,
        });
        o.due.landedAt(batch, due, meta);
        return;
      } catch {
        resends++;
        if (producer === current) {
          producer = undefined;
          void current.then((p) => p.disconnect()).catch(() => undefined);
        }
        await sleep(500);
      }
    }
  };
  const tick = 100;
  const perTick = Math.max(1, Math.round((o.rate * tick) / 1000));
  // Source commit times a minute in the past, 1 µs apart per event: increasing per key. Batches go
  // out up to 4 at a time: the order guard, not the topic's order, decides which change wins, and
  // the oracle is each key's greatest position, so a resent batch may land after a later one.
  const t0Us = (Date.now() - 60_000) * 1000;
  const batches: Message[][] = [];
  for (let n = 0; n < total; ) {
    const messages: Message[] = [];
    for (let k = 0; k < perTick && n < total; k++, n++) {
      const ch = stream.next(t0Us + n);
      last.set(String(ch.id), { op: ch.op, position: makePosition(ch.tsUs, ch.lsn) });
      for (const r of enc.encode(ch)) messages.push({ key: r.key, value: r.value, headers: r.headers });
    }
    batches.push(messages);
  }
  let next = 0;
  const send = async () => {
    const inflight = new Set<Promise<void>>();
    const started = Date.now();
    try {
      for (const [i, messages] of batches.entries()) {
        next = i + 1;
        const p = deliver(messages, i, started + i * tick).finally(() => inflight.delete(p));
        inflight.add(p);
        if (inflight.size >= 4) await Promise.race(inflight);
        const wait = started + (i + 1) * tick - Date.now();
        if (wait > 0) await sleep(wait);
      }
      await Promise.all(inflight);
    } finally {
      await producer?.then((p) => p.disconnect()).catch(() => undefined);
    }
    return resends;
  };
  // Confluent framing: magic byte, then the schema id (4 bytes, big-endian), then the datum.
  const reframe = (id: number) => {
    for (let b = next; b < batches.length; b++)
      for (const m of batches[b]!) if (Buffer.isBuffer(m.value)) m.value.writeInt32BE(id, 1);
  };
  return { last, events: total, send, reframe };
}

// ---------------------------------------------------------------------------------------------
// Lag
// ---------------------------------------------------------------------------------------------

/**
 * Samples the group's lag every 500 ms: per partition, how long ago the first event the group has
 * not committed was seen on the topic (0 when it committed everything). Samples fail while the
 * broker is away; they are skipped.
 */
class LagProbe {
  private readonly ends = new Map<string, { t: number; end: bigint }[]>();
  /** Per sample: the worst lag, the partitions over the bound, and all the group has committed. */
  readonly samples: { t: number; lag: number; behind: string[]; committed: bigint }[] = [];
  /** Samples that failed (the broker away, or a coordinator not ready yet after its restart). */
  readonly failures: { t: number; error: string }[] = [];
  private running = true;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly group: string,
    private readonly topics: string[],
    /** The synthetic topic and its events' due times: its lag counts from when events were due. */
    private readonly synthetic: { topic: string; due: DueTimes },
  ) {}

  start(): void {
    this.loop = (async () => {
      let admin = this.kafka.admin();
      let connected = false;
      while (this.running) {
        try {
          if (!connected) {
            await admin.connect();
            connected = true;
          }
          await this.sample(admin);
        } catch (err) {
          this.failures.push({ t: Date.now(), error: String(err) });
          await admin.disconnect().catch(() => undefined);
          admin = this.kafka.admin();
          connected = false;
        }
        await sleep(500);
      }
      await admin.disconnect().catch(() => undefined);
    })();
  }

  private async sample(admin: ReturnType<Kafka['admin']>): Promise<void> {
    const t = Date.now();
    let lag = 0;
    let total = 0n;
    const behind: string[] = [];
    const committed = await admin.fetchOffsets({ groupId: this.group, topics: this.topics });
    for (const topic of this.topics) {
      const at = new Map(
        (committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [
          p.partition,
          BigInt(p.offset),
        ]),
      );
      for (const p of await admin.fetchTopicOffsets(topic)) {
        const id = `${topic}/${p.partition}`;
        const history = this.ends.get(id) ?? [];
        const end = BigInt(p.high);
        if (history.length === 0 || history[history.length - 1]!.end !== end) history.push({ t, end });
        this.ends.set(id, history);
        const c = at.get(p.partition) ?? -1n;
        if (c > 0n) total += c;
        const low = BigInt(p.low);
        if (end === low || c >= end) continue;
        if (topic === this.synthetic.topic) continue; // below, from the due times
        // The first time an end beyond the committed offset was seen: the oldest unwritten event's age.
        const since = history.find((h) => h.end > c)?.t ?? t;
        const partitionLag = (t - since) / 1000;
        lag = Math.max(lag, partitionLag);
        if (partitionLag >= LAG_BOUND_S)
          behind.push(`${p.partition}: ${partitionLag.toFixed(0)} s, ${end - c} behind`);
      }
    }
    // The synthetic topic: the oldest event not written, counted from when it was due.
    const at = new Map(
      (committed.find((c) => c.topic === this.synthetic.topic)?.partitions ?? []).map((p) => [
        p.partition,
        BigInt(p.offset),
      ]),
    );
    const uncommitted = new Map<number, bigint>();
    for (const p of await admin.fetchTopicOffsets(this.synthetic.topic)) {
      const c = at.get(p.partition) ?? -1n;
      if (c < BigInt(p.high)) uncommitted.set(p.partition, c < 0n ? 0n : c);
    }
    const due = this.synthetic.due.oldest(uncommitted);
    if (due !== undefined && due < t) {
      lag = Math.max(lag, (t - due) / 1000);
      if (t - due >= LAG_BOUND_S * 1000)
        behind.push(`${this.synthetic.topic}: due ${((t - due) / 1000).toFixed(0)} s ago`);
    }
    this.samples.push({ t, lag, behind, committed: total });
  }

  /** Seconds from `from` (ms) until a sample's lag was under `bound`; undefined if none was. */
  recovery(from: number, bound = LAG_BOUND_S): number | undefined {
    const s = this.samples.find((x) => x.t >= from && x.lag < bound);
    return s === undefined ? undefined : (s.t - from) / 1000;
  }

  /**
   * Why a fault did not recover: the partitions over the bound `RECOVERY_BOUND_S` after it, and
   * the group's commit rate (events/s) over the preceding 30 s — all partitions behind at a steady
   * rate is a fleet slower than the load; one partition behind with a flat rate is a stuck consumer.
   */
  diagnose(from: number): string {
    const at = from + RECOVERY_BOUND_S * 1000;
    const s = this.samples.find((x) => x.t >= at) ?? this.samples[this.samples.length - 1];
    const before = this.samples.find((x) => x.t >= at - 30_000);
    if (!s || !before || s.t === before.t) {
      const failed = this.failures.filter((f) => f.t >= at - 30_000 && f.t <= at + 5_000);
      return `no samples from ${((at - 30_000 - from) / 1000).toFixed(0)} to ${((at - from) / 1000).toFixed(0)} s after: ${failed.length} failed${failed.length > 0 ? `, the last: ${failed[failed.length - 1]!.error}` : ''}`;
    }
    const rate = Number(s.committed - before.committed) / ((s.t - before.t) / 1000);
    return `partitions behind ${((s.t - from) / 1000).toFixed(0)} s after: [${s.behind.join('; ')}], commits ${rate.toFixed(0)} events/s over the 30 s before`;
  }

  maxLag(): number {
    return Math.max(0, ...this.samples.map((s) => s.lag));
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

// ---------------------------------------------------------------------------------------------
// Regressions
// ---------------------------------------------------------------------------------------------

/**
 * A trigger on the scores table that records every write lowering a key's position: an update to
 * an older position, an insert at or below the position of the key's delete (its tombstone).
 */
async function watchRegressions(scores: string): Promise<string> {
  const log = `${scores}__chaos_regressions`;
  const fn = `${scores}__chaos_regression_fn`;
  await withPg(async (c) => {
    const tombstones = (await c.query('select to_regclass($1) as t', [`${scores}__tombstones`])).rows[0].t;
    await c.query(
      `create table ${log} (key text, old_position numeric, new_position numeric, kind text, at timestamptz default clock_timestamp())`,
    );
    await c.query(`
      create function ${fn}() returns trigger language plpgsql as $f$
      begin
        if tg_op = 'UPDATE' and new.source_position < old.source_position then
          insert into ${log} (key, old_position, new_position, kind)
            values (new.customer_id::text, old.source_position, new.source_position, 'update to an older position');
        elsif tg_op = 'INSERT' ${
          tombstones
            ? `and exists (select 1 from ${scores}__tombstones t where t.customer_id = new.customer_id and t.source_position >= new.source_position)`
            : 'and false'
        } then
          insert into ${log} (key, new_position, kind) values (new.customer_id::text, new.source_position, 'insert under a newer delete');
        end if;
        return null;
      end $f$`);
    await c.query(
      `create trigger chaos_regressions after insert or update on ${scores} for each row execute function ${fn}()`,
    );
  });
  return log;
}

// ---------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------

const CDC_BASE = 10_000_001;
const BACKFILL_BASE = 20_000_001;

/** Key → position (decimal text) of every row of the scores table. */
async function scoreRows(scores: string): Promise<Map<string, string>> {
  return withPg(async (c) => {
    const r = await c.query(`select customer_id::text as k, source_position::text as p from ${scores}`);
    return new Map(r.rows.map((x) => [String(x.k), String(x.p)]));
  });
}

/**
 * The CDC keys' oracle: each row of the source table at the position of its key's last event on the
 * topic, which must carry the row's final state (updated_at); a key with no row must end deleted.
 * Keys whose last event is not the row's final state go to `behind`.
 */
async function cdcOracle(
  table: string,
  topic: string,
): Promise<{ last: Map<string, LastEvent>; events: number; behind: string[] }> {
  const registry = { url: env.registryUrl };
  const decoder = createDecoder(
    { debezium: { encoding: 'avro', schema_registry: registry } },
    { registry: createSchemaRegistry(registry) },
  );
  const onTopic = await lastEventPerKey(topic, decoder, debeziumRowKey('customer_id'), (root) =>
    String((root['after'] as Record<string, unknown> | null)?.['updated_at']),
  );
  const rows = await withPg(
    async (c) =>
      (
        await c.query(
          `select customer_id::text as k, (extract(epoch from updated_at) * 1000000)::bigint::text as us from ${table}`,
        )
      ).rows as { k: string; us: string }[],
  );
  // The decoder gives a ZonedTimestamp as epoch ms with the µs as a fraction (`1796604610243.061`).
  const usOf = (ms: string) => {
    const [whole, frac = ''] = ms.split('.');
    return /^\d+$/.test(whole ?? '')
      ? (BigInt(whole!) * 1000n + BigInt(frac.padEnd(3, '0').slice(0, 3))).toString()
      : ms;
  };
  const behind: string[] = [];
  const last = new Map<string, LastEvent>();
  const inTable = new Set<string>();
  for (const { k, us } of rows) {
    inTable.add(k);
    const e = onTopic.last.get(k);
    if (e === undefined || e.op === 'd') {
      behind.push(`${k}: in the table, ${e ? 'deleted' : 'no event'} on the topic`);
      last.set(k, { op: 'u', position: -1n });
    } else {
      const stamp = e.detail;
      if (stamp === undefined || usOf(stamp) !== us)
        behind.push(`${k}: last event at updated_at ${stamp}, row ${us}`);
      last.set(k, e);
    }
  }
  for (const [k, e] of onTopic.last) {
    if (inTable.has(k)) continue;
    if (e.op !== 'd') behind.push(`${k}: not in the table, last event ${e.op}`);
    last.set(k, e);
  }
  return { last, events: onTopic.events, behind };
}

/** Runs one scenario; returns its row and every problem found (empty: passed). */
export async function runChaosScenario(o: ScenarioOptions): Promise<{ row: ChaosRow; problems: string[] }> {
  const id = uniqueId();
  const names = { prefix: `chaos${id}` };
  const topic = topicOf(names);
  const kafka = testKafka(`chaos-${id}`);
  const audit = auditObjects(`ml.chaos_audit_${id}`);
  const cdcTable = `crm.chaos_customers_${id}`;
  const cdcPrefix = `chaoscdc${id}`;
  const cdcTopic = `${cdcPrefix}.${cdcTable}`;
  const connector = `chaos_${id}`;
  const backfillTable = `crm.chaos_backfill_${id}`;
  const topics = [topic, ...(o.cdc ? [cdcTopic] : [])];
  const pipelineEnv: Record<string, string> = {
    CHURN_TOPIC: topic,
    CHURN_GROUP: `chaos-${id}`,
    CHURN_ENCODING: 'avro',
    CHURN_SCORES_TABLE: `ml.chaos_${id}`,
    CHURN_AUDIT_TABLE: `${audit.schema}.${audit.table}`,
    CHURN_OUTPUT_TOPIC: `chaos-scores-${id}`,
    CHURN_DLQ: `chaos-${id}.dlq`,
    CHURN_SOURCE_TABLE: backfillTable,
    METRICS_PORT: '0',
    REDIS_URL: env.redisUrl,
    STREAMSCORE_BACKFILL_PREFIX: `chaos${id}`,
  };
  const scores = pipelineEnv['CHURN_SCORES_TABLE']!;
  // A dead member leaves the group after its session timeout: 10 s instead of 30.
  const pipelineFile = churnPipelineCopy(`chaos-${id}`, {
    warehouse: false,
    audit: true,
    edit: (doc) => {
      doc.setIn(['spec', 'source', 'kafka', 'topics'], topics);
      doc.setIn(['spec', 'source', 'kafka', 'session_timeout_ms'], 10000);
      doc.setIn(['spec', 'source', 'kafka', 'stall_timeout_ms'], CHAOS_STALL_MS);
      doc.setIn(['spec', 'source', 'kafka', 'heartbeat_interval_ms'], 1000);
      if (o.backfill) {
        doc.setIn(['spec', 'backfill', 'chunk_size'], o.backfill.chunkSize);
        doc.setIn(['spec', 'backfill', 'lock_ms'], o.backfill.lockMs);
        doc.setIn(['spec', 'backfill', 'fetch_rows'], 250);
        doc.deleteIn(['spec', 'backfill', 'schedule']);
      }
    },
  });
  let fleet: RunningCli | undefined;
  let operator: ConnectOperator | undefined;
  const extraWorkers: RunningCli[] = [];
  let queues: { q: BackfillQueues; redis: Redis } | undefined;
  const due = new DueTimes();
  const probe = new LagProbe(kafka, pipelineEnv['CHURN_GROUP']!, topics, { topic, due });
  const problems: string[] = [];
  const faults: string[] = [];
  const heals: { what: string; t: number }[] = [];
  const started = { t: 0 };
  const at = () => `${((Date.now() - started.t) / 1000).toFixed(1)} s`;
  const tail = () =>
    `\n--- fleet output (tail, drift alarms left out) ---\n${
      fleet
        ?.output()
        .split('\n')
        .filter((l) => !l.includes('drift alarm'))
        .join('\n')
        .slice(-4000) ?? ''
    }`;
  try {
    await createTopic(kafka, topic, 6);
    const ids = await registerSchemas(env.registryUrl, names);
    const valueIds = [ids.value];
    if (o.cdc) {
      await withPg(async (c) => {
        await c.query(CUSTOMERS_DDL(cdcTable));
        await insertCustomers(c, cdcTable, CDC_BASE, CDC_BASE + o.cdc!.customers - 1);
      });
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: cdcTopic, numPartitions: 6 }], waitForLeaders: true });
      await admin.disconnect();
      await registerDebezium({
        name: connector,
        topicPrefix: cdcPrefix,
        tables: [cdcTable],
        converter: 'avro',
      });
      operator = new ConnectOperator(env.connectUrl, connector, (what) => faults.push(`at ${at()}: ${what}`));
      operator.start();
    }
    if (o.backfill) {
      await withPg(async (c) => {
        await c.query(CUSTOMERS_DDL(backfillTable));
        for (let from = 0; from < o.backfill!.rows; from += 50_000) {
          const to = Math.min(o.backfill!.rows, from + 50_000) - 1;
          await insertCustomers(c, backfillTable, BACKFILL_BASE + from, BACKFILL_BASE + to);
        }
      });
    }

    fleet = startCli(
      ['run', ...(o.backfill ? [] : ['--no-backfill']), '--workers', '2', pipelineFile],
      pipelineEnv,
    );
    await waitForWorkers(fleet, 2, 120_000);
    await waitFor(
      'the scores table',
      () => withPg(async (c) => (await c.query('select to_regclass($1) as t', [scores])).rows[0].t !== null),
      120_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}${tail()}`);
    });
    const regressionLog = await watchRegressions(scores);
    const runId = `chaos-${id}`;
    if (o.backfill) {
      const redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
      // Redis is killed under it: failed commands reach their callers; no unhandled 'error' events.
      redis.on('error', () => undefined);
      queues = {
        redis,
        q: new BackfillQueues(PIPELINE, {
          connection: redis,
          prefix: pipelineEnv['STREAMSCORE_BACKFILL_PREFIX']!,
        }),
      };
    }

    const loadPlan = prepareLoad({
      kafka,
      topic,
      names,
      ids,
      rate: o.rate,
      seconds: o.seconds,
      entities: o.entities ?? 20_000,
      seed: Number.parseInt(id, 16) >>> 0 || 7,
      due,
    });
    started.t = Date.now();
    probe.start();
    let loadDone = false;
    let loadSeconds = 0;
    const load = loadPlan.send().finally(() => {
      loadDone = true;
      loadSeconds = (Date.now() - started.t) / 1000;
    });
    const cdc = o.cdc
      ? churnChanges(
          {
            table: cdcTable,
            first: CDC_BASE,
            customers: o.cdc.customers,
            keySpace: o.cdc.customers + 500,
            perRound: o.cdc.perRound,
            roundMs: o.cdc.roundMs,
            tolerateErrors: true,
          },
          () => loadDone,
        )
      : undefined;
    if (o.backfill) {
      const res = await runCli(['backfill', pipelineFile, '--run-id', runId], pipelineEnv);
      assert.equal(res.code, 0, res.output);
    }
    const ctx: ChaosContext = {
      fleet,
      scores,
      at,
      note: (what) => faults.push(`at ${at()}: ${what}`),
      healed: (what) => heals.push({ what, t: Date.now() }),
      recovered: async () => {
        const last = heals[heals.length - 1];
        if (last === undefined) return;
        await waitFor(
          'the lag under the bound',
          async () => probe.recovery(last.t) !== undefined,
          (RECOVERY_BOUND_S + 5) * 1000,
        ).catch(() => undefined);
      },
      startWorker: () => {
        const w = startCli(['run', '--no-backfill', pipelineFile], pipelineEnv);
        extraWorkers.push(w);
        return w;
      },
      registerValueVersion: async (n) => {
        const registry = new SchemaRegistry({ host: env.registryUrl });
        // Another namespace: the same bytes, a new schema to the registry (it ignores a `doc`).
        const base = avroValueSchema(names);
        const schema = { ...base, namespace: `${base['namespace']}.v${n}` };
        const { id } = await registry.register(
          { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
          { subject: `${topic}-value` },
        );
        if (valueIds.includes(id))
          throw new Error(
            `version ${n} of the value schema got id ${id}, already framing the load (${valueIds})`,
          );
        valueIds.push(id);
        return id;
      },
      frameValuesWith: (id) => loadPlan.reframe(id),
      maxLag: () => probe.maxLag(),
      backfillProgress: async () => {
        const s = queues ? await queues.q.status(runId) : undefined;
        return s ? { done: s.chunks.done, total: s.chunks.total, active: s.chunks.active } : undefined;
      },
    };
    await o.faults(ctx);
    const resends = await load;
    const { last, events } = loadPlan;
    const cdcRounds = await cdc;

    // The CDC oracle, once Debezium has delivered the table's final state (it may still be
    // reconnecting after a restart of its Postgres): up to 3 minutes.
    const oracle = new Map(last);
    let cdcEvents = 0;
    if (o.cdc) {
      const deadline = Date.now() + 180_000;
      let c = await cdcOracle(cdcTable, cdcTopic);
      while (c.behind.length > 0 && Date.now() < deadline) {
        await sleep(3000);
        c = await cdcOracle(cdcTable, cdcTopic);
      }
      cdcEvents = c.events;
      for (const [k, e] of c.last) oracle.set(k, e);
      if (c.behind.length > 0)
        problems.push(
          `CDC: ${c.behind.length} keys whose source row the topic does not end with after 3 minutes (e.g. ${c.behind.slice(0, 5).join('; ')}); Debezium: ${await connectorStates(env.connectUrl, connector)}, restarted by the operator ${operator?.restarts.length ?? 0} times`,
        );
    }

    // Everything on the topics committed by the group: committed means written on every sink.
    for (const t of topics) {
      await waitCommitted(pipelineEnv['CHURN_GROUP']!, t, 0n, 180_000).catch((err: Error) => {
        throw new Error(`${err.message}${tail()}`);
      });
    }
    // Every fault's recovery measured: samples up to the lag bound after the last fault's end.
    await waitFor(
      'a lag sample under the bound after every fault',
      async () => heals.every((h) => probe.recovery(h.t) !== undefined),
      (RECOVERY_BOUND_S + 10) * 1000 - (Date.now() - Math.max(0, ...heals.map((h) => h.t))),
    ).catch(() => undefined);
    await probe.stop();
    let backfillLine = '';
    if (o.backfill && queues) {
      // Up to 5 minutes, or until the run has been missing from Redis for 15 s.
      let missingSince: number | undefined;
      const status = await waitFor(
        'the backfill run finished (or gone)',
        async () => {
          const s = await queues!.q.status(runId);
          if (s === undefined) missingSince ??= Date.now();
          else missingSince = undefined;
          if (missingSince !== undefined && Date.now() - missingSince > 15_000)
            return { gone: true as const };
          return s && ['completed', 'failed', 'cancelled'].includes(s.state) ? s : undefined;
        },
        300_000,
      )
        .then((s) => ('gone' in s ? undefined : s))
        .catch(() => queues!.q.status(runId));
      const persistence = await queues.redis
        .config('GET', 'appendonly')
        .then((r) => (r as string[])[1])
        .catch(() => '?');
      backfillLine = `Redis appendonly ${persistence}; backfill run ${runId}: ${status ? `${status.state}, chunks ${JSON.stringify(status.chunks)}, rows done ${status.rows.done} of ${o.backfill.rows}` : 'gone from Redis'}`;
      if (
        status?.state !== 'completed' ||
        status.rows.done !== o.backfill.rows ||
        status.chunks.done !== status.chunks.total
      )
        problems.push(
          `the backfill did not complete exactly: ${backfillLine}${
            persistence === 'no'
              ? ' (Redis runs without persistence: a SIGKILL empties BullMQ’s queues, and the run with them)'
              : ''
          }`,
        );
      // Each row at the position of the read that completed its chunk.
      const chunks = await completedChunks(queues.q, runId);
      const keys = await withPg(
        async (c) =>
          (await c.query(`select customer_id::text as k from ${backfillTable}`)).rows as { k: string }[],
      );
      for (const { k } of keys) {
        const n = BigInt(k);
        const chunk = chunks.find(
          (ch) => (ch.lower === null || n > BigInt(ch.lower)) && (ch.upper === null || n <= BigInt(ch.upper)),
        );
        oracle.set(k, { op: 'r', position: chunk?.position ?? -1n });
      }
    }

    // Every sink against the oracle.
    const rows = await scoreRows(scores);
    const verdicts: [string, SinkVerdict][] = [
      ['postgres scores', judge(oracle, rows)],
      [
        'output topic (position-guarded reader)',
        judge(oracle, await outputTopicRows(pipelineEnv['CHURN_OUTPUT_TOPIC']!)),
      ],
    ];
    const regressions = await withPg(
      async (c) =>
        (
          await c.query(
            `select key, old_position::text as o, new_position::text as n, kind from ${regressionLog}`,
          )
        ).rows as { key: string; o: string | null; n: string; kind: string }[],
    );
    const auditProblems = await withPg(async (c) => {
      const q = async (sql: string) => Number((await c.query(sql)).rows[0].n);
      return {
        decisionTwice: await q(
          `select count(*)::int as n from (select decision_id from ${audit.quoted} group by decision_id having count(*) > 1) d`,
        ),
        keyPositionTwice: await q(
          `select count(*)::int as n from (select key, position from ${audit.quoted} group by key, position having count(*) > 1) d`,
        ),
        rowsWithoutRecord: await q(
          `select count(*)::int as n from ${scores} s where not exists
             (select 1 from ${audit.quoted} a where a.key = s.customer_id::text and a.position = s.source_position)`,
        ),
      };
    });
    const deadLetters = await topicMessages(kafka, pipelineEnv['CHURN_DLQ']!);
    if (o.noDeadLetters && deadLetters > 0)
      problems.push(`${deadLetters} messages in the dead-letter topic ${pipelineEnv['CHURN_DLQ']}`);
    // Reported, not judged: a stall found is the watchdog doing its job (the restart re-reads from
    // the last commit), and the checker judges what the sinks hold either way.
    const watchdog = watchdogEvents(fleet.output());
    if (o.noStalls && watchdog.stalls > 0)
      problems.push(`stall watchdog: ${watchdog.stalls} stalls found while the pipeline waited on purpose`);
    const workers = fleetWorkerPids(fleet.child.pid!);
    const recoveries = heals.map((h) => ({ fault: h.what, seconds: probe.recovery(h.t), t: h.t }));

    for (const [sink, v] of verdicts) {
      if (v.lost.length + v.stale.length + v.resurrected.length + v.extra.length > 0)
        problems.push(`${sink}: ${verdictLine(v)}`);
    }
    if (regressions.length > 0)
      problems.push(
        `${regressions.length} position regressions (e.g. ${regressions
          .slice(0, 5)
          .map((r) => `${r.key}: ${r.kind} ${r.o ?? ''} → ${r.n}`)
          .join('; ')})`,
      );
    if (auditProblems.decisionTwice + auditProblems.keyPositionTwice + auditProblems.rowsWithoutRecord > 0)
      problems.push(`audit log: ${JSON.stringify(auditProblems)}`);
    if (fleet.child.exitCode !== null || workers.length !== 2)
      problems.push(
        `fleet: supervisor ${fleet.child.exitCode === null ? 'alive' : `exited ${fleet.child.exitCode}`}, ${workers.length} workers alive`,
      );
    for (const r of recoveries) {
      if (r.seconds === undefined || r.seconds > RECOVERY_BOUND_S)
        problems.push(
          `after ${r.fault}: lag not under ${LAG_BOUND_S} s within ${RECOVERY_BOUND_S} s (${r.seconds === undefined ? 'never' : `${r.seconds.toFixed(1)} s`}; ${probe.diagnose(r.t)})`,
        );
    }

    const pg = verdicts[0]![1];
    const row: ChaosRow = {
      scenario: o.name,
      events: events + cdcEvents + (o.backfill?.rows ?? 0),
      lost: verdicts.reduce((n, [, v]) => n + v.lost.length, 0),
      stale: verdicts.reduce((n, [, v]) => n + v.stale.length + v.resurrected.length, 0),
      regressions: regressions.length,
      recoveries,
    };
    const seconds = (Date.now() - started.t) / 1000;
    process.stdout.write(
      [
        `${o.name}: ${events.toLocaleString('en-US')} synthetic events at ${o.rate}/s planned (sent in ${loadSeconds.toFixed(0)} s: ${(events / loadSeconds).toFixed(0)}/s, ${resends} resends; run ${seconds.toFixed(0)} s)` +
          (o.cdc
            ? `, ${cdcEvents} CDC events (${cdcRounds?.rounds} rounds, ${cdcRounds?.failed} failed while the server was away)`
            : '') +
          `, ${oracle.size} keys; max lag ${probe.maxLag().toFixed(1)} s`,
        ...faults,
        ...(backfillLine ? [backfillLine] : []),
        ...verdicts.map(([sink, v]) => `${sink}: ${verdictLine(v)}`),
        `postgres scores: ${rows.size} rows, ${pg.lost.length} lost; regressions ${regressions.length}; audit ${JSON.stringify(auditProblems)}; dead letters ${deadLetters}; stall watchdog (${CHAOS_STALL_MS / 1000} s): ${watchdog.stalls} stalls found and restarted, lag unreadable ${watchdog.unreadable} times`,
        `recovery (lag < ${LAG_BOUND_S} s) after: ${recoveries.map((r) => `${r.fault} ${r.seconds === undefined ? 'never' : `${r.seconds.toFixed(1)} s`}`).join('; ')}`,
        rowLine(row),
        '',
      ].join('\n'),
    );
    if (problems.length > 0) problems.push(tail());
    return { row, problems };
  } finally {
    // Clean-up failures are printed, not thrown: they must not hide the scenario's own error.
    const step = async (what: string, fn: () => Promise<unknown>) => {
      await fn().catch((err: Error) => process.stdout.write(`clean-up: ${what} failed: ${err.message}\n`));
    };
    // A scenario that failed mid-fault leaves its service down: the stack must be up afterwards.
    for (const svc of ['kafka', 'postgres', 'redis', 'apicurio'] as const) {
      if (servicePid(svc) === undefined) await step(`restarting ${svc}`, () => serviceUp(svc));
    }
    await step('lag probe', () => probe.stop());
    await step('fleet', async () => fleet?.stop());
    for (const w of extraWorkers) await step('extra worker', () => w.stop());
    if (queues) {
      const { q, redis } = queues;
      await step('backfill queues', async () => {
        await q.close();
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(
            cursor,
            'MATCH',
            `${pipelineEnv['STREAMSCORE_BACKFILL_PREFIX']}:*`,
            'COUNT',
            1000,
          );
          if (keys.length > 0) await redis.del(...keys);
          cursor = next;
        } while (cursor !== '0');
        redis.disconnect();
      });
    }
    operator?.stop();
    if (o.cdc) await step('connector', () => dropDebezium(connector));
    await step('topics, group, tables', () => removeChurnObjects(pipelineEnv));
    await step('regression log, CDC table', () =>
      withPg(async (c) => {
        await c.query(`drop table if exists ${scores}__chaos_regressions`);
        await c.query(`drop function if exists ${scores}__chaos_regression_fn() cascade`);
        await c.query(`drop table if exists ${cdcTable}`);
      }),
    );
    await step('audit log', () => dropAudit(`${audit.schema}.${audit.table}`));
    await step('CDC topic', () => deleteTopics([cdcTopic]));
    await step('schemas', () =>
      deleteSubjects(env.registryUrl, [
        `${topic}-key`,
        `${topic}-value`,
        `${cdcTopic}-key`,
        `${cdcTopic}-value`,
      ]),
    );
    rmSync(dirname(pipelineFile), { recursive: true, force: true });
  }
}

/** Messages a topic holds (the sum of its partitions' end offsets; 0 for a topic never created). */
async function topicMessages(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) return 0;
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** A node:test test that runs the scenario and fails with every problem it found. */
export function chaosTest(title: string, o: ScenarioOptions): void {
  test(`${o.name}: ${title}`, async () => {
    const { problems } = await runChaosScenario(o);
    assert.deepEqual(problems, []);
  });
}
