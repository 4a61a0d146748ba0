import type { Knex } from 'knex';
import type {
  Logger,
  PredictionBatch,
  PredictionRow,
  PredictionSchema,
  Sink,
  SinkCapabilities,
} from '../../core/types.js';
import { quoteIdent } from '../shared/identifiers.js';
import { latestPerKey, splitDeletes } from '../shared/latest.js';
import { columnArrays } from '../shared/values.js';
import { PostgresAudit, type PostgresAuditOptions } from './audit.js';
import {
  CLOCK_LOSS_MESSAGE,
  type ClockLoss,
  clockLosses,
  clockLossFields,
  clockLossStatement,
} from './clock-losses.js';
import type { PostgresSinkConfig } from './config.js';
import { copyFromStdin, copyTextChunks } from './copy.js';
import { toPipelineError } from './errors.js';
import { postgresGrants, sinkRole } from './grants.js';
import { migrateTable } from './migrations.js';
import { StatementRunner } from './prepared.js';
import {
  createStageStatement,
  deleteStatement,
  lockStatement,
  type Statement,
  stageSource,
  stageTableName,
  unnestSource,
  upsertStatement,
  valuesSource,
} from './statements.js';
import { type PostgresTablePlan, planTable, postgresDdl } from './table.js';
import { verifyTable } from './verify.js';

export interface PostgresSinkOptions {
  config: PostgresSinkConfig;
  schema: PredictionSchema;
  pipeline: string;
  /** The pool to write through (see `createPostgresKnex`). */
  knex: Knex;
  logger: Logger;
  /** Destroy the pool on `close()`: set when the pool was created for this sink alone. */
  ownsKnex?: boolean;
  /** Keep the pipeline's audit log beside this table (spec.audit). */
  audit?: PostgresAuditOptions | undefined;
  /** Told of changes the order guard discarded though the WAL orders them after the stored row (logged here too). */
  onClockLosses?: ((losses: readonly ClockLoss[]) => void) | undefined;
}

/** Postgres' limit on bind parameters in one statement. */
const MAX_PARAMS = 65535;

/** `write_mode: auto` switches from unnest to COPY at this many upserts in one write. */
export const AUTO_COPY_ROWS = 4000;

type BulkPath = 'copy' | 'unnest' | 'values';

/**
 * Order-guarded, idempotent upserts into one Postgres table (see table.ts for the delete design).
 *
 * `write(batch)`: keeps the newest row per key, then in one transaction applies the deletes and the
 * upserts (`INSERT … ON CONFLICT (key) DO UPDATE … WHERE t.source_position <
 * excluded.source_position`) through the configured bulk path. Replaying a batch changes nothing;
 * an older row never replaces a newer one. Errors are PipelineErrors classified by SQLSTATE.
 *
 * Durable: a write resolves only once its commit is flushed to the WAL (synchronous_commit `on`
 * for its transaction, whatever the server's or role's default: see DURABLE_COMMIT), since the
 * engine commits the source offsets as soon as it resolves.
 */
export class PostgresSink implements Sink {
  readonly name: string;
  readonly capabilities: SinkCapabilities = { idempotent: true, maxBatchRows: 50_000 };
  readonly plan: PostgresTablePlan;
  private readonly db: Knex;
  private readonly config: PostgresSinkConfig;
  private readonly pipeline: string;
  private readonly logger: Logger;
  private readonly ownsKnex: boolean;
  private readonly stage: string;
  private readonly audit: PostgresAudit | undefined;
  private readonly statements: StatementRunner;
  private readonly onClockLosses: PostgresSinkOptions['onClockLosses'];

  constructor(opts: PostgresSinkOptions) {
    this.config = opts.config;
    this.onClockLosses = opts.onClockLosses;
    this.pipeline = opts.pipeline;
    this.logger = opts.logger;
    this.db = opts.knex;
    this.ownsKnex = opts.ownsKnex ?? false;
    this.plan = planTable(opts.config, opts.schema, opts.pipeline);
    this.name = `postgres:${opts.config.table}`;
    this.stage = stageTableName(this.plan);
    this.statements = new StatementRunner(opts.config.prepared_statements);
    this.audit = opts.audit
      ? new PostgresAudit(opts.audit, this.plan, opts.logger, this.statements)
      : undefined;
  }

