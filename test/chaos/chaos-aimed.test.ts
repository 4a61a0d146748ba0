import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import { createDecoder } from '../../workers/decode/create.js';
import { churnChanges, startChurnSource } from '../support/churn.js';
import { type RunningCli, startCli } from '../support/cli.js';
import { waitForWorkers } from '../support/fleet.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import {
  dropDebezium,
  env,
  removeChurnObjects,
  testKafka,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';
import { StallProxy } from '../support/stall-proxy.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import {
  debeziumRowKey,
  judge,
  lastEventPerKey,
  outputTopicRows,
  type SinkVerdict,
  settledTopicEnd,
  verdictLine,
} from '../support/topic-oracle.js';
import { topicEnd, waitCommitted } from '../support/topics.js';
import { warehouseSession, warehouseTable } from '../support/warehouse.js';

// Chaos that aims: a --workers 2 fleet on the churn pipeline with all four sinks (Postgres scores
// table, Snowflake merge and append tables on fakesnow, output topic) while Debezium streams
// updates, deletes, inserts and re-inserts. The faults land where the delivery promise is at stake:
//  1. Postgres is taken away (its proxy drops every connection), and while it is away a worker is
//     SIGKILLed: its batches are written nowhere, or half, and must be replayed from the last commit;
//  2. the warehouse stalls (its proxy holds every byte: a flush in flight hangs, it does not fail),
//     and the worker whose flush request is held is SIGKILLed during it; the held request reaches
//     fakesnow after the stall, from a dead worker.
// Then every key's last event on the topic (read independently through the decoder) must be what
// each sink holds: deleted keys absent, others at exactly that event's position; the history table
// holds a row at every key's last position.
const id = uniqueId();
const table = `crm.customers_${id}`;
const topic = `aim${id}.${table}`;
const connector = `aim_${id}`;
const CUSTOMERS = 1000;
const PER_ROUND = { updates: 20, deletes: 3, inserts: 3 };
const ROUND_MS = 250;
const KEY_SPACE = CUSTOMERS + 600; // ids the updates and deletes pick from (new ids included)

const pg = new URL(env.databaseUrl);
const pgProxy = new TcpProxy(pg.hostname, Number(pg.port || 5432));
const whProxy = new StallProxy(
  process.env['SNOWFLAKE_HOST'] ?? '127.0.0.1',
  Number(process.env['SNOWFLAKE_PORT'] ?? 18085),
);
// A dead member leaves the group after its session timeout: 10 s instead of 30 keeps the test short.
const pipelineFile = churnPipelineCopy(`chaos-aimed-${id}`, {
  warehouse: true,
  edit: (doc) => {
    doc.setIn(['spec', 'source', 'kafka', 'session_timeout_ms'], 10000);
    doc.setIn(['spec', 'source', 'kafka', 'heartbeat_interval_ms'], 1000);
  },
});
const pipelineEnv: Record<string, string> = {
  CHURN_TOPIC: topic,
  CHURN_GROUP: `chaos-aimed-${id}`,
  CHURN_SCORES_TABLE: `ml.churn_aim_${id}`,
  CHURN_OUTPUT_TOPIC: `chaos-aimed-scores-${id}`,
  CHURN_DLQ: `chaos-aimed-${id}.dlq`,
  CHURN_WH_TABLE: `AIM_${id.toUpperCase()}`,
  CHURN_WH_HISTORY_TABLE: `AIM_HISTORY_${id.toUpperCase()}`,
  CHURN_SOURCE_TABLE: table,
  CHURN_ENCODING: 'json',
  METRICS_PORT: '0',
};
let fleet: RunningCli | undefined;

before(async () => {
  await pgProxy.start();
  await whProxy.start();
  const proxied = new URL(env.databaseUrl);
  proxied.host = `127.0.0.1:${pgProxy.port}`;
  pipelineEnv['DATABASE_URL'] = proxied.toString();
  pipelineEnv['SNOWFLAKE_HOST'] = '127.0.0.1';
  pipelineEnv['SNOWFLAKE_PORT'] = String(whProxy.port);
  const kafka = testKafka(`chaos-aimed-${id}`);
  await startChurnSource({ kafka, table, topic, connector, topicPrefix: `aim${id}`, customers: CUSTOMERS });
});

