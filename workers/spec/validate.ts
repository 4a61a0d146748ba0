import { type CheckedSpec, checkPipeline } from './checks.js';
import { type LoadedPipeline, type LoadOptions, loadPipeline } from './load.js';
import type { Pipeline } from './pipeline-schema.js';
import { type Problem, sortProblems } from './problems.js';

export interface ValidatedPipeline extends LoadedPipeline {
  checked: CheckedSpec | undefined;
}

/** Everything `streamscore validate` checks for one file: YAML, variables, schema, expressions, references. */
export async function validatePipelineFile(
  file: string,
  options: LoadOptions = {},
): Promise<ValidatedPipeline> {
  const loaded = loadPipeline(file, options);
  if (!loaded.pipeline) return { ...loaded, checked: undefined };
  const pipeline: Pipeline = loaded.pipeline;
  const { problems, checked } = checkPipeline(loaded, pipeline);
  const all: Problem[] = sortProblems([...loaded.problems, ...problems]);
  return { ...loaded, pipeline: all.length === 0 ? pipeline : undefined, problems: all, checked };
}
