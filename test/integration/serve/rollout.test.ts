import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { appendControlEvent, eventStamp, readControlState } from '../../../workers/control/index.js';
import { setAlias } from '../../../workers/control/set-alias.js';
import { readVersion } from '../../../workers/models/catalog.js';
import type { RunningServer } from '../../../workers/serve/server.js';
import { ensureAliases } from '../../support/aliases.js';
import { churnPipelineCopy } from '../../support/pipelines.js';
import { serveForTest } from '../../support/serve.js';
import { deleteTopics, dropPgTables, testKafka, uniqueId, waitFor } from '../../support/stack.js';

// The API follows the rollout like a worker: it answers with the champion and names the shadow,
// swaps to a promoted version without a restart, and a suspended pipeline answers 503 (and is not
// ready) until it is resumed. A private control topic keeps other tests' aliases out.
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
const id = uniqueId();
const controlTopic = `serve-control-${id}`;
const shadowTable = `ml.churn_${id}__shadow`;
const kafka = testKafka(`serve-rollout-${id}`);
let server: RunningServer;

before(async () => {
  await ensureAliases({ churn: { champion: '1', challenger: '3' } }, controlTopic);
  const file = churnPipelineCopy(`serve-${id}`, {
    shadow: true,
    edit: (doc) => {
      doc.setIn(['spec', 'model', 'control_topic'], controlTopic);
      doc.setIn(['spec', 'model', 'shadow', 'table'], shadowTable);
      doc.setIn(['spec', 'serve'], { auth: 'none', timeout_ms: 10_000 });
    },
  });
  server = await serveForTest([file]);
});

after(async () => {
  await server?.close();
  await dropPgTables(shadowTable);
  await deleteTopics([controlTopic]);
});

const customer = {
  customer_id: 42,
  email: 'a@example.com',
  plan: 'pro',
  signup_date: 19000,
  monthly_spend: 99.5,
  seats: 3,
  tickets_90d: 1,
  last_login_at: '2026-11-19T08:30:00.123456Z',
  is_active: true,
  external_id: '6f1c0a4e-8a0e-4c36-9a52-2d4b1f7b1e10',
  updated_at: '2026-11-20T09:59:59Z',
};

async function predict(): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/v1/pipelines/churn-scoring/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ after: customer }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const sha = (v: string) => readVersion('pipelines/models', 'churn', v).sha256;

test('the answer names the champion that decided and the shadow that also scored', async () => {
  const r = await predict();
  assert.equal(r.status, 200);
  assert.deepEqual(r.json['model'], { name: 'churn', version: '1', sha256: sha('1'), alias: 'champion' });
  assert.deepEqual(r.json['shadow'], { name: 'churn', version: '3', sha256: sha('3'), alias: 'challenger' });
});

test('a promotion swaps the served version without a restart', async () => {
  const state = await readControlState(kafka, controlTopic);
  await setAlias(kafka, controlTopic, state, {
    model: 'churn',
    alias: 'champion',
    version: '2',
    sha256: sha('2'),
    by: 'test',
    reason: 'serve follows promotions',
  });
  await waitFor('the API on churn/2', async () => {
    const r = await predict();
    return (r.json['model'] as { version: string }).version === '2';
  });
  const r = await predict();
  assert.deepEqual(r.json['model'], { name: 'churn', version: '2', sha256: sha('2'), alias: 'champion' });
});

test('a suspended pipeline answers 503 and is not ready; resumed, it scores again', async () => {
  const move = (action: 'suspend' | 'resume') =>
    appendControlEvent(kafka, controlTopic, {
      type: 'pipeline',
      action,
      pipeline: 'churn-scoring',
      by: 'test',
      reason: action === 'suspend' ? 'risk review' : 'resume',
      ...eventStamp(),
    });
  await move('suspend');
  await waitFor('the API suspended', async () => (await predict()).status === 503);
  const r = await predict();
  assert.deepEqual(r.json, {
    error: 'suspended',
    message: 'pipeline churn-scoring is suspended by test: risk review',
  });
  assert.equal((await fetch(`${server.url}/readyz`)).status, 503);
  await move('resume');
  await waitFor('the API resumed', async () => (await predict()).status === 200);
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
});
