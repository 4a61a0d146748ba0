import { redactText } from '../core/secret.js';
import type { ModelRegistry } from '../inference/index.js';
import { formatProblem } from '../spec/problems.js';
import { type ValidatedPipeline, validatePipelineFile } from '../spec/validate.js';

/**
 * Validates every pipeline file of a command that runs them (run, serve), printing each problem to
 * stderr with its secrets redacted. Undefined when any file has a problem (the command exits 1).
 */
export async function validateFiles(
  files: readonly string[],
  options: { keepModel: boolean; registry: ModelRegistry },
): Promise<ValidatedPipeline[] | undefined> {
  const validated: ValidatedPipeline[] = [];
  let bad = false;
  for (const f of files) {
    const v = await validatePipelineFile(f, options);
    if (v.problems.length > 0) {
      bad = true;
      process.stderr.write(`${redactText(v.problems.map(formatProblem).join('\n'), v.secrets)}\n`);
    }
    validated.push(v);
  }
  return bad ? undefined : validated;
}
