import type { Command } from 'commander';
import { redactText } from '../core/secret.js';
import type { Logger } from '../core/types.js';
import { describeDeclared, describeValue } from '../inference/index.js';
import { sourceTable } from '../runtime/source-table.js';
import type { CheckedSpec } from '../spec/checks.js';
import { only } from '../spec/one-of.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import { formatProblem } from '../spec/problems.js';
import { type ValidatedPipeline, validatePipelineFile } from '../spec/validate.js';
import { describeSinks } from './sink-plan.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description(
      'Print the resolved pipeline stage by stage, with the model check and the DDL of each sink table.',
    )
    .argument('<file>', 'pipeline YAML file')
    .addHelpText('after', '\nExample:\n  $ streamscore plan pipelines/churn-scoring.yaml')
    .action(async (file: string) => {
      const v = await validatePipelineFile(file, { keepModel: true });
      if (!v.pipeline || !v.checked || !v.model) {
        process.stderr.write(`${redactText(v.problems.map(formatProblem).join('\n'), v.secrets)}\n`);
        process.stderr.write(`${v.problems.length} problem(s); fix them and run plan again\n`);
        process.exitCode = 1;
        return;
      }
      const text = await renderPlan(v);
      await v.model.close();
      process.stdout.write(`${redactText(text, v.secrets)}\n`);
    });
}

/**
 * What the CDC source table's replica identity means for this pipeline (TOASTed columns, delete
 * keys), read from the backfill source's Postgres; the same warnings `run` logs at start-up.
 */
async function sourceTableNotes(p: Pipeline, checked: CheckedSpec): Promise<string[]> {
  const notes: string[] = [];
  const collect = (_o: object, msg?: string) => {
    if (msg) notes.push(msg);
  };
  const logger: Logger = { debug: collect, info: () => undefined, warn: collect, error: collect };
  const table = sourceTable(p, checked, p.metadata.name, logger);
  if (table === undefined) return [];
  try {
    await table.check();
  } finally {
    await table.close();
  }
  return notes.map((n) => `  ⚠ ${n}`);
}

/** The text `streamscore plan` prints for a valid pipeline (validated with `keepModel`). */
export async function renderPlan(v: ValidatedPipeline): Promise<string> {
  const p = v.pipeline!;
  const checked = v.checked!;
  const model = v.model!;
  const lines: string[] = [];
  const h = (title: string) => lines.push('', title);
  lines.push(
    `pipeline ${p.metadata.name}${p.metadata.owner ? ` (owner ${p.metadata.owner})` : ''} — ${v.file}`,
  );
  const [sourceType, source] = only(p.spec.source);
  h(`source: ${sourceType}`);
  const s = source as { brokers: string[]; topics: string[]; group_id: string; from_beginning: boolean };
  lines.push(
    `  brokers ${s.brokers.join(', ')}`,
    `  topics  ${s.topics.join(', ')}`,
    `  group   ${s.group_id} (from ${s.from_beginning ? 'earliest' : 'latest'} when new)`,
  );
  const [decoderType, decoder] = only(p.spec.decode);
  h(`decode: ${decoderType} ${JSON.stringify(decoder)}`);
  h(
    `features: key = ${p.spec.features.key}; scored ops ${p.spec.features.score_ops.join(', ')}; deletes go to the sinks' on_delete, keyed from ${p.spec.features.delete_key === 'before' ? 'their before image (REPLICA IDENTITY FULL)' : 'the Kafka message key'}`,
  );
  let col = 0;
  for (const f of checked.features) {
    const cols = f.width === 1 ? `[${col}]` : `[${col}..${col + f.width - 1}]`;
    const nul = f.onNull === 'reject' ? 'null → reject' : `null → ${f.onNull}`;
    lines.push(
      `  ${cols.padEnd(9)} ${f.name.padEnd(20)} ${f.type.padEnd(7)} ${nul.padEnd(14)} ${f.expr.source}`,
    );
    col += f.width;
  }
  lines.push(`  width ${col}`);
  h(`model: ${p.spec.model.name} v${p.spec.model.version} — ${p.spec.model.path} (${model.path})`);
  lines.push(
    `  inputs:  ${model.signature.inputs.map(describeValue).join('; ')}  ✓ width ${model.width} matches the features`,
  );
  lines.push(`  outputs: ${model.signature.outputs.map(describeDeclared).join('; ')}`);
  for (const f of model.fieldTypes)
    lines.push(`  ${f.name.padEnd(24)} ${f.type.padEnd(6)} ← ${p.spec.model.outputs[f.name]}`);
  lines.push(
    `  micro-batch max ${p.spec.model.batch.max_size} rows / ${p.spec.model.batch.max_wait_ms} ms; ${p.spec.model.threads} thread(s)`,
  );
  h('sinks:');
  for (const line of await describeSinks(p, checked, model)) lines.push(`  ${line}`);
  h(
    `errors: dead letters → ${p.spec.errors.dead_letter_topic ?? '(none: a bad record stops the worker)'}; ${p.spec.errors.max_retries} retries from ${p.spec.errors.retry_backoff_ms} ms`,
  );
  if (p.spec.backfill) {
    const [t, b] = only(p.spec.backfill.source);
    const bs = b as { table: string; key: string[] };
    lines.push(
      `backfill: ${t} ${bs.table} by (${bs.key.join(', ')}), ${p.spec.backfill.chunk_size} rows/chunk, concurrency ${p.spec.backfill.concurrency}${p.spec.backfill.schedule ? `, cron "${p.spec.backfill.schedule.cron}" ${p.spec.backfill.schedule.tz}` : ''}`,
    );
  }
  for (const line of await sourceTableNotes(p, checked)) lines.push(line);
  lines.push(
    `monitoring: /metrics /healthz /readyz on port ${p.spec.monitoring.port}; log level ${p.spec.monitoring.log_level}`,
  );
  return lines.join('\n');
}
