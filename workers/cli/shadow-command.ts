import { type Command, type CommanderError, Option } from 'commander';
import { errorMessage, PipelineError } from '../core/errors.js';
import { redactText } from '../core/secret.js';
import { type ShadowSettings, shadowSettingsOf } from '../shadow/config.js';
import { formatShadowReport, queryShadowReport } from '../shadow/report.js';
import { parseSince, type Verdict } from '../shadow/stats.js';
import { loadPipeline } from '../spec/load.js';
import { formatProblem } from '../spec/problems.js';

interface ReportOptions {
  since?: string;
  format: 'text' | 'json';
}

/** Exit codes of `shadow report`: the verdict, or 2 for a usage or configuration error. */
export const SHADOW_EXIT: Record<Verdict | 'usage', number> = { pass: 0, fail: 1, insufficient: 3, usage: 2 };

class UsageError extends Error {}

export function registerShadow(program: Command): void {
  const shadow = program
    .command('shadow')
    .description('Compare a pipeline’s shadow model with its champion (model.shadow).');
  shadow
    .command('report')
    .description(
      'Agreement, decision flips and |Δscore| of the shadow vs the champion, with 95 % intervals, and a verdict against model.shadow.limits.',
    )
    .argument('<pipeline>', 'pipeline YAML file with model.shadow')
    .option(
      '--since <time>',
      'only pairs scored since: a duration back from now (30m, 2h, 1d) or an ISO time',
    )
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .exitOverride(usageExit)
    .addHelpText(
      'after',
      `
Reads the comparison table (model.shadow.table, default ml.<pipeline>__shadow) on model.shadow.postgres_url
(default: the first postgres sink's url). Exit 0 pass, 1 fail (every limit exceeded is named),
3 insufficient data (fewer than limits.min_samples pairs), 2 usage or configuration error.

Examples:
  $ streamscore shadow report pipelines/churn-scoring.yaml
  $ streamscore shadow report pipelines/churn-scoring.yaml --since 2h
  $ streamscore shadow report pipelines/churn-scoring.yaml --since 2026-01-31T08:00:00Z --format json | jq .verdict`,
    )
    .action(async (file: string, opts: ReportOptions) => {
      let secrets: Iterable<string> = [];
      try {
        const loaded = readSettings(file);
        secrets = loaded.secrets;
        const since = opts.since === undefined ? undefined : parseSinceOption(opts.since);
        const { settings } = loaded;
        if (settings.url === undefined) {
          throw new UsageError(
            `${file}: model.shadow has no postgres_url and the pipeline has no postgres sink: nowhere to read ${settings.table} from`,
          );
        }
        const report = await queryShadowReport(settings.url, settings.table, {
          compare: settings.compare,
          limits: settings.limits,
          since,
        });
        process.stdout.write(
          opts.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatShadowReport(report),
        );
        process.exitCode = SHADOW_EXIT[report.verdict];
      } catch (err) {
        const usage = err instanceof UsageError || (PipelineError.is(err) && err.stage === 'spec');
        const message = usage ? errorMessage(err) : `shadow report of ${file}: ${errorMessage(err)}`;
        process.stderr.write(`streamscore: ${redactText(message, secrets)}\n`);
        process.exitCode = SHADOW_EXIT.usage;
      }
    });
}

function parseSinceOption(text: string): Date {
  try {
    return parseSince(text);
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

/**
 * The shadow settings of a pipeline file. Problems elsewhere in the file are configuration errors;
 * problems inside `spec.model.shadow` are left to our own (loose) reading of it, so the command works
 * whether or not the pipeline schema knows the section.
 */
function readSettings(file: string): { settings: ShadowSettings; secrets: Set<string> } {
  const loaded = loadPipeline(file);
  const fatal = loaded.problems.filter((p) => !/^spec\.model\.shadow\b/.test(p.path));
  if (loaded.data === undefined || fatal.length > 0) {
    const problems = fatal.length > 0 ? fatal : loaded.problems;
    throw new UsageError(
      `${file} is not a valid pipeline:\n${redactText(problems.map(formatProblem).join('\n'), loaded.secrets)}`,
    );
  }
  const settings = shadowSettingsOf(loaded.pipeline ?? loaded.data);
  if (settings === undefined)
    throw new UsageError(`${file}: spec.model.shadow is not set: no shadow to report on`);
  return { settings, secrets: loaded.secrets };
}

/** Commander's own errors (unknown option, missing argument, bad --format) exit 2; help exits 0. */
function usageExit(err: CommanderError): never {
  process.exit(err.exitCode === 0 ? 0 : SHADOW_EXIT.usage);
}
