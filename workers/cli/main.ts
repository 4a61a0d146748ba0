#!/usr/bin/env node
import './process-env.js';
import { Command, Option } from 'commander';
import { LOG_FORMAT_ENV, LOG_FORMATS, resolveLogFormat } from '../observability/logger.js';
import { registerAudit } from './audit-command.js';
import { registerBackfill } from './backfill-command.js';
import { registerCapture } from './capture-command.js';
import { registerDemo } from './demo-command.js';
import { registerDocs } from './docs-command.js';
import { registerDrift } from './drift-command.js';
import { registerExplain } from './explain-command.js';
import { registerInit } from './init-command.js';
import { registerModel } from './model-command.js';
import { registerPipeline } from './pipeline-command.js';
import { registerPlan } from './plan-command.js';
import { registerRun } from './run-command.js';
import { registerSchema } from './schema-command.js';
import { registerServe } from './serve-command.js';
import { registerShadow } from './shadow-command.js';
import { registerTest } from './test-command.js';
import { registerValidate } from './validate-command.js';
import { versionText } from './version.js';

const program = new Command();
program
  .name('streamscore')
  .description(
    'Score Debezium change events with ONNX models; write predictions to Postgres, Snowflake and Kafka.',
  )
  .option('-V, --version', 'print the version, the commit built and the key dependency versions')
  .addOption(
    new Option(
      '--log-format <format>',
      `logs as JSON lines or pretty lines (default: pretty on a terminal, else JSON; env ${LOG_FORMAT_ENV})`,
    ).choices(LOG_FORMATS),
  )
  .configureHelp({ showGlobalOptions: true })
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Examples:
  $ streamscore validate pipelines/*.yaml
  $ streamscore plan pipelines/churn-scoring.yaml
  $ streamscore schema > schemas/pipeline.schema.json`,
  );

// Before any command: --version answers alone; --log-format reaches every logger, fleet workers too.
program.on('option:version', () => {
  process.stdout.write(versionText());
  process.exit(0);
});
program.hook('preAction', () => {
  const format = program.opts<{ logFormat?: string }>().logFormat;
  process.env[LOG_FORMAT_ENV] = resolveLogFormat(format);
});

registerValidate(program);
registerPlan(program);
registerRun(program);
registerServe(program);
registerBackfill(program);
registerSchema(program);
registerDocs(program);
registerDemo(program);
registerShadow(program);
registerModel(program);
registerPipeline(program);
registerExplain(program);
registerAudit(program);
registerTest(program);
registerInit(program);
registerCapture(program);
registerDrift(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`streamscore: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
