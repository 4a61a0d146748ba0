import type { Kafka } from 'kafkajs';
import { ControlWatcher } from '../control/index.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import type { ModelBatcherOptions, ModelRegistry } from '../inference/index.js';
import type { Metrics } from '../observability/metrics.js';
import { defaultShadowTable, ShadowTable } from '../shadow/index.js';
import { createKafkaClient } from '../sources/kafka/client.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import { firstPostgres } from '../spec/postgres-url.js';
import type { ValidatedPipeline } from '../spec/validate.js';
import { PipelineModels } from './pipeline-models.js';
import { ShadowRunner } from './shadow-runner.js';

/**
 * One control-topic watcher per (cluster, topic), shared by a worker's pipelines. Every pipeline
 * follows its control topic, for alias moves and for suspension.
 */
export class ControlWatchers {
  readonly #watchers = new Map<string, Promise<ControlWatcher>>();
  readonly #clients: Kafka[] = [];

  constructor(private readonly logger: Logger) {}

  get(p: Pipeline): Promise<ControlWatcher> {
    const source = p.spec.source.kafka!;
    const topic = p.spec.model.control_topic;
    const key = JSON.stringify([source.brokers, topic]);
    let w = this.#watchers.get(key);
    if (w === undefined) {
      const kafka = createKafkaClient(source, this.logger);
      this.#clients.push(kafka);
      w = ControlWatcher.start({ kafka, topic, logger: this.logger });
      this.#watchers.set(key, w);
      w.catch(() => this.#watchers.delete(key));
    }
    return w;
  }

  async close(): Promise<void> {
    const all = [...this.#watchers.values()];
    this.#watchers.clear();
    await Promise.all(all.map((w) => w.then((x) => x.close()).catch(() => undefined)));
  }
}

/** A pipeline's models (and its shadow's runner and comparison table, when declared). */
export interface OpenedModels {
  models: PipelineModels;
  shadow: { runner: ShadowRunner; table: ShadowTable } | undefined;
  /**
   * Creates the shadow's comparison table if there is a shadow. If its database is down, the
   * pipeline starts anyway and the table is created by the first write that gets through (pairs
   * count as failed meanwhile): it is the shadow's, never the primary's.
   */
  openShadowTable(): Promise<void>;
  close(): Promise<void>;
}

/** Follows the pipeline's control topic and loads its models (the primary from `validate` if fixed). */
export async function openPipelineModels(
  v: ValidatedPipeline,
  deps: {
    registry: ModelRegistry;
    watchers: ControlWatchers;
    logger: Logger;
    metrics: Metrics;
    /** Micro-batching of the sessions instead of `spec.model.batch` (see PipelineModelsOptions). */
    batching?: ModelBatcherOptions;
  },
): Promise<OpenedModels> {
  const p = v.pipeline!;
  const control = await deps.watchers.get(p);
  const rollout = deps.metrics.rollout;
  const models = await PipelineModels.create({
    file: v.file,
    pipeline: p,
    checked: v.checked!,
    registry: deps.registry,
    logger: deps.logger,
    control,
    ...(v.model && v.modelInfo ? { primary: { model: v.model, info: v.modelInfo } } : {}),
    ...(deps.batching ? { batching: deps.batching } : {}),
    onSwap: (s) => rollout.swapped(s.role, s.from, s.to, s.loadMs),
    onSwapFailed: (role, version) => rollout.swapFailed(role, version),
  });
  rollout.watchSuspended(() => models.gate.suspended !== undefined);
  const s = p.spec.model.shadow;
  let shadow: OpenedModels['shadow'];
  if (s) {
    // An explicit postgres_url is a url alone; otherwise the first postgres sink's connection, TLS included.
    const connection = s.postgres_url !== undefined ? { url: s.postgres_url } : firstPostgres(p);
    const table = new ShadowTable({
      url: connection!,
      table: s.table ?? defaultShadowTable(p.metadata.name),
      logger: deps.logger,
      compare: s.compare,
    });
    const runner = new ShadowRunner({
      pipeline: p.metadata.name,
      compare: s.compare,
      table,
      maxPending: s.max_pending_batches,
      counters: rollout.shadow,
      logger: deps.logger,
    });
    shadow = { runner, table };
  }
  return {
    models,
    shadow,
    async openShadowTable() {
      await shadow?.table
        .open()
        .catch((err: unknown) =>
          deps.logger.warn(
            { pipeline: p.metadata.name, table: shadow.table.table, error: errorMessage(err) },
            'Shadow comparison table not ready; the primary runs, pairs are counted as failed until it is.',
          ),
        );
    },
    async close() {
      await shadow?.runner.drain();
      await shadow?.table.close().catch(() => undefined);
      await models.close();
    },
  };
}
