import type { DecodedBatch } from '../core/types.js';
import type { BatchResult } from '../runtime/batch-processor.js';
import type { ChunkData, ChunkResult } from './jobs.js';
import type { TableReader, TableSlice } from './reader.js';

/**
 * The shared scoring path (`BatchProcessor.processDecoded`): features → micro-batched inference →
 * every sink. A chunk enters it exactly like a fetch of decoded Kafka messages.
 */
export interface ScoringPath {
  processDecoded(decoded: DecodedBatch, received: number, onWait?: () => Promise<void>): Promise<BatchResult>;
}

export interface ChunkProgress {
  rows: number;
  scored: number;
  deadLettered: number;
}

/**
 * Scores one chunk: reads its rows slice by slice (the next fetch overlaps the scoring of the
 * current one) and resolves when every sink has durably written every row of it. `checkpoint`
 * runs after each slice (progress, cancellation: it may throw to stop the chunk).
 */
export async function scoreChunk(args: {
  data: ChunkData;
  reader: TableReader;
  path: ScoringPath;
  fetchRows: number;
  signal?: AbortSignal;
  checkpoint: (progress: ChunkProgress) => Promise<void>;
}): Promise<ChunkResult> {
  const started = performance.now();
  const p: ChunkProgress = { rows: 0, scored: 0, deadLettered: 0 };
  let deleted = 0;
  let snapshotUs = 0n;
  const slices = args.reader.readChunk(args.data.range, args.data.filter, {
    fetchRows: args.fetchRows,
    ...(args.signal ? { signal: args.signal } : {}),
  });
  let next: Promise<IteratorResult<TableSlice>> = slices.next();
  try {
    for (;;) {
      const r = await next;
      if (r.done) break;
      next = slices.next();
      // Avoid an unhandled rejection if the prefetch fails while this slice is being scored.
      next.catch(() => undefined);
      const slice = r.value;
      snapshotUs = slice.snapshotUs;
      const res = await args.path.processDecoded(
        { records: slice.records, failures: [], skipped: 0 },
        slice.records.length,
      );
      p.rows += slice.records.length;
      p.scored += res.scored;
      p.deadLettered += res.deadLettered;
      deleted += res.deleted;
      await args.checkpoint({ ...p });
    }
  } finally {
    // Stopped early: let the pending fetch settle, then end the reader's snapshot.
    await next.catch(() => undefined);
    await slices.return(undefined);
  }
  return {
    rows: p.rows,
    scored: p.scored,
    deleted,
    deadLettered: p.deadLettered,
    ms: Math.round(performance.now() - started),
    snapshotUs: snapshotUs.toString(),
  };
}
