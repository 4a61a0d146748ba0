import { dirname, relative, resolve } from 'node:path';
import { errorMessage } from '../core/errors.js';
import type { ModelInfo } from '../core/types.js';
import { ModelError, ModelRegistry, type OnnxModel } from '../inference/index.js';
import { type LoadedVersion, loadModelVersion } from '../rollout/load.js';
import {
  type ModelRole,
  type ModelTarget,
  modelFile,
  modelTargets,
  registryDir,
} from '../rollout/targets.js';
import { type CheckedSpec, checkPipeline } from './checks.js';
import { type LoadedPipeline, type LoadOptions, loadPipeline } from './load.js';
import { registryVersions } from './model-checks.js';
import type { Pipeline } from './pipeline-schema.js';
import { formatPath, type Problem, sortProblems } from './problems.js';

export interface ValidatedPipeline extends LoadedPipeline {
  checked: CheckedSpec | undefined;
  /** The loaded and checked model, when `keepModel` was asked for, the version is fixed and everything is valid. */
  model: OnnxModel | undefined;
  /** Name, version and sha256 of `model`. */
  modelInfo?: ModelInfo | undefined;
  /** Every version each target may use (fixed, or all of the registry for an alias), and whether it fits. */
  versions: VersionFit[];
}

/** Whether one model version fits the pipeline (width, feature names, every output reference). */
export interface VersionFit {
  role: ModelRole;
  version: string;
  alias?: string;
  sha256?: string;
  /** Why it does not fit (or cannot load); absent when it fits. */
  error?: string;
}

/** A model load failure as a problem at the YAML node that chose that version. */
function modelProblem(
  loaded: LoadedPipeline,
  file: string,
  pipeline: Pipeline,
  t: ModelTarget,
  version: string,
  err: unknown,
): Problem {
  const code = ModelError.is(err)
    ? err.code
    : t.alias !== undefined
      ? 'MODEL_SIGNATURE_MISMATCH'
      : 'MODEL_LOAD_FAILED';
  const modelPath = modelFile(file, pipeline, version, t.role);
  // A ModelError's message starts with `model <the path it was loaded by>: `; report it as written.
  const loadedAs = `model ${modelPath}: `;
  const raw = errorMessage(err);
  const written =
    t.role === 'primary' && pipeline.spec.model.path !== undefined && t.version !== undefined
      ? pipeline.spec.model.path
      : relative(dirname(resolve(file)), modelPath);
  const message = raw.startsWith(loadedAs) ? `model ${written}: ${raw.slice(loadedAs.length)}` : raw;
  const field = /output of field '([^']+)'/.exec(message)?.[1];
  const path = code.startsWith('MODEL_OUTPUT')
    ? ['spec', 'model', 'outputs', ...(field ? [field] : [])]
    : t.role === 'primary' && pipeline.spec.model.path !== undefined
      ? ['spec', 'model', 'path']
      : [...t.path, t.alias !== undefined ? 'alias' : 'version'];
  const pos = loaded.locate.at(path);
  return {
    file,
    line: pos.line,
    column: pos.column,
    path: formatPath(path),
    code: code.toLowerCase(),
    message,
  };
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
  if (!loaded.pipeline) return { ...loaded, checked: undefined, model: undefined, versions: [] };
  const pipeline: Pipeline = loaded.pipeline;
  const { problems, checked } = checkPipeline(loaded, pipeline);
  let model: OnnxModel | undefined;
  let loadedVersion: LoadedVersion | undefined;
  const fits: VersionFit[] = [];
  if (problems.length === 0) {
    const registry = options.registry ?? new ModelRegistry();
    // A file is loaded and checked once, whichever targets (primary, shadow, canary) may use it.
    const checkedFiles = new Map<string, { sha256: string } | { err: unknown }>();
    const check = async (version: string, role: ModelRole, keep: boolean) => {
      const path = modelFile(file, pipeline, version, role);
      const known = checkedFiles.get(path);
      if (known !== undefined && !keep) return known;
      let result: { sha256: string } | { err: unknown };
      try {
        const v = await loadModelVersion({ file, pipeline, checked, version, role, registry });
        result = { sha256: v.model.sha256 };
        // The primary's fixed version is kept for the caller (run, plan); everything else is closed.
        if (keep) loadedVersion = v;
        else await v.model.close();
      } catch (err) {
        result = { err };
      }
      checkedFiles.set(path, result);
      return result;
    };
    for (const t of modelTargets(pipeline)) {
      const versions =
        t.version !== undefined
          ? [t.version]
          : registryVersions(registryDir(file, pipeline), pipeline.spec.model.name);
      const targetFits: VersionFit[] = [];
      for (const version of versions) {
        const keep = t.role === 'primary' && t.version !== undefined && options.keepModel === true;
        const r = await check(version, t.role, keep);
        const base = { role: t.role, version, ...(t.alias ? { alias: t.alias } : {}) };
        if ('sha256' in r) targetFits.push({ ...base, sha256: r.sha256 });
        else {
          // Without the `model <absolute path>: ` prefix: the version says which file it is.
          const error = errorMessage(r.err).replace(
            `model ${modelFile(file, pipeline, version, t.role)}: `,
            '',
          );
          targetFits.push({ ...base, error });
          if (t.version !== undefined) problems.push(modelProblem(loaded, file, pipeline, t, version, r.err));
        }
      }
      fits.push(...targetFits);
      // An alias may point at any version of the registry: at least one must fit (`promote`
      // refuses the others, and `plan` lists why).
      if (t.alias !== undefined && targetFits.length > 0 && targetFits.every((f) => f.error !== undefined)) {
        const first = targetFits.find((f) => f.error !== undefined)!;
        const e = new Error(
          `no version of model ${pipeline.spec.model.name} fits the pipeline for alias ${t.alias} (${targetFits.map((f) => `${f.version}: ${f.error}`).join('; ')})`,
        );
        problems.push(modelProblem(loaded, file, pipeline, t, first.version, e));
      }
    }
    model = loadedVersion?.model;
  }
  const all: Problem[] = sortProblems([...loaded.problems, ...problems]);
  if (model && (!options.keepModel || all.length > 0)) {
    await model.close();
    model = undefined;
  }
  return {
    ...loaded,
    pipeline: all.length === 0 ? pipeline : undefined,
    problems: all,
    checked,
    model,
    modelInfo: model ? loadedVersion?.info : undefined,
    versions: fits,
  };
}
