import type { Kafka } from 'kafkajs';

/**
 * Creates the topics a pipeline writes (dead letters, predictions) when missing, so the first
 * write does not race topic auto-creation and readers can subscribe before anything failed.
 * Existing topics are left as they are; a broker that forbids creation surfaces on first write.
 */
export async function ensureTopics(kafka: Kafka, topics: readonly string[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = [...new Set(topics)].filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin
        .createTopics({ topics: missing.map((topic) => ({ topic })), waitForLeaders: true })
        .catch(() => false);
    }
  } finally {
    await admin.disconnect();
  }
}
