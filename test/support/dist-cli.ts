/**
 * The built CLI (`npm run build` → dist/), run as a process: it starts in a fraction of the time
 * tsx takes, for tests that run many commands. `assertDistFresh` fails such a test at once when a
 * source under workers/ is newer than its compiled file, instead of testing yesterday's code.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const DIST_CLI = resolve('dist/workers/cli/main.js');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Throws when a workers/ source has no compiled file in dist/, or one older than the source. */
export function assertDistFresh(): void {
  const stale = sources('workers').filter((src) => {
    const built = statSync(join('dist', src.replace(/\.ts$/, '.js')), { throwIfNoEntry: false });
    return built === undefined || built.mtimeMs < statSync(src).mtimeMs;
  });
  if (stale.length > 0)
    throw new Error(
      `dist/ is older than ${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ` and ${stale.length - 5} more` : ''}: run \`npm run build\` (make test does)`,
    );
}

export interface DistOptions {
  /** Added to the test's environment (or, with `bareEnv`, the whole environment). */
  env?: Record<string, string>;
  /** Start from an empty environment instead of the test's. */
  bareEnv?: boolean;
  cwd?: string;
}

export interface RunningDist {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** stdout then stderr. */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `node dist/workers/cli/main.js <args>`, its stdout and stderr captured apart. */
export function startDist(args: string[], opts: DistOptions = {}): RunningDist {
  const env = opts.bareEnv
    ? { ...opts.env }
    : { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1', ...opts.env };
  const child = spawn(process.execPath, [DIST_CLI, ...args], {
    env,
    cwd: opts.cwd ?? process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  // 'close', not 'exit': every byte of both pipes has been read by then.
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    output: () => out + err,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface DistResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (SIGKILLed after `timeoutMs`, which then fails the caller's checks). */
export async function runDist(
  args: string[],
  opts: DistOptions = {},
  timeoutMs = 60_000,
): Promise<DistResult> {
  const c = startDist(args, opts);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), timeoutMs);
  const code = await c.exited;
  clearTimeout(timer);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}
