import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { renderFunctionDocs } from '../expr/index.js';
import { renderReference } from '../spec/reference.js';

export function registerDocs(program: Command): void {
  program
    .command('docs')
    .description(
      'Print the pipeline reference (every field, from the schema), or write it and the function docs.',
    )
    .option('--write', 'write docs/pipeline-reference.md and workers/expr/FUNCTIONS.md')
    .addHelpText('after', '\nExamples:\n  $ streamscore docs | less\n  $ streamscore docs --write')
    .action((opts: { write?: boolean }) => {
      if (opts.write) {
        writeFileSync('docs/pipeline-reference.md', renderReference());
        writeFileSync('workers/expr/FUNCTIONS.md', renderFunctionDocs());
        return;
      }
      process.stdout.write(renderReference());
    });
}
