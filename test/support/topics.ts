/** Kafka helpers of the example e2e tests, on top of stack.ts: positions, commits, reads that wait. */
import { readTopic, type TopicMessage, testKafka, topicOffsets, waitFor } from './stack.js';

/**
 * The messages of `topic` from its beginning to its end, once `enough` holds for them (read
 * again, up to `timeoutMs`, while it does not).
 */
export function readTopicUntil(
  topic: string,
  enough: (messages: TopicMessage[]) => boolean,
  timeoutMs = 60_000,
): Promise<TopicMessage[]> {
  return waitFor(
    `enough messages on ${topic}`,
    async () => {
      const messages = await readTopic(topic);
      return enough(messages) ? messages : undefined;
    },
    timeoutMs,
  );
}

/** A header of a message as text ('' when absent). */
export const header = (m: TopicMessage, name: string): string => m.headers[name]?.toString() ?? '';

/** The topics whose names start with `prefix` (e.g. a Debezium connector's topic prefix). */
export async function topicsStartingWith(prefix: string): Promise<string[]> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  } finally {
    await admin.disconnect();
  }
}

/** The sum of the topic's partitions' end offsets: how many messages it has ever held. */
export async function topicEnd(topic: string): Promise<bigint> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    return (await topicOffsets(admin, topic)).reduce((s, p) => s + BigInt(p.high), 0n);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Waits until `topic` holds at least `atLeast` messages and `group` has committed every one of
 * them: the worker has processed (and written) all of them.
 */
export async function waitCommitted(group: string, topic: string, atLeast: bigint, timeoutMs = 60_000) {
  const admin = testKafka().admin();
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
