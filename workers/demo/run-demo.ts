import { spawn } from 'node:child_process';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { auditObjects, dropAuditSql } from '../audit/sql.js';
import {
  deleteConnector,
  dropReplicationSlot,
  publicationName,
  registerDebezium,
  slotName,
} from '../connect/debezium.js';
import { redactUrl } from '../core/secret.js';
import { silentLogger } from '../core/silent-logger.js';
import { snowflakeConnector } from '../sinks/snowflake/client.js';
import { snowflakeSinkConfig } from '../sinks/snowflake/config.js';
import { snowflakeConnectionFromEnv } from '../sinks/snowflake/env.js';
import { waitForGroup } from '../sources/kafka/group.js';
import {
  DEMO_ALIASES,
  dropShadowTable,
  printHistory,
  type RolloutSettings,
  resetAliases,
  rolloutSettings,
  rolloutStory,
  type StoryDeps,
  type StoryResult,
} from './rollout.js';
import { dropCrm, seedCrm } from './seed.js';
import { readStatus, statusLine } from './status.js';
import { generateTraffic, type TrafficShift } from './traffic.js';

export interface DemoOptions {
  customers: number;
  seconds: number;
  rate: number;
  workers: number;
  /** A drift injected into the CRM traffic (the workers' drift monitor should alarm on it). */
  shift?: TrafficShift | undefined;
  env: {
    kafkaBrokers: string;
    databaseUrl: string;
    connectUrl: string;
    registryUrl: string;
    /** The stack's Prometheus (PROMETHEUS_URL), which scraped the demo's workers; none: not pointed at. */
    prometheusUrl?: string | undefined;
  };
  /** The CLI entry (so the demo runs the same `streamscore` for backfill and run). */
  cli: { node: string; args: string[] };
  out: (line: string) => void;
}

const PIPELINE = 'pipelines/churn-scoring.yaml';
// A new connector name per run: Kafka Connect keeps a connector's offsets after it is deleted.
const CONNECTOR_PREFIX = 'streamscore-demo-crm';
const TOPIC = 'crm.crm.customers';
const GROUP = 'churn-scoring';
const DLQ = 'churn-scoring.dlq';
const SCORES = 'ml.customer_churn_scores';
/** The churn pipeline's audit log (its `audit.table` default). */
const AUDIT_TABLE = 'ml.churn_scoring__audit';
const WAREHOUSE_TABLE = 'CUSTOMER_CHURN_SCORES';
const WAREHOUSE_HISTORY = 'CUSTOMER_CHURN_SCORE_HISTORY';

function step(out: (l: string) => void, n: number, text: string): void {
  out(`\n\x1b[1m${n}. ${text}\x1b[0m`);
}

