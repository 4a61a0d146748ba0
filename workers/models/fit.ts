import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { errorMessage } from '../core/errors.js';
import { OnnxModel } from '../inference/index.js';
import { checkPipeline } from '../spec/checks.js';
import { type LoadedPipeline, loadPipeline } from '../spec/load.js';
import { formatProblem } from '../spec/problems.js';
import { MANIFEST, type ModelVersionInfo, readVersion } from './catalog.js';

/** Where a pipeline follows an alias: its primary model, its shadow or its canary. */
export type AliasRole = 'primary' | 'shadow' | 'canary';

/** One pipeline's use of an alias, and whether a candidate version fits it. */
export interface AliasFit {
  file: string;
  pipeline: string;
  role: AliasRole;
  /** Why the candidate cannot serve this pipeline; absent when it fits. */
  error?: string;
}

/**
 * Every pipeline file under `pipelinesDir` (recursively, *.yaml / *.yml of kind Pipeline) whose model,
 * shadow or canary follows `model`@`alias` on `controlTopic`, each checked against `candidate`:
 * the pipeline's own registry holds the same version (same sha256), and the model loads against the
 * pipeline's features (width, names) and resolves every output reference.
 */
export async function checkAliasFit(opts: {
  pipelinesDir: string;
  model: string;
  alias: string;
  controlTopic: string;
  candidate: ModelVersionInfo;
}): Promise<AliasFit[]> {
  const out: AliasFit[] = [];
  for (const file of yamlFiles(opts.pipelinesDir)) {
    const loaded = loadPipeline(file);
    const m = field(loaded.data, 'spec', 'model');
    if (field(loaded.data, 'kind') !== 'Pipeline' || field(m, 'name') !== opts.model) continue;
    if ((field(m, 'control_topic') ?? 'streamscore.control') !== opts.controlTopic) continue;
    const pipeline = String(field(loaded.data, 'metadata', 'name') ?? file);
    const roles: [AliasRole, unknown][] = [
      ['primary', m],
      ['shadow', field(m, 'shadow')],
      ['canary', field(m, 'canary')],
    ];
    for (const [role, section] of roles) {
      if (field(section, 'alias') !== opts.alias) continue;
      const registry = resolve(dirname(resolve(file)), String(field(m, 'registry') ?? 'models'));
      const error =
        sameVersionIn(registry, opts.candidate) ?? (await versionFitError(loaded, opts.candidate));
      out.push({ file, pipeline, role, ...(error === undefined ? {} : { error }) });
    }
  }
  return out;
}

/**
 * Why `candidate` cannot score for the pipeline in `file` (fixed version or alias alike), or
 * undefined when it fits: the pipeline must load and pass its checks, and the model must take its
 * features and have every output it maps.
 */
export async function checkVersionFit(
  file: string,
  candidate: ModelVersionInfo,
): Promise<string | undefined> {
  return versionFitError(loadPipeline(file), candidate);
}

async function versionFitError(
  loaded: LoadedPipeline,
  candidate: ModelVersionInfo,
): Promise<string | undefined> {
  const p = loaded.pipeline;
  const problems = p ? checkPipeline(loaded, p) : undefined;
  const first = loaded.problems[0] ?? problems?.problems[0];
  if (!p || !problems || first) {
    return `the pipeline does not load, so ${candidate.name}/${candidate.version} cannot be checked against it: ${first ? formatProblem(first) : 'invalid'}`;
  }
  const features = problems.checked.features;
  let model: OnnxModel | undefined;
  try {
    model = await OnnxModel.load(candidate.onnxPath, {
      version: candidate.version,
      inputWidth: features.reduce((w, f) => w + f.width, 0),
      featureNames: features.map((f) => f.name),
      ...(p.spec.model.input ? { inputName: p.spec.model.input } : {}),
      outputs: p.spec.model.outputs,
    });
    return undefined;
  } catch (err) {
    return errorMessage(err);
  } finally {
    await model?.close();
  }
}

/** A pipeline reads versions from its own registry: it must hold the candidate, byte for byte. */
function sameVersionIn(registry: string, candidate: ModelVersionInfo): string | undefined {
  if (resolve(registry) === resolve(candidate.dir, '..', '..')) return undefined;
  if (!existsSync(join(registry, candidate.name, candidate.version, MANIFEST))) {
    return `its registry ${registry} has no ${candidate.name}/${candidate.version}: copy the version there first`;
  }
  const there = readVersion(registry, candidate.name, candidate.version);
  return there.sha256 === candidate.sha256
    ? undefined
    : `its registry ${registry} holds a different ${candidate.name}/${candidate.version} (sha256 ${there.sha256}, promoting ${candidate.sha256})`;
}

function field(obj: unknown, ...keys: string[]): unknown {
  let v = obj;
  for (const k of keys) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** *.yaml / *.yml files under `dir`, recursively (manifests and dot-folders left out), sorted. */
export function yamlFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    if (n.startsWith('.') || n === 'node_modules') continue;
    const p = join(dir, n);
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      continue;
    }
    if (isDir) out.push(...yamlFiles(p));
    else if ((n.endsWith('.yaml') || n.endsWith('.yml')) && n !== MANIFEST) out.push(p);
  }
  return out;
}
