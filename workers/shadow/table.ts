import type { Knex } from 'knex';
import { errorMessage, PipelineError } from '../core/errors.js';
import { bigintAsText, exactKeyText } from '../core/int64.js';
import { Secret } from '../core/secret.js';
import type { Logger } from '../core/types.js';
import { createPostgresKnex } from '../sinks/postgres/client.js';
import type { PostgresConnectionConfig } from '../sinks/postgres/connection.js';
import { derivedIdent, quoteIdent } from '../sinks/shared/identifiers.js';
import { parseShadowTableName, type ShadowCompare } from './config.js';

/** One scored batch, both models' outputs for the same rows (see CONTRACTS.md, Shadow). */
export interface ShadowPairBatch {
  pipeline: string;
  champion: { name: string; version: string; sha256?: string; ms: number };
  shadow: { name: string; version: string; sha256?: string; ms: number };
  scoredAt: Date;
  /** Per row: number, bigint (int64 beyond 2^53), string, or an object for composite keys. */
  keys: unknown[];
  /** Per row: the source position (`PredictionRow.position` as decimal text). */
  positions: string[];
  /** Prediction field names, the same for both models. */
  fields: readonly string[];
  /** Field → column (Float32Array, Float64Array, number[], bigint…, string[]), one value a row. */
  championColumns: Record<string, ArrayLike<unknown>>;
  shadowColumns: Record<string, ArrayLike<unknown>>;
}

/** The comparison table's columns, in insert order (written_at is filled by its default). */
export const SHADOW_COLUMNS = [
  ['key', 'text NOT NULL'],
  ['position', 'text NOT NULL'],
  ['champion_version', 'text NOT NULL'],
  ['shadow_version', 'text NOT NULL'],
  ['champion_sha256', 'text'],
  ['shadow_sha256', 'text'],
  ['champion_score', 'double precision'],
  ['shadow_score', 'double precision'],
  ['champion_label', 'text'],
  ['shadow_label', 'text'],
  ['champion_outputs', 'jsonb'],
  ['shadow_outputs', 'jsonb'],
  ['champion_ms', 'real'],
  ['shadow_ms', 'real'],
  ['scored_at', 'timestamptz NOT NULL'],
] as const;

/** What makes a pair unique: a replayed batch (same rows, same versions) inserts nothing. */
export const SHADOW_PAIR_KEY = ['key', 'position', 'champion_version', 'shadow_version'] as const;

/** Namespace of the advisory lock that serialises the DDL of concurrent workers ("sh"). */
const DDL_LOCK_NAMESPACE = 0x7368;

export interface ShadowTableSql {
  /** `"ml"."churn__shadow"` */
  quoted: string;
  ddl: string[];
}