/** The churn story end to end. Throws with a clear message when a step fails. */
export async function runDemo(o: DemoOptions): Promise<void> {
  const demoStart = new Date();
  const rollout = rolloutSettings(PIPELINE);
  const db = new pg.Client({ connectionString: o.env.databaseUrl });
  await db.connect();
  // Status queries run beside the traffic's transactions, on a connection of their own.
  const db2 = new pg.Client({ connectionString: o.env.databaseUrl });
  await db2.connect();
  // The rollout's polls (every 50 ms), on a third.
  const db3 = new pg.Client({ connectionString: o.env.databaseUrl });
  await db3.connect();
  const kafka = new Kafka({
    brokers: o.env.kafkaBrokers.split(','),
    clientId: 'streamscore-demo',
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    step(
      o.out,
      1,
      `Seeding the CRM (crm.customers, crm.plans, crm.support_tickets: ${o.customers} customers) and capturing it with Debezium`,
    );
    await reset(db, admin, o);
    const aliases = await resetAliases(kafka, rollout);
    o.out(`   control topic ${rollout.controlTopic}: ${aliases.join(', ')}`);
    const connector = `${CONNECTOR_PREFIX}-${Date.now().toString(36)}`;
    await seedCrm(db, o.customers);
    const counts = await db.query(
      `select (select count(*) from crm.customers)::int c, (select count(*) from crm.support_tickets)::int t`,
    );
    o.out(`   ${counts.rows[0].c} customers, ${counts.rows[0].t} support tickets`);
    await registerDebezium({
      connectUrl: o.env.connectUrl,
      databaseUrl: o.env.databaseUrl,
      registryUrl: o.env.registryUrl,
      name: connector,
      topicPrefix: 'crm',
      tables: ['crm.customers'],
      converter: 'json',
      snapshotMode: 'no_data',
    });
    o.out(`   Debezium connector ${connector} streams crm.customers → Kafka topic ${TOPIC}`);

    step(o.out, 2, 'Backfill: scoring every existing customer with the same pipeline');
    await runCli(o, ['backfill', PIPELINE, '--wait', '--work'], 'backfill');

    step(
      o.out,
      3,
      `Streaming: ${o.workers} workers on ${PIPELINE} while the CRM changes for ${o.seconds} s; shadow report, then ${rollout.model} ${DEMO_ALIASES.challenger} promoted to ${rollout.alias} and rolled back`,
    );
    const fleet = spawn(
      o.cli.node,
      [...o.cli.args, 'run', '--workers', String(o.workers), '--port', '0', PIPELINE],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, STREAMSCORE_LOG_LEVEL: 'warn' },
      },
    );
    let exited = false;
    const fleetExit = new Promise<number | null>((r) =>
      fleet.once('exit', (c) => {
        exited = true;
        r(c);
      }),
    );
    // Traffic starts once every worker has joined, so the latency shown is the stream's, not the
    // fleet's start-up (model load, connections, the group's rebalance).
    const booting = Date.now();
    const joined = await waitForGroup(admin, GROUP, {
      members: o.workers,
      timeoutMs: 90_000,
      gaveUp: () => exited,
    });
    if (!joined) {
      fleet.kill('SIGTERM');
      throw new Error(
        exited
          ? `the worker fleet exited with code ${await fleetExit} before joining consumer group ${GROUP} (its log is above)`
          : `the worker fleet did not join consumer group ${GROUP} within 90 s`,
      );
    }
    o.out(
      `   fleet ready: ${o.workers} workers in consumer group ${GROUP} after ${((Date.now() - booting) / 1000).toFixed(1)} s`,
    );
    const since = new Date();
    const startedAt = Date.now();
    let last = { at: Date.now(), events: 0 };
    const storyDeps: StoryDeps = {
      settings: rollout,
      pipelineFile: PIPELINE,
      db: db3,
      scores: SCORES,
      since: demoStart,
      startedAt,
      seconds: o.seconds,
      cli: o.cli,
      out: o.out,
    };
    let storyDone = false;
    const story = rolloutStory(storyDeps).finally(() => {
      storyDone = true;
    });
    story.catch(() => undefined); // awaited below, after the traffic
    const traffic = await generateTraffic(db, {
      seconds: o.seconds,
      ratePerSecond: o.rate,
      firstNewId: o.customers + 1,
      maxId: o.customers,
      shift: o.shift,
      // The promotion and the rollback are timed on rows scored while traffic flows.
      extendWhile: () => !storyDone,
      onTick: (s) => {
        const events = s.inserts + s.updates + s.deletes;
        const now = Date.now();
        const rate = ((events - last.events) * 1000) / Math.max(1, now - last.at);
        last = { at: now, events };
        void readStatus(db2, admin, { topic: TOPIC, group: GROUP, dlq: DLQ, scores: SCORES, since })
          .then((st) => o.out(statusLine(st, rate, (now - startedAt) / 1000)))
          .catch(() => undefined);
      },
    });
    const changes = traffic.inserts + traffic.updates + traffic.deletes;
    let moves: StoryResult;
    try {
      moves = await story;
      await printHistory(storyDeps);
    } catch (err) {
      fleet.kill('SIGTERM');
      throw err;
    }
    if (traffic.seconds > o.seconds + 0.5) {
      o.out(
        `   traffic lengthened to ${traffic.seconds.toFixed(1)} s (asked: ${o.seconds} s) so that the promotion and the rollback happen while it flows`,
      );
    }
    o.out(
      `   traffic done: ${traffic.inserts} signups, ${traffic.updates} updates (${traffic.tickets} tickets), ${traffic.deletes} deletions; waiting for the workers to catch up`,
    );
    const deadline = Date.now() + 60000;
    let st = await readStatus(db2, admin, { topic: TOPIC, group: GROUP, dlq: DLQ, scores: SCORES, since });
    while (st.lag > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      st = await readStatus(db2, admin, { topic: TOPIC, group: GROUP, dlq: DLQ, scores: SCORES, since });
    }
    fleet.kill('SIGTERM');
    const code = await fleetExit;
    if (st.lag > 0) throw new Error(`the workers did not catch up within 60 s (lag ${st.lag})`);
    if (code !== 0) throw new Error(`the worker fleet exited with code ${code}`);

    step(o.out, 4, 'Summary');
    await summary(db, o, { changes, status: st, moves, rollout });

    step(o.out, 5, 'Try next');
    o.out(
      `   psql ${redactUrl(o.env.databaseUrl)} -c "select * from ${SCORES} order by churn_probability desc limit 20"`,
    );
    o.out(`   npx streamscore plan ${PIPELINE}`);
    o.out(`   npx streamscore model list ${rollout.model}`);
    o.out(`   npx streamscore shadow report ${PIPELINE} --since 1h`);
    o.out(`   npx streamscore model history ${rollout.model}`);
    o.out(`   npx streamscore run ${PIPELINE}       # metrics on http://127.0.0.1:9464/metrics`);
    o.out(`   npx streamscore drift ${PIPELINE}     # with that worker running: its drift windows`);
    const prom = o.env.prometheusUrl;
    if (prom !== undefined) {
      o.out(`   ${prom}/alerts        # Prometheus: the alert rules (infra/prometheus), drift alarms firing`);
      o.out(
        `   ${prom}/graph?g0.expr=${encodeURIComponent('sum by (pipeline) (rate(streamscore_records_out_total[1m]))')}&g0.range_input=15m`,
      );
      o.out('   infra/grafana/streamscore.json            # the dashboard: import it into Grafana');
    }
    o.out('   make stack-down                          # stops the local stack (left running now)');
  } finally {
    await admin.disconnect();
    await db.end();
    await db2.end().catch(() => undefined);
    await db3.end().catch(() => undefined);
  }
}

