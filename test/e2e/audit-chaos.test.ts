import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import { HASHED_VALUE } from '../../workers/audit/record.js';
import { auditObjects } from '../../workers/audit/sql.js';
import { createDecoder } from '../../workers/decode/create.js';
import { dropAudit } from '../bench/audit.js';
import { startChurnSource } from '../support/churn.js';
import { type RunningCli, runCli, startCli } from '../support/cli.js';
import { waitForWorkers } from '../support/fleet.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import { metricSum } from '../support/rollout-e2e.js';
import {
  dropDebezium,
  env,
  freePort,
  readTopic,
  removeChurnObjects,
  testKafka,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { debeziumRowKey, settledTopicEnd } from '../support/topic-oracle.js';
import { waitCommitted } from '../support/topics.js';

// Issue 15's chaos e2e: exactly one audit record per prediction write that committed. A
// --workers 2 fleet on the churn pipeline with its audit log on (a table of this test's own) scores
// 2,000 snapshot reads and 20,000 CRM updates while a worker is SIGKILLed three times (the
// supervisor restarts it; its uncommitted batches are replayed, some already written) and the
// sink's Postgres connection is cut for 10 s (every connection dropped, new ones refused: writes in
// flight fail and retry). Then a plain worker with /metrics, its Postgres sink writing through
// COPY, scores 1,000 more updates. The audit table must then hold, for every row of the scores
// table, exactly one record at the row's (key, position); no decision id and no (key, position)
// twice; every record at a position that was a change event of its key on the topic and not beyond
// the row's current one (a prediction that was written and later overwritten); intact hash chains
// (`streamscore audit verify`, and recomputed here); streamscore_audit_records_dropped 0.
const id = uniqueId();
const table = `crm.customers_${id}`;
const topic = `audit${id}.${table}`;
const connector = `audit_${id}`;
const CUSTOMERS = 2000;
const ROUNDS = 40;
const PER_ROUND = 500; // 40 × 500 = 20,000 updates during the faults
const LAST_UPDATES = 1000; // scored by the worker whose /metrics are read
const ROUND_MS = 400;

const pg = new URL(env.databaseUrl);
const proxy = new TcpProxy(pg.hostname, Number(pg.port || 5432));
const audit = auditObjects(`ml.audit_${id}`);
const pipelineEnv: Record<string, string> = {
  CHURN_TOPIC: topic,
  CHURN_GROUP: `audit-chaos-${id}`,
  CHURN_SCORES_TABLE: `ml.churn_audit_${id}`,
  CHURN_AUDIT_TABLE: `${audit.schema}.${audit.table}`,
  CHURN_OUTPUT_TOPIC: `audit-chaos-scores-${id}`,
  CHURN_DLQ: `audit-chaos-${id}.dlq`,
  CHURN_SOURCE_TABLE: table,
  CHURN_ENCODING: 'json',
  METRICS_PORT: '0',
};
// A dead member leaves the group after its session timeout: 10 s instead of 30 keeps the test short.
const pipelineFile = churnPipelineCopy(`audit-chaos-${id}`, {
  warehouse: false,
  audit: true,
  edit: (doc) => {
    doc.setIn(['spec', 'source', 'kafka', 'session_timeout_ms'], 10000);
    doc.setIn(['spec', 'source', 'kafka', 'heartbeat_interval_ms'], 1000);
  },
});
// The last worker writes through COPY (a staging table, then one upsert from it): with 2,000
// customers and 1,000 records in flight per partition the fleet's writes stay below the size at
// which `auto` picks COPY (4,000 rows), so they take the unnest path; both must audit.
const copyPipelineFile = churnPipelineCopy(`audit-chaos-copy-${id}`, {
  warehouse: false,
  audit: true,
  edit: (doc) => doc.setIn(['spec', 'sinks', 0, 'postgres', 'write_mode'], 'copy'),
});
let fleet: RunningCli | undefined;
let single: RunningCli | undefined;

before(async () => {
  await proxy.start();
  const proxied = new URL(env.databaseUrl);
  proxied.host = `127.0.0.1:${proxy.port}`;
  pipelineEnv['DATABASE_URL'] = proxied.toString();
  const kafka = testKafka(`audit-chaos-${id}`);
  await startChurnSource({ kafka, table, topic, connector, topicPrefix: `audit${id}`, customers: CUSTOMERS });
});

after(async () => {
  await fleet?.stop();
  await single?.stop();
  await dropDebezium(connector);
  await proxy.stop();
  await removeChurnObjects(pipelineEnv);
  // The audit log: its day partitions, heads table and functions.
  await dropAudit(pipelineEnv['CHURN_AUDIT_TABLE']!);
  for (const f of [pipelineFile, copyPipelineFile]) rmSync(dirname(f), { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One transaction updating `n` distinct customers picked by round `i`. */
async function updateRound(i: number, n: number): Promise<void> {
  await withPg((c) =>
    c.query(
      `update ${table} set tickets_90d = coalesce(tickets_90d, 0) + 1, seats = coalesce(seats, 0) + 1, updated_at = now()
       where customer_id in (select (1 + (g::bigint * 7919 + $1::bigint * 104729) % ${CUSTOMERS})::bigint from generate_series(1, $2::int) g)`,
      [i, n],
    ),
  );
}

async function auditCount(): Promise<number> {
  return withPg(async (c) =>
    Number((await c.query(`select count(*)::int as n from ${audit.quoted}`)).rows[0].n),
  );
}

/** Every change event's position per customer on the topic, read independently through the decoder. */
async function eventPositions(): Promise<{ positions: Map<string, Set<string>>; events: number }> {
  const decoder = createDecoder({ debezium: { encoding: 'json' } });
  const keyOf = debeziumRowKey('customer_id');
  const messages = await readTopic(topic, 120_000);
  const decoded = await decoder.decodeBatch(
    messages.map((m) => ({ topic, ...m, headers: {}, timestamp: '0' })),
  );
  assert.equal(decoded.failures.length, 0, 'every change event decodes');
  const positions = new Map<string, Set<string>>();
  for (const r of decoded.records) {
    const k = keyOf(r.root);
    const s = positions.get(k) ?? new Set<string>();
    s.add(r.position.toString());
    positions.set(k, s);
  }
  return { positions, events: decoded.records.length };
}

interface AuditRow {
  decision_id: string;
  chain: string;
  seq: string;
  key: string;
  position: string;
  record: {
    decision_id: string;
    key: number | string;
    source: { topic: string; partition: number; position: string };
    features: Record<string, unknown>;
  };
}

/**
 * The chains, recomputed here independently of `streamscore audit verify` (run too): each block's
 * records seq `seq - n + 1` … `seq` following the previous block's without a gap (from 1), each
 * prev_hash the previous block's hash ('genesis' first), each hash sha256(prev | written_at µs |
 * seq | kind | keys | ids | record sha256s) as sql.ts defines it, each record's sha256 in its
 * block's `record_hashes`, each head row at its chain's last block. One line per break.
 */
async function chainBreaks(): Promise<string[]> {
  return withPg(async (c) => {
    const r = await c.query(
      `with b as (
         select chain, seq, n, prev_hash, hash, records, record_hashes,
           encode(sha256(convert_to(prev_hash || '|' || (extract(epoch from written_at) * 1000000)::bigint::text || '|' ||
             seq::text || '|' || kind || '|' || keys::text || '|' || decision_ids::text || '|', 'UTF8') || record_hashes), 'hex') as recomputed,
           lag(seq) over w as prev_seq, lag(hash) over w as prev
         from ${audit.blocks} window w as (partition by chain order by seq)
       )
       select chain || ' block ' || seq || ': ' ||
         case when seq - n <> coalesce(prev_seq, 0) then 'seq does not follow the previous block'
              when prev_hash <> coalesce(prev, 'genesis') then 'prev_hash is not the previous hash'
              else 'hash does not match the block' end as b
       from b where seq - n <> coalesce(prev_seq, 0) or prev_hash <> coalesce(prev, 'genesis') or hash <> recomputed
       union all
       select chain || ' record ' || (seq - n + x.i) || ': sha256 not the block''s'
       from b cross join lateral unnest(string_to_array(convert_from(records, 'UTF8'), E'\\n')) with ordinality as x(line, i)
       where sha256(convert_to(x.line, 'UTF8')) <> substring(record_hashes from (x.i::int - 1) * 32 + 1 for 32)
       union all
       select 'head ' || h.chain || ' at ' || h.seq || ', last block ' || coalesce(l.seq::text, 'none')
       from ${audit.heads} h left join lateral (
         select seq, hash from ${audit.blocks} t where t.chain = h.chain order by seq desc limit 1
       ) l on true
       where l.seq is distinct from h.seq or l.hash is distinct from h.hash`,
    );
    return r.rows.map((x) => String(x.b));
  });
}

test('SIGKILL ×3 and Postgres cut for 10 s under 22k CRM changes: one audit record per committed prediction write, chains intact', async () => {
  const started = Date.now();
  const at = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const faults: string[] = [];
  fleet = startCli(['run', '--no-backfill', '--workers', '2', pipelineFile], pipelineEnv);
  const failed = (err: Error): never => {
    throw new Error(`${err.message}\n--- fleet output (tail) ---\n${fleet!.output().slice(-4000)}`);
  };
  await waitCommitted(pipelineEnv['CHURN_GROUP']!, topic, BigInt(CUSTOMERS), 90_000).catch(failed);

  let round = 0;
  const load = (async () => {
    for (; round < ROUNDS; round++) {
      await updateRound(round, PER_ROUND);
      await sleep(ROUND_MS);
    }
  })();
  const kill = async (what: string) => {
    const pids = await waitForWorkers(fleet!, 2, 60_000);
    const pid = pids[faults.length % 2]!;
    process.kill(pid, 'SIGKILL');
    faults.push(`at ${at()} (round ${round}): worker ${pid} SIGKILLed${what}`);
  };
  await sleep(2500);
  await kill('');
  await sleep(2500);
  proxy.pause();
  const cutAt = Date.now();
  await sleep(3000);
  await kill(' while Postgres is cut');
  await sleep(10_000 - (Date.now() - cutAt));
  proxy.resume();
  faults.push(`at ${at()}: Postgres back after ${((Date.now() - cutAt) / 1000).toFixed(1)} s`);
  await sleep(2500);
  await kill('');
  await load;

  const fleetEnd = await settledTopicEnd(topic);
  await waitCommitted(pipelineEnv['CHURN_GROUP']!, topic, fleetEnd, 120_000).catch(failed);
  await fleet.stop();
  const fleetOutput = fleet.output();
  fleet = undefined;

  // A plain worker (fleet workers serve no /metrics), writing through COPY, scores the last
  // updates: its counters must match what it appended, and drop nothing.
  const beforeLast = await auditCount();
  const port = await freePort();
  single = startCli(['run', '--no-backfill', '--port', String(port), copyPipelineFile], pipelineEnv);
  await waitFor(
    'the worker serving /metrics',
    async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).ok,
    60_000,
  );
  for (let i = 0; i < LAST_UPDATES / PER_ROUND; i++) await updateRound(ROUNDS + i, PER_ROUND);
  const end = await settledTopicEnd(topic);
  await waitCommitted(pipelineEnv['CHURN_GROUP']!, topic, end, 60_000).catch((err: Error) => {
    throw new Error(`${err.message}\n--- worker output (tail) ---\n${single!.output().slice(-4000)}`);
  });
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  await single.stop();
  const singleOutput = single.output();
  single = undefined;
  const appended = (await auditCount()) - beforeLast;

  // What was written: the scores table, the audit log, the topic's change events.
  const { rows, records } = await withPg(async (c) => ({
    rows: new Map(
      (
        await c.query(
          `select customer_id::text as k, source_position::text as p from ${pipelineEnv['CHURN_SCORES_TABLE']}`,
        )
      ).rows.map((x) => [String(x.k), String(x.p)]),
    ),
    records: (
      await c.query(
        `select decision_id::text, chain, seq::text, key, position::text, record from ${audit.quoted}`,
      )
    ).rows as AuditRow[],
  }));
  const { positions, events } = await eventPositions();

  const problems: string[] = [];
  const problem = (what: string, examples: string[]) => {
    if (examples.length > 0)
      problems.push(`${what}: ${examples.length} (e.g. ${examples.slice(0, 5).join('; ')})`);
  };
  const byKeyPos = new Map<string, AuditRow[]>();
  const byDecision = new Map<string, number>();
  for (const a of records) {
    const kp = `${a.key}@${a.position}`;
    byKeyPos.set(kp, [...(byKeyPos.get(kp) ?? []), a]);
    byDecision.set(a.decision_id, (byDecision.get(a.decision_id) ?? 0) + 1);
  }
  problem(
    'rows of the scores table without exactly one audit record at their (key, position)',
    [...rows]
      .filter(([k, p]) => byKeyPos.get(`${k}@${p}`)?.length !== 1)
      .map(([k, p]) => `${k}@${p}: ${byKeyPos.get(`${k}@${p}`)?.length ?? 0}`),
  );
  problem(
    "rows not at their key's last change event",
    [...rows]
      .filter(([k, p]) => {
        const all = positions.get(k) ?? new Set<string>();
        return !all.has(p) || [...all].some((x) => BigInt(x) > BigInt(p));
      })
      .map(([k, p]) => `${k}@${p}`),
  );
  problem(
    'decision ids twice',
    [...byDecision].filter(([, n]) => n > 1).map(([d, n]) => `${d} ×${n}`),
  );
  problem(
    '(key, position) twice',
    [...byKeyPos].filter(([, as]) => as.length > 1).map(([kp, as]) => `${kp} ×${as.length}`),
  );
  problem(
    'records beyond their row (or of a key without a row)',
    records
      .filter((a) => !rows.has(a.key) || BigInt(a.position) > BigInt(rows.get(a.key)!))
      .map((a) => `${a.key}@${a.position} (row ${rows.get(a.key) ?? 'none'})`),
  );
  problem(
    'records at a position that is no change event of their key',
    records.filter((a) => !positions.get(a.key)?.has(a.position)).map((a) => `${a.key}@${a.position}`),
  );
  problem(
    'records whose content disagrees with their columns',
    records
      .filter(
        (a) =>
          a.record.decision_id !== a.decision_id ||
          String(a.record.key) !== a.key ||
          a.record.source.position !== a.position ||
          `${a.record.source.topic}/${a.record.source.partition}` !== a.chain,
      )
      .map((a) => a.decision_id),
  );
  problem(
    'monthly_spend (policy hash) not hashed',
    records
      .filter((a) => !HASHED_VALUE.test(String(a.record.features['monthly_spend'])))
      .map((a) => `${a.decision_id}: ${String(a.record.features['monthly_spend'])}`),
  );
  problem('chain breaks', await chainBreaks());
  problem(
    'workers that logged a mismatch of records and rows',
    [fleetOutput, singleOutput]
      .filter((o) => o.includes('Audit records do not match'))
      .map((o) => o.slice(-500)),
  );

  const verify = await runCli(['audit', 'verify', pipelineFile], pipelineEnv);
  const recordsMetric = metricSum(metrics, 'streamscore_audit_records');
  const droppedMetric = metricSum(metrics, 'streamscore_audit_records_dropped');
  const summary = [
    `${events} change events over ${positions.size} keys (${CUSTOMERS} snapshot reads, ${ROUNDS * PER_ROUND + LAST_UPDATES} updates); ` +
      `${rows.size} rows, ${records.length} audit records over ${new Set(records.map((a) => a.chain)).size} chains; ${at()}`,
    `faults: ${faults.join('; ')}`,
    `last worker: appended ${appended} records, /metrics records ${recordsMetric}, dropped ${droppedMetric}`,
    `audit verify: exit ${verify.code}`,
    ...problems,
  ].join('\n');
  process.stdout.write(`${summary}\n`);
  assert.equal(rows.size, CUSTOMERS, summary);
  assert.deepEqual(problems, [], summary);
  assert.equal(verify.code, 0, `${summary}\n--- audit verify ---\n${verify.output.slice(-3000)}`);
  assert.ok(appended > 0, summary);
  assert.equal(recordsMetric, appended, summary);
  assert.equal(droppedMetric, 0, summary);
});
