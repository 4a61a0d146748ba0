import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import { createDecoder } from '../../workers/decode/create.js';
import { ensureAliases } from '../support/aliases.js';
import { insertCustomers, startChurnSource } from '../support/churn.js';
import { type RunningCli, runCli, startCli } from '../support/cli.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import { metricsText, metricValue, perKey, scoredPairs } from '../support/shadow-e2e.js';
import {
  deleteTopics,
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
import {
  debeziumRowKey,
  judge,
  lastEventPerKey,
  settledTopicEnd,
  verdictLine,
} from '../support/topic-oracle.js';
import { topicEnd, waitCommitted } from '../support/topics.js';

// Suspension under traffic. A worker of a churn pipeline copy scores a stream of CRM changes;
// `streamscore pipeline suspend` (on a control topic of this test) must stop its writes within 5 s
// while changes keep coming: its scores table, its output topic and its group's committed offsets
// stay as they are; /readyz is not 200 and streamscore_pipeline_suspended is 1. While suspended,
// the worker is SIGTERMed (exits 0 at once, commits nothing), restarted, and a second pipeline
// copy's worker (same pipeline name, so suspended too) starts: neither writes. `pipeline resume`
// then lets both score every change made meanwhile: each sink ends at every key's last event,
// every scored event of the topic has its output message, and the features of each customer's
// last message are the source table's final row.
const id = uniqueId();
const source = `crm.customers_${id}`;
const prefix = `susp${id}`;
const topic = `${prefix}.${source}`;
const connector = `susp_${id}`;
const controlTopic = `control-${id}`;
const CUSTOMERS = 1000;
const SUSPENSION_MS = 12_000;

interface Copy {
  file: string;
  env: Record<string, string>;
  port: number;
}
const copies: Record<'main' | 'late', Copy> = {} as never;
const running: RunningCli[] = [];
let stopTraffic = false;
let load: Promise<number> | undefined;

function start(c: Copy): RunningCli {
  const cli = startCli(['run', '--no-backfill', c.file], c.env);
  running.push(cli);
  return cli;
}

before(async () => {
  for (const name of ['main', 'late'] as const) {
    const port = await freePort();
    copies[name] = {
      file: churnPipelineCopy(`suspend-${name}-${id}`, { warehouse: false }),
      port,
      env: {
        CHURN_TOPIC: topic,
        CHURN_GROUP: `suspend-${name}-${id}`,
        CHURN_SCORES_TABLE: `ml.churn_susp_${name}_${id}`,
        CHURN_OUTPUT_TOPIC: `suspend-${name}-scores-${id}`,
        CHURN_DLQ: `suspend-${name}-${id}.dlq`,
        CHURN_ENCODING: 'json',
        STREAMSCORE_CONTROL_TOPIC: controlTopic,
        METRICS_PORT: String(port),
      },
    };
  }
  await ensureAliases({ churn: { champion: '1' } }, controlTopic);
  const kafka = testKafka(`suspend-${id}`);
  await startChurnSource({
    kafka,
    table: source,
    topic,
    connector,
    topicPrefix: prefix,
    customers: CUSTOMERS,
  });
});

after(async () => {
  stopTraffic = true;
  await load?.catch(() => undefined);
  await Promise.all(running.map((c) => c.stop()));
  await dropDebezium(connector);
  for (const c of Object.values(copies)) {
    await removeChurnObjects({ ...c.env, CHURN_TOPIC: undefined });
    rmSync(dirname(c.file), { recursive: true, force: true });
  }
  await removeChurnObjects({ CHURN_TOPIC: topic, CHURN_SOURCE_TABLE: source });
  await deleteTopics([controlTopic]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fail =
  (...clis: (RunningCli | undefined)[]) =>
  (err: Error): never => {
    const tails = clis.map((c, i) => `--- worker ${i} (tail) ---\n${c?.output().slice(-3000) ?? ''}`);
    throw new Error(`${err.message}\n${tails.join('\n')}`);
  };

/** Updates, deletes and inserts, a round every 150 ms until `done`; returns the rounds made. */
async function traffic(done: () => boolean): Promise<number> {
  let next = CUSTOMERS + 1;
  let i = 0;
  for (; !done(); i++) {
    await withPg(async (c) => {
      await c.query(
        `update ${source} set tickets_90d = coalesce(tickets_90d, 0) + 1, updated_at = now()
         where customer_id in (select 1 + (g * 7919 + $1::int * 104729) % ${CUSTOMERS} from generate_series(1, 15) g)`,
        [i],
      );
      await c.query(
        `delete from ${source} where customer_id = (select min(customer_id) + $1::int from ${source})`,
        [i % 7],
      );
      await insertCustomers(c, source, next, next + 1);
      next += 2;
    });
    await sleep(150);
  }
  return i;
}

/** What a scores table holds: a digest of (customer, position), its size and its latest scored_at. */
async function sinkState(table: string): Promise<{ digest: string; rows: number; lastScoredAt: number }> {
  return withPg(async (c) => {
    if ((await c.query('select to_regclass($1) as t', [table])).rows[0].t === null)
      return { digest: '', rows: 0, lastScoredAt: 0 };
    const r = await c.query(
      `select md5(coalesce(string_agg(customer_id || ':' || source_position, ',' order by customer_id), '')) as d,
              count(*)::int as n, coalesce(extract(epoch from max(scored_at)) * 1000, 0)::float8 as at from ${table}`,
    );
    return { digest: r.rows[0].d, rows: r.rows[0].n, lastScoredAt: r.rows[0].at };
  });
}

/** The group's committed offsets on the source topic, as `partition:offset` text. */
async function committedOffsets(group: string): Promise<string> {
  const admin = testKafka(`suspend-${id}`).admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return (t?.partitions ?? []).map((p) => `${p.partition}:${p.offset}`).join(',');
  } finally {
    await admin.disconnect();
  }
}

const control = (action: 'suspend' | 'resume', reason: string) =>
  runCli([
    'pipeline',
    action,
    'churn-scoring',
    '--reason',
    reason,
    '--control-topic',
    controlTopic,
    '--brokers',
    env.kafkaBrokers,
    '--pipelines',
    dirname(copies.main.file),
    '--by',
    'e2e-test',
  ]);

async function suspendedView(c: Copy): Promise<{ ready: number; live: number; suspended: number }> {
  const base = `http://127.0.0.1:${c.port}`;
  return {
    ready: (await fetch(`${base}/readyz`)).status,
    live: (await fetch(`${base}/healthz`)).status,
    suspended: metricValue(await metricsText(c.port), 'streamscore_pipeline_suspended', {
      pipeline: 'churn-scoring',
    }),
  };
}

/** Waits until a worker started while the pipeline is suspended says so: metric 1, /readyz not 200. */
async function startsSuspended(what: string, c: Copy, cli: RunningCli): Promise<void> {
  await waitFor(`${what} suspended`, async () => (await suspendedView(c)).suspended === 1, 60_000).catch(
    fail(cli),
  );
  assert.notEqual((await suspendedView(c)).ready, 200, `${what}: /readyz while suspended`);
}

test('suspend stops writes within 5 s under traffic; a worker stopped, restarted or started meanwhile writes nothing; resume scores every change', async () => {
  const main = copies.main;
  const late = copies.late;
  const mainTable = main.env['CHURN_SCORES_TABLE']!;
  const mainOut = main.env['CHURN_OUTPUT_TOPIC']!;
  let first: RunningCli | undefined = start(main);
  await waitCommitted(main.env['CHURN_GROUP']!, topic, BigInt(CUSTOMERS), 90_000).catch(fail(first));
  assert.equal((await suspendedView(main)).ready, 200);

  load = traffic(() => stopTraffic);
  await waitFor(
    'writes under traffic',
    async () => (await sinkState(mainTable)).rows > CUSTOMERS,
    30_000,
  ).catch(fail(first));

  // Suspend; watch the sinks every 200 ms from then on.
  const suspend = await control('suspend', 'e2e: risk review');
  assert.equal(suspend.code, 0, suspend.output);
  // From the event's time (appended before the command returns).
  const eventAt = /suspended at (\S+) by/.exec(suspend.output)?.[1];
  assert.ok(eventAt, suspend.output);
  const suspendedAt = Date.parse(eventAt);
  const returnedMs = Date.now() - suspendedAt;
  const seen: { at: number; state: string }[] = [];
  let watching = true;
  const watch = (async () => {
    while (watching) {
      const s = await sinkState(mainTable);
      seen.push({
        at: Date.now(),
        state: `${s.digest} ${s.rows} ${s.lastScoredAt} ${await topicEnd(mainOut)}`,
      });
      await sleep(200);
    }
  })();
  await sleep(5000);
  const settled = await sinkState(mainTable);
  const settledEnd = await topicEnd(mainOut);
  const settledCommits = await committedOffsets(main.env['CHURN_GROUP']!);
  const view = await suspendedView(main);
  assert.notEqual(view.ready, 200, '/readyz while suspended');
  assert.equal(view.live, 200, '/healthz while suspended');
  assert.equal(view.suspended, 1, 'streamscore_pipeline_suspended');
  assert.match(first.output(), /Pipeline suspended: no prediction is written/);

  // A worker of another copy of the pipeline starts while it is suspended.
  const second = start(late);
  await startsSuspended('the late worker', late, second);

  // SIGTERM while suspended: exits 0 promptly, commits nothing; restarted, it still writes nothing.
  const termAt = Date.now();
  const code = await first.stop('SIGTERM');
  const termMs = Date.now() - termAt;
  assert.equal(code, 0, first.output().slice(-3000));
  assert.equal(
    await committedOffsets(main.env['CHURN_GROUP']!),
    settledCommits,
    'nothing committed while suspended',
  );
  first = start(main);
  await startsSuspended('the restarted worker', main, first);
  await sleep(Math.max(0, suspendedAt + SUSPENSION_MS - Date.now()));
  watching = false;
  await watch;

  // Nothing written after suspension + 5 s, by any of them.
  const settledState = `${settled.digest} ${settled.rows} ${settled.lastScoredAt} ${settledEnd}`;
  const changedAfter = seen.filter((s) => s.at >= suspendedAt + 5000 && s.state !== settledState);
  // The first poll after the event that saw the final state (its state, if it never changed).
  const lastChange = seen.reduce(
    (last, s, i) => (i > 0 && s.state !== seen[i - 1]!.state ? s.at : last),
    seen[0]?.at ?? suspendedAt,
  );
  const backlog =
    (await topicEnd(topic)) -
    BigInt(settledCommits.split(',').reduce((n, p) => n + Number(p.split(':')[1]), 0));
  console.log(
    `# suspend event → command returned ${returnedMs} ms, last change seen on the sinks ${lastChange - suspendedAt} ms, last scored_at ${Math.round(settled.lastScoredAt - suspendedAt)} ms; SIGTERM while suspended → exit 0 in ${termMs} ms; ${backlog} changes waiting after ${SUSPENSION_MS / 1000} s suspended`,
  );
  assert.deepEqual(changedAfter, [], 'the main sinks changed after suspension + 5 s');
  assert.ok(settled.lastScoredAt < suspendedAt + 5000, 'no row scored after suspension + 5 s');
  assert.ok(backlog > 0n, 'changes kept coming while suspended');
  assert.equal((await sinkState(late.env['CHURN_SCORES_TABLE']!)).rows, 0, 'the late worker wrote no row');
  assert.equal(await topicEnd(late.env['CHURN_OUTPUT_TOPIC']!), 0n, 'the late worker wrote no message');
  assert.equal(
    await committedOffsets(main.env['CHURN_GROUP']!),
    settledCommits,
    'nothing committed after the restart',
  );

  // Resume: both score every change, the ones made while suspended included.
  const resume = await control('resume', 'e2e: review closed');
  assert.equal(resume.code, 0, resume.output);
  const resumedAt = Date.parse(/resumed at (\S+) by/.exec(resume.output)?.[1] ?? '');
  assert.ok(Number.isFinite(resumedAt), resume.output);
  await waitFor(
    'a write after resume',
    async () => (await sinkState(mainTable)).lastScoredAt > settled.lastScoredAt,
    30_000,
  ).catch(fail(first, second));
  console.log(`# resume event → a write seen ${Date.now() - resumedAt} ms later (polled every 250 ms)`);
  assert.equal((await suspendedView(main)).ready, 200);
  assert.equal((await suspendedView(main)).suspended, 0);
  await sleep(2000);
  stopTraffic = true;
  const rounds = await load;
  const end = await settledTopicEnd(topic);
  for (const c of [main, late])
    await waitCommitted(c.env['CHURN_GROUP']!, topic, end, 90_000).catch(fail(first, second));
  console.log(`# ${rounds} rounds of changes; ${end} source messages`);

  const decoder = createDecoder({ debezium: { encoding: 'json' } });
  const oracle = await lastEventPerKey(topic, decoder, debeziumRowKey('customer_id'));
  assert.equal(oracle.failures, 0);
  const decoded = await decoder.decodeBatch(
    (await readTopic(topic)).map((m) => ({ topic, ...m, headers: {}, timestamp: '0' })),
  );
  const scoredEvents = new Set(
    decoded.records
      .filter((r) => r.op !== 'd')
      .map((r) => `${String((r.root['after'] as Record<string, unknown>)['customer_id'])}@${r.position}`),
  );
  const finalRows = await withPg(
    async (c) =>
      (await c.query(`select customer_id::text as k, coalesce(tickets_90d, 0) as t from ${source}`)).rows as {
        k: string;
        t: number;
      }[],
  );
  for (const c of [main, late]) {
    const table = c.env['CHURN_SCORES_TABLE']!;
    const rows = await withPg(
      async (x) =>
        new Map(
          (await x.query(`select customer_id::text as k, source_position::text as p from ${table}`)).rows.map(
            (r) => [String(r.k), String(r.p)] as const,
          ),
        ),
    );
    const verdict = judge(oracle.last, rows);
    assert.equal(verdictLine(verdict), 'lost 0, stale 0, resurrected 0, extra 0', table);
    assert.deepEqual(
      new Set(rows.keys()),
      new Set(finalRows.map((r) => r.k)),
      `${table}: the source table's customers`,
    );
    const messages = await readTopic(c.env['CHURN_OUTPUT_TOPIC']!);
    const written = new Set(scoredPairs(messages));
    const skipped = [...scoredEvents].filter((e) => !written.has(e));
    assert.deepEqual(
      skipped.slice(0, 10),
      [],
      `${table}: ${skipped.length} scored events without an output message`,
    );
    // The last message of each customer, in topic order (a key's predictions stay in order, the
    // batches held while suspended included): its features are the table's final row.
    const lastFeatures = perKey(messages, (m) => m);
    for (const r of finalRows) {
      const list = lastFeatures.get(r.k) ?? [];
      const lastMessage = list[list.length - 1];
      assert.ok(lastMessage?.value, `${table}: customer ${r.k} has an output message`);
      const v = JSON.parse(lastMessage.value.toString()) as { features: { tickets_90d: number } };
      const story = () =>
        list
          .map((m) => {
            const x =
              m.value &&
              (JSON.parse(m.value.toString()) as {
                source_position: string;
                scored_at: string;
                features: { tickets_90d: number };
              });
            return `${m.partition}/${m.offset}: ${x ? `${x.source_position} t=${x.features.tickets_90d} at ${x.scored_at}` : 'tombstone'}`;
          })
          .join('\n');
      assert.equal(
        v.features.tickets_90d,
        Number(r.t),
        `${table}: customer ${r.k}'s last change was scored; last event ${oracle.last.get(r.k)?.position}; suspended at ${new Date(suspendedAt).toISOString()}, resumed ${new Date(resumedAt).toISOString()}\n${story()}`,
      );
    }
  }
  for (const c of [first, second]) assert.equal(await c.stop('SIGTERM'), 0, c.output().slice(-3000));
});
