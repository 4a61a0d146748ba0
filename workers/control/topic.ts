import type { Admin, Kafka } from 'kafkajs';
import { createProducer } from '../sources/kafka/client.js';
import { type ControlEvent, controlRecordKey } from './events.js';

export const DEFAULT_CONTROL_TOPIC = 'streamscore.control';

/**
 * The control topic's settings: one partition (one order for every move), nothing ever deleted
 * (retention.ms=-1 with cleanup.policy=delete: the full history is the audit trail, and the volume is
 * a few records a day).
 */
export const CONTROL_TOPIC_CONFIG = [
  { name: 'cleanup.policy', value: 'delete' },
  { name: 'retention.ms', value: '-1' },
] as const;

/** Creates the control topic when missing; an existing topic is left as it is. */
export async function ensureControlTopic(admin: Admin, topic: string): Promise<void> {
  if ((await admin.listTopics()).includes(topic)) return;
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: CONTROL_TOPIC_CONFIG.map((c) => ({ ...c })) }],
      waitForLeaders: true,
    });
  } catch (err) {
    // Another process created it in between: fine. Anything else (no permission) is the caller's.
    if (!(await admin.listTopics()).includes(topic)) throw err;
  }
}

/**
 * Appends one event (acks from every in-sync replica, idempotent producer) and returns where it
 * landed. Creates the topic first when missing.
 */
export async function appendControlEvent(
  kafka: Kafka,
  topic: string,
  e: ControlEvent,
): Promise<{ partition: number; offset: string }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureControlTopic(admin, topic);
  } finally {
    await admin.disconnect();
  }
  const producer = createProducer(kafka, {
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  try {
    const [meta] = await producer.send({
      topic,
      acks: -1,
      messages: [{ key: controlRecordKey(e), value: JSON.stringify(e) }],
    });
    return { partition: meta?.partition ?? 0, offset: meta?.baseOffset ?? '?' };
  } finally {
    await producer.disconnect();
  }
}
