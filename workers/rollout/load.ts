import type { ModelInfo } from '../core/types.js';
import { type ModelRegistry, OnnxModel, type OnnxModelOptions } from '../inference/index.js';
import { manifestBeside } from '../models/catalog.js';
import type { CheckedSpec } from '../spec/checks.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import { type ModelRole, modelFile } from './targets.js';

/** A model version loaded and checked against a pipeline, with what identifies it in every row. */
export interface LoadedVersion {
  model: OnnxModel;
  info: ModelInfo;
}

/** How every version of a pipeline's model is bound: the features' width and names, the outputs. */
export function modelLoadOptions(
  p: Pipeline,
  checked: CheckedSpec,
  registry: ModelRegistry,
): OnnxModelOptions {
  return {
    registry,
    inputWidth: checked.features.reduce((w, f) => w + f.width, 0),
    featureNames: checked.features.map((f) => f.name),
    ...(p.spec.model.input ? { inputName: p.spec.model.input } : {}),
    outputs: p.spec.model.outputs,
    session: { intraOpNumThreads: p.spec.model.threads },
  };
}

/**
 * Loads one version for a pipeline. When a manifest sits next to the file, the loaded bytes' sha256
 * must be the manifest's (a corrupted or replaced file refuses to load: ModelError MODEL_SHA_MISMATCH);
 * then the session is checked against the features and outputs (ModelError on any mismatch).
 */
export async function loadModelVersion(args: {
  file: string;
  pipeline: Pipeline;
  checked: CheckedSpec;
  version: string;
  role?: ModelRole;
  registry: ModelRegistry;
}): Promise<LoadedVersion> {
  const { pipeline: p } = args;
  const path = modelFile(args.file, p, args.version, args.role);
  const expected = manifestBeside(path)?.sha256;
  const model = await OnnxModel.load(path, {
    ...modelLoadOptions(p, args.checked, args.registry),
    version: args.version,
    ...(expected === undefined ? {} : { expectedSha256: expected }),
  });
  return { model, info: { name: p.spec.model.name, version: args.version, sha256: model.sha256 } };
}