/** Starts from scratch: connector, slot, publication, topics, CRM and score tables. */
async function reset(db: pg.Client, admin: import('kafkajs').Admin, o: DemoOptions): Promise<void> {
  const connectors = (await (await fetch(`${o.env.connectUrl}/connectors`)).json()) as string[];
  for (const name of connectors.filter((n) => n.startsWith(CONNECTOR_PREFIX))) {
    await deleteConnector(o.env.connectUrl, name);
    await dropReplicationSlot(db, slotName(name));
    await db.query(`drop publication if exists ${publicationName(name)}`);
  }

  const existing = new Set(await admin.listTopics());
  const topics = [TOPIC, DLQ, 'ml.churn-scores'].filter((t) => existing.has(t));
  if (topics.length > 0) await admin.deleteTopics({ topics });
  await admin.deleteGroups([GROUP]).catch(() => undefined);
  await dropCrm(db);
  await dropShadowTable(db, rolloutSettings(PIPELINE));
  await db.query(`drop table if exists ${SCORES}, ${SCORES}__tombstones cascade`);
  // The decisions about the dropped CRM go with it (and a log of an earlier layout, which the sink
  // would refuse, does not stop the demo).
  for (const sql of dropAuditSql(auditObjects(process.env['CHURN_AUDIT_TABLE'] ?? AUDIT_TABLE)))
    await db.query(sql);
  // The sink creates its tables through knex migrations: forget them too so they are created again.
  await db.query(
    `do $$ begin
       if to_regclass('ml.streamscore_migrations') is not null then
         delete from ml.streamscore_migrations where name in ('create table ${SCORES}', 'create table ${SCORES}__tombstones');
       end if;
     end $$`,
  );
}

