import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PredictionRow, Sink } from '../../../workers/core/types.js';
import { batch, del, pos, row } from '../../unit/sinks/fixtures.js';

/** What a sink's visible state looks like to the contract: live predictions by key. */
export interface Visible {
  probability: number;
  position: bigint;
  scoredAt: string;
}

export interface ContractHarness {
  sink: Sink;
  /** Live (not deleted) predictions by entity key. */
  read(): Promise<Map<number, Visible>>;
  /** Releases everything the harness created. */
  dispose(): Promise<void>;
}

/**
 * The behaviour every idempotent, order-guarded sink must show. Keys are integers; each case uses
 * its own keys so the cases also hold when run one after another on the same sink.
 */
export function sinkContract(name: string, create: () => Promise<ContractHarness>): void {
  describe(`sink contract: ${name}`, () => {
    let h: ContractHarness;
    const write = (...rows: PredictionRow[]) => h.sink.write(batch(rows));
    const probability = async (key: number) => (await h.read()).get(key)?.probability;

    before(async () => {
      h = await create();
      await h.sink.open();
    });
    after(async () => {
      await h.sink.close();
      await h.dispose();
    });

    it('is declared idempotent', () => {
      assert.equal(h.sink.capabilities.idempotent, true);
    });

    it('inserts new keys', async () => {
      await write(row(1, pos(10), 0.1), row(2, pos(10), 0.2));
      const state = await h.read();
      assert.equal(state.get(1)?.probability, 0.1);
      assert.equal(state.get(2)?.probability, 0.2);
      assert.equal(state.get(1)?.position, pos(10));
    });

    it('replaces a prediction with a newer one', async () => {
      await write(row(10, pos(10), 0.1));
      await write(row(10, pos(11), 0.7));
      assert.equal(await probability(10), 0.7);
    });

    it('ignores an older update', async () => {
      await write(row(20, pos(20), 0.5));
      await write(row(20, pos(19), 0.9), row(21, pos(1), 0.3));
      await write(row(20, pos(20, 0), 0.8)); // same position: a replay, not newer
      const state = await h.read();
      assert.equal(state.get(20)?.probability, 0.5);
      assert.equal(state.get(20)?.position, pos(20));
      assert.equal(state.get(21)?.probability, 0.3, 'the rest of the batch is written');
    });

    it('deletes', async () => {
      await write(row(30, pos(30), 0.5));
      await write(del(30, pos(31)));
      assert.equal(await probability(30), undefined);
    });

    it('ignores a delete older than the prediction', async () => {
      await write(row(35, pos(35), 0.5));
      await write(del(35, pos(34)));
      assert.equal(await probability(35), 0.5);
    });

    it('does not resurrect a deleted key with an older upsert, but a newer one brings it back', async () => {
      await write(row(40, pos(40), 0.4));
      await write(del(40, pos(42)));
      await write(row(40, pos(41), 0.9));
      assert.equal(await probability(40), undefined);
      await write(row(40, pos(42), 0.9)); // equal position: not newer than the delete
      assert.equal(await probability(40), undefined);
      await write(row(40, pos(43), 0.6));
      assert.equal(await probability(40), 0.6);
    });

    it('keeps a delete that arrives before any upsert of its key', async () => {
      await write(del(45, pos(45)));
      await write(row(45, pos(44), 0.9));
      assert.equal(await probability(45), undefined);
    });

    it('applies only the newest row of each key within one batch', async () => {
      await write(
        row(50, pos(52), 0.52),
        row(50, pos(53, 1), 0.53),
        row(50, pos(51), 0.51),
        row(51, pos(50), 0.5),
        del(51, pos(51)),
        del(52, pos(50)),
        row(52, pos(51), 0.25),
      );
      const state = await h.read();
      assert.equal(state.get(50)?.probability, 0.53);
      assert.equal(state.get(50)?.position, pos(53, 1));
      assert.equal(state.has(51), false);
      assert.equal(state.get(52)?.probability, 0.25);
    });

    it('treats the replay of a batch as a no-op', async () => {
      const rows = [row(60, pos(60), 0.6), row(61, pos(61), 0.61), del(62, pos(62)), row(63, pos(63), 0.63)];
      await write(...rows);
      const first = await h.read();
      const later = rows.map((r) => ({ ...r, scoredAt: new Date(r.scoredAt.getTime() + 60_000) }));
      await write(...later);
      await write(...rows);
      assert.deepEqual(await h.read(), first);
    });

    it('writes a 5,000-row batch of mixed upserts and deletes', async () => {
      const rows: PredictionRow[] = [];
      for (let i = 0; i < 5000; i++) {
        const key = 100_000 + (i % 2500);
        rows.push(i % 7 === 0 ? del(key, pos(100 + i)) : row(key, pos(100 + i), i / 5000));
      }
      await write(...rows);
      const state = await h.read();
      for (let k = 0; k < 2500; k++) {
        const last = rows[2500 + k]!;
        const got = state.get(100_000 + k);
        if (last.op === 'd') assert.equal(got, undefined, `key ${100_000 + k}`);
        else assert.equal(got?.probability, last.values[0], `key ${100_000 + k}`);
      }
    });
  });
}
