import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertDistFresh, startDist } from '../support/dist-cli.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import {
  deleteGroups,
  deleteTopics,
  dropPgTables,
  freePort,
  testKafka,
  uniqueId,
  withPg,
} from '../support/stack.js';
import { waitCommitted } from '../support/topics.js';
import { churnEnv } from './backfill-support.js';

// The source database's clock stepping backwards between two changes of one key would make the
// second change's position the smaller one (positions are commit time first), and the sink would
// keep the first change's prediction. A real worker, fed two Debezium changes of one customer whose
// LSNs rise while the second's commit time lies 30 s before the first's, keeps the WAL's order
// (the second change takes the first's time, and its own LSN) and logs and counts the step.
const id = uniqueId();
const e = churnEnv(id, { CHURN_SCORES_TABLE: `ml.clock_${id}`, CHURN_TOPIC: `clock-${id}` });
// The restart case: its own table, topic and group.
const rid = `${id}r`;
const r = churnEnv(rid, { CHURN_SCORES_TABLE: `ml.clock_${rid}`, CHURN_TOPIC: `clock-${rid}` });

before(() => assertDistFresh());
after(async () => {
  await dropPgTables(e['CHURN_SCORES_TABLE']!, r['CHURN_SCORES_TABLE']!);
  await deleteTopics([
    ...[e, r].flatMap((x) => [x['CHURN_TOPIC']!, x['CHURN_OUTPUT_TOPIC']!, x['CHURN_DLQ']!]),
  ]);
  await deleteGroups([e['CHURN_GROUP']!, r['CHURN_GROUP']!]);
});

/** The worker's /metrics has a line matching `re` (the clock lines shown if not). */
async function assertMetric(port: number, re: RegExp): Promise<void> {
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const clock = metrics.split('\n').filter((l) => l.includes('clock'));
  assert.match(metrics, re, clock.join('\n'));
}

/** The JSON log lines of `stdout` whose text includes `text`. */
function logLines(stdout: string, text: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.includes(text))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Customer 7's row in the scores table: its position as text. */
function storedRow(table: string): Promise<{ p: string } | undefined> {
  return withPg(
    async (c) =>
      (await c.query(`select source_position::text as p from ${table} where customer_id = 7`)).rows[0],
  );
}

async function send(env: Record<string, string>, messages: { key: string; value: string }[]) {
  const producer = testKafka().producer();
  await producer.connect();
  await producer.send({ topic: env['CHURN_TOPIC']!, messages });
  await producer.disconnect();
}

function change(lsn: number, tsUs: number, seats: number) {
  return {
    key: JSON.stringify({ customer_id: 7 }),
    value: JSON.stringify({
      before: null,
      after: { customer_id: 7, signup_date: 18_000, plan: 'pro', seats, tickets_90d: 1 },
      source: {
        ts_ms: Math.floor(tsUs / 1000),
        ts_us: tsUs,
        lsn,
        db: 'crm',
        schema: 'crm',
        table: 'customers',
      },
      op: 'u',
      ts_ms: Date.now(),
    }),
  };
}

test('a change committed 30 s "before" the previous one while the WAL orders it after wins, and is logged and counted', async () => {
  const file = churnPipelineCopy(`clock-${id}`, { warehouse: false });
  const port = await freePort();
  const worker = startDist(['run', '--no-backfill', '--port', String(port), file], { env: e });
  const now = Date.now() * 1000;
  try {
    await send(e, [change(1_000, now, 2), change(2_000, now - 30_000_000, 3)]);
    await waitCommitted(e['CHURN_GROUP']!, e['CHURN_TOPIC']!, 2n, 120_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n${worker.output().slice(-3000)}`);
    });
    await assertMetric(port, /streamscore_source_clock_steps(_total)?\{[^}]*partition="\d+"[^}]*\} 1\b/);
  } finally {
    assert.equal(await worker.stop('SIGTERM'), 0, worker.output().slice(-3000));
  }
  const warning = logLines(worker.stdout(), 'clock stepped backwards');
  assert.equal(warning.length, 1, worker.output().slice(-3000));
  assert.equal(warning[0]!['lsn'], '2000');
  assert.equal(warning[0]!['previous_lsn'], '1000');
  assert.equal(warning[0]!['step_ms'], 30_000);
  assert.equal(warning[0]!['held_until'], new Date(Math.floor(now / 1000)).toISOString());
  assert.equal(warning[0]!['level'], 40);
  // The sink holds the second change: the first's time, the second's LSN.
  const row = await storedRow(e['CHURN_SCORES_TABLE']!);
  assert.equal(row?.p, `${BigInt(now) * 10n ** 20n + 2_000n}`, 'the second change’s position');
});

test('after a restart between the two changes (the time held is lost), the sink reports the discarded change', async () => {
  const file = churnPipelineCopy(`clock-${rid}`, { warehouse: false });
  const now = Date.now() * 1000;
  // The first worker writes the first change, then stops: the time it held goes with it.
  const first = startDist(['run', '--no-backfill', file], { env: r });
  try {
    await send(r, [change(1_000, now, 2)]);
    await waitCommitted(r['CHURN_GROUP']!, r['CHURN_TOPIC']!, 1n, 120_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n${first.output().slice(-3000)}`);
    });
  } finally {
    assert.equal(await first.stop('SIGTERM'), 0, first.output().slice(-3000));
  }
  const port = await freePort();
  const second = startDist(['run', '--no-backfill', '--port', String(port), file], { env: r });
  try {
    await send(r, [change(2_000, now - 30_000_000, 3)]);
    await waitCommitted(r['CHURN_GROUP']!, r['CHURN_TOPIC']!, 2n, 120_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n${second.output().slice(-3000)}`);
    });
    await assertMetric(
      port,
      /streamscore_order_guard_clock_losses(_total)?\{[^}]*sink="postgres:[^"]+"[^}]*\} 1\b/,
    );
  } finally {
    assert.equal(await second.stop('SIGTERM'), 0, second.output().slice(-3000));
  }
  const errors = logLines(second.stdout(), 'discarded by the order guard');
  assert.equal(errors.length, 1, second.output().slice(-3000));
  const lost = (errors[0]!['first'] as Record<string, unknown>[])[0]!;
  assert.deepEqual([lost['key'], lost['lsn'], lost['stored_lsn']], ['7', '2000', '1000']);
  assert.equal(errors[0]!['level'], 50);
  // The documented gap: the first change's prediction stays.
  const row = await storedRow(r['CHURN_SCORES_TABLE']!);
  assert.equal(row?.p, `${BigInt(now) * 10n ** 20n + 1_000n}`, 'the first change’s position');
});