async function summary(
  db: pg.Client,
  o: DemoOptions,
  r: {
    changes: number;
    status: import('./status.js').DemoStatus;
    moves: StoryResult;
    rollout: RolloutSettings;
  },
): Promise<void> {
  const total = await db.query(`select count(*)::int n from ${SCORES}`);
  const ms = (v: number | null) => (v === null ? '–' : `${Math.round(v)} ms`);
  o.out(`   change events processed   ${r.changes}`);
  o.out(
    `   predictions in ${SCORES}: ${total.rows[0].n} rows (${r.status.predictions} written during the stream)`,
  );
  o.out(`   predictions in the warehouse: ${await warehouseCount()}`);
  o.out(
    `   commit → score latency    p50 ${ms(r.status.p50Ms)}, p95 ${ms(r.status.p95Ms)}, p99 ${ms(r.status.p99Ms)}`,
  );
  o.out(`   dead letters              ${r.status.deadLetters}`);
  const { promote, rollback } = r.moves;
  o.out(
    `   shadow verdict            ${r.moves.verdict} (${r.rollout.model} ${DEMO_ALIASES.challenger} vs ${DEMO_ALIASES.champion})`,
  );
  o.out(
    `   promote  → first row of ${promote.version}  ${promote.seenMs} ms (scored ${promote.scoredMs} ms after the move)`,
  );
  o.out(
    `   rollback → first row of ${rollback.version}  ${rollback.seenMs} ms (scored ${rollback.scoredMs} ms after the move)`,
  );
  const byVersion = await db.query(
    `select model_version v, count(*)::int n from ${SCORES} group by 1 order by 1`,
  );
  o.out(
    `   rows by model_version     ${byVersion.rows.map((x) => `${x.v}: ${x.n}`).join(', ')} (version ${DEMO_ALIASES.challenger}: rows last scored while it was champion)`,
  );
  const top = await db.query(
    `select s.customer_id, c.company, c.plan, c.tickets_90d, round(s.churn_probability::numeric, 3) p
     from ${SCORES} s join crm.customers c using (customer_id)
     order by s.churn_probability desc, s.customer_id limit 10`,
  );
  o.out('\n   The ten customers most at risk (what the CRM shows account managers):');
  o.out(`   ${'id'.padStart(7)}  ${'company'.padEnd(28)} ${'plan'.padEnd(10)} tickets  churn`);
  for (const t of top.rows) {
    o.out(
      `   ${String(t.customer_id).padStart(7)}  ${String(t.company).padEnd(28)} ${String(t.plan).padEnd(10)} ${String(t.tickets_90d).padStart(7)}  ${t.p}`,
    );
  }
  if (Number(total.rows[0].n) === 0) throw new Error(`no predictions in ${SCORES}`);
}

function runCli(o: DemoOptions, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(o.cli.node, [...o.cli.args, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`the ${what} step failed (streamscore ${args.join(' ')} exited ${code})`)),
    );
  });
}

/** Rows of the warehouse's current-scores table, read the way an analyst would. */
async function warehouseCount(): Promise<string> {
  const config = snowflakeSinkConfig.parse({
    ...snowflakeConnectionFromEnv(process.env),
    table: WAREHOUSE_TABLE,
    key: ['CUSTOMER_ID'],
    columns: { CUSTOMER_ID: 'key' },
  });
  const session = await snowflakeConnector(config, { logger: silentLogger })();
  try {
    const fq = `"${config.database}"."${config.schema}"`;
    const cur = await session.execute(`select count(*) as N from ${fq}."${WAREHOUSE_TABLE}"`);
    const hist = await session.execute(`select count(*) as N from ${fq}."${WAREHOUSE_HISTORY}"`);
    const n = Number(cur[0]?.['N'] ?? 0);
    if (n === 0) throw new Error(`no predictions in the warehouse table ${WAREHOUSE_TABLE}`);
    // The history is append-only and the demo never drops warehouse tables (they may be a real
    // account's): it holds every run's predictions.
    return `${n} rows in ${WAREHOUSE_TABLE}, ${Number(hist[0]?.['N'] ?? 0)} in ${WAREHOUSE_HISTORY} (append-only: every run so far)`;
  } finally {
    await session.close();
  }
}
