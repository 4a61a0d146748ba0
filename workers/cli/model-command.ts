import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, type CommanderError } from 'commander';
import type { Kafka } from 'kafkajs';
import { auditedPipelines, recordControlEvent } from '../audit/control-events.js';
import {
  type AliasEvent,
  type AliasState,
  aliasKey,
  appendControlEvent,
  type ControlState,
  currentSince,
  DEFAULT_CONTROL_TOPIC,
  defaultActor,
  eventStamp,
  previousTarget,
  readControlState,
} from '../control/index.js';
import { errorMessage } from '../core/errors.js';
import { silentLogger } from '../core/silent-logger.js';
import type { Logger } from '../core/types.js';
import {
  listModelNames,
  listVersions,
  type ModelVersionInfo,
  readVersion,
  shortSha,
  verifyModelFile,
  verifyVersion,
} from '../models/catalog.js';
import { type AliasFit, checkAliasFit } from '../models/fit.js';
import { createKafkaClient } from '../sources/kafka/client.js';
import { registerBackfill } from './backfill-command.js';

/** The flags every `model` and `pipeline` subcommand shares. */
export interface ControlFlags {
  brokers?: string;
  controlTopic?: string;
  models?: string;
  pipelines?: string;
  by?: string;
}

export interface ControlSettings {
  brokers: string[];
  topic: string;
  models: string;
  pipelines: string;
  by: string;
}

/** Flags, then the environment, then the defaults. */
export function controlSettings(f: ControlFlags, env: NodeJS.ProcessEnv = process.env): ControlSettings {
  const pipelines = f.pipelines ?? env['STREAMSCORE_PIPELINES'] ?? 'pipelines';
  return {
    brokers: (f.brokers ?? env['KAFKA_BROKERS'] ?? '127.0.0.1:19092')
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b.length > 0),
    topic: f.controlTopic ?? env['STREAMSCORE_CONTROL_TOPIC'] ?? DEFAULT_CONTROL_TOPIC,
    models: f.models ?? env['STREAMSCORE_MODELS'] ?? defaultRegistry(pipelines),
    pipelines,
    by: f.by ?? defaultActor(),
  };
}

/** `models`, or `<pipelines>/models` where only that exists (this repository's layout). */
function defaultRegistry(pipelines: string): string {
  const beside = join(pipelines, 'models');
  return !existsSync('models') && existsSync(beside) ? beside : 'models';
}

/** Adds the shared flags to a subcommand. */
export function withControlFlags(cmd: Command, which: { by?: boolean }): Command {
  cmd
    .option('--brokers <list>', 'Kafka brokers (default $KAFKA_BROKERS or 127.0.0.1:19092)')
    .option(
      '--control-topic <topic>',
      `control topic (default $STREAMSCORE_CONTROL_TOPIC or ${DEFAULT_CONTROL_TOPIC})`,
    );
  cmd.option(
    '--models <dir>',
    'model registry folder (default $STREAMSCORE_MODELS, else models, else <pipelines>/models)',
  );
  cmd.option('--pipelines <dir>', 'pipeline files to check (default $STREAMSCORE_PIPELINES or pipelines)');
  if (which.by) cmd.option('--by <who>', 'who makes the move (default: the OS user)');
  return cmd;
}

/** An operation the CLI refuses (exit 1): the message says why and what exists. */
export class Refused extends Error {}

/** Runs a subcommand body; refusals and failures go to stderr as `streamscore: …` with exit 1. */
export async function refusable(fn: () => Promise<number | undefined>): Promise<number> {
  try {
    return (await fn()) ?? 0;
  } catch (err) {
    process.stderr.write(`streamscore: ${errorMessage(err)}\n`);
    return 1;
  }
}

/** Usage errors of these commands exit 2 (commander's own would exit 1, like a refusal). */
export function usageExit2(cmd: Command): Command {
  return cmd.exitOverride((err: CommanderError) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });
}

export function cliKafka(s: ControlSettings): Kafka {
  return createKafkaClient({ brokers: s.brokers, client_id: 'streamscore-cli' }, silentLogger);
}

