import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { BatcherClosedError, type ChunkSlice, MicroBatcher } from '../../../workers/inference/batcher.js';
import { OnnxModel } from '../../../workers/inference/model.js';
import {
  MODEL_RUNS_IN_FLIGHT,
  ModelBatcher,
  type ScoringModel,
} from '../../../workers/inference/model-batcher.js';
import type { Predictions } from '../../../workers/inference/outputs.js';
import { ModelRegistry } from '../../../workers/inference/session.js';
import { FakeClock, flatten, golden, modelPath, settle } from './helpers.js';

interface Call {
  slices: readonly ChunkSlice<string>[];
  rows: number;
  resolve(v: string): void;
  reject(e: unknown): void;
}

/** A batcher over named chunks whose runs the test settles by hand. */
function harness(maxSize: number, maxWaitMs: number, maxInFlight?: number) {
  const clock = new FakeClock();
  const calls: Call[] = [];
  const batcher = new MicroBatcher<string, string>({
    maxSize,
    maxWaitMs,
    clock,
    ...(maxInFlight === undefined ? {} : { maxInFlight }),
    run: (slices, rows) =>
      new Promise<string>((resolve, reject) => {
        calls.push({ slices, rows, resolve, reject });
      }),
  });
  return { clock, calls, batcher };
}

function shape(c: Call | undefined): string {
  assert.ok(c, 'expected a run');
  return c.slices.map((s) => `${s.chunk}[${s.start}+${s.count}]`).join(' ');
}

/** Track a promise's outcome without awaiting it. */
function track<T>(p: Promise<T>): { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  p.then(
    (value) => Object.assign(t, { state: 'resolved', value }),
    (error: unknown) => Object.assign(t, { state: 'rejected', error }),
  );
  return t;
}

