import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { ModelError } from '../../../workers/inference/errors.js';
import {
  listModelNames,
  listVersions,
  manifestBeside,
  readVersion,
  verifyModelFile,
  verifyVersion,
} from '../../../workers/models/catalog.js';

const registry = mkdtempSync(join(tmpdir(), 'streamscore-catalog-'));
for (const v of ['1', '2'])
  cpSync(`pipelines/models/churn/${v}`, join(registry, 'churn', v), { recursive: true });
cpSync('pipelines/models/ltv/1', join(registry, 'ltv', '1'), { recursive: true });
// Versions sort as numbers: 10 after 2.
cpSync('pipelines/models/churn/2', join(registry, 'churn', '10'), { recursive: true });
writeFileSync(
  join(registry, 'churn', '10', 'manifest.yaml'),
  readFileSync('pipelines/models/churn/2/manifest.yaml', 'utf8').replace('version: 2', 'version: 10'),
);

after(() => rmSync(registry, { recursive: true, force: true }));

function thrown(fn: () => unknown): ModelError {
  try {
    fn();
  } catch (err) {
    assert.ok(ModelError.is(err), String(err));
    return err;
  }
  assert.fail('expected a ModelError');
}

describe('model catalog', () => {
  it('lists models and their versions in numeric order, with the manifest fields', () => {
    assert.deepEqual(listModelNames(registry), ['churn', 'ltv']);
    const versions = listVersions(registry, 'churn');
    assert.deepEqual(
      versions.map((v) => v.version),
      ['1', '2', '10'],
    );
    const v1 = versions[0]!;
    assert.equal(v1.sha256, '7f918d97fb5bc8f23a84b93b08ea1d1037e0abe51d2df4e4f321394e6736a12e');
    assert.equal(v1.created, '2025-01-15');
    assert.equal(v1.inputWidth, 8);
    assert.equal(v1.features?.length, 8);
    assert.deepEqual(
      versions[1]!.outputs.map((o) => o.name),
      ['label', 'probabilities'],
    );
    assert.equal(v1.onnxPath, join(registry, 'churn', '1', 'model.onnx'));
    assert.equal(readVersion(registry, 'ltv', '1').inputWidth, 4);
    assert.deepEqual(listModelNames(join(registry, 'nowhere')), []);
  });

  it('an unknown version names what was expected and the versions that exist', () => {
    const e = thrown(() => readVersion(registry, 'churn', '3'));
    assert.equal(e.code, 'MODEL_VERSION_UNKNOWN');
    assert.match(e.message, /no version '3' of model 'churn'/);
    assert.match(e.message, new RegExp(`expected ${join(registry, 'churn', '3', 'manifest.yaml')}`));
    assert.match(e.message, /versions there: 1, 2, 10$/);
  });

  it('an unknown model names the models that exist', () => {
    const e = thrown(() => readVersion(registry, 'chrun', '1'));
    assert.equal(e.code, 'MODEL_VERSION_UNKNOWN');
    assert.match(e.message, /has no model 'chrun' \(models there: churn, ltv\)/);
  });

  it('verifies the sha256 of a good file and refuses a corrupted copy, naming path, expected and found', () => {
    const good = readVersion(registry, 'churn', '1');
    assert.equal(verifyVersion(good), good.sha256);
    const dir = mkdtempSync(join(tmpdir(), 'streamscore-corrupt-'));
    try {
      cpSync('pipelines/models/churn/1', join(dir, 'churn', '1'), { recursive: true });
      const onnx = join(dir, 'churn', '1', 'model.onnx');
      const bytes = readFileSync(onnx);
      bytes[bytes.length - 10] = (bytes[bytes.length - 10]! + 1) % 256; // one byte flipped
      writeFileSync(onnx, bytes);
      const corrupted = readVersion(dir, 'churn', '1');
      const e = thrown(() => verifyVersion(corrupted));
      assert.equal(e.code, 'MODEL_SHA_MISMATCH');
      assert.ok(e.message.startsWith(`model ${onnx}: sha256 is `), e.message);
      assert.match(e.message, new RegExp(`says ${good.sha256}: the file is corrupted or was replaced`));
      assert.ok(!e.message.includes(`sha256 is ${good.sha256}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing model file is MODEL_NOT_FOUND', () => {
    const e = thrown(() => verifyModelFile(join(registry, 'churn', '1', 'nope.onnx'), 'a'.repeat(64)));
    assert.equal(e.code, 'MODEL_NOT_FOUND');
  });

  it('manifestBeside finds the manifest of a registry file, and nothing elsewhere', () => {
    const m = manifestBeside(resolve('pipelines/models/churn/2/model.onnx'));
    assert.equal(m?.version, '2');
    assert.equal(m?.sha256, '6420f8c55eb06edd5470fe08db3f51df46d3ee21669bc50d90cac1400953a80a');
    assert.equal(manifestBeside(join(tmpdir(), 'x', 'model.onnx')), undefined);
  });

  it('a manifest in the wrong folder, or without a sha256, is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'streamscore-bad-manifest-'));
    try {
      cpSync('pipelines/models/churn/1', join(dir, 'churn', '7'), { recursive: true });
      assert.match(
        thrown(() => readVersion(dir, 'churn', '7')).message,
        /says churn\/1 but lies in the directory of churn\/7/,
      );
      writeFileSync(join(dir, 'churn', '7', 'manifest.yaml'), 'name: churn\nversion: 7\n');
      assert.match(thrown(() => readVersion(dir, 'churn', '7')).message, /invalid manifest: sha256: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
