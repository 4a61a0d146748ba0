import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { PipelineError } from '../core/errors.js';
import { silentLogger } from '../core/silent-logger.js';
import type { DecodedBatch, Decoder, ModelInfo, PredictionRow, RawMessage, Sink } from '../core/types.js';
import { createDecoder } from '../decode/create.js';
import type { SchemaRegistryLike } from '../decode/registry.js';
import { ModelBatcher, ModelRegistry, type OnnxModel } from '../inference/index.js';
import { createMetrics, noopMeter } from '../observability/metrics.js';
import { loadModelVersion } from '../rollout/load.js';
import { pipelineMapper } from '../runtime/assemble.js';
import { BatchProcessor, fixedModel } from '../runtime/batch-processor.js';
import type { CheckedSpec } from '../spec/checks.js';
import { only } from '../spec/one-of.js';
import type { Pipeline } from '../spec/pipeline-schema.js';

/** What one Kafka message became on the stream's path. */
export type Outcome =
  | { kind: 'scored'; key: unknown; features: Record<string, number>; outputs: Record<string, unknown> }
  | { kind: 'dead_letter'; code: string; reason: string }
  | { kind: 'deleted'; key: unknown }
  | { kind: 'skipped' };

/**
 * A pipeline run offline: the stream's decoder (JSON, or Avro with the fixtures' writer schemas),
 * feature mapper, model session and BatchProcessor (`processDecoded`, the path streaming and
 * backfill share), with sinks and the dead-letter topic replaced by memory. Nothing touches Kafka
 * or a database. Shadow and canary versions are not run: the pinned version scores everything.
 */
export class OfflinePipeline {
  readonly featureNames: readonly string[];
  readonly outputFields: readonly string[];
  readonly #processor: BatchProcessor;
  readonly #rows: PredictionRow[] = [];
  readonly #letters: { message: RawMessage; error: PipelineError }[] = [];
  readonly #jsonDecoder: Decoder;
  readonly #spec: Pipeline;

