import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { deleteGroups, deleteTopics, env, uniqueId, waitFor } from '../../support/stack.js';

test('kafka: create a topic, produce and consume with kafkajs', async (t) => {
  const id = uniqueId();
  const topic = `smoke-${id}`;
  t.after(async () => {
    await deleteTopics([topic]);
    await deleteGroups([`smoke-${id}`]);
  });
  const kafka = new Kafka({
    brokers: env.kafkaBrokers.split(','),
    clientId: `smoke-${id}`,
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  assert.equal(
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true }),
    true,
  );
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  assert.equal(meta.topics[0]?.partitions.length, 3);
  await admin.disconnect();

  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic,
    messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
  });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `smoke-${id}` });
  const got = new Set<string>();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void got.add(String(message.value)) });
  await waitFor('30 messages', async () => got.size === 30, 30000);
  await consumer.disconnect();
  assert.deepEqual([...got].sort(), Array.from({ length: 30 }, (_, i) => `v${i}`).sort());
});
