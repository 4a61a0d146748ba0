import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { parseDocument } from 'yaml';
import { runCli } from '../support/cli.js';
import { testKafka } from '../support/stack.js';
import { backfillCase, scoreRows } from './backfill-support.js';

// A sink's `backfill` flag: the churn pipeline (Postgres + Kafka sinks) backfilled with the Kafka
// sink left as it is (default true: every row is published) and with `backfill: false` (the scores
// table gets every row, the output topic none).
const ROWS = 3000;
const kafkaSink = (backfill: boolean | undefined) => ({
  edit: (doc: ReturnType<typeof parseDocument>) => {
    const sinks = doc.getIn(['spec', 'sinks']) as { items: { has(k: string): boolean }[] };
    const at = sinks.items.findIndex((s) => s.has('kafka'));
    assert.ok(at >= 0, 'the churn pipeline has a kafka sink');
    if (backfill !== undefined) doc.setIn(['spec', 'sinks', at, 'kafka', 'backfill'], backfill);
  },
});
const published = backfillCase(ROWS, { chunk_size: 1000 }, kafkaSink(undefined));
const quiet = backfillCase(ROWS, { chunk_size: 1000 }, kafkaSink(false));

async function messagesIn(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

test('by default a backfill writes every sink, the Kafka sink included', async () => {
  const c = published;
  const r = await runCli(['backfill', c.file, '--work', '--run-id', `sinks-${c.id}`], c.env);
  assert.equal(r.code, 0, r.output);
  assert.equal((await scoreRows(c.scores)).size, ROWS);
  assert.ok((await messagesIn(c.env['CHURN_OUTPUT_TOPIC']!)) >= ROWS, 'every row published');
});

test('a sink with backfill: false gets nothing from a backfill; the others get every row', async () => {
  const c = quiet;
  const r = await runCli(['backfill', c.file, '--work', '--run-id', `sinks-${c.id}`], c.env);
  assert.equal(r.code, 0, r.output);
  assert.equal((await scoreRows(c.scores)).size, ROWS);
  assert.equal(await messagesIn(c.env['CHURN_OUTPUT_TOPIC']!), 0, 'nothing published');
});
