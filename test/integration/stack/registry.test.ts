import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { deleteSubjects } from '../../bench/topic.js';
import { env, uniqueId } from '../../support/stack.js';

const v1 = {
  type: 'record',
  name: 'Score',
  namespace: 'smoke',
  fields: [
    { name: 'customer_id', type: 'long' },
    { name: 'score', type: 'double' },
  ],
};

test('registry: register with the Confluent client on Apicurio, encode, decode with avsc, reject a breaking change', async (t) => {
  const subject = `smoke-${uniqueId()}-value`;
  const registry = new SchemaRegistry({ host: env.registryUrl });
  t.after(() => deleteSubjects(env.registryUrl, [subject]));
  const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
  assert.ok(id > 0);

  const bytes = await registry.encode(id, { customer_id: 42, score: 0.25 });
  assert.equal(bytes[0], 0, 'magic byte');
  assert.equal(bytes.readInt32BE(1), id, 'schema id in Confluent wire format');
  const type = avro.Type.forSchema(v1 as avro.Schema);
  assert.deepEqual({ ...type.fromBuffer(bytes.subarray(5)) }, { customer_id: 42, score: 0.25 });

  const cfg = await fetch(`${env.registryUrl}/config/${subject}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'BACKWARD' }),
  });
  assert.ok(cfg.ok, `set compatibility: HTTP ${cfg.status} ${await cfg.text()}`);
  // Removing a field is fine for BACKWARD readers; adding a required field without default is not.
  const breaking = { ...v1, fields: [...v1.fields, { name: 'segment', type: 'string' }] };
  await assert.rejects(
    registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(breaking) }, { subject }),
  );
  const compatible = {
    ...v1,
    fields: [...v1.fields, { name: 'segment', type: ['null', 'string'], default: null }],
  };
  const second = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(compatible) },
    { subject },
  );
  assert.notEqual(second.id, id);
});
