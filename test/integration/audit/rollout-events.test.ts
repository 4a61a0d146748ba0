import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, it } from 'node:test';
import {
  auditedPipelines,
  CONTROL_CHAIN,
  recordControlEvent,
} from '../../../workers/audit/control-events.js';
import { verifyAudit } from '../../../workers/audit/verify.js';
import type { PipelineEvent } from '../../../workers/control/events.js';
import { env } from '../../support/stack.js';
import { batch } from '../../unit/sinks/fixtures.js';
import { type AuditFixture, auditFixture, pipelineFile, query, rowsOf } from './harness.js';

// Rollout events join the audit trail (issue 15, item 7): a suspension and a resumption recorded
// by the CLI's path land in the log's `control` chain, hash-chained like every decision, between
// the decisions written before and after them.

let f: AuditFixture | undefined;
afterEach(async () => {
  await f?.drop();
  f = undefined;
});

it('suspend and resume are records of the control chain, in order, and the log verifies', async () => {
  f = auditFixture();
  const fx = f;
  const sink = fx.sink();
  await sink.open();
  await sink.write(batch(rowsOf(0, 10, 100, 2)));
  const pipelines = auditedPipelines([pipelineFile(fx)], () => true);
  assert.equal(pipelines.length, 1);
  const event = (action: 'suspend' | 'resume'): PipelineEvent => ({
    type: 'pipeline',
    action,
    pipeline: pipelines[0]!.pipeline.metadata.name,
    by: 'alice',
    reason: `${action} for the test`,
    at: new Date().toISOString(),
    id: randomUUID(),
  });
  const suspend = event('suspend');
  const resume = event('resume');
  for (const e of [suspend, resume]) {
    const r = await recordControlEvent(pipelines, e);
    assert.deepEqual(r.failed, []);
    assert.equal(r.recorded.length, 1);
  }
  await sink.write(batch(rowsOf(0, 10, 200, 2)));
  const control = await query<{
    seq: string;
    kind: string;
    decision_id: string;
    record: { event: PipelineEvent };
  }>(`SELECT seq::text, kind, decision_id::text, record FROM ${fx.audit} WHERE chain = $1 ORDER BY seq`, [
    CONTROL_CHAIN,
  ]);
  assert.deepEqual(
    control.map((c) => [c.seq, c.kind, c.decision_id, c.record.event.action, c.record.event.by]),
    [
      ['1', 'rollout', suspend.id, 'suspend', 'alice'],
      ['2', 'rollout', resume.id, 'resume', 'alice'],
    ],
  );
  // Written after the decisions before it and before those after it.
  const [order] = await query<{ before: string; after: string }>(
    `SELECT count(*) FILTER (WHERE written_at < (SELECT min(written_at) FROM ${fx.audit} WHERE chain = $1))::text AS before,
            count(*) FILTER (WHERE written_at > (SELECT max(written_at) FROM ${fx.audit} WHERE chain = $1))::text AS after
     FROM ${fx.audit} WHERE kind = 'decision'`,
    [CONTROL_CHAIN],
  );
  assert.deepEqual(order, { before: '10', after: '10' });
  const v = await verifyAudit(env.databaseUrl, fx.audit);
  assert.deepEqual(
    { intact: v.intact, chains: v.chains, records: v.records },
    { intact: true, chains: 3, records: 22 },
  );
});
