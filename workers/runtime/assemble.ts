import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { auditOptions } from '../audit/config.js';
import { errorMessage } from '../core/errors.js';
import type { FieldType, Logger, PredictionSchema, Sink } from '../core/types.js';
import { createDecoder } from '../decode/create.js';
import { createSchemaRegistry } from '../decode/registry.js';
import { openPipelineDrift, type PipelineDrift } from '../drift/open.js';
import type { ExprType } from '../expr/index.js';
import { FeatureMapper } from '../features/mapper.js';
import { ModelRegistry, type OnnxModel } from '../inference/index.js';
import type { Metrics } from '../observability/metrics.js';
import type { BatchTracer } from '../observability/tracing.js';
import { ControlWatchers, type OpenedModels, openPipelineModels } from '../rollout/open.js';
import { backfillsTo } from '../sinks/columns.js';
import { createSinks } from '../sinks/create.js';
import { DeadLetterWriter } from '../sinks/dead-letter/writer.js';
import { createKafkaClient } from '../sources/kafka/client.js';
import { KafkaSource } from '../sources/kafka/source.js';
import { ensureTopics } from '../sources/kafka/topics.js';
import type { CheckedSpec } from '../spec/checks.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import type { ValidatedPipeline } from '../spec/validate.js';
import { BatchProcessor } from './batch-processor.js';
import { CoalescingSink } from './coalescing-sink.js';
import { type RetryPolicy, withRetry } from './retry.js';
import { sourceTable } from './source-table.js';

export interface AssembledPipeline {
  name: string;
  source: KafkaSource;
  processor: BatchProcessor;
  sinks: Sink[];
  deadLetters: DeadLetterWriter | undefined;
  /** The pipeline's models (primary, shadow, canary) and suspension gate; closed by `close`. */
  models: OpenedModels;
  /** Streaming drift (`monitoring.drift`), when on. */
  drift: PipelineDrift | undefined;
  kafka: Kafka;
  open(): Promise<void>;
  close(): Promise<void>;
}

function keyFieldType(t: ExprType | undefined): FieldType {
  switch (t?.kind) {
    case 'int':
      return 'int';
    case 'number':
      return 'float';
    case 'bool':
      return 'bool';
    default:
      return 'string';
  }
}

/** Types of what the sinks receive: the key, the model's outputs, then every feature column. */
export function predictionSchemaOf(
  checked: CheckedSpec,
  model: Pick<OnnxModel, 'fieldTypes'>,
  featureNames: readonly string[],
): PredictionSchema {
  return {
    key: keyFieldType(checked.key?.type),
    fields: [
      ...model.fieldTypes,
      ...featureNames.map((n) => ({ name: `feature.${n}`, type: 'float' as const })),
    ],
  };
}

/** The pipeline's feature mapper: its key and features compiled by `validate`. */
export function pipelineMapper(p: Pipeline, checked: CheckedSpec): FeatureMapper {
  return new FeatureMapper({
    pipeline: p.metadata.name,
    key: checked.key!,
    features: checked.features,
    scoreOps: p.spec.features.score_ops,
    deleteKey: p.spec.features.delete_key,
  });
}

/** Retries of transient sink errors, from `spec.errors`. */
export function retryPolicyOf(p: Pipeline): RetryPolicy {
  return { maxRetries: p.spec.errors.max_retries, initialBackoffMs: p.spec.errors.retry_backoff_ms };
}

/** The pipeline's sinks (with its audit log), each merging concurrent writes unless it does so itself. */
export function pipelineSinks(args: {
  file: string;
  pipeline: Pipeline;
  checked: CheckedSpec;
  model: Pick<OnnxModel, 'fieldTypes'>;
  featureNames: readonly string[];
  kafka: Kafka;
  metrics: Metrics;
  logger: Logger;
}): Sink[] {
  const { pipeline: p, metrics, kafka, logger } = args;
  const schema = predictionSchemaOf(args.checked, args.model, args.featureNames);
  const audit = auditOptions(
    args.file,
    p,
    (audited, written) => metrics.audit(audited, written),
    (rate) => metrics.overrideRate(rate),
  );
  const onClockLosses = (sink: string, count: number) => metrics.clockLosses?.(sink, count);
  return createSinks(p.spec.sinks, {
    pipeline: p.metadata.name,
    schema,
    kafka,
    logger,
    audit,
    onClockLosses,
  }).map((s) => (s.capabilities.mergesWrites ? s : new CoalescingSink(s)));
}

/**
 * Opens every sink. One briefly unreachable at start-up (a database restarting) is retried with
 * the pipeline's back-off; a terminal error (missing table, bad credentials) fails at once.
 */
export async function openSinks(sinks: readonly Sink[], retry: RetryPolicy, logger: Logger): Promise<void> {
  for (const s of sinks) {
    await withRetry(() => s.open(), retry, {
      onRetry: (err, attempt, delayMs) =>
        logger.warn(
          { sink: s.name, attempt, delay_ms: delayMs, error: errorMessage(err) },
          'Sink not ready at start-up; retrying.',
        ),
    });
  }
}