describe('MicroBatcher', () => {
  test('flushes when max_size is reached, without waiting', async () => {
    const { clock, calls, batcher } = harness(4, 100);
    const a = track(batcher.add('A', 3));
    await settle();
    assert.equal(calls.length, 0);
    assert.equal(batcher.pendingRows, 3);
    const b = track(batcher.add('B', 1));
    await settle();
    assert.equal(calls.length, 1);
    assert.equal(shape(calls[0]), 'A[0+3] B[0+1]');
    assert.equal(calls[0]!.rows, 4);
    assert.equal(clock.pendingTimers, 0, 'the full batch no longer needs its timer');
    assert.equal(a.state, 'pending');
    calls[0]!.resolve('r1');
    await settle();
    assert.deepEqual(a.value, [{ result: 'r1', offset: 0, count: 3 }]);
    assert.deepEqual(b.value, [{ result: 'r1', offset: 3, count: 1 }]);
  });

  test('flushes a partial batch when max_wait_ms has elapsed since its first row', async () => {
    const { clock, calls, batcher } = harness(100, 20);
    const a = track(batcher.add('A', 2));
    clock.advance(10);
    const b = track(batcher.add('B', 3));
    clock.advance(9);
    await settle();
    assert.equal(calls.length, 0);
    clock.advance(1);
    await settle();
    assert.equal(shape(calls[0]), 'A[0+2] B[0+3]');
    calls[0]!.resolve('r');
    await settle();
    assert.equal(a.state, 'resolved');
    assert.deepEqual(b.value, [{ result: 'r', offset: 2, count: 3 }]);
  });

  test('a large add spills over several batches, one run at a time', async () => {
    const { clock, calls, batcher } = harness(4, 50);
    const a = track(batcher.add('A', 10));
    await settle();
    assert.equal(calls.length, 1, 'one in flight');
    assert.equal(shape(calls[0]), 'A[0+4]');
    calls[0]!.resolve('r1');
    await settle();
    assert.equal(shape(calls[1]), 'A[4+4]');
    calls[1]!.resolve('r2');
    await settle();
    assert.equal(calls.length, 2, 'the 2-row remainder waits for its time');
    clock.advance(50);
    await settle();
    assert.equal(shape(calls[2]), 'A[8+2]');
    calls[2]!.resolve('r3');
    await settle();
    assert.deepEqual(a.value, [
      { result: 'r1', offset: 0, count: 4 },
      { result: 'r2', offset: 0, count: 4 },
      { result: 'r3', offset: 0, count: 2 },
    ]);
  });

  test('while a run is in flight the next batch keeps filling, then runs as soon as it is due', async () => {
    const { clock, calls, batcher } = harness(8, 10);
    track(batcher.add('A', 8));
    await settle();
    assert.equal(calls.length, 1);
    track(batcher.add('B', 2));
    clock.advance(10); // B's wait is over, but A is still running
    track(batcher.add('C', 3)); // joins B's batch
    await settle();
    assert.equal(calls.length, 1);
    calls[0]!.resolve('a');
    await settle();
    assert.equal(shape(calls[1]), 'B[0+2] C[0+3]');
  });

  test('with maxInFlight, full batches start together, in order; a due batch takes a free slot', async () => {
    const { clock, calls, batcher } = harness(4, 10, 3);
    const a = track(batcher.add('A', 10));
    await settle();
    assert.deepEqual(calls.map(shape), ['A[0+4]', 'A[4+4]'], 'both full batches at once');
    clock.advance(10); // the 2-row remainder is due: the third slot is free
    await settle();
    assert.equal(shape(calls[2]), 'A[8+2]');
    track(batcher.add('B', 1));
    clock.advance(10); // B is due, but every slot is taken: it waits, and keeps filling
    track(batcher.add('C', 2));
    await settle();
    assert.equal(calls.length, 3);
    calls[1]!.resolve('r2');
    await settle();
    assert.equal(shape(calls[3]), 'B[0+1] C[0+2]');
    assert.equal(a.state, 'pending', 'A waits for every one of its runs');
    calls[2]!.resolve('r3');
    calls[0]!.resolve('r1');
    await settle();
    assert.deepEqual(a.value, [
      { result: 'r1', offset: 0, count: 4 },
      { result: 'r2', offset: 0, count: 4 },
      { result: 'r3', offset: 0, count: 2 },
    ]);
    const flushed = track(batcher.flush());
    await settle();
    assert.equal(flushed.state, 'pending', 'flush waits for the run still in flight');
    calls[3]!.resolve('r4');
    await settle();
    assert.equal(flushed.state, 'resolved');
    assert.throws(
      () => new MicroBatcher({ maxSize: 1, maxWaitMs: 0, maxInFlight: 0, run: async () => '' }),
      /maxInFlight must be an integer >= 1, got 0/,
    );
  });

  test('a failed run rejects every caller in that batch; later batches still run', async () => {
    const { calls, batcher } = harness(4, 5);
    const a = track(batcher.add('A', 2));
    const b = track(batcher.add('B', 2));
    const c = track(batcher.add('C', 1));
    await settle();
    const boom = new Error('onnx failed');
    calls[0]!.reject(boom);
    await settle();
    assert.equal(a.state, 'rejected');
    assert.equal(b.error, boom);
    assert.equal(a.error, boom);
    assert.equal(c.state, 'pending');
    const flushed = track(batcher.flush());
    await settle();
    assert.equal(shape(calls[1]), 'C[0+1]');
    calls[1]!.resolve('fine');
    await settle();
    assert.deepEqual(c.value, [{ result: 'fine', offset: 0, count: 1 }]);
    assert.equal(flushed.state, 'resolved');
  });

  test('a caller spanning two batches rejects when either fails', async () => {
    const { calls, batcher } = harness(4, 5);
    const a = track(batcher.add('A', 6));
    await settle();
    calls[0]!.resolve('ok');
    await settle();
    assert.equal(a.state, 'pending');
    void batcher.flush();
    await settle();
    calls[1]!.reject(new Error('second half failed'));
    await settle();
    assert.equal(a.state, 'rejected');
    assert.match(String(a.error), /second half failed/);
  });

  test('a run that throws synchronously rejects its callers', async () => {
    const batcher = new MicroBatcher<string, string>({
      maxSize: 2,
      maxWaitMs: 0,
      clock: new FakeClock(),
      run: () => {
        throw new Error('sync');
      },
    });
    await assert.rejects(batcher.add('A', 2), /sync/);
  });

  test('flush runs the open batch now and resolves when everything has run; close refuses more', async () => {
    const { calls, batcher } = harness(100, 1000);
    const a = track(batcher.add('A', 3));
    const flushed = track(batcher.flush());
    await settle();
    assert.equal(shape(calls[0]), 'A[0+3]');
    assert.equal(flushed.state, 'pending');
    calls[0]!.resolve('r');
    await settle();
    assert.equal(flushed.state, 'resolved');
    assert.equal(a.state, 'resolved');
    await batcher.close();
    await assert.rejects(batcher.add('B', 1), BatcherClosedError);
  });

  test('zero rows resolve at once; bad options are refused', async () => {
    const { calls, batcher } = harness(4, 5);
    assert.deepEqual(await batcher.add('A', 0), []);
    assert.equal(calls.length, 0);
    await assert.rejects(batcher.add('A', 1.5), RangeError);
    assert.throws(() => new MicroBatcher({ maxSize: 0, maxWaitMs: 1, run: async () => 0 }), /maxSize/);
    assert.throws(() => new MicroBatcher({ maxSize: 1, maxWaitMs: -1, run: async () => 0 }), /maxWaitMs/);
  });
});

