import { z } from 'zod';
import { pipelineSchema } from './pipeline-schema.js';

/** JSON Schema of the pipeline format (input side: what a person writes), for editors and tools. */
export function pipelineJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(pipelineSchema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
  });
  return {
    ...schema,
    $id: 'https://streamscore.dev/schemas/pipeline.schema.json',
    title: 'streamscore pipeline',
  };
}

export function renderPipelineJsonSchema(): string {
  return `${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`;
}