/** Warnings of the control topic reader (a skipped bad record) on stderr. */
export const stderrLogger: Logger = {
  debug() {},
  info() {},
  warn: (o, m) => process.stderr.write(`streamscore: warning: ${m ?? JSON.stringify(o)}\n`),
  error: (o, m) => process.stderr.write(`streamscore: warning: ${m ?? JSON.stringify(o)}\n`),
};

export async function readState(s: ControlSettings): Promise<ControlState> {
  return readControlState(cliKafka(s), s.topic, stderrLogger);
}

interface MoveFlags extends ControlFlags {
  alias: string;
  reason?: string;
  rescoreSince?: string;
  pipeline?: string;
}

export function registerModel(program: Command): void {
  const model = usageExit2(
    program
      .command('model')
      .description(
        'Model versions and aliases: list, promote, roll back, history (recorded on the control topic).',
      )
      .addHelpText(
        'after',
        `
Every move is a record on the control topic (Kafka, kept forever): the audit trail, and what every
worker follows (a change reaches every worker within 2 s, without a restart).

Examples:
  $ streamscore model list churn
  $ streamscore model promote churn 2 --alias champion --reason "shadow report passed (n=25k, flips 0.4 %)"
  $ streamscore model rollback churn --reason "precision drop" --rescore-since promotion --pipeline pipelines/churn-scoring.yaml
  $ streamscore model history churn`,
      ),
  );

  withControlFlags(
    model
      .command('list')
      .description('Versions of each model (or one): sha256 (checked against the file), created, aliases.')
      .argument('[name]', 'model name'),
    {},
  ).action(async (name: string | undefined, f: ControlFlags) => {
    process.exitCode = await refusable(() => listModels(controlSettings(f), name));
  });

  withControlFlags(
    model
      .command('promote')
      .description(
        'Point an alias at a version: it must exist, match its sha256 and fit every pipeline following the alias.',
      )
      .argument('<name>', 'model name')
      .argument('<version>', 'version (a folder of the registry)')
      .option('--alias <alias>', 'alias to move', 'champion')
      .requiredOption('--reason <text>', 'why (recorded in the history)'),
    { by: true },
  ).action(async (name: string, version: string, f: MoveFlags) => {
    process.exitCode = await refusable(() => promote(controlSettings(f), name, version, f));
  });

  withControlFlags(
    model
      .command('rollback')
      .description('Return an alias to its previous target; optionally re-score what the bad version wrote.')
      .argument('<name>', 'model name')
      .option('--alias <alias>', 'alias to move back', 'champion')
      .option('--reason <text>', 'why (recorded in the history)', 'rollback')
      .option(
        '--rescore-since <when>',
        "enqueue a backfill of the rows changed since: 'promotion' (when the rolled-back version became the target) or an ISO time",
      )
      .option('--pipeline <file>', 'the pipeline to re-score (with --rescore-since)'),
    { by: true },
  ).action(async (name: string, f: MoveFlags) => {
    if (f.rescoreSince !== undefined && f.pipeline === undefined) {
      process.stderr.write(
        'streamscore: --rescore-since needs --pipeline <file> (the pipeline to re-score)\n',
      );
      process.exitCode = 2;
      return;
    }
    process.exitCode = await refusable(() => rollback(controlSettings(f), name, f));
  });

  withControlFlags(
    model
      .command('history')
      .description('Every alias move of a model: when, who, what, from → to, why.')
      .argument('<name>', 'model name')
      .option('--alias <alias>', 'only this alias'),
    {},
  ).action(async (name: string, f: ControlFlags & { alias?: string }) => {
    process.exitCode = await refusable(async () => {
      const state = await readState(controlSettings(f));
      process.stdout.write(`${formatHistory(state, name, f.alias)}\n`);
      return 0;
    });
  });
}

