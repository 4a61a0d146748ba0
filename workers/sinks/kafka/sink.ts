import { type SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import { PipelineError } from '../../core/errors.js';
import type { Logger, PredictionBatch, PredictionSchema, Sink, SinkCapabilities } from '../../core/types.js';
import { createProducer } from '../../sources/kafka/client.js';
import { exactAvroType } from './avro-long.js';
import type { KafkaSinkConfig } from './config.js';
import { kafkaPipelineError } from './errors.js';
import { checkMessageNames, PredictionMessages, predictionAvroSchema } from './message.js';

/** What the sink needs of a schema registry client (`@kafkajs/confluent-schema-registry`). */
export type PredictionRegistry = Pick<SchemaRegistry, 'register' | 'getSchema'>;

export interface KafkaSinkOptions {
  config: KafkaSinkConfig;
  schema: PredictionSchema;
  pipeline: string;
  /** The process's Kafka client; the sink creates its own producer from it. */
  kafka: Kafka;
  /** Required for `format: avro`. */
  registry?: PredictionRegistry;
  logger: Logger;
}

interface AvroEncoder {
  toBuffer(value: unknown): Buffer;
}

/**
 * Predictions as Kafka messages keyed by the entity key (JSON text), value JSON or Avro in the
 * Confluent wire format (magic 0, 4-byte schema id, Avro body; the schema is generated from the
 * prediction schema and registered under `<topic>-value` at `open`). Deletes are tombstones.
 * Headers carry the pipeline, model name/version, op and source position, so consumers can apply
 * the same ordering guard (a topic is a log: replays append again, so `idempotent` is false). By
 * default only tombstones carry them: an upsert's value holds the same fields, and kafkajs encodes
 * each header with its own buffer (about 2.5 µs per header and message, half the producer's CPU).
 *
 * `write` resolves after the broker acknowledged every message with the configured `acks`.
 */
export class KafkaSink implements Sink {
  readonly name: string;
  readonly capabilities: SinkCapabilities = { idempotent: false, maxBatchRows: 10_000 };
  private readonly producer: Producer;
  private readonly messages: PredictionMessages;
  private readonly avroSchema: Record<string, unknown> | undefined;
  private encoder: { id: number; type: AvroEncoder } | undefined;
  private connected = false;

  constructor(private readonly opts: KafkaSinkOptions) {
    const { config, schema, pipeline } = opts;
    this.name = `kafka:${config.topic}`;
    const avro = config.format === 'avro';
    checkMessageNames(schema, `kafka sink ${config.topic}`, avro, pipeline);
    if (avro && !opts.registry) {
      throw new PipelineError(
        `kafka sink ${config.topic}: expected a schema registry for format 'avro', got none`,
        {
          code: 'SINK_CONFIG_INVALID',
          stage: 'sink',
          retryable: false,
          pipeline,
        },
      );
    }
    this.messages = new PredictionMessages(schema, config.format);
    this.avroSchema = avro ? predictionAvroSchema(schema) : undefined;
    this.producer = createProducer(opts.kafka, { allowAutoTopicCreation: true, maxInFlightRequests: 1 });
  }

  /** Subject of the value schema: `<topic>-value` (TopicNameStrategy). */
  get subject(): string {
    return `${this.opts.config.topic}-value`;
  }

  async open(): Promise<void> {
    try {
      if (!this.connected) {
        await this.producer.connect();
        this.connected = true;
      }
      if (this.avroSchema && !this.encoder) {
        const registry = this.opts.registry!;
        const { id } = await registry.register(
          { type: SchemaType.AVRO, schema: JSON.stringify(this.avroSchema) },
          { subject: this.subject },
        );
        // The registered schema is ours: encode with it, longs exact (avsc's own stop at 2^53).
        this.encoder = { id, type: exactAvroType(this.avroSchema) as unknown as AvroEncoder };
      }
    } catch (err) {
      throw kafkaPipelineError(err, {
        what: `kafka sink ${this.opts.config.topic}`,
        action: this.connected
          ? `registering the value schema under ${this.subject}`
          : 'connecting the producer',
        pipeline: this.opts.pipeline,
      });
    }
  }

  async write(batch: PredictionBatch): Promise<void> {
    if (batch.rows.length === 0) return;
    const { config } = this.opts;
    const out: Message[] = new Array(batch.rows.length);
    const m = this.messages;
    const enc = this.encoder;
    if (this.avroSchema && !enc) {
      throw new PipelineError(`kafka sink ${config.topic}: write before open (no registered schema)`, {
        code: 'SINK_NOT_OPEN',
        stage: 'sink',
        retryable: true,
        pipeline: this.opts.pipeline,
      });
    }
    const headers = config.headers;
    for (let i = 0; i < batch.rows.length; i++) {
      const row = batch.rows[i]!;
      if (row.op === 'd') {
        out[i] = {
          key: m.key(row),
          value: null,
          ...(headers === 'none' ? {} : { headers: m.headers(row, batch) }),
        };
        continue;
      }
      const value = enc
        ? wire(enc.id, enc.type.toBuffer(m.value(row, batch)))
        : Buffer.from(m.json(row, batch), 'utf8');
      out[i] = { key: m.key(row), value, ...(headers === 'all' ? { headers: m.headers(row, batch) } : {}) };
    }
    for (const [from, to] of requestSlices(out, config.max_request_bytes)) {
      try {
        await this.producer.send({
          topic: config.topic,
          messages: from === 0 && to === out.length ? out : out.slice(from, to),
          acks: config.acks,
          compression: config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        });
      } catch (err) {
        throw kafkaPipelineError(err, {
          what: `kafka sink ${config.topic}`,
          action: `producing messages ${from + 1}–${to} of ${out.length}`,
          pipeline: this.opts.pipeline,
        });
      }
    }
  }

  async close(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }
}

/** Confluent wire format: magic byte 0, schema id as big-endian int32, then the Avro body. */
export function wire(schemaId: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = 0;
  out.writeInt32BE(schemaId, 1);
  body.copy(out, 5);
  return out;
}

/** Consecutive [from, to) ranges of `messages` whose bytes stay within `maxBytes` (at least one message each). */
export function requestSlices(messages: readonly Message[], maxBytes: number): [number, number][] {
  const out: [number, number][] = [];
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    const size = messageBytes(messages[i]!);
    if (i > from && bytes + size > maxBytes) {
      out.push([from, i]);
      from = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (from < messages.length) out.push([from, messages.length]);
  return out;
}

/** Key, value and header bytes plus the record framing (varints, attributes: ~20 bytes). */
function messageBytes(m: Message): number {
  let n = 20 + (m.key ? m.key.length : 0) + (m.value ? m.value.length : 0);
  if (m.headers) {
    for (const [k, v] of Object.entries(m.headers)) n += k.length + (v ? String(v).length : 0) + 2;
  }
  return n;
}