after(async () => {
  await fleet?.stop();
  await dropDebezium(connector);
  await pgProxy.stop();
  await whProxy.stop();
  await removeChurnObjects(pipelineEnv);
  rmSync(dirname(pipelineFile), { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The sum of the group's committed offsets on the topic. */
async function committed(): Promise<bigint> {
  const admin = testKafka(`chaos-aimed-${id}`).admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId: pipelineEnv['CHURN_GROUP']!, topics: [topic] });
    return (t?.partitions ?? []).reduce((s, p) => s + (Number(p.offset) > 0 ? BigInt(p.offset) : 0n), 0n);
  } finally {
    await admin.disconnect();
  }
}

/** Key → source_position (decimal text) of the rows a Snowflake table holds. */
async function warehouseRows(name: string): Promise<[string, string][]> {
  const wh = await warehouseSession();
  try {
    const rows = await wh.execute(
      `SELECT CAST(CUSTOMER_ID AS VARCHAR) AS K, CAST(SOURCE_POSITION AS VARCHAR) AS P FROM ${warehouseTable(name)}`,
    );
    return rows.map((r) => [String(r['K']), String(r['P'])]);
  } finally {
    await wh.close();
  }
}

test('Postgres away while a worker is SIGKILLed, a worker SIGKILLed during a hung warehouse flush: every key of every sink ends at its last event', async () => {
  const started = Date.now();
  fleet = startCli(['run', '--no-backfill', '--workers', '2', pipelineFile], pipelineEnv);
  await waitFor('the snapshot committed', async () => (await committed()) >= BigInt(CUSTOMERS), 90_000).catch(
    (err: Error) => {
      throw new Error(`${err.message}\n--- fleet output (tail) ---\n${fleet!.output().slice(-4000)}`);
    },
  );
  let faultsDone = false;
  const load = churnChanges(
    { table, first: 1, customers: CUSTOMERS, keySpace: KEY_SPACE, perRound: PER_ROUND, roundMs: ROUND_MS },
    () => faultsDone,
  );
  const faults: string[] = [];
  const at = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const failed = (err: Error): never => {
    faultsDone = true;
    throw new Error(`${err.message}\n--- fleet output (tail) ---\n${fleet!.output().slice(-4000)}`);
  };

  // Fault 1: Postgres away; a worker SIGKILLed while its writes fail and retry.
  await sleep(2000);
  const [first] = await waitForWorkers(fleet, 2);
  pgProxy.pause();
  await sleep(1500);
  process.kill(first!, 'SIGKILL');
  await sleep(3000);
  pgProxy.resume();
  faults.push(`at ${at()}: Postgres away 4.5 s, worker ${first} SIGKILLed 1.5 s into it`);

  // Recovered: two workers, and the backlog of the outage committed.
  await waitForWorkers(fleet, 2);
  const backlog = await topicEnd(topic);
  await waitFor('the outage backlog committed', async () => (await committed()) >= backlog, 60_000).catch(
    failed,
  );

  // Fault 2: the warehouse stalls; the worker whose flush request is held is SIGKILLed during it.
  const pids = await waitForWorkers(fleet, 2);
  whProxy.stall();
  const stallAt = Date.now();
  const hung = await waitFor(
    'a warehouse flush held by the stall',
    async () => whProxy.waitingPids().find((p) => pids.includes(p)),
    // A flush is due every second while changes flow; on a loaded machine the first may take longer.
    30_000,
  ).catch(failed);
  await sleep(500);
  process.kill(hung, 'SIGKILL');
  await sleep(3000);
  whProxy.resume();
  faults.push(
    `at ${at()}: warehouse stalled ${((Date.now() - stallAt) / 1000).toFixed(1)} s, worker ${hung} SIGKILLed during its held flush`,
  );
  await sleep(2000);
  faultsDone = true;
  const { rounds } = await load;

  // The oracle: every key's last event on the whole topic, read independently.
  const end = await settledTopicEnd(topic);
  const decoder = createDecoder({ debezium: { encoding: 'json' } });
  const oracle = await lastEventPerKey(topic, decoder, debeziumRowKey('customer_id'));
  await waitCommitted(pipelineEnv['CHURN_GROUP']!, topic, end, 120_000).catch((err: Error) => {
    throw new Error(`${err.message}\n--- fleet output (tail) ---\n${fleet!.output().slice(-4000)}`);
  });

  // Committed means written on every sink: compare once, no waiting for the state to converge.
  const postgres = await withPg(async (c) => {
    const r = await c.query(
      `select customer_id::text as k, source_position::text as p from ${pipelineEnv['CHURN_SCORES_TABLE']}`,
    );
    return new Map(r.rows.map((x) => [String(x.k), String(x.p)]));
  });
  const merge = new Map(await warehouseRows(pipelineEnv['CHURN_WH_TABLE']!));
  const history = new Set(
    (await warehouseRows(pipelineEnv['CHURN_WH_HISTORY_TABLE']!)).map(([k, p]) => `${k}@${p}`),
  );
  const output = await outputTopicRows(pipelineEnv['CHURN_OUTPUT_TOPIC']!);

  const verdicts: [string, SinkVerdict][] = [
    ['postgres', judge(oracle.last, postgres)],
    ['snowflake merge', judge(oracle.last, merge)],
    ['output topic (position-guarded reader)', judge(oracle.last, output)],
  ];
  const historyMissing = [...oracle.last]
    .filter(([k, e]) => !history.has(`${k}@${e.position}`))
    .map(([k]) => k);
  const deletedLast = [...oracle.last.values()].filter((e) => e.op === 'd').length;
  const wrong = verdicts.reduce(
    (n, [, v]) => n + v.lost.length + v.stale.length + v.resurrected.length + v.extra.length,
    0,
  );
  const summary = [
    `${rounds} rounds of changes, ${oracle.events} events over ${oracle.last.size} keys (${deletedLast} deleted last), ${oracle.failures} undecodable; ` +
      `${((Date.now() - started) / 1000).toFixed(0)} s; faults: ${faults.join('; ')}`,
    ...verdicts.map(([sink, v]) => `${sink}: ${verdictLine(v)}`),
    `snowflake history: ${historyMissing.length} keys without a row at their last position${historyMissing.length > 0 ? ` (e.g. ${historyMissing.slice(0, 5).join(', ')})` : ''}`,
  ].join('\n');
  process.stdout.write(`${summary}\n`);
  assert.equal(oracle.failures, 0, summary);
  assert.equal(
    wrong + historyMissing.length,
    0,
    `${summary}\n--- fleet output (tail) ---\n${fleet.output().slice(-3000)}`,
  );
});
