import { type Command, type CommanderError, Option } from 'commander';
import { auditTableOf } from '../audit/config.js';
import { explainDecision, findDecision, formatExplanation, isDecisionId } from '../audit/explain.js';
import { errorMessage } from '../core/errors.js';
import { redactText } from '../core/secret.js';
import { createPostgresKnex } from '../sinks/postgres/client.js';
import { checkPipeline } from '../spec/checks.js';
import { loadPipeline } from '../spec/load.js';
import { firstPostgres } from '../spec/postgres-url.js';
import { formatProblem } from '../spec/problems.js';

interface ExplainOptions {
  format: 'text' | 'json';
  decision?: string;
  output?: string;
}

/** Exit codes: 0 explained, 1 no such decision, 2 usage, configuration or database error. */
export const EXPLAIN_EXIT = { ok: 0, notFound: 1, usage: 2 } as const;

class ExplainFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description(
      'Explain the current prediction for an entity (or a past decision) from the audit log: its change event, model version and sha256, features, outputs and per-feature attributions.',
    )
    .argument('<pipeline>', 'pipeline YAML file with an audit section')
    .argument(
      '<key>',
      'entity key as the audit log stores it (int64 digits, the string, or composite keys as JSON)',
    )
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .option('--decision <id>', 'explain this decision (uuid) of the key instead of the newest')
    .option('--output <field>', 'output field to attribute (default: the first float output)')
    .exitOverride(usageExit)
    .addHelpText(
      'after',
      `
Reads the pipeline's audit table (audit.table, default ml.<pipeline>__audit) in the database of its
first postgres sink. The attribution re-runs the decision's model version (loaded from the pipeline's
registry, sha256 checked against the record) with each feature alone replaced by its training median
(the manifest's \`reference\`); it ignores interactions, and features under hash/omit are not attributed.
Exit 0 explained, 1 no such key or decision, 2 usage or configuration error.

Examples:
  $ streamscore explain pipelines/churn-scoring.yaml 42
  $ streamscore explain pipelines/churn-scoring.yaml 42 --format json | jq .attribution.features
  $ streamscore explain pipelines/churn-scoring.yaml 42 --decision 1b4e28ba-2fa1-11d2-883f-0016d3cca427`,
    )
    .action(async (file: string, key: string, opts: ExplainOptions) => {
      let secrets: Iterable<string> = [];
      try {
        const loaded = loadPipeline(file);
        secrets = loaded.secrets;
        const p = loaded.pipeline;
        if (p === undefined || loaded.problems.length > 0) {
          throw new ExplainFailure(
            `${file} is not a valid pipeline:\n${loaded.problems.map(formatProblem).join('\n')}`,
            EXPLAIN_EXIT.usage,
          );
        }
        const { problems, checked } = checkPipeline(loaded, p);
        if (problems.length > 0) {
          throw new ExplainFailure(
            `${file} is not a valid pipeline:\n${problems.map(formatProblem).join('\n')}`,
            EXPLAIN_EXIT.usage,
          );
        }
        const table = auditTableOf(p);
        if (table === undefined) {
          throw new ExplainFailure(`${file}: spec.audit is not set: no audit log to explain from`, 2);
        }
        const connection = firstPostgres(p);
        if (connection === undefined)
          throw new ExplainFailure(`${file}: no postgres sink holds the audit log`, 2);
        if (opts.decision !== undefined && !isDecisionId(opts.decision)) {
          throw new ExplainFailure(`--decision expects a decision id (a uuid), got '${opts.decision}'`, 2);
        }
        const db = createPostgresKnex(
          { ...connection, pool_size: 1 },
          { applicationName: 'streamscore-explain' },
        );
        try {
          const d = await findDecision(db, table, key, opts.decision).catch((err: unknown) => {
            // 42P01 undefined_table: no worker of the pipeline has opened its audit log yet.
            if ((err as { code?: unknown }).code !== '42P01') throw err;
            throw new ExplainFailure(
              `no decision for key '${key}': the audit log ${table} does not exist yet (no worker of this pipeline has written with spec.audit on)`,
              EXPLAIN_EXIT.notFound,
            );
          });
          if (d === undefined) {
            throw new ExplainFailure(
              opts.decision === undefined
                ? `no decision for key '${key}' in ${table}: the pipeline has not written a prediction for it (or its records are past retention)`
                : `no decision ${opts.decision} in ${table}`,
              EXPLAIN_EXIT.notFound,
            );
          }
          if (d.key !== key) {
            throw new ExplainFailure(
              `decision ${d.decisionId} is about key '${d.key}', not '${key}'`,
              EXPLAIN_EXIT.notFound,
            );
          }
          const e = await explainDecision(file, p, checked, d, {
            ...(opts.output === undefined ? {} : { output: opts.output }),
          });
          process.stdout.write(
            opts.format === 'json' ? `${JSON.stringify(e, null, 2)}\n` : formatExplanation(e),
          );
          process.exitCode = EXPLAIN_EXIT.ok;
        } finally {
          await db.destroy();
        }
      } catch (err) {
        const code = err instanceof ExplainFailure ? err.exitCode : EXPLAIN_EXIT.usage;
        const message =
          err instanceof ExplainFailure ? err.message : `explain ${file} ${key}: ${errorMessage(err)}`;
        process.stderr.write(`streamscore: ${redactText(message, secrets)}\n`);
        process.exitCode = code;
      }
    });
}

/** Commander's own errors (unknown option, missing argument, bad --format) exit 2; help exits 0. */
function usageExit(err: CommanderError): never {
  process.exit(err.exitCode === 0 ? 0 : EXPLAIN_EXIT.usage);
}
