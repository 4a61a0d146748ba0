import type { Command } from 'commander';
import { InitError, runInit } from '../init/init.js';

interface InitCliOptions {
  table?: string;
  model: string;
  topic?: string;
  subject?: string;
  out?: string;
  schemaOut?: string;
  force?: boolean;
  databaseUrl?: string;
  registryUrl?: string;
  connectUrl?: string;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description(
      'Scaffold a pipeline from a Postgres table (or a registry subject) and a model version: the input schema, the pipeline with its features matched to columns (a TODO for each other), and a starter test file.',
    )
    .option('--table <schema.table>', 'the source table, read from Postgres (DATABASE_URL or --database-url)')
    .requiredOption(
      '--model <dir>',
      'a model version folder with manifest.yaml, e.g. pipelines/models/churn/1',
    )
    .option(
      '--topic <topic>',
      "the table's Debezium topic (<topic.prefix>.<schema>.<table>; default: found on Kafka Connect)",
    )
    .option('--subject <subject>', 'read the row schema from this registry subject (<topic>-value) instead')
    .option('--out <file>', 'the pipeline file (default pipelines/<table>-<model>.yaml)')
    .option(
      '--schema-out <file>',
      'the input schema file (default schemas/<schema>.<table>.avsc next to the pipelines folder)',
    )
    .option('--force', 'overwrite files that exist')
    .option('--database-url <url>', 'Postgres to read the table from (default: DATABASE_URL)')
    .option('--registry-url <url>', 'schema registry for --subject (default: SCHEMA_REGISTRY_URL)')
    .option(
      '--connect-url <url>',
      'Kafka Connect: without --topic, take the topic of the Debezium connector capturing the table (default: KAFKA_CONNECT_URL)',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ streamscore init --table crm.customers --model pipelines/models/churn/1 --topic crm.crm.customers
  $ streamscore init --subject crm.crm.customers-value --model pipelines/models/churn/1 --out pipelines/churn2.yaml`,
    )
    .action(async (opts: InitCliOptions) => {
      try {
        const r = await runInit({
          ...opts,
          databaseUrl: opts.databaseUrl ?? process.env['DATABASE_URL'],
          registryUrl: opts.registryUrl ?? process.env['SCHEMA_REGISTRY_URL'],
          connectUrl: opts.connectUrl ?? process.env['KAFKA_CONNECT_URL'],
          command: `streamscore ${process.argv.slice(2).join(' ')}`,
        });
        const matched = r.matches.filter((m) => m.kind === 'column');
        process.stdout.write(
          `wrote ${r.files.schema}, ${r.files.pipeline}, ${r.files.test}\n` +
            `topic: ${r.topic ?? 'TODO (no single Debezium connector captures the table: pass --topic)'}\n` +
            `${matched.length}/${r.matches.length} feature(s) matched to columns` +
            (r.todos > 0
              ? `; ${r.todos} TODO(s) to answer in ${r.files.pipeline} (streamscore validate ${r.files.pipeline} lists them)\n`
              : '\n'),
        );
        for (const m of r.matches) {
          process.stdout.write(
            m.kind === 'column'
              ? `  ${m.feature} ← ${m.how}${m.nullTodo ? ' (TODO: its null value)' : ''}\n`
              : `  ${m.feature}: TODO\n`,
          );
        }
      } catch (err) {
        if (
          !(err instanceof InitError) &&
          (err as Error).name !== 'IntrospectionError' &&
          (err as Error).name !== 'ModelError'
        )
          throw err;
        process.stderr.write(`streamscore init: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
