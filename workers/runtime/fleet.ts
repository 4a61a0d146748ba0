import { type ChildProcess, fork } from 'node:child_process';
import type { Logger } from '../core/types.js';
import { type ParentWatch, watchParent } from './parent-watch.js';

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
}

/**
 * Supervises N worker processes in the same consumer groups. A crashed worker is restarted with
 * exponential back-off (reset after a minute of healthy running); SIGTERM/SIGINT drain them all, as
 * does the exit of the supervisor's parent with `exitWithParent`. The workers watch the supervisor
 * (`run` does, for a forked worker): killed outright, it leaves no worker running behind it.
 * Resolves with the exit code: 0 after a clean drain, 1 if a worker keeps failing terminally.
 */
export async function runFleet(opts: FleetOptions): Promise<number> {
  const children = new Map<number, ChildProcess>();
  let stopping = false;
  let exitCode = 0;
  const failures = new Map<number, number>();

  const start = (slot: number) => {
    const startedAt = Date.now();
    const child = fork(opts.module, opts.args, {
      env: { ...process.env, STREAMSCORE_WORKER_ID: String(slot) },
      stdio: 'inherit',
    });
    children.set(slot, child);
    child.on('exit', (code, signal) => {
      children.delete(slot);
      if (stopping) return;
      const healthy = Date.now() - startedAt > 60000;
      const n = healthy ? 1 : (failures.get(slot) ?? 0) + 1;
      failures.set(slot, n);
      const delay = Math.min(500 * 2 ** (n - 1), 30000);
      opts.logger.warn({ worker: slot, code, signal, restartInMs: delay }, 'Worker exited; restarting.');
      setTimeout(() => {
        if (!stopping) start(slot);
      }, delay);
    });
  };

  for (let i = 0; i < opts.workers; i++) start(i);
  let parent: ParentWatch | undefined;

  await new Promise<void>((resolve) => {
    const stop = () => {
      if (stopping) return;
      stopping = true;
      opts.logger.info({ workers: children.size }, 'Draining workers.');
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
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    if (opts.exitWithParent) {
      parent = watchParent((why) => {
        opts.logger.warn({ why }, 'Parent process gone; draining as on SIGTERM.');
        stop();
      });
    }
  });
  parent?.stop();
  return exitCode;
}
