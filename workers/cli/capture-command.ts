import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { captureEvents } from '../capture/capture.js';
import { redactText } from '../core/secret.js';
import { createLogger } from '../observability/logger.js';
import { formatProblem } from '../spec/problems.js';
import { validatePipelineFile } from '../spec/validate.js';
import { stringifyExact } from '../testing/fixture.js';

interface CaptureCliOptions {
  limit: string;
  redact?: string;
  out: string;
  from: string;
  idleMs: string;
}

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name}: expected a positive integer, got '${v}'`);
  return n;
}

export function registerCapture(program: Command): void {
  program
    .command('capture')
    .description(
      "Store real events of a pipeline's topic as a test fixture (JSON decoded, Avro as bytes with its schemas), without touching the pipeline's consumer group.",
    )
    .argument('<pipeline>', 'pipeline file')
    .requiredOption('--out <file>', 'fixture file to write (JSON)')
    .option('--limit <n>', 'events to keep', '100')
    .option('--redact <columns>', 'comma-separated columns to redact (text → "[redacted]", nullable → null)')
    .option('--from <where>', 'earliest (the first events) or latest (the most recent)', 'earliest')
    .option('--idle-ms <ms>', 'stop after this long without an event', '10000')
    .addHelpText(
      'after',
      `
Then use it in a test file:
  cases:
    - name: captured
      fixture: fixtures/customers.json

Examples:
  $ streamscore capture pipelines/churn-scoring.yaml --limit 100 --redact email --out pipelines/fixtures/churn.json
  $ streamscore test pipelines/churn-scoring.test.yaml --update`,
    )
    .action(async (file: string, opts: CaptureCliOptions) => {
      const limit = positiveInt('--limit', opts.limit);
      const idleMs = positiveInt('--idle-ms', opts.idleMs);
      if (opts.from !== 'earliest' && opts.from !== 'latest') {
        throw new Error(`--from: expected earliest or latest, got '${opts.from}'`);
      }
      const v = await validatePipelineFile(file);
      if (v.problems.length > 0 || v.pipeline === undefined) {
        process.stderr.write(`${redactText(v.problems.map(formatProblem).join('\n'), v.secrets)}\n`);
        process.exitCode = 1;
        return;
      }
      const redact = (opts.redact ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      const logger = createLogger(process.env['STREAMSCORE_LOG_LEVEL'] ?? 'warn');
      try {
        const fixture = await captureEvents({
          file,
          pipeline: v.pipeline,
          limit,
          redact,
          from: opts.from,
          idleMs,
          logger,
        });
        writeFileSync(opts.out, `${stringifyExact(fixture, 1)}\n`);
        process.stdout.write(
          `wrote ${fixture.events.length} event(s) of ${fixture.topic} to ${opts.out}${redact.length > 0 ? ` (redacted: ${redact.join(', ')})` : ''}\n`,
        );
      } catch (err) {
        if ((err as Error).name !== 'RedactionError') throw err;
        process.stderr.write(`streamscore capture: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
