import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseDocument } from 'yaml';
import { InitError, runInit } from '../../../workers/init/init.js';
import { env, uniqueId } from '../../support/stack.js';

// `streamscore init --subject`: the row schema, key and topic come from what Debezium registered
// (an envelope whose `before` defines the row, a key record), and the pipeline reads Avro.
const topic = `initsub${uniqueId()}.shop.orders`;
const subjects = [`${topic}-key`, `${topic}-value`];

async function register(subject: string, schema: unknown): Promise<void> {
  const res = await fetch(`${env.registryUrl}/subjects/${encodeURIComponent(subject)}/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify(schema) }),
  });
  assert.ok(res.ok, `${subject}: HTTP ${res.status} ${await res.text()}`);
}

after(async () => {
  for (const s of subjects) {
    const url = `${env.registryUrl}/subjects/${encodeURIComponent(s)}`;
    await fetch(url, { method: 'DELETE' }).catch(() => undefined);
    await fetch(`${url}?permanent=true`, { method: 'DELETE' }).catch(() => undefined);
  }
});

test('init --subject scaffolds from the registered envelope and key', async () => {
  const row = {
    type: 'record',
    name: 'Value',
    namespace: topic,
    fields: [
      { name: 'order_id', type: 'long' },
      { name: 'seats', type: ['null', 'int'], default: null },
      { name: 'placed_on', type: { type: 'int', 'connect.name': 'io.debezium.time.Date' } },
    ],
  };
  await register(subjects[0]!, {
    type: 'record',
    name: 'Key',
    namespace: topic,
    fields: [{ name: 'order_id', type: 'long' }],
  });
  await register(subjects[1]!, {
    type: 'record',
    name: 'Envelope',
    namespace: topic,
    fields: [
      { name: 'before', type: ['null', row], default: null },
      { name: 'after', type: ['null', 'Value'], default: null },
      { name: 'op', type: 'string' },
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'streamscore-subject-'));
  const out = join(dir, 'pipelines', 'orders.yaml');
  const r = await runInit({
    subject: subjects[1],
    model: 'pipelines/models/churn/1',
    out,
    registryUrl: env.registryUrl,
    command: 'test',
  });
  assert.equal(r.files.schema, join(dir, 'schemas', 'shop.orders.avsc'));
  const doc = parseDocument(readFileSync(out, 'utf8')).toJS() as {
    spec: {
      source: { kafka: { topics: string } };
      decode: { debezium: { encoding: string } };
      features: { key: string; map: Record<string, unknown> };
    };
  };
  assert.equal(doc.spec.source.kafka.topics, topic);
  assert.equal(doc.spec.decode.debezium.encoding, 'avro');
  assert.equal(doc.spec.features.key, 'after.order_id');
  assert.deepEqual(doc.spec.features.map['seats'], { expr: 'coalesce(after.seats, TODO)', type: 'int' });
  const avsc = JSON.parse(readFileSync(r.files.schema, 'utf8')) as { fields: { name: string }[] };
  assert.deepEqual(
    avsc.fields.map((f) => f.name),
    ['order_id', 'seats', 'placed_on'],
  );
  await assert.rejects(
    runInit({
      subject: `${topic}-nope`,
      model: 'pipelines/models/churn/1',
      out,
      registryUrl: env.registryUrl,
      command: 'test',
    }),
    (e: unknown) => e instanceof InitError && /no such subject/.test(e.message),
  );
});
