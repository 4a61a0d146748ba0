import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipelineError } from '../../core/errors.js';
import type { Logger, PredictionBatch, PredictionSchema, Sink, SinkCapabilities } from '../../core/types.js';
import { type FlushInfo, GroupCommit, GroupCommitClosedError } from '../shared/group-commit.js';
import { positionRange } from '../shared/position-range.js';
import type { SnowflakeConnector, SnowflakeSession } from './client.js';
import type { SnowflakeSinkConfig } from './config.js';
import { csvText, newestPerIdentity, type StagedRow, stageRows } from './encode.js';
import { toSnowflakePipelineError } from './errors.js';
import {
  applyStatements,
  copyStatement,
  createStageStatement,
  insertStageStatement,
  putStatement,
  truncateStageStatement,
} from './statements.js';
import { createTableStatements, planTable, type SnowflakeTablePlan, snowflakeDdl } from './table.js';
import { verifyTable } from './verify.js';

export interface SnowflakeSinkOptions {
  config: SnowflakeSinkConfig;
  schema: PredictionSchema;
  pipeline: string;
  /** Logs in (see `snowflakeConnector`); called at open and again after a lost session. */
  connect: SnowflakeConnector;
  logger: Logger;
}

/**
 * Batched, order-guarded writes into one Snowflake table (see table.ts for modes and deletes,
 * statements.ts for the SQL).
 *
 * Batching. `write(batch)` encodes the batch's rows and adds them to a group-commit buffer shared by
 * every caller (every partition, every pipeline batch): the buffer is flushed as one statement batch
 * when it reaches `batch.max_rows` rows or `batch.max_bytes` bytes, or `batch.max_interval_ms` after
 * its first row arrived. `write` resolves only when the flush holding its rows has succeeded, so the
 * engine never commits an offset past rows that are not in Snowflake, and rejects with the flush's
 * classified PipelineError otherwise (the engine retries; the replayed rows are no-ops when already
 * written). Flushes run one at a time on the sink's one session.
 *
 * A flush keeps the newest row per identity, then: TRUNCATE the session's temporary staging table →
 * load it (`load`: array binds, multi-row VALUES, or PUT + COPY INTO) → MERGE into the tombstone table
 * (on_delete: delete) → MERGE into the target. Every statement carries
 * QUERY_TAG `{"app":"streamscore","pipeline":…,"sink":…,"batch":…}`.
 */
export class SnowflakeSink implements Sink {
  readonly name: string;
  readonly capabilities: SinkCapabilities;
  readonly plan: SnowflakeTablePlan;
  private readonly config: SnowflakeSinkConfig;
  private readonly pipeline: string;
  private readonly logger: Logger;
  private readonly connect: SnowflakeConnector;
  private readonly buffer: GroupCommit<StagedRow>;
  /** Batch ids are `<instance>-<flush seq>`, unique across restarts in practice. */
  private readonly instance = randomBytes(4).toString('hex');
  private session: SnowflakeSession | undefined;
  private connecting: Promise<SnowflakeSession> | undefined;
  private stageReady = false;

  constructor(opts: SnowflakeSinkOptions) {
    this.config = opts.config;
    this.pipeline = opts.pipeline;
    this.logger = opts.logger;
    this.connect = opts.connect;
    this.plan = planTable(opts.config, opts.schema, opts.pipeline);
    this.name = `snowflake:${this.plan.display}`;
    this.capabilities = { idempotent: true, maxBatchRows: opts.config.batch.max_rows, mergesWrites: true };
    const b = opts.config.batch;
    this.buffer = new GroupCommit<StagedRow>(
      { maxRows: b.max_rows, maxBytes: b.max_bytes, maxIntervalMs: b.max_interval_ms },
      (items, info) => this.flush(items, info),
      // A row's values fail the whole flush: each caller's rows are flushed again alone, so only
      // the caller holding the row sees the error (and the runtime isolates and dead-letters it).
      { retryAlone: (err) => PipelineError.is(err) && err.code === 'SINK_DATA' && !err.retryable },
    );
  }

  /** The CREATE TABLE statements (what `streamscore plan` prints). */
  ddl(): string {
    return snowflakeDdl(this.plan);
  }

  /** The QUERY_TAG of a statement batch. */
  queryTag(batch: string): string {
    return JSON.stringify({ app: 'streamscore', pipeline: this.pipeline, sink: this.plan.display, batch });
  }

  /** Logs in, creates the table when configured, verifies it, and prepares the staging table. */
  async open(): Promise<void> {
    const tag = this.queryTag(`${this.instance}-open`);
    try {
      const s = await this.ensureSession();
      if (this.config.create_table) {
        for (const st of createTableStatements(this.plan)) await s.execute(st, { tag });
      }
      await verifyTable(s, this.plan, { pipeline: this.pipeline, tag });
      await this.ensureStage(s, tag);
    } catch (err) {
      const e = await this.fail(err, 'opening the sink');
      // A sink that did not open holds no session (the driver's keep-alive would outlive the worker).
      await this.dropSession();
      throw e;
    }
    this.logger.debug(
      { sink: this.name, mode: this.plan.mode, on_delete: this.plan.onDelete, load: this.config.load },
      'Snowflake sink opened.',
    );
  }

