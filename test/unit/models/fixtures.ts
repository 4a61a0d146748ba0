import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { churnPipelineCopy } from '../../support/pipelines.js';

/**
 * A model registry and a pipelines folder in a temporary directory: churn 1 and 2 (8 features) and a
 * "churn 3" that is really ltv/1 (4 features, its own valid sha256). `cleanup` removes everything.
 */
export function tmpRegistry(prefix: string): {
  root: string;
  registry: string;
  pipelines: string;
  cleanup(): void;
} {
  const root = mkdtempSync(join(tmpdir(), `streamscore-${prefix}-`));
  const registry = join(root, 'models');
  for (const v of ['1', '2'])
    cpSync(`pipelines/models/churn/${v}`, join(registry, 'churn', v), { recursive: true });
  copyVersion(registry, 'pipelines/models/ltv/1', '3', { name: 'ltv', version: '1' });
  const pipelines = join(root, 'pipelines');
  mkdirSync(pipelines);
  return {
    root,
    registry,
    pipelines,
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Copies a version folder to churn/<version> of `registry`, its manifest renamed to match. */
export function copyVersion(
  registry: string,
  from: string,
  version: string,
  was: { name: string; version: string },
): string {
  const dir = join(registry, 'churn', version);
  cpSync(from, dir, { recursive: true });
  writeFileSync(
    join(dir, 'manifest.yaml'),
    readFileSync(join(from, 'manifest.yaml'), 'utf8')
      .replace(`name: ${was.name}`, 'name: churn')
      .replace(`version: ${was.version}`, `version: ${version}`),
  );
  return dir;
}

/** churn/<version>: a copy of churn/2 with one byte of model.onnx flipped (its manifest's sha256 no longer matches). */
export function corruptedVersion(registry: string, version: string): string {
  const dir = copyVersion(registry, 'pipelines/models/churn/2', version, { name: 'churn', version: '2' });
  const onnx = join(dir, 'model.onnx');
  const bytes = readFileSync(onnx);
  bytes[bytes.length - 10] = (bytes[bytes.length - 10]! + 1) % 256;
  writeFileSync(onnx, bytes);
  return dir;
}

/**
 * A copy of the churn pipeline named `name` in `pipelinesDir`, reading versions from `registry`: its
 * primary model follows churn@<alias> or uses a fixed `version` (default 1), and it shadows
 * churn@<shadow> when asked, on control topic `topic`.
 */
export function aliasPipeline(
  pipelinesDir: string,
  registry: string,
  name: string,
  opts: { alias?: string; version?: string; shadow?: string; topic?: string },
): string {
  const file = churnPipelineCopy(`${name}-${process.pid}`, {
    warehouse: false,
    edit: (doc) => {
      doc.setIn(['metadata', 'name'], name);
      for (const k of ['path', 'alias', 'version', 'shadow', 'canary']) doc.deleteIn(['spec', 'model', k]);
      doc.setIn(['spec', 'model', 'registry'], registry);
      if (opts.topic) doc.setIn(['spec', 'model', 'control_topic'], opts.topic);
      if (opts.alias) doc.setIn(['spec', 'model', 'alias'], opts.alias);
      else doc.setIn(['spec', 'model', 'version'], opts.version ?? '1');
      if (opts.shadow) {
        doc.setIn(
          ['spec', 'model', 'shadow'],
          doc.createNode({ alias: opts.shadow, compare: { score: 'churn_probability' } }),
        );
      }
    },
  });
  const target = join(pipelinesDir, `${name}.yaml`);
  cpSync(file, target);
  rmSync(join(file, '..'), { recursive: true, force: true });
  return target;
}
