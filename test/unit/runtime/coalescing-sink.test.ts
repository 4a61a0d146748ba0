import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../workers/core/errors.js';
import type { PredictionBatch, PredictionRow, Sink } from '../../../workers/core/types.js';
import { CoalescingSink } from '../../../workers/runtime/coalescing-sink.js';

const model = { name: 'm', version: '1' };
const fields = ['p'];
const row = (key: number): PredictionRow => ({
  key,
  op: 'u',
  values: [key / 10],
  position: BigInt(key),
  scoredAt: new Date(0),
  sourceTsMs: 0,
});
const batch = (...keys: number[]): PredictionBatch => ({ pipeline: 'p', model, fields, rows: keys.map(row) });

/** A sink whose writes stay pending until the test releases them. */
class GatedSink implements Sink {
  readonly name = 'gated';
  readonly capabilities = { idempotent: true, maxBatchRows: 5 };
  readonly writes: { keys: unknown[]; release(err?: unknown): void }[] = [];
  async open() {}
  async close() {}
  write(b: PredictionBatch): Promise<void> {
    return new Promise((resolve, reject) => {
      this.writes.push({
        keys: b.rows.map((r) => r.key),
        release: (err) => (err === undefined ? resolve() : reject(err)),
      });
    });
  }
}

const tick = () => new Promise((r) => setImmediate(r));

/** Writes 1 alone, then 2 and 3 while 1 is in flight: inner.writes[1] is their merged write, pending. */
async function mergedWriteOf2And3() {
  const inner = new GatedSink();
  const sink = new CoalescingSink(inner);
  const first = sink.write(batch(1));
  await tick();
  const b = sink.write(batch(2));
  const c = sink.write(batch(3));
  await tick();
  inner.writes[0]!.release();
  await first;
  await tick();
  assert.deepEqual(inner.writes[1]!.keys, [2, 3]);
  return { inner, sink, b, c };
}

describe('CoalescingSink', () => {
  it('merges the writes of one turn, and what arrives during a write into the next one', async () => {
    const inner = new GatedSink();
    const sink = new CoalescingSink(inner);
    const settled: string[] = [];
    const a = sink.write(batch(1)).then(() => settled.push('a'));
    const a2 = sink.write(batch(2)).then(() => settled.push('a2'));
    await tick();
    const b = sink.write(batch(3)).then(() => settled.push('b'));
    const c = sink.write(batch(4, 5)).then(() => settled.push('c'));
    await tick();
    assert.deepEqual(
      inner.writes.map((w) => w.keys),
      [[1, 2]],
      'one write in flight',
    );
    assert.equal(sink.queued, 2);
    inner.writes[0]!.release();
    await Promise.all([a, a2]);
    await tick();
    assert.deepEqual(settled, ['a', 'a2'], 'b and c wait for the write that holds their rows');
    assert.deepEqual(inner.writes[1]!.keys, [3, 4, 5], 'b and c merged, in arrival order');
    inner.writes[1]!.release();
    await Promise.all([b, c]);
    assert.deepEqual(settled.sort(), ['a', 'a2', 'b', 'c']);
    assert.equal(inner.writes.length, 2);
  });

  it('never merges past maxBatchRows, and writes a larger batch alone', async () => {
    const inner = new GatedSink();
    const sink = new CoalescingSink(inner);
    const first = sink.write(batch(1));
    await tick();
    const all = [
      first,
      sink.write(batch(2, 3, 4)),
      sink.write(batch(5, 6)),
      sink.write(batch(7, 8, 9, 10, 11, 12)),
      sink.write(batch(13)),
    ];
    for (let i = 0; i < 4; i++) {
      await tick();
      inner.writes[i]!.release();
    }
    await Promise.all(all);
    assert.deepEqual(
      inner.writes.map((w) => w.keys),
      [[1], [2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12], [13]],
    );
  });

  it('rejects every caller of a failed merged write with its error, and carries on with the next', async () => {
    const { inner, sink, b, c } = await mergedWriteOf2And3();
    const boom = new Error('connection lost');
    inner.writes[1]!.release(boom);
    await assert.rejects(b, (e) => e === boom);
    await assert.rejects(c, (e) => e === boom);
    const d = sink.write(batch(4));
    await tick();
    assert.deepEqual(inner.writes[2]!.keys, [4]);
    inner.writes[2]!.release();
    await d;
  });

  it('after a merged write fails for the values of a row, writes each batch alone so only its owner fails', async () => {
    const { inner, sink, b, c } = await mergedWriteOf2And3();
    const bad = new PipelineError('value too long', { code: 'SINK_DATA', stage: 'sink' });
    inner.writes[1]!.release(bad);
    await tick();
    assert.deepEqual(inner.writes[2]!.keys, [2]);
    inner.writes[2]!.release();
    await b;
    await tick();
    assert.deepEqual(inner.writes[3]!.keys, [3]);
    inner.writes[3]!.release(bad);
    await assert.rejects(c, (e) => e === bad);
    const d = sink.write(batch(4));
    await tick();
    assert.deepEqual(inner.writes[4]!.keys, [4], 'the queue carries on');
    inner.writes[4]!.release();
    await d;
  });

  it('turns a synchronous throw of the inner write into a rejection', async () => {
    const sink = new CoalescingSink({
      name: 'throws',
      capabilities: { idempotent: true, maxBatchRows: 10 },
      open: async () => {},
      close: async () => {},
      write: () => {
        throw new TypeError('bad batch');
      },
    });
    await assert.rejects(sink.write(batch(1)), /bad batch/);
    await assert.rejects(sink.write(batch(2)), /bad batch/, 'the queue is not stuck after a throw');
  });

  it('does not merge batches of another model or field list', async () => {
    const inner = new GatedSink();
    const sink = new CoalescingSink(inner);
    const other: PredictionBatch = { ...batch(3), model: { name: 'm', version: '2' } };
    const one = sink.write(batch(1));
    await tick();
    const all = [one, sink.write(batch(2)), sink.write(other), sink.write(batch(4))];
    for (let i = 0; i < 4; i++) {
      await tick();
      inner.writes[i]?.release();
    }
    await Promise.all(all);
    assert.deepEqual(
      inner.writes.map((w) => w.keys),
      [[1], [2], [3], [4]],
    );
  });
});