/** The quoted name and the `CREATE … IF NOT EXISTS` statements of a comparison table. */
export function shadowTableSql(name: string): ShadowTableSql {
  const { schema, table } = parseShadowTableName(name);
  const quoted = schema === undefined ? quoteIdent(table) : `${quoteIdent(schema)}.${quoteIdent(table)}`;
  const cols = SHADOW_COLUMNS.map(([c, type]) => `  ${quoteIdent(c)} ${type}`);
  cols.push(`  ${quoteIdent('written_at')} timestamptz NOT NULL DEFAULT now()`);
  cols.push(
    `  CONSTRAINT ${quoteIdent(derivedIdent(table, '__pair'))} UNIQUE (${SHADOW_PAIR_KEY.map(quoteIdent).join(', ')})`,
  );
  const ddl = [
    ...(schema === undefined ? [] : [`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`]),
    `CREATE TABLE IF NOT EXISTS ${quoted} (\n${cols.join(',\n')}\n)`,
    // BRIN: rows arrive in scored_at order, so a block-range index serves `--since` at a fraction
    // of a b-tree's cost per insert (the comparison write is the shadow's main cost).
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(derivedIdent(table, '__scored_at_brin'))} ON ${quoted} USING brin (${quoteIdent('scored_at')})`,
  ];
  return { quoted, ddl };
}

/** A score as a double: a float32 cell widens exactly (no text in between). */
function scoreValue(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' || typeof v === 'boolean') return Number(v);
  return null;
}

/** A label as exact text (int64 labels beyond 2^53 are bigints: their digits). */
function labelValue(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v, bigintAsText) ?? null;
}

/**
 * The comparison write commits without waiting for its WAL flush (`SET LOCAL synchronous_commit =
 * off` from inside the statement, like the sink's durable-commit join): pairs are idempotent and
 * can be computed again, and waiting for the flush cost the shadow half its overhead in the bench.
 * A Postgres crash may lose the last few hundred milliseconds of pairs, never a prediction.
 */
const ASYNC_COMMIT = "CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit";

export interface ShadowInsert {
  sql: string;
  bindings: unknown[];
}

/**
 * One multi-row `INSERT … ON CONFLICT DO NOTHING` for a batch: per-row values travel as one array
 * parameter a column (`unnest`), so the statement has the same dozen parameters whatever the batch
 * size; per-batch values (versions, sha, ms, scored_at) are scalars.
 */
export function shadowInsert(quoted: string, compare: ShadowCompare, b: ShadowPairBatch): ShadowInsert {
  const n = b.keys.length;
  const problem = batchProblem(compare, b);
  if (problem !== undefined) {
    throw new PipelineError(`shadow batch of ${b.pipeline}: ${problem}`, {
      code: 'SHADOW_BATCH_INVALID',
      stage: 'sink',
      pipeline: b.pipeline,
    });
  }
  const keys = new Array<string>(n);
  const cScore = new Array<number | null>(n);
  const sScore = new Array<number | null>(n);
  const cLabel = new Array<string | null>(n);
  const sLabel = new Array<string | null>(n);
  // Outputs beyond the compared score and label, as jsonb; NULL when every field is compared.
  const extra = b.fields.filter((f) => f !== compare.score && f !== compare.label);
  const cOut = new Array<string | null>(n).fill(null);
  const sOut = new Array<string | null>(n).fill(null);
  const cs = b.championColumns[compare.score]!;
  const ss = b.shadowColumns[compare.score]!;
  const cl = compare.label === undefined ? undefined : b.championColumns[compare.label];
  const sl = compare.label === undefined ? undefined : b.shadowColumns[compare.label];
  for (let i = 0; i < n; i++) {
    keys[i] = exactKeyText(b.keys[i]);
    cScore[i] = scoreValue(cs[i]);
    sScore[i] = scoreValue(ss[i]);
    cLabel[i] = cl === undefined ? null : labelValue(cl[i]);
    sLabel[i] = sl === undefined ? null : labelValue(sl[i]);
    if (extra.length > 0) {
      cOut[i] = outputsJson(extra, b.championColumns, i);
      sOut[i] = outputsJson(extra, b.shadowColumns, i);
    }
  }
  const q = (c: string) => quoteIdent(c);
  const sql =
    `INSERT INTO ${quoted} (${SHADOW_COLUMNS.map(([c]) => q(c)).join(', ')}) ` +
    `SELECT s.${q('key')}, s.${q('position')}, ?::text, ?::text, ?::text, ?::text, ` +
    `s.${q('champion_score')}, s.${q('shadow_score')}, s.${q('champion_label')}, s.${q('shadow_label')}, ` +
    `s.${q('champion_outputs')}, s.${q('shadow_outputs')}, ?::real, ?::real, ?::timestamptz ` +
    `FROM unnest(?::text[], ?::text[], ?::float8[], ?::float8[], ?::text[], ?::text[], ?::jsonb[], ?::jsonb[]) ` +
    `AS s(${['key', 'position', 'champion_score', 'shadow_score', 'champion_label', 'shadow_label', 'champion_outputs', 'shadow_outputs'].map(q).join(', ')}) ` +
    ASYNC_COMMIT +
    ' ' +
    `ON CONFLICT (${SHADOW_PAIR_KEY.map(q).join(', ')}) DO NOTHING`;
  const bindings = [
    b.champion.version,
    b.shadow.version,
    b.champion.sha256 ?? null,
    b.shadow.sha256 ?? null,
    b.champion.ms,
    b.shadow.ms,
    b.scoredAt.toISOString(),
    keys,
    [...b.positions],
    cScore,
    sScore,
    cLabel,
    sLabel,
    cOut,
    sOut,
  ];
  return { sql, bindings };
}

function batchProblem(compare: ShadowCompare, b: ShadowPairBatch): string | undefined {
  const n = b.keys.length;
  if (b.positions.length !== n) return `${b.positions.length} positions for ${n} keys`;
  for (const [who, cols] of [
    ['champion', b.championColumns],
    ['shadow', b.shadowColumns],
  ] as const) {
    for (const f of [compare.score, ...(compare.label === undefined ? [] : [compare.label])]) {
      if (cols[f] === undefined) {
        return `the ${who}'s outputs have no field '${f}' (compare: ${Object.keys(cols).join(', ') || 'none'})`;
      }
    }
    for (const f of b.fields) {
      const col = cols[f];
      if (col !== undefined && col.length !== n)
        return `${who} column '${f}' has ${col.length} values for ${n} keys`;
    }
  }
  return undefined;
}

