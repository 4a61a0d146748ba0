import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Knex } from 'knex';
import type { PostgresSinkConfig } from '../../../workers/sinks/postgres/config.js';
import { PostgresSink } from '../../../workers/sinks/postgres/sink.js';
import {
  DURABLE_COMMIT,
  deleteStatement,
  stageSource,
  unnestSource,
  upsertStatement,
  valuesSource,
} from '../../../workers/sinks/postgres/statements.js';
import { planTable } from '../../../workers/sinks/postgres/table.js';
import { batch, del, pgConfig, pos, row, schema, silentLogger } from './fixtures.js';

// The sink's commits must be durable whatever the server's or role's synchronous_commit: every
// statement that writes the target or tombstone table sets it for its own transaction.
const MODES = ['delete', 'mark', 'ignore'] as const;
const writesTable = (sql: string) =>
  /^(WITH .*)?(INSERT|DELETE|UPDATE)\b|\b(INSERT INTO|DELETE FROM)\b/.test(sql);

describe('postgres sink: durable commits', () => {
  it("the durability clause sets synchronous_commit for the transaction, keeping a stronger 'remote_apply'", () => {
    assert.match(DURABLE_COMMIT, /set_config\('synchronous_commit', .*'on'.*, true\)/);
    assert.match(DURABLE_COMMIT, /WHEN 'remote_apply' THEN 'remote_apply'/);
  });

  it('every upsert and delete statement reads its rows through it, for every row source and delete mode', () => {
    for (const mode of MODES) {
      const plan = planTable(pgConfig({ on_delete: mode }), schema);
      const empty = plan.columns.map(() => [] as unknown[]);
      for (const source of [
        unnestSource(plan.columns, empty),
        valuesSource(
          plan.columns,
          plan.columns.map(() => [1]),
          0,
          1,
        ),
        stageSource('stage', plan.columns),
      ]) {
        const { sql } = upsertStatement(plan, source);
        assert.ok(sql.includes(`FROM ${DURABLE_COMMIT}, ${source.sql}`), `${mode} upsert: ${sql}`);
      }
      if (mode !== 'ignore') {
        const { sql } = deleteStatement(plan, [[]], []);
        assert.ok(sql.includes(`FROM ${DURABLE_COMMIT}, unnest(`), `${mode} delete: ${sql}`);
      }
    }
  });

  it('on every write path, each statement that writes carries it (recorded through a fake knex)', async () => {
    const cases: {
      write_mode: PostgresSinkConfig['write_mode'];
      on_delete: PostgresSinkConfig['on_delete'];
    }[] = [];
    for (const write_mode of ['unnest', 'values', 'copy'] as const)
      for (const on_delete of MODES) cases.push({ write_mode, on_delete });
    for (const c of cases) {
      const sql: string[] = [];
      const sink = new PostgresSink({
        config: pgConfig({ ...c, max_rows_per_statement: 2 }),
        schema,
        pipeline: 'p',
        knex: recordingKnex(sql),
        logger: silentLogger,
      });
      for (const rows of [
        [row(1, pos(1)), row(2, pos(1)), row(3, pos(1))],
        [row(4, pos(2)), del(1, pos(2))],
        [del(2, pos(3))],
      ]) {
        await sink.write(batch(rows));
      }
      const writes = sql.filter(writesTable);
      assert.ok(
        writes.length >= (c.on_delete === 'ignore' ? 2 : 3),
        `${JSON.stringify(c)}: ${sql.join('\n')}`,
      );
      for (const s of writes)
        assert.ok(s.includes(DURABLE_COMMIT), `${JSON.stringify(c)} writes without it: ${s}`);
    }
  });
});

/** A knex stand-in that records the SQL of raw statements, in and out of transactions, and COPY. */
function recordingKnex(sql: string[]): Knex {
  const connection = {
    query(submittable: { text?: string; handleReadyForQuery(): void; submit?: unknown }) {
      const s = submittable as unknown as { text: string; handleReadyForQuery(): void };
      sql.push(s.text);
      queueMicrotask(() => s.handleReadyForQuery());
      return submittable;
    },
  };
  // A knex raw query: a promise with knex's `.options()` (through which statements are named).
  const raw = (text: string) => {
    sql.push(text);
    const result = Promise.resolve({ rows: [] });
    return Object.assign(result, { options: () => result });
  };
  const trx = { raw, client: { acquireConnection: async () => connection } };
  return {
    raw,
    transaction: async (fn: (t: typeof trx) => Promise<void>) => {
      sql.push('BEGIN');
      await fn(trx);
      sql.push('COMMIT');
    },
  } as unknown as Knex;
}
