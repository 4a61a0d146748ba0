import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseDocument } from 'yaml';
import type { RawMessage } from '../../workers/core/types.js';
import { ModelRegistry } from '../../workers/inference/index.js';
import { validatePipelineFile } from '../../workers/spec/validate.js';
import { OfflinePipeline, type Outcome } from '../../workers/testing/offline.js';
import { runCli } from '../support/cli.js';
import { deleteTopics, dropDebezium, readTopic, registerDebezium, uniqueId } from '../support/stack.js';
import { topicsStartingWith } from '../support/topics.js';

// `streamscore init` on the CRM's real table with the churn model, the TODOs answered with the
// example's expressions, computes the features and scores of pipelines/churn-scoring.yaml on the
// same real Debezium events (a snapshot of crm.customers by a connector of the test's own).
const id = uniqueId();
const prefix = `initchurn${id}`;
const connector = `initchurn_${id}`;
const dir = mkdtempSync(join(tmpdir(), 'streamscore-init-churn-'));
const pipeline = join(dir, 'pipelines', 'customers-churn.yaml');

after(async () => {
  await dropDebezium(connector).catch(() => undefined);
  await deleteTopics(await topicsStartingWith(prefix));
  rmSync(dir, { recursive: true, force: true });
});

/** What every message became in a pipeline run offline (the stream's decoder, mapper and model). */
async function outcomes(file: string, messages: RawMessage[], registry: ModelRegistry): Promise<Outcome[]> {
  const v = await validatePipelineFile(file);
  assert.deepEqual(v.problems, [], file);
  const p = await OfflinePipeline.open({
    file,
    pipeline: v.pipeline!,
    checked: v.checked!,
    version: '1',
    registry,
  });
  try {
    return await p.run(messages.map((message) => ({ message, encoding: 'json' as const })));
  } finally {
    await p.close();
  }
}

test('init on crm.customers with churn/1, its TODOs answered, scores every real event as the example does', async () => {
  const init = await runCli([
    'init',
    '--table',
    'crm.customers',
    '--model',
    'pipelines/models/churn/1',
    '--topic',
    `${prefix}.crm.customers`,
    '--out',
    pipeline,
  ]);
  assert.equal(init.code, 0, init.output);
  assert.match(init.output, /monthly_spend ← exact name/);
  assert.match(init.output, /seats ← exact name/);
  assert.match(init.output, /tickets_90d ← exact name/);
  const doc = parseDocument(readFileSync(pipeline, 'utf8'));
  assert.equal(doc.getIn(['spec', 'features', 'key']), 'after.customer_id');
  assert.deepEqual((doc.toJS() as { spec: { model: { outputs: unknown } } }).spec.model.outputs, {
    churn_probability: 'probabilities[1]',
    churn_label: 'label',
  });
  // The answers, as the example writes them.
  const answers: Record<string, string | { expr: string; type?: string; on_null?: string }> = {
    tenure_months: { expr: 'months_between(after.signup_date, source.ts_ms)', on_null: 'reject' },
    is_enterprise: { expr: "after.plan == 'enterprise'", type: 'bool' },
    days_since_login: 'coalesce(days_between(after.last_login_at, source.ts_ms), 365)',
    plan_basic: { expr: "after.plan == 'basic'", type: 'bool' },
    plan_pro: { expr: "after.plan == 'pro'", type: 'bool' },
  };
  for (const [k, v] of Object.entries(answers)) doc.setIn(['spec', 'features', 'map', k], v);
  const nulls: Record<string, string> = { monthly_spend: '0', tickets_90d: '0', seats: '1' };
  for (const [k, n] of Object.entries(nulls)) {
    const path = ['spec', 'features', 'map', k];
    const node = doc.getIn(path);
    if (typeof node === 'string') doc.setIn(path, node.replace('TODO', n));
    else doc.setIn([...path, 'expr'], String(doc.getIn([...path, 'expr'])).replace('TODO', n));
  }
  writeFileSync(pipeline, doc.toString({ lineWidth: 0 }));
  const valid = await runCli(['validate', pipeline]);
  assert.equal(valid.code, 0, valid.output);

  await registerDebezium({
    name: connector,
    topicPrefix: prefix,
    tables: ['crm.customers'],
    converter: 'json',
  });
  const events = await readTopic(`${prefix}.crm.customers`, 90000);
  assert.ok(events.length > 100, `${events.length} snapshot events`);
  const messages: RawMessage[] = events.map((e, i) => ({
    topic: `${prefix}.crm.customers`,
    partition: e.partition,
    offset: String(i),
    key: e.key,
    value: e.value,
    headers: {},
    timestamp: '0',
  }));
  const registry = new ModelRegistry();
  const ours = await outcomes(pipeline, messages, registry);
  const example = await outcomes('pipelines/churn-scoring.yaml', messages, registry);
  assert.equal(ours.length, messages.length);
  let scored = 0;
  for (let i = 0; i < ours.length; i++) {
    const a = ours[i]!;
    const b = example[i]!;
    assert.equal(a.kind, b.kind, `event ${i}`);
    if (a.kind === 'scored' && b.kind === 'scored') {
      scored++;
      assert.deepEqual(a.features, b.features, `event ${i}`);
      assert.deepEqual(a.outputs, b.outputs, `event ${i}`);
      assert.equal(a.key, b.key);
    }
  }
  assert.ok(scored > 100, `${scored} scored`);
});
