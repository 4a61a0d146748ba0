import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import type { Logger } from '../core/types.js';
import { parseJsonExact } from '../decode/exact-json.js';
import { createSchemaRegistry, wireSchemaId } from '../decode/registry.js';
import { createKafkaClient } from '../sources/kafka/client.js';
import { only } from '../spec/one-of.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import { FIXTURE_FORMAT, type Fixture, type FixtureEvent } from '../testing/fixture.js';
import { redactAvro, redactJson } from './redact.js';

export interface CaptureOptions {
  file: string;
  pipeline: Pipeline;
  limit: number;
  redact: readonly string[];
  /** `earliest`: the first `limit` events of the topic; `latest`: the last `limit` per partition (then the latest overall). */
  from: 'earliest' | 'latest';
  /** Give up waiting for more events after this long (ms) without one. */
  idleMs: number;
  logger: Logger;
  kafka?: Kafka;
}

interface Raw {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/**
 * Reads events of the pipeline's topics and returns them as a fixture. The pipeline's consumer
 * group is never joined: a throwaway group (`streamscore-capture-<uuid>`) reads without
 * committing and is deleted afterwards. Reading stops at `limit` events, at the topics' end as it
 * was at the start, or after `idleMs` without an event.
 */
export async function captureEvents(o: CaptureOptions): Promise<Fixture> {
  const p = o.pipeline;
  const source = p.spec.source.kafka;
  if (source === undefined) throw new Error('capture reads Kafka: the pipeline has no spec.source.kafka');
  const kafka = o.kafka ?? createKafkaClient(source, o.logger);
  const [decoderType, decoderCfg] = only(p.spec.decode);
  const cfg = decoderCfg as {
    encoding?: string;
    schema_registry?: Parameters<typeof createSchemaRegistry>[0];
  };
  const encoding: 'json' | 'avro' = decoderType === 'avro' || cfg.encoding === 'avro' ? 'avro' : 'json';
  const admin = kafka.admin();
  await admin.connect();
  const group = `streamscore-capture-${randomUUID()}`;
  const raws: Raw[] = [];
  try {
    const ends = new Map<string, Map<number, { low: bigint; high: bigint }>>();
    for (const topic of source.topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      ends.set(
        topic,
        new Map(offsets.map((x) => [x.partition, { low: BigInt(x.low), high: BigInt(x.high) }])),
      );
    }
    const remaining = () => [...ends.values()].some((m) => [...m.values()].some((e) => e.low < e.high));
    if (remaining()) await read(kafka, group, source.topics, ends, o, raws);
  } finally {
    await admin.deleteGroups([group]).catch(() => undefined);
    await admin.disconnect();
  }
  let events = raws.sort(
    (a, b) =>
      a.topic.localeCompare(b.topic) ||
      a.partition - b.partition ||
      Number(BigInt(a.offset) - BigInt(b.offset)),
  );
  if (o.from === 'latest') {
    events = [...events].sort((a, b) => Number(a.timestamp) - Number(b.timestamp)).slice(-o.limit);
  } else events = events.slice(0, o.limit);
  const schemas: Record<string, string> = {};
  if (encoding === 'avro') {
    if (cfg.schema_registry === undefined)
      throw new Error('an Avro pipeline needs spec.decode.*.schema_registry');
    const registry = createSchemaRegistry(cfg.schema_registry);
    for (const e of events) {
      for (const b of [e.key, e.value]) {
        if (b === null || b.length === 0) continue;
        const id = wireSchemaId(b);
        if (typeof id === 'number' && schemas[id] === undefined)
          schemas[id] = (await registry.schemaById(id)).schema;
      }
    }
  }
  const redact = new Set(o.redact);
  const inputSchema = readInputSchema(o.file, p);
  const out: FixtureEvent[] = events.map((e) => toEvent(e, encoding, redact, schemas, inputSchema));
  return {
    format: FIXTURE_FORMAT,
    pipeline: p.metadata.name,
    topic: events[0]?.topic ?? source.topics[0]!,
    captured_at: new Date().toISOString(),
    redacted: [...redact],
    schemas,
    events: out,
  };
}

async function read(
  kafka: Kafka,
  group: string,
  topics: readonly string[],
  ends: Map<string, Map<number, { low: bigint; high: bigint }>>,
  o: CaptureOptions,
  out: Raw[],
): Promise<void> {
  const consumer = kafka.consumer({ groupId: group, allowAutoTopicCreation: false });
  const next = new Map<string, bigint>();
  const done = () =>
    [...ends].every(([t, parts]) => [...parts].every(([p, e]) => (next.get(`${t}/${p}`) ?? e.low) >= e.high));
  await consumer.connect();
  try {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    let lastEvent = Date.now();
    let finished: () => void = () => undefined;
    const finishedP = new Promise<void>((r) => {
      finished = r;
    });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      if (o.from !== 'latest') return;
      // The last `limit` of each partition: start there (nothing before it is read).
      for (const [t, parts] of ends) {
        for (const [partition, e] of parts) {
          const start = e.high - BigInt(o.limit) > e.low ? e.high - BigInt(o.limit) : e.low;
          consumer.seek({ topic: t, partition, offset: String(start) });
        }
      }
    });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        lastEvent = Date.now();
        next.set(`${topic}/${partition}`, BigInt(message.offset) + 1n);
        const e = ends.get(topic)?.get(partition);
        if (e !== undefined && BigInt(message.offset) < e.high) {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {}))
            if (v !== undefined) headers[k] = String(v);
          out.push({
            topic,
            partition,
            offset: message.offset,
            timestamp: message.timestamp,
            key: message.key,
            value: message.value,
            headers,
          });
        }
        if ((o.from === 'earliest' && out.length >= o.limit) || done()) finished();
      },
    });
    const idle = setInterval(() => {
      if (Date.now() - lastEvent > o.idleMs) finished();
    }, 100);
    await finishedP;
    clearInterval(idle);
  } finally {
    await consumer.disconnect();
  }
}

