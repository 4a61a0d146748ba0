/**
 * What the Postgres sink's durable commits cost: the sink's own upsert statements, written with
 * and without the durability clause (DURABLE_COMMIT) alternately on one connection, so that both
 * see the same load. Point it at a server with fsync on whose default synchronous_commit is off
 * (otherwise both variants commit synchronously), e.g. an instance of the launcher with
 * `STACK_PG_DURABILITY=durable` and `ALTER ROLE postgres SET synchronous_commit = off`.
 * Measures, never asserts. Run:
 *   DATABASE_URL=… npx tsx test/integration/sinks/bench-durable-commit.ts [writes=2000] [rows=20] [on_delete=ignore]
 */
import pg from 'pg';
import { Secret } from '../../../workers/core/secret.js';
import type { PostgresSinkConfig } from '../../../workers/sinks/postgres/config.js';
import {
  DURABLE_COMMIT,
  lockStatement,
  unnestSource,
  upsertStatement,
} from '../../../workers/sinks/postgres/statements.js';
import { planTable, postgresDdl } from '../../../workers/sinks/postgres/table.js';
import { columnArrays } from '../../../workers/sinks/shared/values.js';
import { batch, pgConfig, pos, row, schema } from '../../unit/sinks/fixtures.js';
import { DATABASE_URL, unique } from './env.js';

const writes = Number(process.argv[2] ?? 2000);
const rowsPerWrite = Number(process.argv[3] ?? 20);
const onDelete = (process.argv[4] ?? 'ignore') as PostgresSinkConfig['on_delete'];
const schemaName = unique('durbench');
const plan = planTable(
  pgConfig({ url: new Secret(DATABASE_URL), table: `${schemaName}.t`, on_delete: onDelete }),
  schema,
);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  const settings = await c.query(
    "select name, setting from pg_settings where name in ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method')",
  );
  await c.query(postgresDdl(plan));
  const ms = { durable: [] as number[], plain: [] as number[] };
  const lock = lockStatement(plan, false);
  for (let i = 0; i < writes * 2; i++) {
    const variant = i % 2 === 0 ? 'durable' : 'plain';
    const t = Math.floor(i / 2) + 1;
    const rows = Array.from({ length: rowsPerWrite }, (_, k) => row(i * rowsPerWrite + k, pos(t, k), 0.25));
    const b = batch(rows);
    const st = upsertStatement(plan, unnestSource(plan.columns, columnArrays(plan.columns, b, rows)));
    const sql =
      variant === 'durable' ? st.sql : st.sql.replace(DURABLE_COMMIT, '(SELECT 1) AS durable_commit');
    const started = performance.now();
    if (plan.tombstone) {
      // the sink's transaction in delete mode: BEGIN, shared lock, upsert, COMMIT
      await c.query('BEGIN');
      await c.query(toPg(lock.sql), lock.bindings);
      await c.query(toPg(sql), st.bindings);
      await c.query('COMMIT');
    } else {
      await c.query(toPg(sql), st.bindings);
    }
    ms[variant].push(performance.now() - started);
  }
  await c.query(`DROP SCHEMA "${schemaName}" CASCADE`);
  await c.end();
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  console.log(
    `${writes} writes of ${rowsPerWrite} rows per variant, on_delete=${onDelete}; server: ${settings.rows.map((r) => `${r.name}=${r.setting}`).join(' ')}`,
  );
  const table: Record<string, Record<string, number>> = {};
  for (const [k, v] of Object.entries(ms)) {
    const s = [...v].sort((a, b) => a - b);
    table[k] = {
      'mean ms': Number((sum(v) / v.length).toFixed(3)),
      'p50 ms': Number(quantile(s, 0.5).toFixed(3)),
      'p99 ms': Number(quantile(s, 0.99).toFixed(3)),
      'rows/s': Math.round((v.length * rowsPerWrite) / (sum(v) / 1000)),
    };
  }
  console.table(table);
}

/** knex's `?` placeholders as pg's `$n`. */
function toPg(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

await main();
