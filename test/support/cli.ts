import { type ChildProcess, spawn } from 'node:child_process';

export interface RunningCli {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `streamscore <args>` from the TypeScript sources (through tsx), with extra environment (and node options). */
export function startCli(
  args: string[],
  extraEnv: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
): RunningCli {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'workers/cli/main.ts', ...args], {
    env: { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1', STREAMSCORE_LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs a CLI command to completion. */
export async function runCli(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  const c = startCli(args, extraEnv);
  const code = await c.exited;
  return { code, output: c.output() };
}
