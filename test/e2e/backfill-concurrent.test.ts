import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { makePosition } from '../../workers/core/position.js';
import { runCli } from '../support/cli.js';
import {
  deleteGroups,
  deleteTopics,
  dropDebezium,
  env,
  registerDebezium,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';
import {
  backfillCase,
  checkPredictions,
  completedChunks,
  runFinished,
  runIdOf,
  scoreRows,
} from './backfill-support.js';

// A backfill and the stream on the same keys at the same time, in one `streamscore run` process
// (Kafka consumer + backfill chunks, shared model batcher and sinks), while the CRM keeps updating
// customers. Afterwards every key holds the freshest prediction: the one at the greater of its
// latest change's commit position and the position of the snapshot its chunk was read in — and that
// prediction is of the row as it is now.
const ROWS = 20_000;
const {
  id,
  env: e,
  table,
  scores,
  file,
  queues,
  start,
} = backfillCase(ROWS, {
  chunk_size: 1000,
  fetch_rows: 250,
  concurrency: 1,
});
const prefix = `bfc${id}`;
const topic = `${prefix}.${table}`;
Object.assign(e, { CHURN_TOPIC: topic });
const connector = `bf_conc_${id}`;
const kafka = new Kafka({
  brokers: env.kafkaBrokers.split(','),
  clientId: `bfc-${id}`,
  logLevel: logLevel.NOTHING,
});
before(async () => {
  await registerDebezium({ name: connector, topicPrefix: prefix, tables: [table], converter: 'json' });
});

const readerGroups: string[] = [];
after(async () => {
  await dropDebezium(connector);
  await deleteTopics([topic]);
  await deleteGroups(readerGroups);
});

/** Every change event of the table, latest per key: its position and op. */
async function latestEvents(expected: number): Promise<Map<number, { position: bigint; op: string }>> {
  const groupId = `bfc-reader-${uniqueId()}`;
  readerGroups.push(groupId);
  const consumer = kafka.consumer({ groupId });
  const latest = new Map<number, { position: bigint; op: string }>();
  let count = 0;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (!message.value) return;
      const p = JSON.parse(message.value.toString()).payload;
      const row = p.after ?? p.before;
      const position = makePosition(BigInt(p.source.ts_us), BigInt(p.source.lsn ?? 0));
      const key = Number(row.customer_id);
      const prev = latest.get(key);
      if (!prev || prev.position < position) latest.set(key, { position, op: p.op });
      count++;
    },
  });
  await waitFor(`${expected} change events`, async () => count >= expected, 120000);
  await consumer.disconnect();
  return latest;
}

test('a backfill racing the stream on the same keys leaves the freshest prediction for every key', async () => {
  start(['run', file]);
  const res = await runCli(['backfill', file], e);
  assert.equal(res.code, 0, res.output);
  const runId = runIdOf(res.output);

  // CRM traffic while the backfill runs: batches of updates of random customers.
  let updates = 0;
  let rounds = 0;
  let finished = false;
  const traffic = (async () => {
    while (!finished || rounds < 5) {
      const n = await withPg(async (c) => {
        const r = await c.query(
          `update ${table} set tickets_90d = floor(random() * 40)::int,
                  last_login_at = now() - (floor(random() * 300) || ' days')::interval, updated_at = now()
           where customer_id in (select 1 + floor(random() * ${ROWS})::int from generate_series(1, 300))`,
        );
        return r.rowCount ?? 0;
      });
      updates += n;
      rounds++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const s = await runFinished(queues, runId, 180000);
  finished = true;
  await traffic;
  assert.equal(s.state, 'completed', JSON.stringify(s));

  // The backfill position of every key: its chunk's snapshot.
  const chunks = await completedChunks(queues, runId);
  assert.equal(chunks.length, s.chunks.total);
  const backfillPos = new Map<number, bigint>();
  for (const c of chunks) {
    for (let k = Number(c.lower ?? 0) + 1; k <= Number(c.upper ?? ROWS); k++) backfillPos.set(k, c.position);
  }
  assert.equal(backfillPos.size, ROWS);

  const latest = await latestEvents(ROWS + updates);
  // Wait until the stream has caught up with every change.
  const rows = await waitFor(
    'the stream caught up',
    async () => {
      const m = await scoreRows(scores);
      for (const [k, ev] of latest) if ((m.get(k)?.position ?? 0n) < ev.position) return undefined;
      return m;
    },
    120000,
  );
  assert.equal(rows.size, ROWS);
  let streamWon = 0;
  let backfillWon = 0;
  let backfillSuperseded = 0;
  for (let k = 1; k <= ROWS; k++) {
    const ev = latest.get(k)!;
    const bf = backfillPos.get(k)!;
    // biome-ignore lint/complexity/useMathMinMax: positions are bigints
    const expected = ev.position > bf ? ev.position : bf;
    assert.equal(rows.get(k)!.position, expected, `customer ${k}`);
    if (ev.op === 'u' && ev.position > bf) streamWon++;
    if (ev.position < bf) backfillWon++;
    if (ev.op === 'u' && ev.position < bf) backfillSuperseded++;
  }
  process.stdout.write(
    `# ${updates} updates in ${rounds} rounds; the stream won for ${streamWon} updated keys; ` +
      `the backfill for ${backfillWon} keys, ${backfillSuperseded} of them updated before their read\n`,
  );
  assert.ok(streamWon > 0, 'some updates committed after their chunk was read');
  assert.ok(backfillSuperseded > 0, 'some updates committed before their chunk was read');
  // Whoever won, the prediction is of the row as it is now.
  assert.deepEqual(await checkPredictions(table, rows), []);
});
