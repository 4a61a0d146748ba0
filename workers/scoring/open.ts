import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { redactText } from '../core/secret.js';
import { silentLogger } from '../core/silent-logger.js';
import type { FieldType, Logger, ModelInfo, Op, Sink } from '../core/types.js';
import { ModelRegistry } from '../inference/index.js';
import { createMetrics, type Metrics, noopMeter } from '../observability/metrics.js';
import { ControlWatchers, type OpenedModels, openPipelineModels } from '../rollout/open.js';
import { openSinks, pipelineMapper, pipelineSinks, retryPolicyOf } from '../runtime/assemble.js';
import { createKafkaClient } from '../sources/kafka/client.js';
import type { CheckedSpec } from '../spec/checks.js';
import { only } from '../spec/one-of.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import { formatProblem } from '../spec/problems.js';
import { type ValidatedPipeline, validatePipelineFile } from '../spec/validate.js';
import { InputReader } from './input.js';
import { type ScoredResult, type ScoreOptions, Scorer } from './scorer.js';

export interface OpenScorerOptions {
  logger?: Logger;
  /** The pipeline's metrics (batch sizes, inference time, sink retries); none by default. */
  metrics?: Metrics;
  /** The process's model sessions; a new registry by default. */
  registry?: ModelRegistry;
  /** Control-topic watchers shared by a process's pipelines; its own by default (closed with it). */
  watchers?: ControlWatchers;
  /** Micro-batching of concurrent `score` calls. Default: `serve.max_batch`/`max_wait_ms`, else `model.batch`. */
  batching?: { maxSize: number; maxWaitMs: number };
  /** Write every scored row to the pipeline's sinks before `score` resolves. Default: `serve.write`. */
  write?: boolean;
  /** Clock (tests): a call's time is its records' source time and position. */
  now?: () => Date;
}

/** A feature as declared: name, type, expression, null policy, columns it fills. */
export interface FeatureInfo {
  name: string;
  type: string;
  expr: string;
  on_null: 'reject' | number;
  width: number;
}

/** What a scorer scores with: for `GET /v1/pipelines/{name}` and embedding applications. */
export interface ScorerInfo {
  name: string;
  file: string;
  description: string | undefined;
  owner: string | undefined;
  key: string;
  features: FeatureInfo[];
  /** Prediction field → model output reference. */
  outputs: Record<string, string>;
  /** Prediction fields with their value types (the same for every version). */
  outputTypes: readonly { name: string; type: FieldType }[];
  /** The declared model: a fixed version or an alias (primary, shadow, canary). */
  model: { name: string; version?: string; alias?: string; shadow?: string; canary?: string };
  /** The input schema (.avsc JSON) requests are checked against, if the pipeline has one. */
  inputSchema: unknown;
  /** Effective micro-batching and write-through. */
  batching: { maxSize: number; maxWaitMs: number };
  write: boolean;
}

/** The versions in use right now (an alias may move while the scorer runs). */
export interface CurrentModels {
  primary: ModelInfo | undefined;
  shadow: ModelInfo | undefined;
  canary: ModelInfo | undefined;
}

/** A pipeline's features and model in this process: `score` rows, `close` when done. */
export interface OpenedScorer {
  readonly info: ScorerInfo;
  current(): CurrentModels;
  /** Set while the pipeline is suspended (score then rejects with ScorerError `suspended`). */
  suspended(): { by: string; reason: string } | undefined;
  score(rows: readonly unknown[], options?: ScoreOptions): Promise<ScoredResult[]>;
  /** Runs the rows waiting for their batch to fill now (shutdown: answer them without waiting). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by openScorer for a pipeline file with problems (each listed, secrets redacted). */
export class PipelineInvalidError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`the pipeline is invalid:\n${problems.join('\n')}`);
    this.name = 'PipelineInvalidError';
  }
}

/**
 * Opens a pipeline for scoring in this process: validates the file (as `streamscore validate`),
 * follows its control topic (alias moves, suspension: Kafka must be reachable), loads its model
 * versions, and when writing through opens its sinks. Rows are records `{ after: {…columns},
 * key? }` in Debezium's JSON forms, checked against `features.input_schema`.
 */
export async function openScorer(file: string, options: OpenScorerOptions = {}): Promise<OpenedScorer> {
  const registry = options.registry ?? new ModelRegistry();
  const v = await validatePipelineFile(file, { keepModel: true, registry });
  if (v.problems.length > 0) {
    throw new PipelineInvalidError(v.problems.map((p) => redactText(formatProblem(p), v.secrets)));
  }
  return openValidatedScorer(v, { ...options, registry });
}

