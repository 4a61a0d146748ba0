/**
 * A Postgres instance of a test's own, started by the local stack's launcher
 * (`infra/local/stack up postgres` with its own STACK_DIR and port): the same binaries, settings
 * and start-up logic as the shared stack's Postgres, so a test may stop, kill and restart it
 * without disturbing anyone else's tests.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { pgStopImmediateCommand } from './stack-services.js';

const LAUNCHER = resolve('infra/local/stack');

export interface LauncherRun {
  status: number | null;
  output: string;
  seconds: number;
}

export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/streamscore` */
  readonly url: string;
  readonly port: number;
  /** Its STACK_DIR (data in postgres/data, pid files in run/, log in logs/postgres.log). */
  readonly stackDir: string;
  readonly dataDir: string;
  /** `infra/local/stack up postgres` for this instance. */
  up(): LauncherRun;
  /** `infra/local/stack down postgres` for this instance. */
  down(): LauncherRun;
  /** The postmaster's pid, from the launcher's pid file. */
  pid(): number | undefined;
  /** `pg_ctl stop -m immediate`: the postmaster and its backends quit at once, without a checkpoint. */
  stopImmediate(): void;
  /** Stops it and removes its directory. */
  remove(): void;
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? ok(addr.port) : fail(new Error('no port'))));
    });
  });
}

/**
 * Creates (not yet starts) an instance under `<shared STACK_DIR>/scratch/<name>` (or `dir`): a
 * directory the `postgres` OS user can reach, unlike a root-owned mkdtemp directory.
 */
export async function privatePostgres(
  name: string,
  opts: { durability?: 'fast' | 'durable'; port?: number; dir?: string } = {},
): Promise<PrivatePostgres> {
  const port = opts.port ?? (await freePort());
  const stackDir = opts.dir ?? resolve(process.env['STACK_DIR'] ?? '.stack', 'scratch', name);
  mkdirSync(dirname(stackDir), { recursive: true });
  const dataDir = join(stackDir, 'postgres', 'data');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    STACK_DIR: stackDir,
    STACK_PG_PORT: String(port),
    STACK_PG_DURABILITY: opts.durability ?? 'fast',
    STACK_TIMEOUT: process.env['STACK_TIMEOUT'] ?? '60',
  };
  // Set to the shared instance's URL, DATABASE_URL would make the launcher treat Postgres as external.
  delete env['DATABASE_URL'];
  const launcher = (cmd: 'up' | 'down'): LauncherRun => {
    const t0 = performance.now();
    const r = spawnSync(LAUNCHER, [cmd, 'postgres'], { env, encoding: 'utf8', timeout: 180_000 });
    return {
      status: r.status,
      output: `${r.stdout ?? ''}${r.stderr ?? ''}`,
      seconds: (performance.now() - t0) / 1000,
    };
  };
  const pid = () => {
    const f = join(stackDir, 'run', 'postgres.pid');
    if (!existsSync(f)) return undefined;
    const n = Number(readFileSync(f, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  };
  return {
    url: `postgres://postgres@127.0.0.1:${port}/streamscore`,
    port,
    stackDir,
    dataDir,
    up: () => launcher('up'),
    down: () => launcher('down'),
    pid,
    stopImmediate() {
      const p = pid();
      if (p === undefined) throw new Error(`${name}: not started`);
      const [file, args] = pgStopImmediateCommand(p, dataDir);
      execFileSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    },
    remove() {
      launcher('down');
      rmSync(stackDir, { recursive: true, force: true });
    },
  };
}

/** Tail of the instance's server log, for failure messages. */
export function postgresLogTail(pg: PrivatePostgres, chars = 3000): string {
  const f = join(pg.stackDir, 'logs', 'postgres.log');
  return existsSync(f) ? readFileSync(f, 'utf8').slice(-chars) : '(no log)';
}
