/** The benchmark topics: creation, schema registration, the backlog producer, offsets, clean-up. */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { CompressionTypes, type Kafka, type Message } from 'kafkajs';
import {
  avroKeySchema,
  avroValueSchema,
  type ChangeMix,
  ChangeStream,
  EnvelopeEncoder,
  type EventNames,
  topicOf,
} from './events.js';

export const PARTITIONS = 6;

export interface BenchTopic {
  topic: string;
  format: 'json' | 'avro';
  names: EventNames;
  ids?: { key: number; value: number };
  /** Messages on the topic (events + tombstones) and events by op. */
  messages: number;
  ops: { c: number; u: number; d: number };
  valueBytes: number;
  produceSeconds: number;
}

export async function createTopic(kafka: Kafka, topic: string, partitions = PARTITIONS): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const gone = topics.filter((t) => existing.has(t));
    if (gone.length > 0) await admin.deleteTopics({ topics: gone, timeout: 30000 });
  } catch {
    // best effort
  } finally {
    await admin.disconnect();
  }
}

export async function deleteGroups(kafka: Kafka, groups: string[]): Promise<void> {
  if (groups.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const g of groups) await admin.deleteGroups([g]).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

/** Registers the key and value schemas under `<topic>-key` / `<topic>-value` (TopicNameStrategy). */
export async function registerSchemas(
  registryUrl: string,
  names: EventNames,
): Promise<{ key: number; value: number }> {
  const registry = new SchemaRegistry({ host: registryUrl });
  const topic = topicOf(names);
  const reg = async (schema: unknown, subject: string) =>
    (await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject })).id;
  return {
    key: await reg(avroKeySchema(names), `${topic}-key`),
    value: await reg(avroValueSchema(names), `${topic}-value`),
  };
}

export async function deleteSubjects(registryUrl: string, subjects: string[]): Promise<void> {
  for (const s of subjects) {
    const url = `${registryUrl}/subjects/${encodeURIComponent(s)}`;
    await fetch(url, { method: 'DELETE' }).catch(() => undefined);
    await fetch(`${url}?permanent=true`, { method: 'DELETE' }).catch(() => undefined);
  }
}

/**
 * Produces `events` changes (plus a tombstone per delete) onto a new 6-partition topic, keyed by
 * customer id (the Java-compatible murmur2 partitioner, as Kafka Connect's producer).
 */
export async function produceBacklog(args: {
  kafka: Kafka;
  registryUrl: string;
  names: EventNames;
  format: 'json' | 'avro';
  events: number;
  mix: ChangeMix;
  /** Source commit time of the first event, µs; later ones are 20 µs apart. */
  startUs: number;
}): Promise<BenchTopic> {
  const { kafka, names, format } = args;
  const topic = topicOf(names);
  await createTopic(kafka, topic);
  const ids = format === 'avro' ? await registerSchemas(args.registryUrl, names) : undefined;
  const enc = new EnvelopeEncoder(names, format, ids);
  const stream = new ChangeStream(args.mix, args.events);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const ops = { c: 0, u: 0, d: 0 };
  let messages = 0;
  let valueBytes = 0;
  const started = performance.now();
  const chunk = format === 'json' ? 400 : 4000;
  const inflight = new Set<Promise<unknown>>();
  let failure: unknown;
  try {
    for (let i = 0; i < args.events; ) {
      const batch: Message[] = [];
      for (const end = Math.min(args.events, i + chunk); i < end; i++) {
        const ch = stream.next(args.startUs + i * 20);
        ops[ch.op]++;
        for (const r of enc.encode(ch)) {
          batch.push({ key: r.key, value: r.value, headers: r.headers });
          valueBytes += r.value?.length ?? 0;
        }
      }
      messages += batch.length;
      const p = producer.send({ topic, messages: batch, acks: 1, compression: CompressionTypes.None }).then(
        () => undefined,
        (err: unknown) => {
          failure ??= err;
        },
      );
      inflight.add(p);
      void p.then(() => inflight.delete(p));
      if (inflight.size >= 4) await Promise.race(inflight);
      if (failure) throw failure;
    }
    await Promise.all(inflight);
    if (failure) throw failure;
  } finally {
    await producer.disconnect();
  }
  return {
    topic,
    format,
    names,
    ...(ids ? { ids } : {}),
    messages,
    ops,
    valueBytes,
    produceSeconds: (performance.now() - started) / 1000,
  };
}

/** High watermarks per partition (the end a consumer group has to reach). */
export async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offs = await admin.fetchTopicOffsets(topic);
    return new Map(offs.map((o) => [o.partition, BigInt(o.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Sets a new group's committed offsets (e.g. to the current end, so it reads only what comes next). */
export async function setGroupOffsets(
  kafka: Kafka,
  groupId: string,
  topic: string,
  offsets: Map<number, bigint>,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.setOffsets({
      groupId,
      topic,
      partitions: [...offsets].map(([partition, o]) => ({ partition, offset: String(o) })),
    });
  } finally {
    await admin.disconnect();
  }
}
