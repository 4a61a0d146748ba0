import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../workers/core/errors.js';
import type { PredictionBatch, PredictionRow } from '../../../workers/core/types.js';
import { isRowDataError, writeIsolatingRows } from '../../../workers/runtime/row-isolation.js';

const row = (key: number): PredictionRow => ({
  key,
  op: 'u',
  values: [key],
  position: BigInt(key),
  scoredAt: new Date(0),
  sourceTsMs: 0,
});
const batch = (n: number): PredictionBatch => ({
  pipeline: 'p',
  model: { name: 'm', version: '1' },
  fields: ['x'],
  rows: Array.from({ length: n }, (_, i) => row(i)),
});
const dataError = () =>
  new PipelineError('value too long for type character varying(8)', { code: 'SINK_DATA', stage: 'sink' });

/** A sink that rejects a whole write when it holds one of the `bad` keys, and records the rows it took. */
function sink(bad: ReadonlySet<number>, other?: Error) {
  const written: number[] = [];
  let writes = 0;
  const write = async (b: PredictionBatch) => {
    writes += 1;
    if (other) throw other;
    if (b.rows.some((r) => bad.has(r.key as number))) throw dataError();
    for (const r of b.rows) written.push(r.key as number);
  };
  return { write, written, writes: () => writes };
}

describe('writeIsolatingRows', () => {
  it('writes a clean batch once and rejects nothing', async () => {
    const s = sink(new Set());
    assert.deepEqual(await writeIsolatingRows(batch(100), s.write), []);
    assert.equal(s.writes(), 1);
    assert.equal(s.written.length, 100);
  });

  it('isolates the rejected rows and writes every other row exactly once', async () => {
    const s = sink(new Set([0, 37, 38, 99]));
    const rejected = await writeIsolatingRows(batch(100), s.write);
    assert.deepEqual(
      rejected.map((r) => r.index),
      [0, 37, 38, 99],
    );
    assert.ok(rejected.every((r) => r.error.code === 'SINK_DATA'));
    const expected = Array.from({ length: 100 }, (_, i) => i).filter((i) => ![0, 37, 38, 99].includes(i));
    assert.deepEqual(
      [...s.written].sort((a, b) => a - b),
      expected,
    );
    assert.ok(s.writes() < 60, `bisection stays logarithmic per bad row (took ${s.writes()} writes)`);
  });

  it('passes any other error through untouched', async () => {
    const boom = new PipelineError('no such table', { code: 'SINK_SCHEMA', stage: 'sink' });
    await assert.rejects(writeIsolatingRows(batch(10), sink(new Set(), boom).write), (e) => e === boom);
    const transient = new PipelineError('busy', { code: 'SINK_DATA', stage: 'sink', retryable: true });
    assert.equal(isRowDataError(transient), false, 'a retryable error is not a row rejection');
    assert.equal(isRowDataError(new Error('SINK_DATA')), false);
  });
});
