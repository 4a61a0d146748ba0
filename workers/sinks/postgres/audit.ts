import type { Knex } from 'knex';
import { type BlockBuffers, BlockText } from '../../audit/block-text.js';
import { overrideRate } from '../../audit/override.js';
import {
  type AuditContext,
  auditLayout,
  auditOrder,
  auditRecord,
  type DecisionContext,
  decisionContext,
  type HashCache,
} from '../../audit/record.js';
import { AUDIT_DDL_LOCK, type AuditObjects, auditDdl, auditObjects, withAudit } from '../../audit/sql.js';
import { exactKeyText } from '../../core/int64.js';
import type { Logger, ModelInfo, PredictionBatch, PredictionRow } from '../../core/types.js';
import { Uuid7Source } from '../../core/uuid7.js';
import { pgCast } from '../shared/sql-types.js';
import { columnArrays } from '../shared/values.js';
import { pgArrayLiteral } from './array-literal.js';
import type { StatementRunner } from './prepared.js';
import type { Statement } from './statements.js';
import type { PostgresTablePlan } from './table.js';

/** What a Postgres sink needs to keep the pipeline's audit log (spec.audit). */
export interface PostgresAuditOptions {
  /** `schema.table` of the log. */
  table: string;
  context: AuditContext;
  retentionDays: number;
  /** Called after each write with the audit records appended and the prediction rows written. */
  onWritten?: (audited: number, written: number) => void;
  /** Called at open and hourly with the share of the last 24 h's decisions a person overrode. */
  onOverrideRate?: (rate: number) => void;
}

const MAINTAIN_EVERY_MS = 3_600_000;
/** Block buffers kept for reuse (a sink has a few writes in flight at most). */
const FREE_BLOCK_BUFFERS = 2;

/**
 * The audit log of a Postgres sink: its DDL and day partitions (created at open, kept ahead and
 * pruned by retention every hour), and the wrapping of each upsert so that every prediction row the
 * statement actually writes gets exactly one audit record in the same statement (so the same
 * transaction: both or neither).
 */
export class PostgresAudit {
  readonly objects: AuditObjects;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Keyed hashes of feature values seen (record.ts HashCache). */
  readonly #hashed: HashCache = new Map();
  /** The wrapped statement's SQL, by the upsert's (a sink issues a handful of shapes). */
  readonly #sql = new Map<string, string>();
  readonly #ids = new Uuid7Source();
  /** Buffers of blocks whose statements completed, for the next writes (BlockText `reuse`). */
  readonly #free: BlockBuffers[] = [];
  readonly #buffers = new WeakMap<Statement, BlockBuffers>();

  constructor(
    private readonly opts: PostgresAuditOptions,
    private readonly plan: PostgresTablePlan,
    private readonly logger: Logger,
    private readonly statements: StatementRunner,
  ) {
    this.objects = auditObjects(opts.table);
  }

  async open(db: Knex): Promise<void> {
    await db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [AUDIT_DDL_LOCK, this.opts.table]);
      for (const s of auditDdl(this.objects)) await trx.raw(s);
    });
    await this.maintain(db);
    this.#timer = setInterval(() => {
      this.maintain(db).catch((err: unknown) =>
        this.logger.warn(
          { table: this.opts.table, error: String(err) },
          'Audit partition maintenance failed; retried in an hour.',
        ),
      );
    }, MAINTAIN_EVERY_MS);
    this.#timer.unref();
  }

  /** Creates the coming days' partitions and drops the days past retention. */
  async maintain(db: Knex): Promise<void> {
    await db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [AUDIT_DDL_LOCK, this.opts.table]);
      await trx.raw(`SELECT ${this.objects.maintainFn}(?)`, [this.opts.retentionDays]);
    });
    if (this.opts.onOverrideRate) this.opts.onOverrideRate(await overrideRate(db, this.opts.table));
  }

  /** The upsert of `rows`, made to append one audit record per row it writes. */
  wrap(upsert: Statement, batch: PredictionBatch, rows: readonly PredictionRow[]): Statement {
    const keys = this.plan.keyColumns;
    let sql = this.#sql.get(upsert.sql);
    if (sql === undefined) {
      sql = withAudit(
        this.objects,
        upsert.sql,
        keys.map((k) => ({ name: k.name, cast: pgCast(k.type) })),
      ).sql;
      if (this.#sql.size >= 16) this.#sql.clear();
      this.#sql.set(upsert.sql, sql);
    }
    const ctx = this.opts.context;
    const layout = auditLayout(ctx, batch.fields, this.#hashed);
    // One context for the batch's model, one per other model a row names (a canary's share).
    const batchContext = decisionContext(ctx, batch.model, batch.shadow);
    const contexts = new Map<ModelInfo, DecisionContext>([[batch.model, batchContext]]);
    const { chains, ordered, groupEnds } = auditOrder(rows);
    const n = ordered.length;
    const keyTexts = new Array<string>(n);
    const ids = new Array<string>(n);
    const now = Date.now();
    const block = new BlockText(n, 1024, this.#free.pop());
    for (let i = 0; i < n; i++) {
      const r = ordered[i]!;
      let context = batchContext;
      if (r.model !== undefined) {
        const known = contexts.get(r.model);
        context = known ?? decisionContext(ctx, r.model, batch.shadow);
        if (known === undefined) contexts.set(r.model, context);
      }
      keyTexts[i] = exactKeyText(r.key);
      const id = r.decision ?? this.#ids.next(now);
      ids[i] = id;
      block.add(auditRecord(ctx, layout, r, context, id), true);
    }
    const stored = [...new Map([...contexts.values()].map((c) => [c.id, c])).values()];
    const st: Statement = {
      sql,
      bindings: [
        ...upsert.bindings,
        stored.map((c) => c.id),
        stored.map((c) => c.text),
        ...columnArrays(keys, batch, ordered).map(pgArrayLiteral),
        pgArrayLiteral(keyTexts),
        ids.join('\n'),
        block.bytes,
        `{${block.ends.join(',')}}`,
        block.hashes,
        chains,
        `{${groupEnds.join(',')}}`,
      ],
    };
    this.#buffers.set(st, block.buffers);
    return st;
  }

  /** Runs a wrapped upsert and reports what it wrote; returns the prediction rows written. */
  async run(db: Knex | Knex.Transaction, st: Statement): Promise<number> {
    let res: { rows: { audited: string | number; written: string | number }[] };
    try {
      res = await this.statements.run(db, st, true);
    } finally {
      // The statement is done with its buffers (sent, or failed): a later write may reuse them.
      const buffers = this.#buffers.get(st);
      this.#buffers.delete(st);
      if (buffers !== undefined && this.#free.length < FREE_BLOCK_BUFFERS) this.#free.push(buffers);
    }
    const row = res.rows[0];
    const audited = Number(row?.audited ?? 0);
    const written = Number(row?.written ?? 0);
    if (audited !== written) {
      this.logger.error(
        { table: this.opts.table, audited, written },
        'Audit records do not match the predictions written (a bug: please report it).',
      );
    }
    this.opts.onWritten?.(audited, written);
    return written;
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}