  /** The CREATE statements for the table (what `streamscore plan` prints). */
  ddl(): string {
    return postgresDdl(this.plan);
  }

  /** The GRANTs the role of the sink's url needs (what `streamscore plan` prints under the DDL). */
  grants(): string[] {
    return postgresGrants(this.plan, sinkRole(this.config.url.reveal()));
  }

  async open(): Promise<void> {
    try {
      if (this.config.create_table) {
        const { recreated } = await migrateTable(this.db, this.plan, this.pipeline);
        if (recreated.length > 0) {
          this.logger.warn(
            { sink: this.name, tables: recreated },
            `Re-created ${recreated.join(' and ')}: dropped since the sink first created it (create_table: true).`,
          );
        }
      }
      await verifyTable(this.db, this.plan, this.pipeline);
      await this.audit?.open(this.db);
    } catch (err) {
      throw toPipelineError(err, {
        table: this.config.table,
        pipeline: this.pipeline,
        action: 'opening the sink',
      });
    }
    this.logger.debug(
      { sink: this.name, write_mode: this.config.write_mode, on_delete: this.config.on_delete },
      'Postgres sink opened.',
    );
  }

  async write(batch: PredictionBatch): Promise<void> {
    const plan = this.plan;
    plan.map.check(batch);
    if (batch.rows.length === 0) return;
    const latest = latestPerKey(batch.rows, (row) => plan.map.keyIdentity(row, batch));
    const { upserts, deletes: allDeletes } = splitDeletes(latest);
    const deletes = plan.onDelete === 'ignore' ? [] : allDeletes;
    if (upserts.length === 0 && deletes.length === 0) return;
    const path = this.bulkPath(upserts.length);
    let written = 0;
    try {
      if (!plan.tombstone && deletes.length === 0 && path === 'unnest') {
        // One statement is atomic by itself: no BEGIN/COMMIT round trips.
        written = await this.runUpsert(this.db, this.unnestUpsert(batch, upserts), batch, upserts);
      } else {
        await this.db.transaction(async (trx) => {
          if (plan.tombstone) await this.run(trx, lockStatement(plan, deletes.length > 0));
          if (deletes.length > 0) await this.writeDeletes(trx, batch, deletes);
          if (upserts.length > 0) written = await this.writeUpserts(trx, batch, upserts, path);
        });
      }
    } catch (err) {
      throw toPipelineError(err, {
        table: this.config.table,
        pipeline: this.pipeline,
        action: `writing ${upserts.length} upserts and ${deletes.length} deletes`,
        position: `positions ${minMax(batch.rows)}`,
      });
    }
    // Some upserts were discarded as older (replays, mostly): were any newer by the WAL?
    if (written < upserts.length) await this.checkClockLosses(batch, upserts);
  }

  /**
   * Finds upserts the guard discarded whose LSN is above the stored row's while their commit time
   * lies before it (clock-losses.ts): logged as errors and reported. A failure to look is logged,
   * never fails the write (it is written).
   */
  private async checkClockLosses(batch: PredictionBatch, rows: readonly PredictionRow[]): Promise<void> {
    let losses: ClockLoss[];
    try {
      const res = await this.statements.run<{ rows: { i: number; stored: string }[] }>(
        this.db,
        clockLossStatement(this.plan, batch, rows),
        true,
      );
      losses = clockLosses(rows, res.rows);
    } catch (err) {
      this.logger.warn(
        {
          sink: this.name,
          table: this.config.table,
          error: err instanceof Error ? err.message : String(err),
        },
        'Could not check the discarded rows for a source clock step.',
      );
      return;
    }
    if (losses.length === 0) return;
    this.logger.error(
      { sink: this.name, table: this.config.table, ...clockLossFields(losses) },
      CLOCK_LOSS_MESSAGE,
    );
    this.onClockLosses?.(losses);
  }

