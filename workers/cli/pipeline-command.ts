import type { Command } from 'commander';
import { auditedPipelines, recordControlEvent } from '../audit/control-events.js';
import {
  appendControlEvent,
  type ControlState,
  eventStamp,
  type PipelineEvent,
  readControlState,
} from '../control/index.js';
import { yamlFiles } from '../models/fit.js';
import { loadPipeline } from '../spec/load.js';
import {
  type ControlFlags,
  type ControlSettings,
  cliKafka,
  controlSettings,
  Refused,
  readState,
  refusable,
  reportAudit,
  stderrLogger,
  usageExit2,
  withControlFlags,
} from './model-command.js';

interface SuspendFlags extends ControlFlags {
  reason?: string;
  force?: boolean;
}

export function registerPipeline(program: Command): void {
  const pipeline = usageExit2(
    program
      .command('pipeline')
      .description(
        'Suspend and resume a pipeline on every worker (recorded on the control topic), or show its state.',
      )
      .addHelpText(
        'after',
        `
A suspended pipeline's workers stop writing predictions within seconds and keep their offsets:
on resume they continue where they stopped, nothing skipped.

Examples:
  $ streamscore pipeline suspend churn-scoring --reason "risk review: drift in EU segment"
  $ streamscore pipeline status
  $ streamscore pipeline resume churn-scoring --reason "review closed"`,
      ),
  );

  const moves = [
    ['suspend', 'Stop every worker of the pipeline from writing new predictions.'],
    ['resume', 'Let the pipeline’s workers write again, from where they stopped.'],
  ] as const;
  for (const [action, description] of moves) {
    const cmd = pipeline
      .command(action)
      .description(description)
      .argument('<name>', 'pipeline name (metadata.name)')
      .option('--force', `${action} even when no pipeline file in --pipelines has that name`);
    if (action === 'suspend') cmd.requiredOption('--reason <text>', 'why (recorded in the audit trail)');
    else cmd.option('--reason <text>', 'why (recorded in the audit trail)', 'resume');
    withControlFlags(cmd, { by: true }).action(async (name: string, f: SuspendFlags) => {
      process.exitCode = await refusable(() => move(controlSettings(f), name, action, f));
    });
  }

  withControlFlags(
    pipeline
      .command('status')
      .description('Whether each pipeline (or one) is running or suspended, since when, by whom, why.')
      .argument('[name]', 'pipeline name'),
    {},
  ).action(async (name: string | undefined, f: ControlFlags) => {
    process.exitCode = await refusable(async () => {
      const s = controlSettings(f);
      const state = await readState(s);
      process.stdout.write(
        `${formatStatus(state, name === undefined ? pipelineNames(s.pipelines) : [name], name)}\n`,
      );
      return 0;
    });
  });
}

async function move(
  s: ControlSettings,
  name: string,
  action: 'suspend' | 'resume',
  f: SuspendFlags,
): Promise<number> {
  const known = pipelineNames(s.pipelines);
  if (!f.force && !known.includes(name)) {
    // A typo here would leave the real pipeline running while the operator believes it stopped.
    throw new Refused(
      `no pipeline named '${name}' in ${s.pipelines} (there: ${known.join(', ') || 'none'}); check the name, or pass --force`,
    );
  }
  const kafka = cliKafka(s);
  const current = (await readControlState(kafka, s.topic, stderrLogger)).pipelines.get(name);
  if ((current?.suspended ?? false) === (action === 'suspend')) {
    process.stdout.write(
      action === 'suspend'
        ? `${name} is already suspended (since ${current!.at} by ${current!.by}: ${current!.reason}); nothing to do\n`
        : `${name} is not suspended; nothing to do\n`,
    );
    return 0;
  }
  const e: PipelineEvent = {
    type: 'pipeline',
    action,
    pipeline: name,
    by: s.by,
    reason: f.reason ?? action,
    ...eventStamp(),
  };
  await appendControlEvent(kafka, s.topic, e);
  process.stdout.write(
    `${name}: ${action === 'suspend' ? 'suspended' : 'resumed'} at ${e.at} by ${e.by}: ${e.reason}\n`,
  );
  const audited = auditedPipelines(yamlFiles(s.pipelines), (p) => p.metadata.name === name);
  await reportAudit(await recordControlEvent(audited, e));
  return 0;
}

/** One line per pipeline: the named ones, then any other the control topic knows (unless one was asked for). */
export function formatStatus(state: ControlState, names: string[], only?: string): string {
  const all = only !== undefined ? [only] : [...new Set([...names, ...state.pipelines.keys()])].sort();
  if (all.length === 0) return 'no pipelines';
  const width = Math.max(...all.map((n) => n.length));
  return all
    .map((n) => {
      const p = state.pipelines.get(n);
      if (!p) return `${n.padEnd(width)}  running`;
      const verb = p.suspended ? 'suspended' : 'running  ';
      return `${n.padEnd(width)}  ${verb} since ${p.at} by ${p.by}: ${p.reason}`;
    })
    .join('\n');
}

/** metadata.name of every pipeline file under `dir` (recursively). */
export function pipelineNames(dir: string): string[] {
  const out = new Set<string>();
  for (const file of yamlFiles(dir)) {
    const data = loadPipeline(file).data as { kind?: unknown; metadata?: { name?: unknown } } | undefined;
    if (data?.kind === 'Pipeline' && typeof data.metadata?.name === 'string') out.add(data.metadata.name);
  }
  return [...out].sort();
}
