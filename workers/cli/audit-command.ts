import { type Command, type CommanderError, Option } from 'commander';
import { auditTableOf } from '../audit/config.js';
import { recordOverride } from '../audit/override.js';
import { hashedValue } from '../audit/record.js';
import { AuditTableMissing, formatAuditVerify, verifyAudit } from '../audit/verify.js';
import { defaultActor } from '../control/events.js';
import { errorMessage } from '../core/errors.js';
import { redactText } from '../core/secret.js';
import { parseSince } from '../shadow/stats.js';
import { createPostgresKnex } from '../sinks/postgres/client.js';
import type { PostgresConnectionConfig } from '../sinks/postgres/connection.js';
import { loadPipeline } from '../spec/load.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import { firstPostgres } from '../spec/postgres-url.js';
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
    .description(
      'The decision audit log of a pipeline (spec.audit): verify its hash chains, record overrides.',
    );
  registerVerify(audit);
  registerOverride(audit);
  registerHash(audit);
}

/**
 * A feature value as the worker held it when it hashed it: features are float32 (booleans 1/0),
 * so a claimed 99.99 is hashed as the float32 nearest to it, as the record was.
 */
export function featureValueOf(text: string): number {
  const t = text.trim();
  if (t === 'true' || t === 'false') return t === 'true' ? 1 : 0;
  const n = Number(t);
  if (t === '' || Number.isNaN(n)) {
    throw new UsageError(`expected a number (or true/false) as the feature value, got '${text}'`);
  }
  return Math.fround(n);
}

function registerHash(audit: Command): void {
  audit
    .command('hash')
    .description(
      "Print a feature value's keyed hash (policy hash) as the pipeline's records hold it: compare it with a record to check a claimed value.",
    )
    .argument('<pipeline>', 'pipeline YAML file with spec.audit and its hash_key')
    .argument('<value>', 'the claimed feature value (a number, or true/false)')
    .exitOverride(usageExit)
    .addHelpText(
      'after',
      `
Example:
  $ streamscore audit hash pipelines/churn-scoring.yaml 99.99      # h:… as in the record's features`,
    )
    .action((file: string, value: string) => {
      try {
        const loaded = loadPipeline(file);
        const { pipeline } = auditTarget(file, loaded);
        const key = pipeline.spec.audit?.hash_key?.reveal();
        if (key === undefined)
          throw new UsageError(`${file}: spec.audit.hash_key is not set: nothing is hashed`);
        process.stdout.write(`${hashedValue(featureValueOf(value), key)}\n`);
      } catch (err) {
        process.stderr.write(`streamscore: ${errorMessage(err)}\n`);
        process.exitCode = AUDIT_VERIFY_EXIT.usage;
      }
    });
}

interface OverrideOptions {
  value: string;
  by?: string;
  reason: string;
  decision?: string;
}

function registerOverride(audit: Command): void {
  audit
    .command('override')
    .description(
      "Record a human override of a decision (the key's newest, or --decision <id>) in the same hash chain; `explain` shows it.",
    )
    .argument('<pipeline>', 'pipeline YAML file with spec.audit')
    .argument('<key>', "the entity key (its exact text: int64 digits, or a composite key's JSON)")
    .requiredOption('--value <value>', 'the value decided instead (JSON, or text)')
    .requiredOption('--reason <text>', 'why')
    .option('--by <who>', 'who decided (default: the OS user)')
    .option('--decision <id>', 'the decision overridden (default: the newest for the key)')
    .exitOverride(usageExit)
    .addHelpText(
      'after',
      `
Examples:
  $ streamscore audit override pipelines/churn-scoring.yaml 42 --value 0 --reason "retention call: customer stays"
  $ streamscore audit override pipelines/churn-scoring.yaml 42 --value '{"churn_label":0}' --decision 3f6c… --by alice --reason "…"`,
    )
    .action(async (file: string, key: string, opts: OverrideOptions) => {
      let secrets: Iterable<string> = [];
      const db: { destroy(): Promise<void> }[] = [];
      try {
        const loaded = loadPipeline(file);
        secrets = loaded.secrets;
        const { connection, table } = auditTarget(file, loaded);
        const knex = createPostgresKnex(
          { ...connection, pool_size: 1 },
          { applicationName: 'streamscore-cli' },
        );
        db.push(knex);
        const r = await recordOverride(knex, table, {
          key,
          value: opts.value,
          by: opts.by ?? defaultActor(),
          reason: opts.reason,
          ...(opts.decision === undefined ? {} : { decisionId: opts.decision }),
        });
        process.stdout.write(
          `override ${r.decisionId} of decision ${r.overrides} (key ${key}) recorded in chain ${r.chain} at ${r.at}\n`,
        );
        process.exitCode = 0;
      } catch (err) {
        process.stderr.write(`streamscore: ${redactText(`audit override: ${errorMessage(err)}`, secrets)}\n`);
        process.exitCode = err instanceof UsageError ? AUDIT_VERIFY_EXIT.usage : 1;
      } finally {
        for (const d of db) await d.destroy();
      }
    });
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
        const { connection, table } = auditTarget(file, loaded);
        const since = opts.since === undefined ? undefined : parseSinceOption(opts.since);
        const report = await verifyAudit(connection, table, { since });
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

/** The audit table of a pipeline file and the connection of its first postgres sink. */
export function auditTarget(
  file: string,
  loaded: ReturnType<typeof loadPipeline>,
): { connection: PostgresConnectionConfig; table: string; pipeline: Pipeline } {
  const p = loaded.pipeline;
  if (p === undefined || loaded.problems.length > 0) {
    throw new UsageError(
      `${file} is not a valid pipeline:\n${redactText(loaded.problems.map(formatProblem).join('\n'), loaded.secrets)}`,
    );
  }
  const table = auditTableOf(p);
  if (table === undefined) throw new UsageError(`${file}: spec.audit is not set: no audit log to verify`);
  const connection = firstPostgres(p);
  if (connection === undefined) {
    throw new UsageError(`${file}: the pipeline has no postgres sink: the audit log is kept in its database`);
  }
  return { connection, table, pipeline: p };
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