/** `{field: value}` of row `i`: floats as JSON numbers (exact doubles), bigints as their digits. */
function outputsJson(fields: readonly string[], cols: Record<string, ArrayLike<unknown>>, i: number): string {
  const row: Record<string, unknown> = {};
  for (const f of fields) {
    const col = cols[f];
    if (col !== undefined) row[f] = col[i] ?? null;
  }
  return JSON.stringify(row, bigintAsText);
}

/**
 * The comparison table of a shadow: one row per (key, position, champion version, shadow version).
 * It owns a small pool of its own, so a slow comparison table never holds a sink's connections.
 * Errors are `PipelineError`s (stage 'sink'); the caller runs writes detached from the champion.
 */
export class ShadowTable {
  readonly table: string;
  private readonly quoted: string;
  private readonly ddl: string[];
  private readonly compare: ShadowCompare;
  private readonly logger: Logger;
  private readonly knex: Knex;

  constructor(opts: {
    /** A url, or a connection with its password and TLS settings (the first postgres sink's). */
    url: string | PostgresConnectionConfig;
    table: string;
    logger: Logger;
    compare: ShadowCompare;
    poolSize?: number;
  }) {
    const sql = shadowTableSql(opts.table);
    this.table = opts.table;
    this.quoted = sql.quoted;
    this.ddl = sql.ddl;
    this.compare = opts.compare;
    this.logger = opts.logger;
    this.knex = createPostgresKnex(
      {
        ...(typeof opts.url === 'string' ? { url: new Secret(opts.url) } : opts.url),
        pool_size: opts.poolSize ?? 2,
      },
      { applicationName: 'streamscore-shadow' },
    );
  }

  #opened: Promise<void> | undefined;

  /**
   * Creates the schema, table and index when missing; concurrent workers take turns. A failure is
   * not kept: the next `open` or `write` tries again (a comparison database that is down at start-up
   * must not stop the worker; its pairs are counted as failed meanwhile).
   */
  open(): Promise<void> {
    this.#opened ??= this.#create().catch((err: unknown) => {
      this.#opened = undefined;
      throw err;
    });
    return this.#opened;
  }

  async #create(): Promise<void> {
    try {
      await this.knex.transaction(async (trx) => {
        await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [DDL_LOCK_NAMESPACE, this.table]);
        for (const s of this.ddl) await trx.raw(s);
      });
    } catch (err) {
      throw this.failure('create', err);
    }
    this.logger.info({ table: this.table }, 'shadow comparison table ready');
  }

  /** Writes one batch of pairs; returns how many were new (a replayed pair is not). */
  async write(b: ShadowPairBatch): Promise<number> {
    if (b.keys.length === 0) return 0;
    await this.open();
    const st = shadowInsert(this.quoted, this.compare, b);
    try {
      const res = await this.knex.raw<{ rowCount: number | null }>(st.sql, st.bindings as Knex.RawBinding[]);
      return res.rowCount ?? 0;
    } catch (err) {
      throw this.failure('write to', err, b.pipeline);
    }
  }

  async close(): Promise<void> {
    await this.knex.destroy();
  }

  private failure(what: string, err: unknown, pipeline?: string): PipelineError {
    return new PipelineError(`shadow table ${this.table}: cannot ${what} it: ${errorMessage(err)}`, {
      code: what === 'create' ? 'SHADOW_TABLE_CREATE_FAILED' : 'SHADOW_WRITE_FAILED',
      stage: 'sink',
      retryable: true,
      ...(pipeline === undefined ? {} : { pipeline }),
      context: { table: this.table },
      cause: err,
    });
  }
}