/** openScorer for a pipeline already validated (with `keepModel`). */
export async function openValidatedScorer(
  v: ValidatedPipeline,
  options: OpenScorerOptions = {},
): Promise<OpenedScorer> {
  const p = v.pipeline!;
  const checked = v.checked!;
  const logger = options.logger ?? silentLogger;
  const metrics = options.metrics ?? createMetrics(noopMeter(), p.metadata.name, logger);
  const own = options.watchers === undefined ? new ControlWatchers(logger) : undefined;
  const batching = options.batching ?? {
    maxSize: p.spec.serve?.max_batch ?? p.spec.model.batch.max_size,
    maxWaitMs: p.spec.serve?.max_wait_ms ?? p.spec.model.batch.max_wait_ms,
  };
  const write = options.write ?? p.spec.serve?.write ?? false;
  let opened: OpenedModels | undefined;
  let sinks: Sink[] = [];
  try {
    opened = await openPipelineModels(v, {
      registry: options.registry ?? new ModelRegistry(),
      watchers: options.watchers ?? own!,
      logger,
      metrics,
      batching: {
        ...batching,
        onBatch: (rows, ms) => {
          metrics.batchSize.record(rows);
          metrics.inferenceMs.record(ms);
        },
      },
    });
    await opened.openShadowTable();
    const mapper = pipelineMapper(p, checked);
    if (write) {
      const model = opened.models.slot('primary')!.current!.model;
      const kafka = createKafkaClient(p.spec.source.kafka!, logger);
      sinks = pipelineSinks({
        file: v.file,
        pipeline: p,
        checked,
        model,
        featureNames: mapper.names,
        kafka,
        metrics,
        logger,
      });
      await openSinks(sinks, retryPolicyOf(p), logger);
    }
    const inputSchema = readInputSchema(v.file, p);
    const [decoderType, decoderCfg] = only(p.spec.decode);
    const models = opened.models;
    const scorer = new Scorer({
      pipeline: p.metadata.name,
      mapper,
      models,
      suspended: () => models.gate.suspended,
      reader: inputSchema === undefined ? undefined : new InputReader(inputSchema),
      envelope: decoderType === 'debezium',
      keyField: (decoderCfg as { key_field?: string }).key_field,
      op: apiOp(p.spec.features.score_ops),
      shadow: opened.shadow?.runner,
      sinks,
      retry: retryPolicyOf(p),
      metrics,
      ...(options.now ? { now: options.now } : {}),
    });
    const outputTypes = models.slot('primary')!.current!.model.fieldTypes;
    const info = scorerInfo(v.file, p, checked, inputSchema, batching, write, outputTypes);
    const models_ = opened;
    return {
      info,
      current: () => ({
        primary: models.current('primary'),
        shadow: models.current('shadow'),
        canary: models.current('canary'),
      }),
      suspended: () => models.gate.suspended,
      score: (rows, o) => scorer.score(rows, o),
      async flush() {
        const roles = ['primary', 'shadow', 'canary'] as const;
        await Promise.all(roles.map((r) => models.slot(r)?.current?.batcher.flush()));
      },
      async close() {
        await models_.close();
        for (const s of sinks) await s.close().catch(() => undefined);
        await own?.close();
      },
    };
  } catch (err) {
    await opened?.close().catch(() => undefined);
    for (const s of sinks) await s.close().catch(() => undefined);
    await own?.close();
    throw err;
  }
}

/** Records scored directly are creates when the pipeline scores creates, else its first score op. */
function apiOp(scoreOps: readonly Op[]): Op {
  return scoreOps.includes('c') ? 'c' : scoreOps[0]!;
}

function readInputSchema(file: string, p: Pipeline): unknown {
  const s = p.spec.features.input_schema;
  return s === undefined ? undefined : JSON.parse(readFileSync(resolve(dirname(resolve(file)), s), 'utf8'));
}

function scorerInfo(
  file: string,
  p: Pipeline,
  checked: CheckedSpec,
  inputSchema: unknown,
  batching: ScorerInfo['batching'],
  write: boolean,
  outputTypes: ScorerInfo['outputTypes'],
): ScorerInfo {
  const m = p.spec.model;
  const features = checked.features.map((f) => ({
    name: f.name,
    type: f.type,
    expr: f.expr.source,
    on_null: f.onNull,
    width: f.width,
  }));
  return {
    name: p.metadata.name,
    file,
    description: p.metadata.description,
    owner: p.metadata.owner,
    key: p.spec.features.key,
    features,
    outputs: m.outputs,
    outputTypes,
    model: {
      name: m.name,
      ...(m.version === undefined ? {} : { version: m.version }),
      ...(m.alias === undefined ? {} : { alias: m.alias }),
      ...(m.shadow ? { shadow: m.shadow.alias ?? m.shadow.version ?? '' } : {}),
      ...(m.canary ? { canary: m.canary.alias ?? m.canary.version ?? '' } : {}),
    },
    inputSchema,
    batching,
    write,
  };
}