  private constructor(
    readonly pipeline: Pipeline,
    readonly model: OnnxModel,
    readonly modelInfo: ModelInfo,
    private readonly batcher: ModelBatcher,
    /** Parsed `features.input_schema`, when the pipeline has one. */
    readonly rowSchema: unknown,
    checked: CheckedSpec,
  ) {
    this.#spec = pipeline;
    const mapper = pipelineMapper(pipeline, checked);
    this.featureNames = mapper.names;
    this.outputFields = batcher.outputFields;
    this.#jsonDecoder = this.#decoder('json', undefined);
    const rows = this.#rows;
    const capture: Sink = {
      name: 'test',
      capabilities: { idempotent: true, maxBatchRows: Number.MAX_SAFE_INTEGER, mergesWrites: true },
      open: async () => undefined,
      close: async () => undefined,
      write: async (b) => {
        rows.push(...b.rows);
      },
    };
    const letters = this.#letters;
    this.#processor = new BatchProcessor({
      pipeline: pipeline.metadata.name,
      decoder: this.#jsonDecoder,
      mapper,
      models: fixedModel(modelInfo, batcher),
      sinks: [capture],
      deadLetters: { write: async (f) => void letters.push(...f) },
      retry: { maxRetries: 0, initialBackoffMs: 1 },
      metrics: createMetrics(noopMeter(), pipeline.metadata.name, silentLogger),
    });
  }

  /** Loads the pipeline's model at `version` (checked against its features and outputs, sha256-pinned). */
  static async open(args: {
    file: string;
    pipeline: Pipeline;
    checked: CheckedSpec;
    version: string;
    registry?: ModelRegistry;
  }): Promise<OfflinePipeline> {
    const { file, pipeline: p, checked } = args;
    const registry = args.registry ?? new ModelRegistry();
    const loaded = await loadModelVersion({ file, pipeline: p, checked, version: args.version, registry });
    const batcher = new ModelBatcher(loaded.model, { maxSize: p.spec.model.batch.max_size, maxWaitMs: 0 });
    const s = p.spec.features.input_schema;
    const rowSchema =
      s === undefined ? undefined : JSON.parse(readFileSync(resolve(dirname(resolve(file)), s), 'utf8'));
    return new OfflinePipeline(p, loaded.model, loaded.info, batcher, rowSchema, checked);
  }

  get decoderType(): 'debezium' | 'json' | 'avro' {
    return only(this.#spec.spec.decode)[0] as 'debezium' | 'json' | 'avro';
  }

  #decoder(encoding: 'json' | 'avro', registry: SchemaRegistryLike | undefined): Decoder {
    const [type, cfg] = only(this.#spec.spec.decode);
    if (type === 'debezium') {
      return createDecoder(
        { debezium: { ...(cfg as object), encoding } },
        { registry, rowSchema: this.rowSchema },
      );
    }
    if (encoding === 'avro' || type === 'avro') {
      if (registry === undefined) throw new Error('an Avro decoder needs the fixtures’ schemas');
      return createDecoder(type === 'avro' ? { avro: cfg } : { debezium: { encoding: 'avro' } }, {
        registry,
      });
    }
    return createDecoder({ json: cfg }, { rowSchema: this.rowSchema });
  }

  /**
   * Runs `messages` (offsets must be their indexes as text) through one batch and returns what
   * each became. `avroSchemas`: writer schemas of Avro messages, by id.
   */
  async run(
    messages: readonly { message: RawMessage; encoding: 'json' | 'avro' }[],
    avroRegistry?: SchemaRegistryLike,
  ): Promise<Outcome[]> {
    const json = messages.filter((m) => m.encoding === 'json').map((m) => m.message);
    const avro = messages.filter((m) => m.encoding === 'avro').map((m) => m.message);
    const parts: DecodedBatch[] = [];
    if (json.length > 0) parts.push(await this.#jsonDecoder.decodeBatch(json));
    if (avro.length > 0) parts.push(await this.#decoder('avro', avroRegistry).decodeBatch(avro));
    const decoded: DecodedBatch = {
      records: parts.flatMap((p) => p.records),
      failures: parts.flatMap((p) => p.failures),
      skipped: parts.reduce((n, p) => n + p.skipped, 0),
    };
    // Records in message order: the mapper keeps their order, and deletes come back in it.
    decoded.records.sort((a, b) => Number(a.origin!.offset) - Number(b.origin!.offset));
    this.#rows.length = 0;
    this.#letters.length = 0;
    await this.#processor.processDecoded(decoded, messages.length);
    const out: Outcome[] = messages.map(() => ({ kind: 'skipped' }));
    const noDlq = this.#spec.spec.errors.dead_letter_topic === undefined;
    for (const l of this.#letters) {
      const reason = noDlq
        ? `${l.error.message} (the pipeline has no dead_letter_topic: the worker would stop here)`
        : l.error.message;
      out[Number(l.message.offset)] = { kind: 'dead_letter', code: l.error.code, reason };
    }
    const lettered = new Set(this.#letters.map((l) => Number(l.message.offset)));
    const deletes = decoded.records.filter((r) => r.op === 'd' && !lettered.has(Number(r.origin!.offset)));
    const nOut = this.outputFields.length;
    let d = 0;
    for (const row of this.#rows) {
      if (row.op === 'd' && row.values.length === 0) {
        const rec = deletes[d++];
        if (rec === undefined) throw new Error('internal: more delete rows than deletes');
        out[Number(rec.origin!.offset)] = { kind: 'deleted', key: row.key };
        continue;
      }
      const outputs: Record<string, unknown> = {};
      for (let o = 0; o < nOut; o++) outputs[this.outputFields[o]!] = row.values[o];
      const features: Record<string, number> = {};
      this.featureNames.forEach((n, f) => {
        features[n] = row.values[nOut + f] as number;
      });
      out[Number(row.origin!.offset)] = { kind: 'scored', key: row.key, features, outputs };
    }
    return out;
  }

  async close(): Promise<void> {
    await this.batcher.close();
    await this.model.close();
  }
}
