import { PipelineError } from '../../core/errors.js';
import { bigintAsText } from '../../core/int64.js';
import type { FieldType, PredictionBatch, PredictionRow, PredictionSchema } from '../../core/types.js';
import { METADATA_REFS } from '../columns.js';

/** Logical type of a sink column: a prediction field type, or the type of a metadata value. */
export type ColumnType = FieldType | 'position' | 'timestamp';

/** Reads one column's value from a row of a batch. */
export type ColumnReader = (row: PredictionRow, batch: PredictionBatch) => unknown;

export interface ResolvedColumn {
  /** Column name in the target (unquoted). */
  readonly name: string;
  /** The mapping reference it was resolved from, e.g. `churn_probability`, `key.tenant`, `scored_at`. */
  readonly ref: string;
  readonly type: ColumnType;
  /** Part of the conflict target (the sink's `key`). */
  readonly isKey: boolean;
  /** Filled from the entity key or batch metadata, so it has a value for deletes too. */
  readonly knownOnDelete: boolean;
  /** One of the always-written metadata columns (model_name, model_version, source_position, scored_at). */
  readonly metadata: boolean;
  /** Precomputed accessor; for prediction fields the index into `row.values` is fixed at resolve time. */
  readonly read: ColumnReader;
}

/** The metadata columns every table sink writes, and the reference each is filled from. */
export const METADATA_COLUMNS = {
  model_name: 'model.name',
  model_version: 'model.version',
  source_position: 'source.position',
  scored_at: 'scored_at',
} as const;
export type MetadataColumn = keyof typeof METADATA_COLUMNS;

export interface ColumnMapOptions {
  /** Sink name for error messages, e.g. `postgres ml.customer_churn_scores`. */
  sink: string;
  pipeline?: string;
  /** Column name → reference (the sink's `columns`). */
  columns: Readonly<Record<string, string>>;
  /** Conflict-target columns (the sink's `key`); each must be listed in `columns` and filled from the key. */
  key: readonly string[];
  schema: PredictionSchema;
  /** Names of the metadata columns, when a warehouse wants other spellings (default: lower case as above). */
  metadataNames?: Partial<Record<MetadataColumn, string>>;
  /** Column names the sink keeps for itself (e.g. `deleted_at`); mapping them is an error. */
  reserved?: readonly string[];
}

/**
 * The column mapping of one sink, resolved once: every column knows its type and how to read its
 * value from a row, so the write path is a loop over arrays.
 */
export interface ColumnMap {
  /** Mapped columns in configuration order, then the metadata columns that were not mapped explicitly. */
  readonly columns: readonly ResolvedColumn[];
  /** Conflict-target columns in the order of the sink's `key`. */
  readonly keyColumns: readonly ResolvedColumn[];
  readonly schema: PredictionSchema;
  /** Throws a terminal PipelineError when the batch's fields are not the ones the map was built for. */
  check(batch: PredictionBatch): void;
  /** A value identifying the row's conflict-target key (a primitive; composite keys as JSON text). */
  keyIdentity(row: PredictionRow, batch: PredictionBatch): unknown;
}

const FIELD_TYPE_OF_META: Record<(typeof METADATA_REFS)[number], ColumnType> = {
  'model.name': 'string',
  'model.version': 'string',
  'model.sha256': 'string',
  'source.position': 'position',
  scored_at: 'timestamp',
  op: 'string',
};

const META_READERS: Record<(typeof METADATA_REFS)[number], ColumnReader> = {
  'model.name': (row, batch) => (row.model ?? batch.model).name,
  'model.version': (row, batch) => (row.model ?? batch.model).version,
  'model.sha256': (row, batch) => (row.model ?? batch.model).sha256 ?? null,
  'source.position': (row) => row.position,
  scored_at: (row) => row.scoredAt,
  op: (row) => row.op,
};

function configError(opts: ColumnMapOptions, message: string): PipelineError {
  return new PipelineError(`${opts.sink}: ${message}`, {
    code: 'SINK_CONFIG_INVALID',
    stage: 'sink',
    retryable: false,
    ...(opts.pipeline === undefined ? {} : { pipeline: opts.pipeline }),
  });
}

function isMetaRef(ref: string): ref is (typeof METADATA_REFS)[number] {
  return (METADATA_REFS as readonly string[]).includes(ref);
}

interface Resolved {
  type: ColumnType;
  read: ColumnReader;
  fromKey: boolean;
}

