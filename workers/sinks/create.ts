import type { Kafka } from 'kafkajs';
import { PipelineError } from '../core/errors.js';
import type { Logger, PredictionSchema, Sink } from '../core/types.js';
import { createKafkaClient } from '../sources/kafka/client.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import { createSinkRegistry } from './kafka/registry.js';
import { KafkaSink, type PredictionRegistry } from './kafka/sink.js';
import type { PostgresAuditOptions } from './postgres/audit.js';
import { createPostgresKnex } from './postgres/client.js';
import { PostgresSink } from './postgres/sink.js';
import { snowflakeConnector } from './snowflake/client.js';
import { SnowflakeSink } from './snowflake/sink.js';

/** One entry of `spec.sinks`: `{ postgres: {...} } | { kafka: {...} } | { snowflake: {...} }`. */
export type SinkEntry = Pipeline['spec']['sinks'][number];

export interface SinkDeps {
  pipeline: string;
  schema: PredictionSchema;
  /** The process's Kafka client; a kafka sink with its own `brokers` gets a client of its own. */
  kafka?: Kafka;
  /** Schema registry for Avro sinks without their own `schema_registry`. */
  registry?: PredictionRegistry;
  logger: Logger;
  /** The pipeline's audit log, kept by its first postgres sink. */
  audit?: PostgresAuditOptions | undefined;
  /** Told, by sink name, of changes a Postgres sink's guard discarded though the WAL orders them after (clock-losses.ts). */
  onClockLosses?: ((sink: string, count: number) => void) | undefined;
}

function fail(deps: SinkDeps, index: number, code: string, message: string): PipelineError {
  return new PipelineError(`spec.sinks[${index}]: ${message}`, {
    code,
    stage: 'sink',
    retryable: false,
    pipeline: deps.pipeline,
  });
}

/**
 * Builds the sink of one validated `spec.sinks` entry. Clients are created here, once per sink,
 * and owned by the sink (its `close` releases them), except the shared Kafka client from `deps`.
 */
export function createSink(entry: SinkEntry, deps: SinkDeps, index = 0): Sink {
  const types = Object.keys(entry).filter((k) => (entry as Record<string, unknown>)[k] !== undefined);
  if (types.length !== 1) {
    throw fail(
      deps,
      index,
      'SINK_CONFIG_INVALID',
      `expected exactly one sink type, got ${types.join(' and ') || 'none'}`,
    );
  }
  if (entry.postgres) {
    return new PostgresSink({
      config: entry.postgres,
      schema: deps.schema,
      pipeline: deps.pipeline,
      knex: createPostgresKnex(entry.postgres, { applicationName: `streamscore:${deps.pipeline}` }),
      ownsKnex: true,
      logger: deps.logger,
      audit: deps.audit,
      onClockLosses: clockLossCounter(deps.onClockLosses, `postgres:${entry.postgres.table}`),
    });
  }
  if (entry.kafka) {
    const config = entry.kafka;
    const kafka = config.brokers
      ? createKafkaClient({ ...config, brokers: config.brokers }, deps.logger)
      : deps.kafka;
    if (!kafka) {
      throw fail(
        deps,
        index,
        'SINK_CONFIG_INVALID',
        'kafka sink: expected brokers (or a source Kafka client), got none',
      );
    }
    const registry = config.schema_registry ? createSinkRegistry(config.schema_registry) : deps.registry;
    return new KafkaSink({
      config,
      schema: deps.schema,
      pipeline: deps.pipeline,
      kafka,
      ...(registry ? { registry } : {}),
      logger: deps.logger,
    });
  }
  if (entry.snowflake) {
    const config = entry.snowflake;
    return new SnowflakeSink({
      config,
      schema: deps.schema,
      pipeline: deps.pipeline,
      connect: snowflakeConnector(config, { logger: deps.logger }),
      logger: deps.logger,
    });
  }
  throw fail(
    deps,
    index,
    'SINK_NOT_IMPLEMENTED',
    `expected a sink type of postgres, snowflake or kafka, got '${types[0]}' (not implemented)`,
  );
}

/** The sink's clock losses as a count for `report` (by sink name), when there is one. */
function clockLossCounter(
  report: SinkDeps['onClockLosses'],
  sink: string,
): ((losses: readonly unknown[]) => void) | undefined {
  return report === undefined ? undefined : (losses) => report(sink, losses.length);
}

/** Builds every sink of `spec.sinks`, in order. */
export function createSinks(entries: readonly SinkEntry[], deps: SinkDeps): Sink[] {
  const auditAt = entries.findIndex((e) => e.postgres !== undefined);
  return entries.map((e, i) => createSink(e, i === auditAt ? deps : { ...deps, audit: undefined }, i));
}
