import { dirname, resolve } from 'node:path';
import { errorMessage } from '../core/errors.js';
import { ModelError, ModelRegistry, OnnxModel } from '../inference/index.js';
import { type CheckedSpec, checkPipeline } from './checks.js';
import { type LoadedPipeline, type LoadOptions, loadPipeline } from './load.js';
import type { Pipeline } from './pipeline-schema.js';
import { formatPath, type Problem, sortProblems } from './problems.js';

export interface ValidatedPipeline extends LoadedPipeline {
  checked: CheckedSpec | undefined;
  /** The loaded and checked model, when `keepModel` was asked for and everything is valid. */
  model: OnnxModel | undefined;
}

export interface ValidateOptions extends LoadOptions {
  /** Keep the model session open for the caller (plan, run); otherwise it is closed. */
  keepModel?: boolean;
  registry?: ModelRegistry;
}

/** Everything `streamscore validate` checks for one file: YAML, variables, schema, expressions, references, model. */
export async function validatePipelineFile(
  file: string,
  options: ValidateOptions = {},
): Promise<ValidatedPipeline> {
  const loaded = loadPipeline(file, options);
  if (!loaded.pipeline) return { ...loaded, checked: undefined, model: undefined };
  const pipeline: Pipeline = loaded.pipeline;
  const { problems, checked } = checkPipeline(loaded, pipeline);
  let model: OnnxModel | undefined;
  if (problems.length === 0) {
    // Loaded by its absolute path (whatever the working directory); reported as written.
    const modelPath = resolve(dirname(resolve(file)), pipeline.spec.model.path);
    try {
      model = await OnnxModel.load(modelPath, {
        registry: options.registry ?? new ModelRegistry(),
        version: pipeline.spec.model.version,
        inputWidth: checked.features.reduce((w, f) => w + f.width, 0),
        featureNames: checked.features.map((f) => f.name),
        ...(pipeline.spec.model.input ? { inputName: pipeline.spec.model.input } : {}),
        outputs: pipeline.spec.model.outputs,
        session: { intraOpNumThreads: pipeline.spec.model.threads },
      });
    } catch (err) {
      const code = ModelError.is(err) ? err.code : 'MODEL_LOAD_FAILED';
      // A ModelError's message starts with `model <the path it was loaded by>: `.
      const loadedAs = `model ${modelPath}: `;
      const raw = errorMessage(err);
      const message = raw.startsWith(loadedAs)
        ? `model ${pipeline.spec.model.path}: ${raw.slice(loadedAs.length)}`
        : raw;
      const field = /output of field '([^']+)'/.exec(message)?.[1];
      const path = code.startsWith('MODEL_OUTPUT')
        ? ['spec', 'model', 'outputs', ...(field ? [field] : [])]
        : ['spec', 'model', 'path'];
      const pos = loaded.locate.at(path);
      problems.push({
        file,
        line: pos.line,
        column: pos.column,
        path: formatPath(path),
        code: code.toLowerCase(),
        message,
      });
    }
  }
  const all: Problem[] = sortProblems([...loaded.problems, ...problems]);
  if (model && (!options.keepModel || all.length > 0)) {
    await model.close();
    model = undefined;
  }
  return { ...loaded, pipeline: all.length === 0 ? pipeline : undefined, problems: all, checked, model };
}
