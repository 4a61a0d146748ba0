import pg from 'pg';
import { PipelineError } from '../../core/errors.js';
import { bigintAsText } from '../../core/int64.js';
import { makePosition } from '../../core/position.js';
import type { ChangeRecord, Origin } from '../../core/types.js';
import { postgresClientOptions } from '../../sinks/postgres/connection.js';
import { parseTableName, quoteQualified } from '../../sinks/shared/identifiers.js';
import {
  type BackfillFilter,
  type ChunkPlan,
  type KeyRange,
  type KeyTuple,
  type ReadOptions,
  rangesFromBoundaries,
  type TableReader,
  type TableSlice,
} from '../reader.js';
import type { PostgresTableSourceConfig } from './config.js';
import { readerError } from './errors.js';
import {
  boundariesStatement,
  COLUMNS_SQL,
  chunkStatement,
  IDENTITY_SQL,
  keyText,
  lookupStatement,
  SNAPSHOT_SQL,
  type Statement,
  type TableShape,
  tailCountStatement,
} from './sql.js';
import { debeziumTypes, SESSION_OPTIONS } from './values.js';

type Row = Record<string, unknown>;

export interface PostgresTableReaderOptions {
  pipeline?: string;
  /** Connections in the pool: the worker's chunk concurrency (+ one for planning). */
  poolSize?: number;
}

const CURSOR = 'streamscore_backfill_chunk';

/**
 * Where a backfilled row came from, for dead letters: topic = the table, offset = the key. The
 * row's bytes are only built when a record is actually dead-lettered.
 */
class RowOrigin implements Origin {
  readonly partition = -1;
  constructor(
    readonly topic: string,
    readonly offset: string,
    private readonly keyValue: Row,
    private readonly row: Row,
  ) {}
  get key(): Buffer {
    return Buffer.from(JSON.stringify(this.keyValue, bigintAsText));
  }
  get value(): Buffer {
    return Buffer.from(JSON.stringify(this.row, bigintAsText));
  }
}

/**
 * Postgres implementation of TableReader (see `reader.ts` for the contract). Each chunk is read
 * inside a REPEATABLE READ READ ONLY transaction through a cursor, `fetchRows` rows at a time; the
 * transaction's start time `now()` (taken before its snapshot), less VISIBILITY_MARGIN_US, is the
 * position of every row.
 */
export class PostgresTableReader implements TableReader {
  readonly table: string;
  private readonly pool: pg.Pool;
  private shape: Promise<TableShape> | undefined;

  constructor(
    private readonly config: PostgresTableSourceConfig,
    private readonly options: PostgresTableReaderOptions = {},
  ) {
    this.table = config.table;
    this.pool = new pg.Pool({
      ...postgresClientOptions(config, 'backfill'),
      application_name: 'streamscore-backfill',
      options: SESSION_OPTIONS,
      types: debeziumTypes,
      max: options.poolSize ?? 3,
    });
    // An idle client's connection error must not crash the process; the next query reports it.
    this.pool.on('error', () => undefined);
  }

  async planChunks(filter: BackfillFilter, chunkSize: number): Promise<ChunkPlan> {
    const shape = await this.tableShape();
    this.checkFilter(shape, filter);
    return this.inTransaction('plan chunks', async (c) => {
      const b = boundariesStatement(shape, filter, chunkSize);
      const res = await c.query<string[]>({ text: b.sql, values: b.params, rowMode: 'array' });
      const boundaries: KeyTuple[] = res.rows;
      const tail = tailCountStatement(shape, filter, boundaries.at(-1) ?? null);
      const n = await c.query<{ n: number }>(tail.sql, tail.params);
      return {
        ranges: rangesFromBoundaries(boundaries),
        rows: boundaries.length * chunkSize + Number(n.rows[0]!.n),
      };
    });
  }

  async *readChunk(
    range: KeyRange,
    filter: BackfillFilter,
    options: ReadOptions,
  ): AsyncGenerator<TableSlice> {
    const shape = await this.tableShape();
    this.checkFilter(shape, filter);
    const stmt = chunkStatement(shape, filter, range);
    const client = await this.connect('connect');
    let broken: Error | undefined;
    let done = false;
    try {
      const snap = await this.step('open a snapshot', async () => {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const r = await client.query<{ us: string; db: string }>(SNAPSHOT_SQL);
        await client.query(`DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${stmt.sql}`, stmt.params);
        return r.rows[0]!;
      });
      const build = this.recordBuilder(shape, BigInt(snap.us), snap.db);
      for (;;) {
        options.signal?.throwIfAborted();
        const res = await this.step('read a chunk', () =>
          client.query<Row>(`FETCH ${options.fetchRows} FROM ${CURSOR}`),
        );
        if (res.rows.length > 0) yield { records: res.rows.map(build), snapshotUs: BigInt(snap.us) };
        if (res.rows.length < options.fetchRows) break;
      }
      await this.step('end the snapshot', () => client.query('COMMIT'));
      done = true;
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      // Left early (generator return) or failed: end the transaction before reuse.
      if (!done && !broken) await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      client.release(broken);
    }
  }

