import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import {
  applyControlEvent,
  type ControlEvent,
  type ControlState,
  emptyControlState,
} from '../../workers/control/events.js';
import type { ControlFeed } from '../../workers/rollout/pipeline-models.js';

const REPO = resolve(import.meta.dirname, '..', '..');
const MODELS = join(REPO, 'pipelines', 'models');

/**
 * A private model registry in a tmp folder: churn/1 and churn/2 copied from the repository, plus
 * churn/<v> made `misfit` (the ltv model: 4 features, not 8) or `corrupt` (churn/1's manifest
 * with one byte of the file changed).
 */
export function tmpRegistry(extra: Record<string, 'misfit' | 'corrupt' | 'copy-of-1'> = {}): {
  dir: string;
  remove(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'streamscore-registry-'));
  for (const v of ['1', '2']) cpSync(join(MODELS, 'churn', v), join(dir, 'churn', v), { recursive: true });
  for (const [v, kind] of Object.entries(extra)) {
    const to = join(dir, 'churn', v);
    if (kind === 'misfit') cpSync(join(MODELS, 'ltv', '1'), to, { recursive: true });
    else {
      cpSync(join(MODELS, 'churn', '1'), to, { recursive: true });
      if (kind === 'corrupt') {
        const bytes = readFileSync(join(to, 'model.onnx'));
        bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
        writeFileSync(join(to, 'model.onnx'), bytes);
      }
    }
  }
  nameManifests(dir, 'churn', Object.keys(extra));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The unit-test corpus' valid base pipeline (test/unit/spec/valid/base.yaml) with another model
 * section, written next to it in a tmp file so every relative path still resolves.
 */
export function pipelineWithModel(model: string, name = 'churn-test'): { file: string; remove(): void } {
  const baseFile = join(REPO, 'test', 'unit', 'spec', 'valid', 'base.yaml');
  const base = readFileSync(baseFile, 'utf8');
  const start = base.indexOf('  model:\n');
  const end = base.indexOf('  sinks:\n');
  const text = `${base.slice(0, start)}  model:\n${model}${base.slice(end)}`.replace(
    'name: churn-test',
    `name: ${name}`,
  );
  const file = join(REPO, 'test', 'unit', 'spec', 'valid', `tmp-${randomBytes(4).toString('hex')}.yaml`);
  writeFileSync(file, text);
  return { file, remove: () => rmSync(file, { force: true }) };
}

/** Rewrites copied manifests' name and version to the folder they lie in (the catalog checks both). */
export function nameManifests(registryDir: string, model: string, versions: readonly string[]): void {
  for (const v of versions) {
    const file = join(registryDir, model, v, 'manifest.yaml');
    const doc = parseDocument(readFileSync(file, 'utf8'));
    doc.set('name', model);
    doc.set('version', Number(v));
    writeFileSync(file, doc.toString());
  }
}

/** A control feed driven by hand: `emit` folds an event and tells the listeners, like the watcher. */
export class FakeControlFeed implements ControlFeed {
  readonly state: ControlState = emptyControlState();
  readonly #listeners = new Set<(e: ControlEvent, s: ControlState) => void>();

  emit(e: Partial<ControlEvent> & Pick<ControlEvent, 'type' | 'action'>): void {
    const full = {
      by: 'test',
      reason: 'test',
      at: new Date().toISOString(),
      id: String(Math.random()),
      ...(e.type === 'alias' ? { from: null, sha256: '' } : {}),
      ...e,
    } as ControlEvent;
    applyControlEvent(this.state, full);
    for (const l of this.#listeners) l(full, this.state);
  }

  promote(model: string, alias: string, version: string): void {
    this.emit({ type: 'alias', action: 'promote', model, alias, version });
  }

  onEvent(listener: (e: ControlEvent, s: ControlState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
