import type { Command } from 'commander';
import { renderPipelineJsonSchema } from '../spec/json-schema.js';

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description(
      'Print the JSON Schema of the pipeline format (schemas/pipeline.schema.json is this output).',
    )
    .addHelpText('after', '\nExample:\n  $ streamscore schema > schemas/pipeline.schema.json')
    .action(() => {
      process.stdout.write(renderPipelineJsonSchema());
    });
}
