/** A process under test: output to a log file (and the head kept for messages), exit, peak RSS. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { memoryMb, processTree } from './procstat.js';

export interface Spawned {
  child: ChildProcess;
  pid: number;
  log: string;
  exited: Promise<number | null>;
  /** undefined while running. */
  exitCode(): number | null | undefined;
  output(): string;
  /** Largest VmHWM of any process of its tree, sampled every second (and on `stop`). */
  peakRssMb(): number;
  /** SIGTERM to the tree's root, SIGKILL to the whole tree after `graceMs`; resolves with the exit code. */
  stop(graceMs: number): Promise<number | null>;
}

/** Processes started by this bench and still running: killed if the bench itself exits early. */
const live = new Set<number>();
process.once('exit', () => {
  for (const pid of live) {
    for (const p of processTree(pid).reverse()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

export function spawnLogged(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; logFile: string; keepChars?: number },
): Spawned {
  const child = spawn(command, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid!;
  live.add(pid);
  const log = createWriteStream(opts.logFile);
  const keep = opts.keepChars ?? 20000;
  let out = '';
  for (const s of [child.stdout, child.stderr]) {
    s?.on('data', (d: Buffer) => {
      log.write(d);
      if (out.length < keep) out += d.toString();
    });
  }
  let code: number | null | undefined;
  let peak = 0;
  const sample = () => {
    for (const p of processTree(pid)) peak = Math.max(peak, memoryMb(p)?.peak ?? 0);
  };
  const sampler = setInterval(sample, 1000);
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (c) => {
      code = c;
      live.delete(pid);
      clearInterval(sampler);
      log.end();
      r(c);
    }),
  );
  return {
    child,
    pid,
    log: opts.logFile,
    exited,
    exitCode: () => code,
    output: () => out,
    peakRssMb: () => Math.round(peak),
    async stop(graceMs) {
      if (code === undefined) {
        sample();
        child.kill('SIGTERM');
      }
      const timer = setTimeout(() => {
        for (const p of processTree(pid).reverse()) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }, graceMs);
      const c = await exited;
      clearTimeout(timer);
      return c;
    },
  };
}
