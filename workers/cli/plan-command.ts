import type { Command } from 'commander';
import { auditTableOf } from '../audit/config.js';
import { redactText } from '../core/secret.js';
import type { Logger } from '../core/types.js';
import { describeDeclared, describeValue, ModelRegistry } from '../inference/index.js';
import { type LoadedVersion, loadModelVersion } from '../rollout/load.js';
import { modelTargets } from '../rollout/targets.js';
import { sourceTable } from '../runtime/source-table.js';
import { defaultShadowTable } from '../shadow/index.js';
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
      if (!v.pipeline || !v.checked) {
        process.stderr.write(`${redactText(v.problems.map(formatProblem).join('\n'), v.secrets)}\n`);
        process.stderr.write(`${v.problems.length} problem(s); fix them and run plan again\n`);
        process.exitCode = 1;
        return;
      }
      const text = await renderPlan(v);
      await v.model?.close();
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
  // A pipeline following an alias: the signature shown is its newest fitting version's.
  const shown = v.model ? undefined : await newestFit(v);
  const model = v.model ?? shown!.model;
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
  const m = p.spec.model;
  h(
    m.version !== undefined
      ? `model: ${m.name} v${m.version} — ${m.path ?? `${m.registry}/${m.name}/${m.version}/model.onnx`} (${model.path}, sha256 ${model.sha256.slice(0, 12)})`
      : `model: ${m.name} alias ${m.alias} — registry ${m.registry}, control topic ${m.control_topic} (signature below: version ${shown?.info.version})`,
  );
  for (const line of rolloutLines(v)) lines.push(`  ${line}`);
  lines.push(
    `  inputs:  ${model.signature.inputs.map(describeValue).join('; ')}  ✓ width ${model.width} matches the features`,
  );
  lines.push(`  outputs: ${model.signature.outputs.map(describeDeclared).join('; ')}`);
  for (const f of model.fieldTypes)
    lines.push(`  ${f.name.padEnd(24)} ${f.type.padEnd(6)} ← ${p.spec.model.outputs[f.name]}`);
  lines.push(
    `  micro-batch max ${p.spec.model.batch.max_size} rows / ${p.spec.model.batch.max_wait_ms} ms; ${p.spec.model.threads} thread(s)`,
  );
  if (shown) await shown.model.close();
  h('sinks:');
  for (const line of await describeSinks(p, checked, model)) lines.push(`  ${line}`);
  h(
    `errors: dead letters → ${p.spec.errors.dead_letter_topic ?? '(none: a bad record stops the worker)'}; ${p.spec.errors.max_retries} retries from ${p.spec.errors.retry_backoff_ms} ms`,
  );
  if (p.spec.audit) {
    const a = p.spec.audit;
    const policies = Object.entries(a.features).map(([f, pol]) => `${f}: ${pol}`);
    lines.push(
      `audit: one hash-chained record per prediction the first postgres sink writes → ${auditTableOf(p)} (day partitions, ${a.retention_days} days kept); features ${a.default_policy}${policies.length > 0 ? ` except ${policies.join(', ')}` : ''}`,
    );
  }
  if (p.spec.backfill) {
    const [t, b] = only(p.spec.backfill.source);
    const bs = b as { table: string; key: string[] };
    lines.push(
      `backfill: ${t} ${bs.table} by (${bs.key.join(', ')}), ${p.spec.backfill.chunk_size} rows/chunk, concurrency ${p.spec.backfill.concurrency}${p.spec.backfill.schedule ? `, cron "${p.spec.backfill.schedule.cron}" ${p.spec.backfill.schedule.tz}` : ''}`,
    );
  }
  for (const line of await sourceTableNotes(p, checked)) lines.push(line);
  const mon = p.spec.monitoring;
  lines.push(
    `monitoring: /metrics /healthz /readyz /drift on port ${mon.port}; log level ${mon.log_level}`,
    mon.drift.enabled
      ? `drift: windows of ${mon.window.events} rows or ${mon.window.max_seconds} s (at least ${mon.window.min_events}), PSI vs each version's manifest distributions, Benjamini–Hochberg at ${mon.drift.fdr}${mon.drift.alarm_topic ? `, alarms to topic ${mon.drift.alarm_topic}` : ''}`
      : 'drift: off (monitoring.drift.enabled: false)',
  );
  return lines.join('\n');
}

/** Every version each model target may use, and whether it fits; the shadow's and canary's settings. */
function rolloutLines(v: ValidatedPipeline): string[] {
  const p = v.pipeline!;
  const m = p.spec.model;
  const out: string[] = [];
  for (const t of modelTargets(p)) {
    const fits = v.versions.filter((f) => f.role === t.role);
    const what = t.alias !== undefined ? `alias ${t.alias} may point to` : `version ${t.version}`;
    out.push(`${t.role}: ${what}`);
    for (const f of fits) {
      out.push(
        f.error === undefined
          ? `  ${f.version.padEnd(6)} ✓ fits (sha256 ${f.sha256?.slice(0, 12)})`
          : `  ${f.version.padEnd(6)} ✗ ${f.error} — promote refuses it`,
      );
    }
  }
  if (m.shadow) {
    const c = m.shadow.compare;
    const l = m.shadow.limits;
    out.push(
      `shadow compares ${c.score} at threshold ${c.threshold}${c.label ? ` and label ${c.label}` : ''} → table ${m.shadow.table ?? defaultShadowTable(p.metadata.name)}; verdict: flip rate ≤ ${l.max_flip_rate}${l.min_label_agreement !== undefined ? `, label agreement ≥ ${l.min_label_agreement}` : ''}${l.max_abs_delta_p95 !== undefined ? `, |Δ| p95 ≤ ${l.max_abs_delta_p95}` : ''} with n ≥ ${l.min_samples}`,
    );
  }
  if (m.canary) out.push(`canary scores ${m.canary.percent} % of keys (sticky by key hash) for the sinks`);
  return out;
}

/** The newest version that fits an alias-following pipeline, loaded for its signature. */
async function newestFit(v: ValidatedPipeline): Promise<LoadedVersion> {
  const fit = v.versions.filter((f) => f.role === 'primary' && f.error === undefined).at(-1);
  if (fit === undefined) throw new Error('no version fits the pipeline');
  return loadModelVersion({
    file: v.file,
    pipeline: v.pipeline!,
    checked: v.checked!,
    version: fit.version,
    registry: new ModelRegistry(),
  });
}