  /** The bulk path for a write of `rows` upserts (`auto` picks by size). */
  bulkPath(rows: number): BulkPath {
    const mode = this.config.write_mode;
    // The audit appends the records of one upsert statement: `values` (one per chunk) writes unnest.
    if (mode === 'values' && this.audit) return 'unnest';
    if (mode !== 'auto') return mode;
    return rows >= AUTO_COPY_ROWS ? 'copy' : 'unnest';
  }

  /** The upsert of `rows` as one statement with one array parameter per column. */
  private unnestUpsert(batch: PredictionBatch, rows: PredictionRow[]): Statement {
    const cols = this.plan.columns;
    return upsertStatement(this.plan, unnestSource(cols, columnArrays(cols, batch, rows)));
  }

  /** An upsert statement of `rows`, with their audit records when the pipeline keeps an audit log. */
  private async runUpsert(
    db: Knex | Knex.Transaction,
    st: Statement,
    batch: PredictionBatch,
    rows: readonly PredictionRow[],
  ): Promise<number> {
    if (this.audit) return await this.audit.run(db, this.audit.wrap(st, batch, rows));
    return await this.run(db, st);
  }

  /** Runs a statement of a fixed shape (prepared unless `prepared_statements: false`); the rows it wrote. */
  private async run(db: Knex | Knex.Transaction, st: Statement): Promise<number> {
    const res = await this.statements.run<{ rowCount?: number | null }>(db, st, true);
    return res.rowCount ?? 0;
  }

  async close(): Promise<void> {
    this.audit?.close();
    if (this.ownsKnex) await this.db.destroy();
  }

  private async writeDeletes(
    trx: Knex.Transaction,
    batch: PredictionBatch,
    rows: PredictionRow[],
  ): Promise<void> {
    const arrays = columnArrays(this.plan.deleteColumns, batch, rows);
    const deletedAt = rows.map((r) => new Date(r.sourceTsMs).toISOString());
    await this.run(trx, deleteStatement(this.plan, arrays, deletedAt));
  }

  private async writeUpserts(
    trx: Knex.Transaction,
    batch: PredictionBatch,
    rows: PredictionRow[],
    path: BulkPath,
  ): Promise<number> {
    if (path === 'unnest') return await this.runUpsert(trx, this.unnestUpsert(batch, rows), batch, rows);
    const cols = this.plan.columns;
    const arrays = columnArrays(cols, batch, rows);
    switch (path) {
      case 'values': {
        const step = Math.max(
          1,
          Math.min(this.config.max_rows_per_statement, Math.floor(MAX_PARAMS / cols.length)),
        );
        let written = 0;
        for (let from = 0; from < rows.length; from += step) {
          const to = Math.min(rows.length, from + step);
          // One text per row count: not prepared.
          const res = await this.statements.run<{ rowCount?: number | null }>(
            trx,
            upsertStatement(this.plan, valuesSource(cols, arrays, from, to)),
            false,
          );
          written += res.rowCount ?? 0;
        }
        return written;
      }
      case 'copy': {
        // The session's staging table is (re)declared in every transaction: it costs nothing
        // measurable and stays correct behind a transaction-pooling proxy, where the next
        // transaction may run in another server session.
        await trx.raw(createStageStatement(this.plan, this.stage));
        const conn = await trx.client.acquireConnection();
        const names = cols.map((c) => quoteIdent(c.name)).join(', ');
        const chunks = copyTextChunks(
          cols.map((c) => c.type),
          arrays,
          rows.length,
        );
        await copyFromStdin(conn, `COPY pg_temp.${quoteIdent(this.stage)} (${names}) FROM STDIN`, chunks);
        return await this.runUpsert(
          trx,
          upsertStatement(this.plan, stageSource(this.stage, cols)),
          batch,
          rows,
        );
      }
    }
  }
}

function minMax(rows: readonly PredictionRow[]): string {
  let min = rows[0]!.position;
  let max = min;
  for (const r of rows) {
    if (r.position < min) min = r.position;
    if (r.position > max) max = r.position;
  }
  return `${min}..${max}`;
}
