import { type ChildProcess, fork as forkProcess } from 'node:child_process';
import type { Logger } from '../core/types.js';
import { type ParentWatch, watchParent } from './parent-watch.js';

/**
 * What the supervisor does with workers that exit on their own. A worker that fails (exits
 * non-zero or is killed by a signal) is restarted after a back-off that doubles with each of its
 * failures within `windowMs`. When the fleet's workers have failed `maxFailures` times within
 * `windowMs`, it is a crash loop that restarting will not fix (a bad credential, a missing table,
 * a record that cannot be processed without a dead-letter topic): the supervisor stops restarting,
 * drains the other workers and exits 1, so that its own supervisor (systemd, Kubernetes:
 * CrashLoopBackOff) sees the failure. A worker that exits 0 without being asked to (someone sent
 * it SIGTERM) is restarted and not counted.
 */
export interface RestartPolicy {
  /** Failures within `windowMs` after which the fleet gives up; 0 never gives up. */
  maxFailures: number;
  /** Sliding window in which failures count; older ones are forgotten. */
  windowMs: number;
  /** First restart delay after a failure; doubles with each failure of that worker in the window. */
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  maxFailures: 5,
  windowMs: 300_000,
  initialBackoffMs: 500,
  maxBackoffMs: 30_000,
};

/** Environment variables that override DEFAULT_RESTART_POLICY's give-up rule. */
export const RESTART_POLICY_ENV = {
  maxFailures: 'STREAMSCORE_FLEET_MAX_FAILURES',
  windowMs: 'STREAMSCORE_FLEET_FAILURE_WINDOW_MS',
} as const;

/** The restart policy, with `maxFailures` and `windowMs` from the environment when set there. */
export function restartPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): RestartPolicy {
  const read = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min)
      throw new Error(`${name}: expected an integer of at least ${min}, got '${raw}'`);
    return n;
  };
  return {
    ...DEFAULT_RESTART_POLICY,
    maxFailures: read(RESTART_POLICY_ENV.maxFailures, DEFAULT_RESTART_POLICY.maxFailures, 0),
    windowMs: read(RESTART_POLICY_ENV.windowMs, DEFAULT_RESTART_POLICY.windowMs, 1),
  };
}

export interface FleetOptions {
  workers: number;
  /** Module and args each worker process runs (the CLI's `run` with `--workers 1`). */
  module: string;
  args: string[];
  logger: Logger;
  /** Longest a draining worker may take before it is killed. */
  drainTimeoutMs?: number;
  /** Drain the fleet when the supervisor's own parent exits (see `parent-watch.ts`). */
  exitWithParent?: boolean;
  /** Restarts and when to give up; default `restartPolicyFromEnv()`. */
  restart?: RestartPolicy;
  /** Drains the fleet when aborted, as SIGTERM does (for embedding and tests). */
  signal?: AbortSignal;
  /** Called when a worker that exited on its own is restarted (`failed`: it exited non-zero or was killed). */
  onRestart?: (slot: number, failed: boolean) => void;
  /** Starts one worker process; `child_process.fork` unless replaced (tests). */
  fork?: (
    module: string,
    args: string[],
    options: { env: NodeJS.ProcessEnv; stdio: 'inherit' },
  ) => ChildProcess;
}

/**
 * Supervises N worker processes in the same consumer groups. A failed worker is restarted with
 * exponential back-off, until the fleet's workers have failed `restart.maxFailures` times within
 * `restart.windowMs` (see RestartPolicy); then the others are drained and the fleet exits 1.
 * SIGTERM/SIGINT drain them all, as does the exit of the supervisor's parent with `exitWithParent`.
 * The workers watch the supervisor (`run` does, for a forked worker): killed outright, it leaves no
 * worker running behind it. Resolves with the exit code: 0 after a clean drain, 1 after giving up
 * on failing workers or when a worker had to be killed at the end of the drain timeout.
 */
export async function runFleet(opts: FleetOptions): Promise<number> {
  const policy = opts.restart ?? restartPolicyFromEnv();
  const fork = opts.fork ?? forkProcess;
  const children = new Map<number, ChildProcess>();
  const restarts = new Set<NodeJS.Timeout>();
  /** Times of the fleet's failures within the window, and per worker slot. */
  let failures: { slot: number; at: number }[] = [];
  let stopping = false;
  let exitCode = 0;
  let stop: (why: string) => void = () => undefined;

  const start = (slot: number) => {
    const child = fork(opts.module, opts.args, {
      env: { ...process.env, STREAMSCORE_WORKER_ID: String(slot) },
      stdio: 'inherit',
    });
    children.set(slot, child);
    let ended = false;
    const onEnd = (code: number | null, signal: NodeJS.Signals | null) => {
      if (ended) return;
      ended = true;
      children.delete(slot);
      if (stopping) return;
      const failed = code !== 0;
      const now = Date.now();
      if (failed) failures.push({ slot, at: now });
      failures = failures.filter((f) => now - f.at < policy.windowMs);
      if (failed && policy.maxFailures > 0 && failures.length >= policy.maxFailures) {
        opts.logger.error(
          { worker: slot, code, signal, failures: failures.length, windowMs: policy.windowMs },
          `Workers failed ${failures.length} times within ${policy.windowMs} ms; giving up (exit 1).`,
        );
        exitCode = 1;
        stop('crash loop');
        return;
      }
      const mine = failures.filter((f) => f.slot === slot).length;
      const delay = Math.min(policy.initialBackoffMs * 2 ** Math.max(0, mine - 1), policy.maxBackoffMs);
      opts.logger.warn(
        { worker: slot, code, signal, restartInMs: delay, failures: failures.length },
        failed ? 'Worker failed; restarting.' : 'Worker exited; restarting.',
      );
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (stopping) return;
        opts.onRestart?.(slot, failed);
        start(slot);
      }, delay);
      restarts.add(timer);
    };
    child.once('exit', onEnd);
    // A process that could not be started at all emits 'error' and never 'exit'.
    child.once('error', (err) => {
      if (child.pid !== undefined) return;
      opts.logger.error({ worker: slot, error: err.message }, 'Worker could not be started.');
      onEnd(1, null);
    });
  };

  let parent: ParentWatch | undefined;
  const onSignal = () => stop('signal');
  const onAbort = () => stop('aborted');
  await new Promise<void>((resolve) => {
    stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      for (const t of restarts) clearTimeout(t);
      restarts.clear();
      opts.logger.info({ workers: children.size, why }, 'Draining workers.');
      const timeout = setTimeout(() => {
        for (const c of children.values()) c.kill('SIGKILL');
        exitCode = 1;
      }, opts.drainTimeoutMs ?? 30000);
      const check = () => {
        if (children.size === 0) {
          clearTimeout(timeout);
          resolve();
        } else setTimeout(check, 100);
      };
      for (const c of children.values()) c.kill('SIGTERM');
      check();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.exitWithParent) {
      parent = watchParent((why) => {
        opts.logger.warn({ why }, 'Parent process gone; draining as on SIGTERM.');
        stop('parent gone');
      });
    }
    for (let i = 0; i < opts.workers && !stopping; i++) start(i);
    if (opts.signal?.aborted) stop('aborted');
  });
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  opts.signal?.removeEventListener('abort', onAbort);
  parent?.stop();
  return exitCode;
}
