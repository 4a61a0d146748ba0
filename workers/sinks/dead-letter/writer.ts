import type { IHeaders, Kafka, Message, Producer } from 'kafkajs';
import type { PipelineError } from '../../core/errors.js';
import type { Logger, RawMessage } from '../../core/types.js';
import { createProducer } from '../../sources/kafka/client.js';
import { kafkaPipelineError } from '../kafka/errors.js';

export interface DeadLetter {
  message: RawMessage;
  error: PipelineError;
  pipeline: string;
}

export interface DeadLetterWriterOptions {
  /** The process's Kafka client; the writer creates its own producer from it. */
  kafka: Kafka;
  topic: string;
  logger: Logger;
  /** Used when an entry carries no pipeline name. */
  pipeline?: string;
  /** -1 (all in-sync replicas, default) or 1. */
  acks?: -1 | 1;
}

/** Headers the writer sets on every dead letter (after the original headers, which they override). */
export const DLQ_HEADERS = {
  code: 'streamscore.error.code',
  message: 'streamscore.error.message',
  stage: 'streamscore.error.stage',
  pipeline: 'streamscore.pipeline',
  topic: 'streamscore.source.topic',
  partition: 'streamscore.source.partition',
  offset: 'streamscore.source.offset',
} as const;

/** Longest error message kept in a header: brokers cap message size, and the head says enough. */
const MAX_MESSAGE_CHARS = 8192;

/** The dead-letter message for one failure: the original key and value bytes, original + error headers. */
export function deadLetterMessage(f: DeadLetter, fallbackPipeline = ''): Message {
  const headers: IHeaders = { ...f.message.headers };
  const msg = f.error.message;
  headers[DLQ_HEADERS.code] = f.error.code;
  headers[DLQ_HEADERS.message] = msg.length > MAX_MESSAGE_CHARS ? `${msg.slice(0, MAX_MESSAGE_CHARS)}…` : msg;
  headers[DLQ_HEADERS.stage] = f.error.stage;
  headers[DLQ_HEADERS.pipeline] = f.pipeline || f.error.pipeline || fallbackPipeline;
  headers[DLQ_HEADERS.topic] = f.message.topic;
  headers[DLQ_HEADERS.partition] = String(f.message.partition);
  headers[DLQ_HEADERS.offset] = f.message.offset;
  return { key: f.message.key, value: f.message.value, headers };
}

/**
 * Writes records that failed (decode, features, a terminal sink error for one record) to the
 * pipeline's dead-letter topic. `write` resolves after the broker acknowledged them, so the engine
 * may then commit the source offsets; it rejects with a classified PipelineError otherwise.
 */
export class DeadLetterWriter {
  private readonly producer: Producer;
  private connected = false;

  constructor(private readonly opts: DeadLetterWriterOptions) {
    this.producer = createProducer(opts.kafka, { allowAutoTopicCreation: true, maxInFlightRequests: 1 });
  }

  get topic(): string {
    return this.opts.topic;
  }

  async open(): Promise<void> {
    if (this.connected) return;
    try {
      await this.producer.connect();
      this.connected = true;
    } catch (err) {
      throw this.fail(err, 'connecting the producer', this.opts.pipeline);
    }
  }

  async write(failures: readonly DeadLetter[]): Promise<void> {
    if (failures.length === 0) return;
    if (!this.connected) await this.open();
    const messages = failures.map((f) => deadLetterMessage(f, this.opts.pipeline));
    try {
      await this.producer.send({ topic: this.opts.topic, messages, acks: this.opts.acks ?? -1 });
    } catch (err) {
      throw this.fail(
        err,
        `producing ${messages.length} dead letters`,
        failures[0]?.pipeline ?? this.opts.pipeline,
      );
    }
    this.opts.logger.debug({ topic: this.opts.topic, count: messages.length }, 'Dead letters written.');
  }

  async close(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }

  private fail(err: unknown, action: string, pipeline: string | undefined): PipelineError {
    return kafkaPipelineError(err, {
      what: `dead-letter topic ${this.opts.topic}`,
      action,
      ...(pipeline ? { pipeline } : {}),
    });
  }
}
