import { type Command, type CommanderError, Option } from 'commander';
import { auditTableOf } from '../audit/config.js';
import { AuditTableMissing, formatAuditVerify, verifyAudit } from '../audit/verify.js';
import { errorMessage } from '../core/errors.js';
import { redactText } from '../core/secret.js';
import { parseSince } from '../shadow/stats.js';
import { loadPipeline } from '../spec/load.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import { formatProblem } from '../spec/problems.js';

/** Exit codes of `audit verify`. */
export const AUDIT_VERIFY_EXIT = { intact: 0, broken: 1, usage: 2 } as const;

class UsageError extends Error {}

interface VerifyOptions {
  since?: string;
  format: 'text' | 'json';
}

/** `streamscore audit …`: the decision audit log (spec.audit). */
export function registerAudit(program: Command): void {
  const audit = program
    .command('audit')
    .description('The decision audit log of a pipeline (spec.audit): verify its hash chains.');
  registerVerify(audit);
}

function registerVerify(audit: Command): void {
  audit
    .command('verify')
    .description(
      'Recompute every hash chain of the audit log and report the first break of each chain (with its decision id).',
    )
    .argument('<pipeline>', 'pipeline YAML file with spec.audit')
    .option(
      '--since <time>',
      'only records written since: a duration back from now (30m, 2h, 30d) or an ISO time (the first record checked of each chain is then not linked to its predecessor)',
    )
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .exitOverride(usageExit)
    .addHelpText(
      'after',
      `
Reads the audit table (spec.audit.table, default ml.<pipeline>__audit) on the first postgres sink's url.
Checks, per chain (one per Kafka partition, and backfill): each record's hash against its content,
seq contiguous, each prev_hash equal to the previous record's hash ('genesis' at seq 1), and the
newest record equal to the chain's head. Records older than retention_days are gone: a chain may
start after seq 1. Exit 0 intact, 1 any break (the first of each chain is named), 2 usage or
configuration error.

Examples:
  $ streamscore audit verify pipelines/churn-scoring.yaml
  $ streamscore audit verify pipelines/churn-scoring.yaml --since 30d
  $ streamscore audit verify pipelines/churn-scoring.yaml --format json | jq .breaks`,
    )
    .action(async (file: string, opts: VerifyOptions) => {
      let secrets: Iterable<string> = [];
      try {
        const loaded = loadPipeline(file);
        secrets = loaded.secrets;
        const { url, table } = auditTarget(file, loaded);
        const since = opts.since === undefined ? undefined : parseSinceOption(opts.since);
        const report = await verifyAudit(url, table, { since });
        process.stdout.write(
          opts.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatAuditVerify(report),
        );
        process.exitCode = report.intact ? AUDIT_VERIFY_EXIT.intact : AUDIT_VERIFY_EXIT.broken;
      } catch (err) {
        const usage = err instanceof UsageError || err instanceof AuditTableMissing;
        const message = usage ? errorMessage(err) : `audit verify of ${file}: ${errorMessage(err)}`;
        process.stderr.write(`streamscore: ${redactText(message, secrets)}\n`);
        process.exitCode = AUDIT_VERIFY_EXIT.usage;
      }
    });
}

/** The audit table of a pipeline file and the url of its first postgres sink. */
export function auditTarget(
  file: string,
  loaded: ReturnType<typeof loadPipeline>,
): { url: string; table: string; pipeline: Pipeline } {
  const p = loaded.pipeline;
  if (p === undefined || loaded.problems.length > 0) {
    throw new UsageError(
      `${file} is not a valid pipeline:\n${redactText(loaded.problems.map(formatProblem).join('\n'), loaded.secrets)}`,
    );
  }
  const table = auditTableOf(p);
  if (table === undefined) throw new UsageError(`${file}: spec.audit is not set: no audit log to verify`);
  const sink = p.spec.sinks.map((s) => ('postgres' in s ? s.postgres : undefined)).find((s) => s);
  if (sink === undefined) {
    throw new UsageError(`${file}: the pipeline has no postgres sink: the audit log is kept in its database`);
  }
  return { url: sink.url.reveal(), table, pipeline: p };
}

function parseSinceOption(text: string): Date {
  try {
    return parseSince(text);
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

/** Commander's own errors (unknown option, missing argument, bad --format) exit 2; help exits 0. */
function usageExit(err: CommanderError): never {
  process.exit(err.exitCode === 0 ? 0 : AUDIT_VERIFY_EXIT.usage);
}
