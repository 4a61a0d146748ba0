/**
 * Shared contracts between stages. Hot-path data is kept in arrays, one batch at a time:
 * no per-record promises anywhere between the source and the sinks.
 */

/** Debezium op, or 'r' for snapshot reads and backfill rows. Plain records are 'c'. */
export type Op = 'c' | 'u' | 'd' | 'r';

/** Where a record came from: enough to commit it, dead-letter it, and name it in an error. */
export interface Origin {
  topic: string;
  partition: number;
  offset: string;
  /** Original message, for the dead-letter topic. */
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, string>;
}

/**
 * A decoded change. `root` is what feature expressions see: for Debezium
 * `{ before, after, source, op, ts_ms, key }`; for plain records the record's fields plus `key`.
 * Connect logical types are already converted: decimals → number, dates/timestamps → epoch ms,
 * Time → ms of day, Uuid → string, Json → parsed value.
 */
export interface ChangeRecord {
  op: Op;
  root: Record<string, unknown>;
  /**
   * Ordering position (see `position.ts`): commit time in µs × 10^20 + LSN (or offset). A sink
   * overwrites a row only when the incoming position is greater.
   */
  position: bigint;
  /** Commit time of the change in the source database, epoch ms (latency metrics). */
  sourceTsMs: number;
  origin: Origin | undefined;
  /**
   * Columns of `after` Debezium could not provide (unchanged TOASTed values), still holding the
   * UNAVAILABLE marker, under `unavailable_value: lookup`: filled in from the source table before
   * the features are computed.
   */
  unavailable?: string[];
  /** The API request that submitted it (`streamscore serve`); absent for Kafka and backfill records. */
  request?: string | undefined;
}

/** The model version that produced a prediction; `sha256` is the ONNX file's, as verified at load. */
export interface ModelInfo {
  name: string;
  version: string;
  sha256?: string;
  /** The alias it was followed through, if any. */
  alias?: string;
}

/** One prediction, ready for the sinks; `values` follow the sink-independent field order of the batch. */
export interface PredictionBatch {
  pipeline: string;
  /** The model that scored the batch's rows, unless a row names its own (`PredictionRow.model`). */
  model: ModelInfo;
  /** The shadow that also scored them (audit records name it). */
  shadow?: ModelInfo | undefined;
  /** Field names: model outputs, then `feature.<name>` for each feature. */
  fields: readonly string[];
  rows: PredictionRow[];
}

export interface PredictionRow {
  key: unknown;
  op: Op;
  /** Aligned with `PredictionBatch.fields`; empty for deletes. */
  values: unknown[];
  position: bigint;
  scoredAt: Date;
  sourceTsMs: number;
  /** Set only when this row was scored by another model than the batch's (a canary's share). */
  model?: ModelInfo;
  /** Where the change came from (absent for backfill rows). */
  origin?: { topic: string; partition: number; offset: string } | undefined;
  /** The API request that submitted it (`streamscore serve` with `write: true`). */
  request?: string | undefined;
  /**
   * The decision id the API answered with (`streamscore serve`, `openScorer`), so a stored decision
   * can be found by it; an audit record should take it as its decision_id (a new one otherwise).
   */
  decision?: string | undefined;
}

/** What every sink declares so generic code never branches on the sink's type. */
export interface SinkCapabilities {
  /** Replaying the same rows leaves the same state. */
  idempotent: boolean;
  /** Largest batch it wants in one write. */
  maxBatchRows: number;
  /**
   * The sink gathers concurrent writes into larger ones itself (group commit); the runtime then
   * passes writes straight through instead of merging them (see runtime/coalescing-sink.ts).
   */
  mergesWrites?: boolean;
}

/**
 * A sink. Contract: `open` is retried with back-off by the engine until it succeeds or throws a
 * terminal PipelineError; `write` resolves only when every row is durably written (the engine
 * commits offsets after that) and rejects with a PipelineError whose `retryable` says whether
 * to retry; `close` releases connections.
 */
export interface Sink {
  readonly name: string;
  readonly capabilities: SinkCapabilities;
  open(): Promise<void>;
  write(batch: PredictionBatch): Promise<void>;
  close(): Promise<void>;
}

/** Value types of prediction fields, for DDL and Avro schemas. */
export type FieldType = 'float' | 'int' | 'string' | 'bool';

export interface PredictionSchema {
  /** Type of the entity key (the `features.key` expression); composite keys are objects keyed by part. */
  key: FieldType | { parts: Record<string, FieldType> };
  /** Same order as `PredictionBatch.fields`. */
  fields: readonly { name: string; type: FieldType }[];
}

/** A message as fetched from Kafka. */
export interface RawMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Readonly<Record<string, string>>;
  /** Broker/producer timestamp, epoch ms as a string (kafkajs). */
  timestamp: string;
}

export interface DecodeFailure {
  message: RawMessage;
  error: import('./errors.js').PipelineError;
}

export interface DecodedBatch {
  records: ChangeRecord[];
  failures: DecodeFailure[];
  /** Tombstones and other messages that carry nothing to score; still committed. */
  skipped: number;
}

/**
 * Turns a fetch's messages into change records. Failures are returned, not thrown, so the rest of
 * the batch continues (the engine dead-letters them). Async only at batch level (schema look-ups).
 */
export interface Decoder {
  decodeBatch(messages: readonly RawMessage[]): Promise<DecodedBatch>;
}

/** Minimal structured logger (pino-compatible). */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
