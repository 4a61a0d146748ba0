/**
 * Real faults on the local stack's own services: their pids from the launcher's pid files
 * (`$STACK_DIR/run/<service>.pid`, STACK_DIR defaulting to the repository's `.stack`), SIGKILL,
 * Postgres' immediate stop, and the restart through the launcher (`infra/local/stack up <service>`,
 * which clears the stale pid and lock files a kill leaves), so a test always leaves the stack up.
 *
 * The launcher is run for the stack the tests use: STACK_DIR from the environment, and each
 * service's port taken from the URL the tests use (KAFKA_BROKERS, DATABASE_URL, REDIS_URL, …) when
 * its STACK_<SVC>_PORT is unset, so a stack moved to other ports (e.g. `.stack-chaos`) is restarted
 * where it ran; Kafka's controller port from the server.properties the launcher wrote.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { env } from './stack.js';

export type StackService = 'kafka' | 'postgres' | 'redis' | 'apicurio' | 'connect';

export const stackDir = (): string => resolve(process.env['STACK_DIR'] ?? '.stack');

/** The launcher; STACK_LAUNCHER names another (e.g. a copy with a service's settings changed). */
const LAUNCHER = resolve(process.env['STACK_LAUNCHER'] ?? 'infra/local/stack');

/** The service's pid from the launcher's pid file, when that process runs. */
export function servicePid(service: StackService): number | undefined {
  const f = join(stackDir(), 'run', `${service}.pid`);
  if (!existsSync(f)) return undefined;
  const pid = Number(readFileSync(f, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited: init reaps it late here.
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z') ? undefined : pid;
  } catch {
    return undefined;
  }
}

/** SIGKILLs a service's process (the launcher starts each in a session of its own); returns its pid. */
export function killService(service: StackService): number {
  const pid = servicePid(service);
  if (pid === undefined) throw new Error(`${service} is not running (no live pid in ${stackDir()}/run)`);
  process.kill(pid, 'SIGKILL');
  return pid;
}

const portOf = (url: string) => new URL(url.includes('://') ? url : `x://${url.split(',')[0]}`).port;

/** The launcher's environment for this stack: its directory and every service's port. */
function launcherEnv(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, STACK_DIR: stackDir() };
  const set = (name: string, value: string | undefined) => {
    if (e[name] === undefined && value) e[name] = value;
  };
  set('STACK_KAFKA_PORT', portOf(env.kafkaBrokers));
  set('STACK_PG_PORT', portOf(env.databaseUrl));
  set('STACK_REDIS_PORT', portOf(env.redisUrl));
  set('STACK_CONNECT_PORT', portOf(env.connectUrl));
  set('STACK_APICURIO_PORT', portOf(env.registryUrl));
  const props = join(stackDir(), 'kafka', 'server.properties');
  if (existsSync(props)) {
    set(
      'STACK_KAFKA_CONTROLLER_PORT',
      /controller\.quorum\.voters=\d+@[^:]+:(\d+)/.exec(readFileSync(props, 'utf8'))?.[1],
    );
  }
  return e;
}

/** Runs a command to its end without blocking the event loop (a test's load keeps running). */
function run(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs: number }) {
  return new Promise<{ code: number | null; output: string }>((done) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

/**
 * `infra/local/stack up <service>`: starts it (after a kill) and waits until it answers; seconds
 * taken. Run once more when it fails: as root the launcher starts Postgres through `setpriv`, and
 * a health check that looks before setpriv has exec'd the postmaster takes it for a process that
 * exited ("postgres failed: the process exited", seen under load) while the server comes up fine;
 * the second `up` finds it running. Both outputs are in the error when the second fails too.
 */
export async function serviceUp(service: StackService): Promise<number> {
  const t0 = performance.now();
  const outputs: string[] = [];
  for (let attempt = 1; attempt <= 2; attempt++) {
    const r = await run(LAUNCHER, ['up', service], { env: launcherEnv(), timeoutMs: 240_000 });
    if (r.code === 0) {
      if (outputs.length > 0)
        process.stdout.write(`stack up ${service}: failed once, then up:\n${outputs.join('\n')}\n`);
      return (performance.now() - t0) / 1000;
    }
    outputs.push(`attempt ${attempt} (exit ${r.code}):\n${r.output}`);
  }
  throw new Error(`infra/local/stack up ${service} failed:\n${outputs.join('\n')}`);
}

/**
 * The command line of `pg_ctl stop -m immediate` for the postmaster `pid` on `dataDir`, with the
 * binaries it runs from, as the OS user the launcher runs Postgres as (`postgres` when we are
 * root): it and its backends quit at once, without a checkpoint (crash recovery at the next start).
 */
export function pgStopImmediateCommand(pid: number, dataDir: string): [string, string[]] {
  const bindir = dirname(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!);
  const args = [join(bindir, 'pg_ctl'), 'stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30'];
  return process.getuid?.() === 0
    ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', ...args]]
    : [args[0]!, args.slice(1)];
}

/** The stack's Postgres stopped with `-m immediate` (what `pg_ctl restart -m immediate` does first). */
export async function stopStackPostgresImmediate(): Promise<number> {
  const pid = servicePid('postgres');
  if (pid === undefined) throw new Error(`postgres is not running (no live pid in ${stackDir()}/run)`);
  const [file, args] = pgStopImmediateCommand(pid, join(stackDir(), 'postgres', 'data'));
  const r = await run(file, args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`pg_ctl stop -m immediate failed (${r.code}):\n${r.output}`);
  return pid;
}
