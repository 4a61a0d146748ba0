import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { makePosition, positionTimeUs } from '../../workers/core/position.js';
import { runCli } from '../support/cli.js';
import { deleteTopics, dropDebezium } from '../support/stack.js';
import {
  atBackfillTime,
  backfillCase,
  dropTables,
  scoreRows,
  snapshotEvents,
  startParitySource,
  streamInProcess,
  tableDiff,
} from './backfill-support.js';

// The parity promise: a backfilled prediction and a streamed one for the same row are equal.
// The same rows go (1) through a backfill (reader → BatchProcessor.processDecoded) into one scores
// table and (2) as Debezium's own snapshot events for them (real connector, JsonConverter with
// schemas) — given the same source time as the backfill read them at — through the streaming
// BatchProcessor (decoder → the same features, model, sinks) into another. The tables are equal.
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
const ROWS = 3000;
const parity = backfillCase(ROWS);
const { id, env: e, table, scores: backfilled, file } = parity;
const streamed = `ml.churn_${id}_streamed`;
const prefix = `bfp${id}`;
const topic = `${prefix}.${table}`;
const connector = `bf_parity_${id}`;
before(() => startParitySource(parity, connector, prefix));

after(async () => {
  await dropDebezium(connector);
  await dropTables(streamed);
  await deleteTopics([topic, `bfp-stream-${id}`]);
});

test('backfill and streaming write identical rows for the same rows and source time', async () => {
  const res = await runCli(['backfill', file, '--wait'], e);
  assert.equal(res.code, 0, res.output);
  const fromBackfill = await scoreRows(backfilled);
  assert.equal(fromBackfill.size, ROWS);

  // Debezium's events, each given the source time its row was backfilled at, through the stream.
  const events = atBackfillTime(await snapshotEvents(topic, ROWS), fromBackfill);
  await streamInProcess(
    file,
    { ...e, CHURN_SCORES_TABLE: streamed, CHURN_OUTPUT_TOPIC: `bfp-stream-${id}` },
    events,
  );

  const fromStream = await scoreRows(streamed);
  assert.equal(fromStream.size, ROWS);
  const diff = await tableDiff(backfilled, streamed, ['scored_at']);
  assert.match(diff.columns, /"churn_probability", "churn_label", "tenure_months".*"source_position"/);
  assert.deepEqual({ onlyA: diff.onlyA, onlyB: diff.onlyB }, { onlyA: 0, onlyB: 0 });
  // Same position too: the backfill's is makePosition(snapshot µs, 0), the stream's (ts_us, lsn 0).
  const [k, s] = [...fromBackfill.entries()][0]!;
  assert.equal(fromStream.get(k)!.position, makePosition(positionTimeUs(s.position), 0));
});