  async write(batch: PredictionBatch): Promise<void> {
    this.plan.map.check(batch);
    if (batch.rows.length === 0) return;
    const rows = stageRows(this.plan, batch);
    try {
      await this.buffer.add(rows, (r) => r.bytes);
    } catch (err) {
      if (err instanceof GroupCommitClosedError) {
        throw new PipelineError(`snowflake ${this.plan.display}: ${err.message}`, {
          code: 'SINK_CLOSED',
          stage: 'sink',
          retryable: false,
          pipeline: this.pipeline,
        });
      }
      throw err;
    }
  }

  /** Flushes what is buffered, then logs out. */
  async close(): Promise<void> {
    try {
      await this.buffer.close();
    } finally {
      await this.dropSession();
    }
  }

  private async flush(items: StagedRow[], info: FlushInfo): Promise<void> {
    const rows = newestPerIdentity(items);
    const batchId = `${this.instance}-${info.seq}`;
    const tag = this.queryTag(batchId);
    const started = performance.now();
    try {
      const s = await this.ensureSession();
      await this.ensureStage(s, tag);
      await s.execute(truncateStageStatement(this.plan), { tag });
      await this.load(s, rows, tag, batchId);
      for (const st of applyStatements(this.plan)) await s.execute(st, { tag });
    } catch (err) {
      throw await this.fail(
        err,
        `flushing batch ${batchId} (${rows.length} rows)`,
        positionRange(rows.map((r) => r.row)),
      );
    }
    this.logger.debug(
      {
        sink: this.name,
        batch: batchId,
        reason: info.reason,
        rows: rows.length,
        received: items.length,
        bytes: info.bytes,
        ms: Math.round(performance.now() - started),
      },
      'Snowflake batch flushed.',
    );
  }

  private async load(s: SnowflakeSession, rows: StagedRow[], tag: string, batchId: string): Promise<void> {
    switch (this.config.load) {
      case 'bind': {
        await s.execute(insertStageStatement(this.plan), { tag, binds: rows.map((r) => r.cells) });
        return;
      }
      case 'values': {
        const step = this.config.max_rows_per_statement;
        for (let from = 0; from < rows.length; from += step) {
          const part = rows.slice(from, from + step);
          await s.execute(insertStageStatement(this.plan, part.length), {
            tag,
            binds: part.flatMap((r) => r.cells),
          });
        }
        return;
      }
      case 'copy': {
        const path = join(tmpdir(), `streamscore_${batchId}.csv`);
        await writeFile(path, csvText(rows));
        try {
          const put = await s
            .execute(putStatement(this.plan, path, batchId), { tag })
            .catch((err: unknown) => {
              throw putError(err, this.plan.display, this.pipeline);
            });
          const status = put[0]?.['status'];
          if (status !== 'UPLOADED') {
            const detail = put[0]?.['message'] ? `: ${String(put[0]['message'])}` : '';
            throw new Error(`PUT ${path}: expected status UPLOADED, got ${String(status)}${detail}`);
          }
          const copied = await s.execute(copyStatement(this.plan, batchId), { tag });
          const loaded = copied.reduce((n, r) => n + Number(r['rows_loaded'] ?? 0), 0);
          if (loaded !== rows.length) {
            throw new Error(
              `COPY INTO the staging table: expected ${rows.length} rows loaded, got ${loaded}`,
            );
          }
        } finally {
          await rm(path, { force: true });
        }
        return;
      }
    }
  }

  private async ensureSession(): Promise<SnowflakeSession> {
    if (this.session) return this.session;
    if (!this.connecting) {
      this.connecting = this.connect().then(
        (s) => {
          this.session = s;
          this.stageReady = false;
          this.connecting = undefined;
          return s;
        },
        (err: unknown) => {
          this.connecting = undefined;
          throw err;
        },
      );
    }
    return this.connecting;
  }

  private async ensureStage(s: SnowflakeSession, tag: string): Promise<void> {
    if (this.stageReady) return;
    await s.execute(createStageStatement(this.plan), { tag });
    this.stageReady = true;
  }

  private async dropSession(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    this.stageReady = false;
    if (s) await s.close();
  }

  /** Classifies `err`; a session that may be broken is dropped, so the retry logs in again. */
  private async fail(err: unknown, action: string, position?: string): Promise<PipelineError> {
    const e = toSnowflakePipelineError(err, {
      table: this.plan.display,
      pipeline: this.pipeline,
      action,
      ...(position === undefined ? {} : { position }),
    });
    if (e.retryable) await this.dropSession();
    return e;
  }
}

/**
 * A PUT the driver cannot even attempt (it crashes on the stage description, as it does against the
 * local fakesnow wrapper) fails the same way every time: terminal, with the way out. Other PUT errors
 * (network, storage) keep their classification.
 */
function putError(err: unknown, table: string, pipeline: string): unknown {
  if (!(err instanceof TypeError)) return err;
  return new PipelineError(
    `snowflake ${table}: load copy: PUT of the staged file failed inside snowflake-sdk (${err.message}); ` +
      'expected a Snowflake endpoint that supports PUT from the Node.js driver (the local fakesnow wrapper ' +
      'does not, see the sink README); to fix: use load: bind or values',
    { code: 'SINK_CONFIG_INVALID', stage: 'sink', retryable: false, pipeline, cause: err },
  );
}
