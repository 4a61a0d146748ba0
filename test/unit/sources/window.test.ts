import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InFlightWindow } from '../../../workers/sources/kafka/window.js';

function gate() {
  let open!: () => void;
  const done = new Promise<void>((r) => {
    open = r;
  });
  return { done, open };
}

/** Whether `p` settles within a few turns of the event loop. */
async function settles(p: Promise<void>): Promise<boolean> {
  let settled = false;
  void p.then(() => {
    settled = true;
  });
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return settled;
}

describe('InFlightWindow', () => {
  it('always admits a second batch, and a third only while the records fit', async () => {
    const w = new InFlightWindow(100);
    const a = gate();
    w.add(a.done, 40);
    assert.equal(await settles(w.ready()), true, 'one batch in flight');
    const b = gate();
    w.add(b.done, 40);
    assert.equal(await settles(w.ready()), true, 'two small batches: 80 ≤ 100 records');
    const c = gate();
    w.add(c.done, 40);
    const ready = w.ready();
    assert.equal(await settles(ready), false, '120 records in three batches: full');
    a.open();
    assert.equal(await settles(ready), true, 'the oldest batch written: 80 records');
    assert.equal(w.size, 2);
    assert.equal(w.newest, c.done);
  });

  it('keeps two large batches in flight, and with 0 records always exactly two', async () => {
    const w = new InFlightWindow(0);
    const a = gate();
    const b = gate();
    w.add(a.done, 1);
    w.add(b.done, 1);
    const ready = w.ready();
    assert.equal(await settles(ready), false);
    a.open();
    assert.equal(await settles(ready), true);

    const big = new InFlightWindow(1000);
    const x = gate();
    big.add(x.done, 5000);
    assert.equal(await settles(big.ready()), true, 'a single batch larger than the limit still runs');
  });

  it('lets a failed batch leave the window', async () => {
    const w = new InFlightWindow(0);
    const failed = Promise.reject(new Error('sink down'));
    failed.catch(() => undefined);
    w.add(failed, 10);
    const b = gate();
    w.add(b.done, 10);
    assert.equal(await settles(w.ready()), true);
    assert.equal(w.size, 1);
  });
});