describe('ModelBatcher', () => {
  const registry = new ModelRegistry();
  after(() => registry.close());

  test('callers get exactly their rows back, across batch boundaries, same as one predict', async () => {
    const g = golden('churn', 2);
    const model = await OnnxModel.load(modelPath('churn', 2), {
      registry,
      outputs: { label: 'label', score: 'probabilities[1]' },
    });
    const x = flatten(g.rows);
    const whole = await model.predict(x, g.rows.length, 8);
    const clock = new FakeClock();
    const batcher = new ModelBatcher(model, { maxSize: 7, maxWaitMs: 20, clock });
    assert.deepEqual(batcher.outputFields, ['label', 'score']);
    const cuts = [0, 5, 14, 20];
    const results = cuts.slice(1).map((end, i) => {
      const start = cuts[i]!;
      return batcher.predict(x.slice(start * 8, end * 8), end - start);
    });
    clock.advance(20);
    const parts = await Promise.all(results);
    assert.deepEqual(parts[0]!['label'], (whole.columns['label'] as number[]).slice(0, 5));
    assert.deepEqual(parts[1]!['score'], (whole.columns['score'] as Float32Array).slice(5, 14));
    assert.deepEqual(parts[2]!['label'], (whole.columns['label'] as number[]).slice(14, 20));
  });

  test('a model batcher starts several inference calls without waiting for the first', async () => {
    const pending: (() => void)[] = [];
    const fake: ScoringModel = {
      width: 1,
      outputFields: ['x'],
      predict: (features, rows) =>
        new Promise((resolve) => {
          pending.push(() => resolve({ size: rows, columns: { x: features.slice(0, rows) } }));
        }),
    };
    const batcher = new ModelBatcher(fake, { maxSize: 2, maxWaitMs: 5, clock: new FakeClock() });
    const p = batcher.add(Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), 8);
    await settle();
    assert.equal(pending.length, MODEL_RUNS_IN_FLIGHT, 'runs in flight together');
    for (const r of pending) r();
    assert.deepEqual((await p).columns['x'], Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8));
  });

  test('batches are gathered into one buffer per run; a single whole chunk is not copied', async () => {
    const seen: Float32Array[] = [];
    const fake: ScoringModel = {
      width: 2,
      outputFields: ['sum'],
      predict: async (features, rows, width) => {
        seen.push(features);
        const sum = new Float32Array(rows);
        for (let i = 0; i < rows; i++) sum[i] = features[i * width]! + features[i * width + 1]!;
        return { size: rows, columns: { sum } } satisfies Predictions;
      },
    };
    const clock = new FakeClock();
    const batcher = new ModelBatcher(fake, { maxSize: 3, maxWaitMs: 5, clock });
    const a = Float32Array.of(1, 2, 3, 4);
    const b = Float32Array.of(10, 20, 30, 40, 50, 60);
    const pa = batcher.add(a, 2);
    const pb = batcher.add(b, 3);
    clock.advance(5);
    assert.deepEqual((await pa).columns['sum'], Float32Array.of(3, 7));
    assert.deepEqual((await pb).columns['sum'], Float32Array.of(30, 70, 110));
    assert.deepEqual(seen[0], Float32Array.of(1, 2, 3, 4, 10, 20));
    const c = Float32Array.of(1, 1, 2, 2, 3, 3);
    await batcher.add(c, 3);
    assert.equal(seen[2]!.buffer, c.buffer, 'passed through without a copy');
    await assert.rejects(batcher.add(c, 4), /6 values for 4 rows of 2 features/);
  });
});
