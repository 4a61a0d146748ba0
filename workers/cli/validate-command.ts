import type { Command } from 'commander';
import { redactText } from '../core/secret.js';
import { formatProblem, type Problem } from '../spec/problems.js';
import { validatePipelineFile } from '../spec/validate.js';
import { isTestFile, loadTestFile } from '../testing/test-file.js';

interface ValidateOptions {
  format: 'text' | 'json';
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description(
      'Check pipeline files: YAML, schema, variables, expressions, model signature. Exit 1 on any problem.',
    )
    .argument('<files...>', 'pipeline YAML files')
    .option('--format <format>', 'text or json', 'text')
    .addHelpText(
      'after',
      `
Every problem is printed as FILE:LINE:COL: YAML.PATH: expected …, got …
Files named *.test.yaml are test files (streamscore test): checked against their own schema.

Examples:
  $ streamscore validate pipelines/*.yaml
  $ streamscore validate --format json pipelines/churn-scoring.yaml | jq .`,
    )
    .action(async (files: string[], opts: ValidateOptions) => {
      const all: Problem[] = [];
      const secrets = new Set<string>();
      for (const file of files) {
        if (isTestFile(file)) {
          all.push(...loadTestFile(file).problems);
          continue;
        }
        const result = await validatePipelineFile(file);
        all.push(...result.problems);
        for (const s of result.secrets) secrets.add(s);
      }
      if (opts.format === 'json') {
        process.stdout.write(
          `${redactText(JSON.stringify({ valid: all.length === 0, problems: all }, null, 2), secrets)}\n`,
        );
      } else if (all.length === 0) {
        const tests = files.filter(isTestFile).length;
        process.stdout.write(
          `${files.length - tests} pipeline file(s)${tests > 0 ? ` and ${tests} test file(s)` : ''} valid\n`,
        );
      } else {
        process.stderr.write(`${redactText(all.map(formatProblem).join('\n'), secrets)}\n`);
        process.stderr.write(`${all.length} problem(s) in ${new Set(all.map((p) => p.file)).size} file(s)\n`);
      }
      process.exitCode = all.length === 0 ? 0 : 1;
    });
}
