import { existsSync, readdirSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { modelFile, modelTargets, registryDir } from '../rollout/targets.js';
import type { Pipeline } from './pipeline-schema.js';

type Add = (path: (string | number)[], code: string, message: string) => void;

/** Versions of a model in a registry folder: sub-folders holding a model.onnx, in numeric order. */
export function registryVersions(dir: string, name: string): string[] {
  const root = resolve(dir, name);
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(resolve(root, d.name, 'model.onnx')))
    .map((d) => d.name)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** The model section's own rules: one target each, files present, shadow comparisons resolvable. */
export function checkModelSection(file: string, p: Pipeline, add: Add): void {
  const m = p.spec.model;
  for (const t of modelTargets(p)) {
    if ((t.version === undefined) === (t.alias === undefined)) {
      add(
        [...t.path],
        'model_target',
        `expected exactly one of version or alias, got ${t.version === undefined ? 'neither' : 'both'}`,
      );
      continue;
    }
    if (t.version !== undefined) {
      const onnx = modelFile(file, p, t.version, t.role);
      if (!existsSync(onnx)) {
        const declared = t.role === 'primary' && m.path !== undefined ? m.path : relativeTo(file, onnx);
        const fromPath = t.role === 'primary' && m.path !== undefined;
        const there = fromPath ? [] : registryVersions(registryDir(file, p), m.name);
        add(
          fromPath ? ['spec', 'model', 'path'] : [...t.path, 'version'],
          'model_not_found',
          `expected an ONNX file at ${declared} (relative to the pipeline file: ${onnx}), got no file` +
            (there.length > 0 ? ` (versions of ${m.name} in the registry: ${there.join(', ')})` : ''),
        );
      }
    } else if (registryVersions(registryDir(file, p), m.name).length === 0) {
      add(
        [...t.path, 'alias'],
        'model_not_found',
        `expected versions of model ${m.name} under ${relativeTo(file, resolve(registryDir(file, p), m.name))}/<version>/model.onnx for alias ${t.alias}, got none`,
      );
    }
  }
  if (m.path !== undefined && m.version === undefined) {
    add(
      ['spec', 'model', 'path'],
      'model_path_with_alias',
      'expected path only with a fixed version, got it with an alias',
    );
  }
  const outputs = Object.keys(m.outputs);
  if (m.shadow) {
    const c = m.shadow.compare;
    for (const [k, field] of [
      ['score', c.score],
      ['label', c.label],
    ] as const) {
      if (field !== undefined && !outputs.includes(field)) {
        add(
          ['spec', 'model', 'shadow', 'compare', k],
          'unknown_prediction_field',
          `expected a prediction field of model.outputs (${outputs.join(', ')}), got '${field}'`,
        );
      }
    }
    if (m.shadow.postgres_url === undefined && !p.spec.sinks.some((s) => 'postgres' in s)) {
      add(
        ['spec', 'model', 'shadow'],
        'shadow_without_postgres',
        'expected postgres_url (where the comparison table lives) or a postgres sink, got neither',
      );
    }
  }
}

function relativeTo(file: string, target: string): string {
  return relative(resolve(file, '..'), target);
}
