import { execFileSync } from 'node:child_process';
import type { RunningCli } from './cli.js';
import { waitFor } from './stack.js';

/** Worker processes of a `run --workers N` fleet (not the esbuild helper tsx starts beside them). */
export function fleetWorkerPids(supervisor: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(supervisor), '-f', 'cli/main'])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Waits until the fleet runs `n` workers (restarted ones included); fails with the fleet's output. */
export function waitForWorkers(fleet: RunningCli, n: number, timeoutMs = 60_000): Promise<number[]> {
  return waitFor(
    `${n} workers`,
    async () => {
      const pids = fleetWorkerPids(fleet.child.pid!);
      return pids.length === n ? pids : undefined;
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n--- fleet output (tail) ---\n${fleet.output().slice(-4000)}`);
  });
}
