import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scoreChunk } from '../../../workers/backfill/chunk.js';
import type { ChunkData } from '../../../workers/backfill/jobs.js';
import type {
  BackfillFilter,
  KeyRange,
  ReadOptions,
  TableReader,
  TableSlice,
} from '../../../workers/backfill/reader.js';
import type { ChangeRecord, DecodedBatch } from '../../../workers/core/types.js';

const data: ChunkData = {
  runId: 'r',
  pipeline: 'p',
  table: 't',
  index: 0,
  range: { lower: null, upper: null },
  filter: { where: [], since: null },
};

function record(i: number): ChangeRecord {
  return { op: 'r', root: { key: { id: i } }, position: 0n, sourceTsMs: 0, origin: undefined };
}

/** A reader of `rows` rows that logs its fetches and whether it was closed. */
function fakeReader(rows: number, log: string[]): TableReader {
  return {
    table: 't',
    planChunks: async () => ({ ranges: [], rows: 0 }),
    async *readChunk(_r: KeyRange, _f: BackfillFilter, o: ReadOptions): AsyncGenerator<TableSlice> {
      try {
        for (let at = 0; at < rows; at += o.fetchRows) {
          log.push(`fetch ${at}`);
          await new Promise((r) => setTimeout(r, 5));
          const n = Math.min(o.fetchRows, rows - at);
          yield { records: Array.from({ length: n }, (_, i) => record(at + i)), snapshotUs: 42n };
        }
      } finally {
        log.push('closed');
      }
    },
    close: async () => undefined,
  };
}

describe('scoreChunk', () => {
  it('scores slice by slice, fetching the next slice while the current one is scored', async () => {
    const log: string[] = [];
    const progress: number[] = [];
    const result = await scoreChunk({
      data,
      reader: fakeReader(25, log),
      fetchRows: 10,
      path: {
        async processDecoded(d: DecodedBatch) {
          log.push(`score ${d.records.length}`);
          await new Promise((r) => setTimeout(r, 20));
          return { scored: d.records.length - 1, deleted: 0, deadLettered: 1, skipped: 0 };
        },
      },
      checkpoint: async (p) => {
        progress.push(p.rows);
      },
    });
    assert.deepEqual(log, ['fetch 0', 'fetch 10', 'score 10', 'fetch 20', 'score 10', 'closed', 'score 5']);
    assert.deepEqual(progress, [10, 20, 25]);
    assert.equal(result.rows, 25);
    assert.equal(result.scored, 22);
    assert.equal(result.deadLettered, 3);
    assert.equal(result.snapshotUs, '42');
  });

  it('a failing slice stops the chunk and closes the reader', async () => {
    const log: string[] = [];
    await assert.rejects(
      scoreChunk({
        data,
        reader: fakeReader(100, log),
        fetchRows: 10,
        path: {
          async processDecoded() {
            throw new Error('sink down');
          },
        },
        checkpoint: async () => undefined,
      }),
      /sink down/,
    );
    assert.equal(log.at(-1), 'closed');
    assert.ok(log.filter((l) => l.startsWith('fetch')).length <= 2);
  });

  it('a checkpoint that throws (cancelled) stops the chunk', async () => {
    const log: string[] = [];
    await assert.rejects(
      scoreChunk({
        data,
        reader: fakeReader(100, log),
        fetchRows: 10,
        path: {
          processDecoded: async (d) => ({
            scored: d.records.length,
            deleted: 0,
            deadLettered: 0,
            skipped: 0,
          }),
        },
        checkpoint: async (p) => {
          if (p.rows >= 20) throw new Error('cancelled');
        },
      }),
      /cancelled/,
    );
    assert.equal(log.at(-1), 'closed');
  });
});
