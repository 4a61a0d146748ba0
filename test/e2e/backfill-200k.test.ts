import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { runCli } from '../support/cli.js';
import { env, withPg } from '../support/stack.js';
import {
  backfillCase,
  checkPredictions,
  completedChunks,
  rowsNotFromChunks,
  runIdOf,
  scoreRows,
} from './backfill-support.js';

// A 200k-row backfill of a crm.customers table through the CLI: `streamscore run --backfill-only`
// processes the chunks `streamscore backfill --wait` enqueues; one prediction per row, from its chunk's read.
const ROWS = 200_000;
const { env: e, table, scores, file, queues, start } = backfillCase(ROWS);

test('200k rows: the run completes with one prediction per row, written by its chunk’s read, equal to onnxruntime', async () => {
  start(['run', '--backfill-only', file]);
  const res = await runCli(['backfill', file, '--wait'], e);
  assert.equal(res.code, 0, res.output);
  assert.match(res.output, new RegExp(`: 21 chunks, ${ROWS} rows of ${table.replace('.', '\\.')}`));
  assert.match(res.output, /\[#{20}\] {2}21\/21 chunks {2}200,000\/200,000 rows .*completed {2}0 failed/);
  const runId = runIdOf(res.output);

  const s = (await queues.status(runId))!;
  assert.equal(s.state, 'completed');
  assert.deepEqual(s.chunks, { total: 21, done: 21, failed: 0, active: 0, pending: 0 });
  assert.equal(s.rows.done, ROWS, 'the chunks’ rows add up to the table: no row read twice or missed');
  const seconds = ((s.finishedAt ?? Date.now()) - s.createdAt) / 1000;
  process.stdout.write(
    `# backfill of ${ROWS} rows: ${seconds.toFixed(1)} s, ${Math.round(ROWS / seconds)} rows/s\n`,
  );

  // One prediction per source row, each written by this run's read of its chunk: the row carries
  // the position of that chunk's snapshot (a second write of a row, by another chunk or run, could not).
  const counts = await withPg(
    async (c) =>
      (
        await c.query(
          `select count(*)::int as n,
                  (select count(*)::int from ${table} t where not exists
                     (select 1 from ${scores} s where s.customer_id = t.customer_id)) as missing
           from ${scores}`,
        )
      ).rows[0],
  );
  assert.deepEqual(counts, { n: ROWS, missing: 0 });
  const chunks = await completedChunks(queues, runId);
  assert.equal(chunks.length, 21);
  assert.equal(new Set(chunks.map((c) => c.position)).size, 21, 'each chunk is read in its own snapshot');
  assert.deepEqual(await rowsNotFromChunks(scores, chunks), []);

  const rows = await scoreRows(scores);
  const sample = Array.from({ length: 2000 }, (_, i) => 1 + ((i * 7919) % ROWS));
  assert.deepEqual(await checkPredictions(table, rows, sample), []);

  // The Kafka sink got one message per row: nothing failed, so nothing was written twice.
  const kafka = new Kafka({ brokers: env.kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(e['CHURN_OUTPUT_TOPIC']!);
  await admin.disconnect();
  assert.equal(
    offsets.reduce((n, o) => n + Number(o.high), 0),
    ROWS,
  );
});
