/** Reading and removing the Kafka topics and consumer groups a test made, on the stack's broker. */
import { Kafka, logLevel } from 'kafkajs';
import { env, uniqueId, waitFor } from './stack.js';

const kafka = () =>
  new Kafka({ brokers: env.kafkaBrokers.split(','), clientId: 'e2e-topics', logLevel: logLevel.NOTHING });

export interface TopicMessage {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/**
 * The messages of `topic` from its beginning, once `enough` holds for them (checked as they
 * arrive) and everything up to the topic's end at that moment has been read.
 */
export async function readTopic(
  topic: string,
  enough: (messages: TopicMessage[]) => boolean,
  timeoutMs = 60_000,
): Promise<TopicMessage[]> {
  const k = kafka();
  const groupId = `e2e-reader-${uniqueId()}`;
  const consumer = k.consumer({ groupId });
  const messages: TopicMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        const headers = Object.fromEntries(
          Object.entries(message.headers ?? {}).map(([h, v]) => [h, String(v)]),
        );
        messages.push({ partition, offset: message.offset, key: message.key, value: message.value, headers });
      },
    });
    const admin = k.admin();
    await admin.connect();
    try {
      await waitFor(
        `messages on ${topic} (${messages.length} so far)`,
        async () => {
          if (!enough(messages)) return false;
          const next = new Map<number, bigint>();
          for (const m of messages) next.set(m.partition, BigInt(m.offset) + 1n);
          const end = await admin.fetchTopicOffsets(topic);
          return end.every((p) => p.high === p.low || (next.get(p.partition) ?? 0n) >= BigInt(p.high));
        },
        timeoutMs,
      );
    } finally {
      await admin.disconnect();
    }
    return messages;
  } finally {
    await consumer.disconnect();
    await deleteTopicsAndGroups([], [groupId]);
  }
}

/** Deletes topics and consumer groups; those that do not exist are skipped. */
export async function deleteTopicsAndGroups(topics: string[], groups: string[] = []): Promise<void> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length > 0) await admin.deleteTopics({ topics: present });
    const known = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
    const gone = groups.filter((g) => known.has(g));
    if (gone.length > 0) await admin.deleteGroups(gone);
  } finally {
    await admin.disconnect();
  }
}

/** The topics whose names start with `prefix` (e.g. a Debezium connector's topic.prefix + '.'). */
export async function topicsStartingWith(prefix: string): Promise<string[]> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  } finally {
    await admin.disconnect();
  }
}

/** The sum of the topic's partitions' end offsets: how many messages it has ever held. */
export async function topicEnd(topic: string): Promise<bigint> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + BigInt(p.high), 0n);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Waits until `topic` holds at least `atLeast` messages and `group` has committed every one of
 * them: the worker has processed (and written) all of them.
 */
export async function waitCommitted(group: string, topic: string, atLeast: bigint, timeoutMs = 60_000) {
  const admin = kafka().admin();
  await admin.connect();
  try {
    await waitFor(
      `group ${group} to commit ${atLeast} messages of ${topic}`,
      async () => {
        const end = await admin.fetchTopicOffsets(topic);
        if (end.reduce((s, p) => s + BigInt(p.high), 0n) < atLeast) return false;
        const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
        const at = new Map(committed!.partitions.map((p) => [p.partition, BigInt(p.offset)]));
        return end.every((p) => p.high === p.low || (at.get(p.partition) ?? -1n) >= BigInt(p.high));
      },
      timeoutMs,
    );
  } finally {
    await admin.disconnect();
  }
}