  /**
   * The current values of `columns` for the rows with these keys, in one statement (the key tuples
   * travel as typed arrays, so the primary-key index serves it), converted exactly like backfilled
   * rows. Keys are the key columns' values in `config.key` order; the result is keyed by
   * `keyText` of them. Rows that no longer exist are absent.
   */
  async lookupColumns(
    keys: readonly (readonly unknown[])[],
    columns: readonly string[],
  ): Promise<Map<string, Row>> {
    const shape = await this.tableShape();
    const stmt = lookupStatement(shape, columns, keys);
    const rows = await this.query<Row>('look up unchanged columns', stmt);
    const out = new Map<string, Row>();
    for (const row of rows) out.set(keyText(shape.keys.map((k) => row[k.name])), row);
    return out;
  }

  /** Replica identity (`d` default, `f` full, `i` index, `n` nothing) and each column's storage. */
  async identity(): Promise<{ replicaIdentity: string; toastable: Set<string>; toastBytes: number }> {
    const rows = await this.query<{
      relreplident: string;
      name: string;
      storage: string;
      toast_bytes: string;
    }>('read the table’s replica identity', { sql: IDENTITY_SQL, params: [quoteQualified(this.table)] });
    return {
      replicaIdentity: rows[0]?.relreplident ?? 'd',
      toastable: new Set(rows.filter((r) => r.storage === 'x' || r.storage === 'e').map((r) => r.name)),
      toastBytes: Number(rows[0]?.toast_bytes ?? 0),
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private recordBuilder(shape: TableShape, snapshotUs: bigint, db: string): (row: Row) => ChangeRecord {
    const tsMs = Number(snapshotUs / 1000n);
    const name = parseTableName(this.table);
    const source = {
      connector: 'streamscore',
      name: 'backfill',
      ts_ms: tsMs,
      ts_us: Number(snapshotUs),
      snapshot: 'backfill',
      db,
      schema: name.schema ?? 'public',
      table: name.table,
    };
    const position = makePosition(snapshotUs, 0);
    const keys = shape.keys.map((k) => k.name);
    const table = this.table;
    return (row) => {
      const key: Row = {};
      for (const k of keys) key[k] = row[k];
      return {
        op: 'r',
        root: { before: null, after: row, source, op: 'r', ts_ms: tsMs, key },
        position,
        sourceTsMs: tsMs,
        origin: new RowOrigin(
          table,
          keys.length === 1 ? String(key[keys[0]!]) : JSON.stringify(key, bigintAsText),
          key,
          row,
        ),
      };
    };
  }

  /** Key and updated_at columns with their types, checked against the table once. */
  private tableShape(): Promise<TableShape> {
    this.shape ??= this.loadShape().catch((err) => {
      this.shape = undefined;
      throw err;
    });
    return this.shape;
  }

  private async loadShape(): Promise<TableShape> {
    const cols = await this.query<{ name: string; type: string }>('read the table’s columns', {
      sql: COLUMNS_SQL,
      params: [quoteQualified(this.table)],
    });
    const types = new Map(cols.map((c) => [c.name, c.type]));
    const missing = [...this.config.key, ...(this.config.updated_at ? [this.config.updated_at] : [])].filter(
      (c) => !types.has(c),
    );
    if (missing.length > 0) {
      throw this.fail(
        'BACKFILL_SCHEMA',
        `column(s) ${missing.join(', ')} not found in ${this.table} (it has ${[...types.keys()].join(', ')})`,
      );
    }
    return {
      table: this.table,
      keys: this.config.key.map((name) => ({ name, type: types.get(name)! })),
      updatedAt: this.config.updated_at,
    };
  }

  private checkFilter(shape: TableShape, filter: BackfillFilter): void {
    if (filter.since !== null && shape.updatedAt === undefined) {
      throw this.fail(
        'BACKFILL_NO_UPDATED_AT',
        `a since-window needs backfill.source.postgres.updated_at (the column of last change of ${this.table})`,
      );
    }
  }

  private fail(code: string, message: string): PipelineError {
    return new PipelineError(`postgres ${this.table}: ${message}`, {
      code,
      stage: 'backfill',
      retryable: false,
      ...(this.options.pipeline === undefined ? {} : { pipeline: this.options.pipeline }),
      context: { table: this.table },
    });
  }

  private async connect(action: string): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw readerError(err, { table: this.table, action, pipeline: this.options.pipeline });
    }
  }

  private async step<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw readerError(err, { table: this.table, action, pipeline: this.options.pipeline });
    }
  }

  private async query<T extends pg.QueryResultRow>(action: string, stmt: Statement): Promise<T[]> {
    const client = await this.connect(action);
    try {
      return (await this.step(action, () => client.query<T>(stmt.sql, stmt.params))).rows;
    } finally {
      client.release();
    }
  }

  private async inTransaction<T>(action: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect(action);
    let broken: Error | undefined;
    try {
      return await this.step(action, async () => {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const out = await fn(client);
        await client.query('COMMIT');
        return out;
      });
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.release(broken);
    }
  }
}