function resolveRef(opts: ColumnMapOptions, column: string, ref: string): Resolved {
  const { schema } = opts;
  if (isMetaRef(ref)) return { type: FIELD_TYPE_OF_META[ref], read: META_READERS[ref], fromKey: true };
  if (ref === 'key') {
    if (typeof schema.key !== 'string') {
      const parts = Object.keys(schema.key.parts);
      throw configError(
        opts,
        `column ${column}: expected a scalar entity key for 'key', got a composite key (${parts.join(', ')}); map each part as key.<part>, e.g. key.${parts[0] ?? 'id'}`,
      );
    }
    return { type: schema.key, read: (row) => row.key, fromKey: true };
  }
  if (ref.startsWith('key.')) {
    const part = ref.slice(4);
    if (typeof schema.key === 'string') {
      throw configError(
        opts,
        `column ${column}: expected 'key' for the scalar entity key, got '${ref}' (the key has no parts)`,
      );
    }
    const type = schema.key.parts[part];
    if (type === undefined) {
      throw configError(
        opts,
        `column ${column}: expected one of the key parts (${Object.keys(schema.key.parts).join(', ')}), got '${part}'`,
      );
    }
    return {
      type,
      read: (row) =>
        row.key === null || typeof row.key !== 'object'
          ? undefined
          : (row.key as Record<string, unknown>)[part],
      fromKey: true,
    };
  }
  const index = schema.fields.findIndex((f) => f.name === ref);
  const field = schema.fields[index];
  if (field === undefined) {
    const known = [...schema.fields.map((f) => f.name), 'key', ...METADATA_REFS];
    throw configError(opts, `column ${column}: expected one of ${known.join(', ')}, got '${ref}'`);
  }
  return { type: field.type, read: (row) => row.values[index], fromKey: false };
}

/** Resolves a sink's `columns` against the prediction schema; throws SINK_CONFIG_INVALID on a bad mapping. */
export function resolveColumnMap(opts: ColumnMapOptions): ColumnMap {
  const metaName = (m: MetadataColumn) => opts.metadataNames?.[m] ?? m;
  const metaByName = new Map<string, MetadataColumn>(
    (Object.keys(METADATA_COLUMNS) as MetadataColumn[]).map((m) => [metaName(m), m]),
  );
  const reserved = new Set(opts.reserved ?? []);
  const keySet = new Set(opts.key);
  const columns: ResolvedColumn[] = [];
  const seenMeta = new Set<MetadataColumn>();

  for (const [name, ref] of Object.entries(opts.columns)) {
    if (reserved.has(name)) {
      throw configError(
        opts,
        `column ${name}: expected a column name the sink does not manage itself, got '${name}'`,
      );
    }
    const meta = metaByName.get(name);
    if (meta !== undefined) {
      if (ref !== METADATA_COLUMNS[meta]) {
        throw configError(
          opts,
          `column ${name}: it is a metadata column, always filled from '${METADATA_COLUMNS[meta]}'; expected that reference or another column name, got '${ref}'`,
        );
      }
      seenMeta.add(meta);
    }
    const r = resolveRef(opts, name, ref);
    columns.push({
      name,
      ref,
      type: r.type,
      isKey: keySet.has(name),
      knownOnDelete: r.fromKey,
      metadata: meta !== undefined,
      read: r.read,
    });
  }
  for (const meta of Object.keys(METADATA_COLUMNS) as MetadataColumn[]) {
    if (seenMeta.has(meta)) continue;
    const ref = METADATA_COLUMNS[meta];
    columns.push({
      name: metaName(meta),
      ref,
      type: FIELD_TYPE_OF_META[ref],
      isKey: false,
      knownOnDelete: true,
      metadata: true,
      read: META_READERS[ref],
    });
  }

  const keyColumns = opts.key.map((k) => {
    const col = columns.find((c) => c.name === k);
    if (col === undefined) {
      throw configError(
        opts,
        `key column ${k}: expected a column listed in columns (${Object.keys(opts.columns).join(', ')}), got '${k}'`,
      );
    }
    if (col.metadata || !(col.ref === 'key' || col.ref.startsWith('key.'))) {
      throw configError(
        opts,
        `key column ${k}: expected it to be filled from the entity key ('key' or 'key.<part>') so deletes can find the row, got '${col.ref}'`,
      );
    }
    return col;
  });
  if (keyColumns.length === 0) throw configError(opts, 'expected at least one key column, got none');

  const checked = new WeakSet<readonly string[]>();
  const expected = opts.schema.fields.map((f) => f.name);
  const check = (batch: PredictionBatch) => {
    if (checked.has(batch.fields)) return;
    const same = batch.fields.length === expected.length && batch.fields.every((f, i) => f === expected[i]);
    if (!same) {
      throw new PipelineError(
        `${opts.sink}: expected batch fields [${expected.join(', ')}], got [${batch.fields.join(', ')}]`,
        { code: 'SINK_FIELDS_MISMATCH', stage: 'sink', retryable: false, pipeline: batch.pipeline },
      );
    }
    checked.add(batch.fields);
  };

  const single = keyColumns.length === 1 ? keyColumns[0] : undefined;
  const keyIdentity: ColumnMap['keyIdentity'] = single
    ? (row, batch) => single.read(row, batch)
    : (row, batch) =>
        JSON.stringify(
          keyColumns.map((c) => c.read(row, batch)),
          bigintAsText,
        );

  return { columns, keyColumns, schema: opts.schema, check, keyIdentity };
}