async function listModels(s: ControlSettings, name: string | undefined): Promise<number> {
  const names = name === undefined ? listModelNames(s.models) : [name];
  if (names.length === 0) throw new Refused(`no models in ${resolve(s.models)}`);
  const byModel = new Map(names.map((n) => [n, listVersions(s.models, n)]));
  let state: ControlState | undefined;
  try {
    state = await readState(s);
  } catch (err) {
    process.stderr.write(
      `streamscore: warning: aliases unknown (control topic ${s.topic}): ${errorMessage(err)}\n`,
    );
  }
  const lines: string[] = [];
  for (const [n, versions] of byModel) {
    lines.push(`${n} (${resolve(s.models, n)})`);
    lines.push(
      `  ${'VERSION'.padEnd(8)} ${'SHA256'.padEnd(14)} ${'CREATED'.padEnd(11)} ${'ALIASES'.padEnd(22)} DESCRIPTION`,
    );
    for (const v of versions) {
      const aliases = [...(state?.aliases.values() ?? [])]
        .filter((a) => a.model === n && a.version === v.version)
        .map((a) => a.alias)
        .sort();
      lines.push(
        `  ${v.version.padEnd(8)} ${`${shortSha(v.sha256)}${fileMark(v)}`.padEnd(14)} ${(v.created ?? '-').padEnd(11)} ${(state ? aliases.join(',') || '-' : '?').padEnd(22)} ${v.description ?? ''}`.trimEnd(),
      );
    }
    const dangling = [...(state?.aliases.values() ?? [])].filter(
      (a) => a.model === n && !versions.some((v) => v.version === a.version),
    );
    for (const a of dangling)
      lines.push(`  ! alias ${a.alias} points to version ${a.version}, which is not in this registry`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** ` ` when model.onnx matches the manifest, `!` when not (corrupted, replaced or missing). */
function fileMark(v: ModelVersionInfo): string {
  try {
    verifyModelFile(v.onnxPath, v.sha256);
    return '  ';
  } catch {
    return ' !';
  }
}

/** Version exists, sha256 verified, fits every pipeline following the alias: else Refused. */
async function checkCandidate(
  s: ControlSettings,
  name: string,
  version: string,
  alias: string,
): Promise<{ info: ModelVersionInfo; sha256: string; fits: AliasFit[] }> {
  const info = readVersion(s.models, name, version);
  const sha256 = verifyVersion(info);
  const fits = await checkAliasFit({
    pipelinesDir: s.pipelines,
    model: name,
    alias,
    controlTopic: s.topic,
    candidate: info,
  });
  const bad = fits.filter((f) => f.error !== undefined);
  if (bad.length > 0) {
    throw new Refused(
      `${name}/${version} does not fit ${bad.length} of the ${fits.length} pipeline(s) following ${name}@${alias}; nothing changed:\n${bad
        .map((f) => `  ${f.file} (${f.pipeline}, ${f.role}): ${f.error}`)
        .join('\n')}`,
    );
  }
  return { info, sha256, fits };
}

function describeFits(s: ControlSettings, name: string, alias: string, fits: AliasFit[]): string {
  if (fits.length === 0) return `no pipeline in ${s.pipelines} follows ${name}@${alias} on ${s.topic}`;
  return `fits ${fits.length} pipeline(s) following ${name}@${alias}: ${fits.map((f) => `${f.file} (${f.role})`).join(', ')}`;
}

function currentAlias(state: ControlState, name: string, alias: string): AliasState | undefined {
  return state.aliases.get(aliasKey(name, alias));
}

async function promote(s: ControlSettings, name: string, version: string, f: MoveFlags): Promise<number> {
  const kafka = cliKafka(s);
  const state = await readControlState(kafka, s.topic, stderrLogger);
  const current = currentAlias(state, name, f.alias);
  const checked = await checkCandidate(s, name, version, f.alias);
  if (current?.version === version) {
    const since = currentSince(current);
    process.stdout.write(
      `${name}@${f.alias} already points to ${version}${since ? ` (since ${since.at}, by ${since.by})` : ''}; nothing to do\n`,
    );
    return 0;
  }
  await move(kafka, s, 'promote', name, f, current?.version ?? null, checked);
  return 0;
}

async function rollback(s: ControlSettings, name: string, f: MoveFlags): Promise<number> {
  const kafka = cliKafka(s);
  const state = await readControlState(kafka, s.topic, stderrLogger);
  const current = currentAlias(state, name, f.alias);
  if (!current)
    throw new Refused(`${name}@${f.alias} has never been set on ${s.topic}: nothing to roll back`);
  const target = previousTarget(current);
  if (target === undefined) {
    throw new Refused(
      `${name}@${f.alias} has nothing earlier to roll back to: ${current.version} is the only version it has pointed to (promote another version instead)`,
    );
  }
  const since = currentSince(current);
  await move(kafka, s, 'rollback', name, f, current.version, await checkCandidate(s, name, target, f.alias));
  if (f.rescoreSince === undefined) return 0;
  const from = f.rescoreSince === 'promotion' ? since?.at : f.rescoreSince;
  if (from === undefined)
    throw new Refused(`cannot tell when ${current.version} became the target of ${name}@${f.alias}`);
  process.stdout.write(
    `re-scoring the rows of ${f.pipeline} changed since ${from} (a change committed earlier but scored by ${current.version} because the stream lagged behind is not included: pass an earlier --rescore-since to cover the lag)\n`,
  );
  return enqueueRescore(f.pipeline!, from);
}

/** Appends the alias move to the checked version and says what happened. */
async function move(
  kafka: Kafka,
  s: ControlSettings,
  action: AliasEvent['action'],
  name: string,
  f: MoveFlags,
  from: string | null,
  checked: { info: ModelVersionInfo; sha256: string; fits: AliasFit[] },
): Promise<void> {
  const e: AliasEvent = {
    type: 'alias',
    action,
    model: name,
    alias: f.alias,
    version: checked.info.version,
    from,
    sha256: checked.sha256,
    by: s.by,
    reason: f.reason ?? action,
    ...eventStamp(),
  };
  await appendControlEvent(kafka, s.topic, e);
  process.stdout.write(`${describeFits(s, name, f.alias, checked.fits)}\n${describeMove(e)}\n`);
  const files = [...new Set(checked.fits.map((x) => x.file))];
  await reportAudit(
    await recordControlEvent(
      auditedPipelines(files, () => true),
      e,
    ),
  );
}

/** `streamscore backfill start <pipeline> --since <from>`, through the backfill command itself. */
async function enqueueRescore(pipeline: string, from: string): Promise<number> {
  const before = process.exitCode;
  const cli = new Command().exitOverride();
  registerBackfill(cli);
  await cli.parseAsync(['backfill', 'start', pipeline, '--since', from], { from: 'user' });
  const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  process.exitCode = before;
  return code;
}

export function describeMove(e: AliasEvent): string {
  const verb = e.action === 'promote' ? 'promoted' : 'rolled back';
  return `${e.model}@${e.alias}: ${e.from ?? '(unset)'} → ${e.version} ${verb} at ${e.at} by ${e.by}${e.reason ? `: ${e.reason}` : ''}`;
}

/** Every move of `name`'s aliases (or of one), oldest first. */
export function formatHistory(state: ControlState, name: string, alias?: string): string {
  const events = [...state.aliases.values()]
    .filter((a) => a.model === name && (alias === undefined || a.alias === alias))
    .flatMap((a) => a.history)
    .sort((x, y) => x.at.localeCompare(y.at));
  if (events.length === 0) return `no alias moves of ${name}${alias ? `@${alias}` : ''}`;
  const rows = events.map((e) => [
    e.at,
    e.by,
    e.action,
    e.alias,
    `${e.from ?? '-'} → ${e.version}`,
    e.reason,
  ]);
  const head = ['AT', 'BY', 'ACTION', 'ALIAS', 'FROM → TO', 'REASON'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Says in which pipelines' audit logs a control event was recorded, and where it could not be. */
export async function reportAudit(r: {
  recorded: string[];
  failed: { file: string; error: string }[];
}): Promise<void> {
  if (r.recorded.length > 0) process.stdout.write(`recorded in the audit log of ${r.recorded.join(', ')}\n`);
  for (const f of r.failed) {
    process.stderr.write(
      `streamscore: warning: not recorded in the audit log of ${f.file} (the control topic has it): ${f.error}\n`,
    );
  }
}
