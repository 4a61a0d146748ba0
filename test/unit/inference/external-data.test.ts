import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { ModelError } from '../../../workers/inference/errors.js';
import { externalDataRefs, unsafeLocation } from '../../../workers/inference/external-data.js';
import {
  bytesField,
  concatBytes,
  message,
  readFields,
  varintField,
  WIRE_BYTES,
} from '../../../workers/inference/proto-wire.js';
import { ModelRegistry } from '../../../workers/inference/session.js';
import { modelPath } from './helpers.js';

/** A float initializer [1] named `name` whose data lives in the file `location`. */
function externalTensor(name: string, location: string): Uint8Array {
  const entry = message(bytesField(1, 'location'), bytesField(2, location));
  return message(
    varintField(1, 1), // dims [1]
    varintField(2, 1), // FLOAT
    bytesField(8, name),
    bytesField(13, entry),
    varintField(14, 1), // data_location EXTERNAL
  );
}

/** The ltv model with one more initializer, kept in external data at `location`. */
async function withExternal(location: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(await readFile(modelPath('ltv', 1)));
  const parts = readFields(bytes).map((f) => {
    if (f.no !== 7 || f.wire !== WIRE_BYTES) return bytes.subarray(f.start, f.end);
    const graph = concatBytes([
      bytes.subarray(f.value, f.end),
      bytesField(5, externalTensor('w_ext', location)),
    ]);
    return bytesField(7, graph);
  });
  return concatBytes(parts);
}

function registryOf(bytes: Uint8Array): ModelRegistry {
  return new ModelRegistry({ readFile: async () => Buffer.from(bytes) });
}

describe('external tensor data', () => {
  test('locations outside the model folder are unsafe; relative ones inside are not', () => {
    assert.equal(unsafeLocation('weights.bin'), undefined);
    assert.equal(unsafeLocation('data/w.bin'), undefined);
    assert.equal(unsafeLocation('data/../w.bin'), undefined);
    assert.equal(unsafeLocation('../w.bin'), 'a path outside the folder');
    assert.equal(unsafeLocation('data/../../w.bin'), 'a path outside the folder');
    assert.equal(unsafeLocation('..\\..\\w.bin'), 'a path outside the folder');
    assert.equal(unsafeLocation('/etc/passwd'), 'an absolute path');
    assert.equal(unsafeLocation('C:/w.bin'), 'an absolute path');
    assert.equal(unsafeLocation(''), 'an empty path');
  });

  test('the graph’s external tensors are found; the example models have none', async () => {
    assert.deepEqual(externalDataRefs(await withExternal('../../secret.bin')), [
      { tensor: 'w_ext', location: '../../secret.bin' },
    ]);
    assert.deepEqual(externalDataRefs(new Uint8Array(await readFile(modelPath('churn', 1)))), []);
  });

  test('a model whose tensor data lies outside its folder is refused before onnxruntime opens anything', async () => {
    const registry = registryOf(await withExternal('../../../etc/passwd'));
    await assert.rejects(registry.acquire('models/evil/1/model.onnx'), (err: unknown) => {
      assert.ok(ModelError.is(err));
      assert.equal(err.code, 'MODEL_EXTERNAL_DATA_REFUSED');
      assert.equal(
        err.message,
        `model models/evil/1/model.onnx: tensor 'w_ext' keeps its data in "../../../etc/passwd", a path outside the folder: external data must be a relative path inside the model's folder; refusing to load it`,
      );
      return true;
    });
  });

  test('inside its folder it is not refused', async () => {
    const registry = registryOf(await withExternal('w_ext.bin'));
    // onnxruntime drops the unused initializer before reading its data: the model loads.
    const loaded = await registry.acquire('models/fine/1/model.onnx');
    assert.equal(loaded.sha256.length, 64);
    await registry.close();
  });
});
