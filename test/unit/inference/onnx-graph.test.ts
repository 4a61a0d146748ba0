import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { graphOpTypes, prepareModel } from '../../../workers/inference/onnx-graph.js';
import { bytesField, message, varintField } from '../../../workers/inference/proto-wire.js';
import { modelPath } from './helpers.js';

function bytes(name: string, version: number): Uint8Array {
  return readFileSync(modelPath(name, version));
}

// Tiny hand-built ModelProtos (field numbers from onnx.proto) for shapes skl2onnx never produces.
function node(
  op: string,
  domain: string,
  inputs: string[],
  outputs: string[],
  labels?: bigint[],
): Uint8Array {
  const attrs =
    labels === undefined
      ? []
      : [
          bytesField(
            5,
            message(bytesField(1, 'classlabels_int64s'), ...labels.map((l) => varintField(8, l))),
          ),
        ];
  return message(
    ...inputs.map((i) => bytesField(1, i)),
    ...outputs.map((o) => bytesField(2, o)),
    bytesField(4, op),
    ...attrs,
    bytesField(7, domain),
  );
}

function model(nodes: Uint8Array[], outputs: string[], opsets: [string, number][]): Uint8Array {
  const graph = message(
    ...nodes.map((n) => bytesField(1, n)),
    ...outputs.map((o) => bytesField(12, bytesField(1, o))),
  );
  return message(
    varintField(1, 8),
    bytesField(7, graph),
    ...opsets.map(([d, v]) => bytesField(8, message(bytesField(1, d), varintField(2, v)))),
  );
}

describe('onnxruntime-node and ZipMap (the behaviour the rewrite works around)', () => {
  test('the unmodified churn/1 cannot return its probabilities', async () => {
    const session = await InferenceSession.create(bytes('churn', 1));
    try {
      assert.deepEqual(
        session.outputMetadata.find((m) => m.name === 'output_probability'),
        { name: 'output_probability', isTensor: false },
      );
      const feeds = { features: new Tensor('float32', new Float32Array(8), [1, 8]) };
      await assert.rejects(session.run(feeds), /Non tensor type is temporarily not supported/);
      await assert.rejects(
        session.run(feeds, ['output_probability']),
        /Non tensor type is temporarily not supported/,
      );
      await assert.rejects(session.run(feeds, ['proba_output']), /invalid output name: proba_output/);
      const label = await session.run(feeds, ['output_label']);
      assert.ok(label['output_label']?.data instanceof BigInt64Array);
    } finally {
      await session.release();
    }
  });
});

describe('prepareModel', () => {
  test('models without ZipMap are passed through untouched', () => {
    for (const [name, version] of [
      ['churn', 2],
      ['ltv', 1],
    ] as const) {
      const raw = bytes(name, version);
      const p = prepareModel(raw);
      assert.equal(p.bytes, raw);
      assert.deepEqual(p.info.zipMaps, []);
    }
    assert.deepEqual(prepareModel(bytes('churn', 2)).info.classes, [0, 1]);
    assert.equal(prepareModel(bytes('ltv', 1)).info.classes, null);
  });

  test('a ZipMap graph output becomes Identity over the probability tensor', () => {
    const raw = bytes('fraud', 1);
    const p = prepareModel(raw);
    assert.deepEqual(graphOpTypes(raw), ['TreeEnsembleClassifier', 'Identity', 'ZipMap']);
    assert.deepEqual(graphOpTypes(p.bytes), ['TreeEnsembleClassifier', 'Identity', 'Identity']);
    assert.deepEqual(p.info.zipMaps, [
      { output: 'output_probability', input: 'proba_output', classes: ['fraud', 'legit'] },
    ]);
    assert.deepEqual(p.info.opsets, { '': 17, 'ai.onnx.ml': 1 });
    assert.equal(p.info.metadata['streamscore.name'], 'fraud');
    // Idempotent: the rewritten model has nothing left to rewrite.
    const again = prepareModel(p.bytes);
    assert.equal(again.bytes, p.bytes);
    assert.deepEqual(again.info.classes, ['fraud', 'legit']);
  });

  test('a ZipMap another node consumes is left alone', () => {
    const m = model(
      [node('ZipMap', 'ai.onnx.ml', ['p'], ['z'], [0n, 1n]), node('Identity', '', ['z'], ['w'])],
      ['z', 'w'],
      [
        ['', 17],
        ['ai.onnx.ml', 1],
      ],
    );
    const p = prepareModel(m);
    assert.equal(p.bytes, m);
    assert.deepEqual(p.info.zipMapsKept, ['z']);
  });

  test('adds the default-domain opset Identity needs when the model lacks it', () => {
    const m = model(
      [node('ZipMap', 'ai.onnx.ml', ['p'], ['z'], [7n, -1n, 2n ** 60n])],
      ['z'],
      [['ai.onnx.ml', 1]],
    );
    const p = prepareModel(m);
    assert.deepEqual(graphOpTypes(p.bytes), ['Identity']);
    assert.deepEqual(prepareModel(p.bytes).info.opsets, { 'ai.onnx.ml': 1, '': 13 });
    // int64 labels: numbers when safe, bigint otherwise; negative values survive.
    assert.deepEqual(p.info.classes, [7, -1, 2n ** 60n]);
  });

  test('bytes that are not protobuf are rejected', () => {
    assert.throws(
      () => prepareModel(Uint8Array.of(0x0a, 0x50, 0x01)),
      /runs past the end of its message at byte 0/,
    );
    assert.throws(() => prepareModel(new TextEncoder().encode('not a model')), /byte/);
  });
});
