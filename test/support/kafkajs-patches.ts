import { execFileSync } from 'node:child_process';

/**
 * Runs, in a fresh Node process, what the CLI does first (`workers/cli/process-env.ts`), then loads
 * kafkajs and makes a producer, then `lines` (which may use `req`, a require from the working
 * directory) — the last of which prints a JSON line; returns it parsed. For the kafkajs patches
 * (`workers/core/kafkajs-*.ts`): a test asks a patch module whether it took effect only after
 * kafkajs loaded, so that it would report false had the CLI not imported it first.
 */
export function afterCliImport(lines: string[]): unknown {
  const script = [
    "await import('./workers/cli/process-env.ts');",
    "const { Kafka } = await import('kafkajs');",
    "const { createRequire } = await import('node:module');",
    'const req = createRequire(process.cwd() + "/x.js");',
    'new Kafka({ brokers: ["127.0.0.1:1"] }).producer();',
    ...lines,
  ].join('\n');
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}
