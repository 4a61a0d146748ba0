import { readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { ModelRegistry } from '../inference/index.js';
import { verifyRegistryGoldens } from '../testing/golden.js';
import { junitReport, textReport, totals } from '../testing/report.js';
import { type FileResult, runTestFile } from '../testing/runner.js';
import { isTestFile } from '../testing/test-file.js';

interface TestOptions {
  update?: boolean;
  reporter: string;
  output?: string;
}

/** `pipelines/*.test.yaml`, sorted: the default test files. */
function defaultFiles(): string[] {
  let names: string[];
  try {
    names = readdirSync('pipelines');
  } catch {
    return [];
  }
  return names
    .filter(isTestFile)
    .sort()
    .map((n) => join('pipelines', n));
}

export function registerTest(program: Command): void {
  program
    .command('test')
    .description(
      'Run pipeline test files offline (no Kafka, no database): each case through the stream’s decoder, features and model. Exit 1 on any failure.',
    )
    .argument('[files...]', 'test files (default: pipelines/*.test.yaml)')
    .option(
      '-u, --update',
      'write what happens now as the expectation of every failing or new case (snapshot)',
    )
    .option('--reporter <reporter>', 'text or junit', 'text')
    .option('--output <file>', 'write the report to a file instead of stdout')
    .addHelpText(
      'after',
      `
A failing case is printed as FILE:LINE:COL: NAME, then one line per difference:
  feature tenure_months: expected 12, got 11

Examples:
  $ streamscore test
  $ streamscore test pipelines/churn-scoring.test.yaml --update
  $ streamscore test --reporter junit --output reports/streamscore.xml`,
    )
    .action(async (args: string[], opts: TestOptions) => {
      if (opts.reporter !== 'text' && opts.reporter !== 'junit') {
        process.stderr.write(
          `streamscore test: --reporter: expected text or junit, got '${opts.reporter}'\n`,
        );
        process.exitCode = 2;
        return;
      }
      const files = args.length > 0 ? args : defaultFiles();
      if (files.length === 0) {
        process.stderr.write(
          'streamscore test: no test files (expected pipelines/*.test.yaml or files as arguments)\n',
        );
        process.exitCode = 1;
        return;
      }
      const registry = new ModelRegistry();
      const goldenDone = new Map<string, FileResult['golden']>();
      const results: FileResult[] = [];
      for (const f of files)
        results.push(await runTestFile(f, { update: opts.update === true, registry, goldenDone }));
      // Every model's golden.json in the registries of the tested pipelines, not only the versions tested.
      const registries = [...new Set(results.flatMap((r) => (r.registryDir ? [r.registryDir] : [])))];
      for (const dir of registries) {
        const goldens = await verifyRegistryGoldens(dir, registry, goldenDone);
        if (goldens.length > 0) {
          results.push({
            file: relative(process.cwd(), dir) || dir,
            problems: [],
            cases: [],
            ms: 0,
            goldens,
          });
        }
      }
      const report = opts.reporter === 'junit' ? junitReport(results) : textReport(results);
      if (opts.output !== undefined) {
        writeFileSync(opts.output, report);
        if (opts.reporter === 'junit') process.stdout.write(textReport(results));
      } else process.stdout.write(report);
      const t = totals(results);
      process.exitCode = t.failed > 0 || t.broken > 0 ? 1 : 0;
    });
}
