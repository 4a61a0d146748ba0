/**
 * The bench's Postgres: an instance of its own with production durability (fsync,
 * synchronous_commit and full_page_writes on), so that the figures are what users get. The shared
 * stack's Postgres runs with test-speed settings (all three off) and serves the test suites; the
 * bench starts this one through the same launcher (`STACK_DIR=.stack/bench-postgres
 * STACK_PG_DURABILITY=durable infra/local/stack up postgres`, port 15433 or STACK_BENCH_PG_PORT) and
 * leaves it running for the next run; `make stack-down` stops it with the stack.
 * BENCH_DATABASE_URL points the bench at another Postgres instead (its settings are reported; set
 * to the stack's DATABASE_URL, an A/B run against the test-speed settings).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { privatePostgres } from '../support/private-postgres.js';
import { env } from '../support/stack.js';

export const BENCH_PG_DIR = resolve(process.env['STACK_DIR'] ?? '.stack', 'bench-postgres');
const BENCH_PG_PORT = Number(process.env['STACK_BENCH_PG_PORT'] ?? 15433);

export interface BenchPostgres {
  /** `own`: the bench's durable instance; `given`: BENCH_DATABASE_URL. */
  instance: 'own' | 'given';
  /** The durability settings the figures assume, as the server reports them. */
  settings: Record<string, string>;
}

/** The launcher pid file of the Postgres in use, when it is one the launcher started. */
let pidFile: string | undefined;
let own = false;

/**
 * Starts (or finds running) the bench's Postgres and points everything at it: `env.databaseUrl`
 * for the bench's own clients, DATABASE_URL for the workers and peers it spawns.
 */
export async function useBenchPostgres(): Promise<BenchPostgres> {
  let url = process.env['BENCH_DATABASE_URL'];
  if (url && url === process.env['DATABASE_URL']) {
    // the shared stack's Postgres (an A/B run against its test-speed settings)
    pidFile = resolve(process.env['STACK_DIR'] ?? '.stack', 'run', 'postgres.pid');
  }
  if (!url) {
    const pgi = await privatePostgres('bench-postgres', {
      durability: 'durable',
      port: BENCH_PG_PORT,
      dir: BENCH_PG_DIR,
    });
    const r = pgi.up();
    if (r.status !== 0) throw new Error(`could not start the bench's Postgres:\n${r.output}`);
    url = pgi.url;
    own = true;
    pidFile = join(BENCH_PG_DIR, 'run', 'postgres.pid');
  }
  env.databaseUrl = url;
  process.env['DATABASE_URL'] = url;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(
      "select name, setting from pg_settings where name in ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'shared_buffers') order by name",
    );
    return {
      instance: own ? 'own' : 'given',
      settings: Object.fromEntries(r.rows.map((x: { name: string; setting: string }) => [x.name, x.setting])),
    };
  } finally {
    await c.end();
  }
}

/** The postmaster of the Postgres in use, when the launcher started it (its CPU is `postgres`). */
export function benchPostgresPid(): number | undefined {
  if (pidFile === undefined || !existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
