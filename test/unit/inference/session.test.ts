import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { ModelError } from '../../../workers/inference/errors.js';
import { ModelRegistry } from '../../../workers/inference/session.js';
import { modelPath } from './helpers.js';

function countingRegistry(): { registry: ModelRegistry; reads: string[] } {
  const reads: string[] = [];
  const registry = new ModelRegistry({
    readFile: (p) => {
      reads.push(p);
      return readFile(p);
    },
  });
  return { registry, reads };
}

describe('ModelRegistry', () => {
  test('one session per path and version; concurrent acquires share one load', async () => {
    const { registry, reads } = countingRegistry();
    const path = modelPath('ltv', 1);
    const [a, b] = await Promise.all([
      registry.acquire(path, { version: 1 }),
      registry.acquire(path, { version: '1' }),
    ]);
    assert.equal(a, b);
    assert.equal(reads.length, 1);
    const c = await registry.acquire(path, { version: 2 });
    assert.notEqual(c.session, a.session);
    const d = await registry.acquire(path, { version: 1, session: { intraOpNumThreads: 2 } });
    assert.notEqual(d.session, a.session);
    assert.equal(registry.size, 3);
    assert.equal(a.sha256.length, 64);
    await registry.close();
    assert.equal(registry.size, 0);
  });

  test('reference counted release', async () => {
    const registry = new ModelRegistry();
    const path = modelPath('churn', 2);
    const a = await registry.acquire(path);
    await registry.acquire(path);
    await registry.release(a);
    assert.equal(registry.size, 1);
    await registry.release(a);
    assert.equal(registry.size, 0);
  });

  test('a missing file is MODEL_NOT_FOUND, naming the path', async () => {
    const registry = new ModelRegistry();
    await assert.rejects(registry.acquire('pipelines/models/nope/1/model.onnx'), (err: unknown) => {
      assert.ok(ModelError.is(err));
      assert.equal(err.code, 'MODEL_NOT_FOUND');
      assert.equal(err.modelPath, 'pipelines/models/nope/1/model.onnx');
      assert.match(
        err.message,
        /^model pipelines\/models\/nope\/1\/model\.onnx: file not found; expected an ONNX model at \//,
      );
      return true;
    });
    assert.equal(registry.size, 0);
  });

  test('a file that is not a model is MODEL_LOAD_FAILED; failed loads are not cached', async () => {
    let attempt = 0;
    const registry = new ModelRegistry({
      readFile: async (p) => (++attempt === 1 ? new TextEncoder().encode('garbage') : readFile(p)),
    });
    const path = modelPath('ltv', 1);
    await assert.rejects(registry.acquire(path), (err: unknown) => {
      assert.ok(ModelError.is(err));
      assert.equal(err.code, 'MODEL_LOAD_FAILED');
      assert.match(err.message, /: not an ONNX model \(/);
      return true;
    });
    const ok = await registry.acquire(path);
    assert.equal(ok.info.producer, 'skl2onnx 1.20.0');
    await registry.close();
  });

  test('valid protobuf that onnxruntime rejects is MODEL_LOAD_FAILED with its reason', async () => {
    const registry = new ModelRegistry({ readFile: async () => new Uint8Array(0) });
    await assert.rejects(registry.acquire('empty.onnx'), (err: unknown) => {
      assert.ok(ModelError.is(err));
      assert.equal(err.code, 'MODEL_LOAD_FAILED');
      assert.match(err.message, /^model empty\.onnx: onnxruntime cannot load it: /);
      return true;
    });
  });
});