function readInputSchema(
  file: string,
  p: Pipeline,
): { fields?: { name: string; type: unknown }[] } | undefined {
  const s = p.spec.features.input_schema;
  return s === undefined ? undefined : JSON.parse(readFileSync(resolve(dirname(resolve(file)), s), 'utf8'));
}

function toEvent(
  e: Raw,
  encoding: 'json' | 'avro',
  redact: ReadonlySet<string>,
  schemas: Record<string, string>,
  inputSchema: { fields?: { name: string; type: unknown }[] } | undefined,
): FixtureEvent {
  const where = `${e.topic}/${e.partition}@${e.offset}`;
  const base = {
    partition: e.partition,
    offset: e.offset,
    timestamp: e.timestamp,
    encoding,
    headers: e.headers,
  };
  if (encoding === 'avro') {
    const redacted = (b: Buffer | null) => {
      if (b === null || redact.size === 0 || b.length === 0) return b;
      const id = wireSchemaId(b);
      return typeof id === 'number' && schemas[id] !== undefined
        ? redactAvro(b, schemas[id]!, redact, where)
        : b;
    };
    return {
      ...base,
      key_base64: redacted(e.key)?.toString('base64') ?? null,
      value_base64: redacted(e.value)?.toString('base64') ?? null,
    };
  }
  const typeOf = (col: string) => {
    const f = inputSchema?.fields?.find((x) => x.name === col);
    if (f === undefined) return undefined;
    const branches = Array.isArray(f.type) ? f.type : [f.type];
    const isString = branches.some(
      (b) =>
        b === 'string' ||
        (typeof b === 'object' && b !== null && (b as { type?: unknown }).type === 'string'),
    );
    return { string: isString, nullable: branches.includes('null') };
  };
  const parse = (b: Buffer | null): unknown => {
    if (b === null || b.length === 0) return null;
    const v = parseJsonExact(b.toString('utf8'));
    redactJson(v, redact, typeOf, where);
    return v;
  };
  return { ...base, key: parse(e.key), value: parse(e.value) };
}