/** Builds one pipeline's stages from its validated spec; clients are created here, once. */
export function assemblePipeline(args: {
  file: string;
  pipeline: Pipeline;
  checked: CheckedSpec;
  opened: OpenedModels;
  metrics: Metrics;
  logger: Logger;
  /** Spans per batch (tracing on); none by default. */
  tracer?: BatchTracer | undefined;
}): AssembledPipeline {
  const { pipeline: p, checked, opened, logger } = args;
  const model = opened.models.slot('primary')!.current!.model;
  const name = p.metadata.name;
  const sourceCfg = p.spec.source.kafka!;
  const kafka = createKafkaClient(sourceCfg, logger);
  const dec = p.spec.decode as {
    debezium?: { schema_registry?: Parameters<typeof createSchemaRegistry>[0] };
    avro?: { schema_registry: Parameters<typeof createSchemaRegistry>[0] };
  };
  const registryCfg = dec.debezium?.schema_registry ?? dec.avro?.schema_registry;
  const registry = registryCfg ? createSchemaRegistry(registryCfg) : undefined;
  const inputSchema = p.spec.features.input_schema;
  const rowSchema = inputSchema
    ? JSON.parse(readFileSync(resolve(dirname(resolve(args.file)), inputSchema), 'utf8'))
    : undefined;
  const decoder = createDecoder(p.spec.decode, { registry, rowSchema, onClockStep: args.metrics.clockStep });
  const mapper = pipelineMapper(p, checked);
  const sinks = pipelineSinks({ ...args, model, featureNames: mapper.names, kafka });
  const dlqTopic = p.spec.errors.dead_letter_topic;
  const deadLetters = dlqTopic
    ? new DeadLetterWriter({ kafka, topic: dlqTopic, logger, pipeline: name })
    : undefined;
  const retry = retryPolicyOf(p);
  const table = sourceTable(p, checked, name, logger);
  const drift = openPipelineDrift({
    file: args.file,
    pipeline: p,
    featureNames: mapper.names,
    outputFields: opened.models.outputFields,
    kafka,
    logger,
    metrics: args.metrics.drift,
  });
  const processor = new BatchProcessor({
    pipeline: name,
    decoder,
    mapper,
    models: opened.models,
    shadow: opened.shadow?.runner,
    sinks,
    backfillSinks: sinks.filter((_, i) => backfillsTo(p.spec.sinks[i]!)),
    deadLetters: deadLetters
      ? { write: (failures) => deadLetters.write(failures.map((f) => ({ ...f, pipeline: name }))) }
      : undefined,
    retry,
    metrics: args.metrics,
    drift: drift?.monitor,
    unavailable: table?.fill,
  });
  const source = new KafkaSource(
    kafka,
    sourceCfg,
    logger,
    { metrics: args.metrics.source, tracer: args.tracer },
    // A suspended pipeline, or one waiting for the schema registry, holds its batches on purpose:
    // not a stall.
    { held: () => opened.models.gate.suspended !== undefined || processor.waitingForRegistry },
  );
  return {
    name,
    source,
    processor,
    sinks,
    deadLetters,
    models: opened,
    drift,
    kafka,
    async open() {
      await table?.check();
      await opened.openShadowTable();
      const outputTopics = p.spec.sinks.flatMap((e) => (e.kafka && !e.kafka.brokers ? [e.kafka.topic] : []));
      await ensureTopics(kafka, [...outputTopics, ...(dlqTopic ? [dlqTopic] : [])]);
      await openSinks(sinks, retry, logger);
      await deadLetters?.open();
      await drift?.open();
    },
    async close() {
      await drift?.close();
      await opened.close();
      await table?.close().catch(() => undefined);
      await deadLetters?.close();
      for (const s of sinks) await s.close().catch(() => undefined);
    },
  };
}

/**
 * A validated pipeline assembled with its models: follows its control topic (through `watchers`,
 * shared by a worker's pipelines; its own otherwise, closed with the pipeline) and loads the
 * versions it uses. The caller `open`s and `close`s it.
 */
export async function assembleValidated(
  v: ValidatedPipeline,
  deps: {
    logger: Logger;
    metrics: Metrics;
    registry?: ModelRegistry;
    watchers?: ControlWatchers;
    tracer?: BatchTracer | undefined;
  },
): Promise<AssembledPipeline> {
  const own = deps.watchers === undefined ? new ControlWatchers(deps.logger) : undefined;
  const watchers = deps.watchers ?? own!;
  let opened: OpenedModels;
  try {
    opened = await openPipelineModels(v, {
      registry: deps.registry ?? new ModelRegistry(),
      watchers,
      logger: deps.logger,
      metrics: deps.metrics,
    });
  } catch (err) {
    await own?.close();
    throw err;
  }
  const a = assemblePipeline({
    file: v.file,
    pipeline: v.pipeline!,
    checked: v.checked!,
    opened,
    metrics: deps.metrics,
    logger: deps.logger,
    tracer: deps.tracer,
  });
  if (own === undefined) return a;
  const close = a.close;
  return {
    ...a,
    async close() {
      await close();
      await own.close();
    },
  };
}
