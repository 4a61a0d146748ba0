import { dirname, resolve } from 'node:path';
import type { Pipeline } from '../spec/pipeline-schema.js';

/** Which part a model plays in a pipeline: the one that decides, a shadow, or a canary. */
export type ModelRole = 'primary' | 'shadow' | 'canary';

/** A model version a pipeline uses, fixed or through an alias. */
export interface ModelTarget {
  role: ModelRole;
  /** YAML path of the section that declares it (for messages). */
  path: readonly string[];
  version?: string;
  alias?: string;
}

/** The primary model's target, then the shadow's and the canary's when declared. */
export function modelTargets(p: Pipeline): ModelTarget[] {
  const m = p.spec.model;
  const out: ModelTarget[] = [target('primary', ['spec', 'model'], m)];
  if (m.shadow) out.push(target('shadow', ['spec', 'model', 'shadow'], m.shadow));
  if (m.canary) out.push(target('canary', ['spec', 'model', 'canary'], m.canary));
  return out;
}

function target(role: ModelRole, path: string[], t: { version?: string; alias?: string }): ModelTarget {
  return {
    role,
    path,
    ...(t.version === undefined ? {} : { version: t.version }),
    ...(t.alias === undefined ? {} : { alias: t.alias }),
  };
}

/** `version 2` or `alias champion`, for messages. */
export function describeTarget(t: Pick<ModelTarget, 'version' | 'alias'>): string {
  return t.alias !== undefined ? `alias ${t.alias}` : `version ${t.version}`;
}

/** The registry folder (absolute) of a pipeline file. */
export function registryDir(file: string, p: Pipeline): string {
  return resolve(dirname(resolve(file)), p.spec.model.registry);
}

/**
 * The ONNX file of a version: the primary's `path` when the pipeline fixes that version with one,
 * else `<registry>/<name>/<version>/model.onnx`.
 */
export function modelFile(file: string, p: Pipeline, version: string, role: ModelRole = 'primary'): string {
  const m = p.spec.model;
  if (role === 'primary' && m.path !== undefined && m.version === version) {
    return resolve(dirname(resolve(file)), m.path);
  }
  return resolve(registryDir(file, p), m.name, version, 'model.onnx');
}
