import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PipelineError } from '../../../workers/core/errors.js';
import { silentLogger } from '../../../workers/core/silent-logger.js';
import type {
  ChangeRecord,
  DecodedBatch,
  PredictionBatch,
  RawMessage,
  Sink,
} from '../../../workers/core/types.js';
import { compileExpression } from '../../../workers/expr/index.js';
import { FeatureMapper } from '../../../workers/features/mapper.js';
import { createMetrics, type Metrics, noopMeter } from '../../../workers/observability/metrics.js';
import { BatchProcessor, fixedModel } from '../../../workers/runtime/batch-processor.js';

const expr = (s: string) => {
  const r = compileExpression(s);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
};

const noop = { add() {}, record() {} };
const metrics: Metrics = {
  recordsIn: noop,
  recordsOut: noop,
  deadLettered: noop,
  errors: noop,
  batchSize: noop,
  inferenceMs: noop,
  endToEndMs: noop,
  sinkRetry() {},
  decodeRetry() {},
  rollout: createMetrics(noopMeter(), 'p', silentLogger).rollout,
  audit() {},
  overrideRate() {},
  source: { lag() {}, committed() {} },
};

function record(op: ChangeRecord['op'], id: number, amount: unknown, position: bigint): ChangeRecord {
  const row = { id, amount };
  return {
    op,
    root: {
      op,
      before: op === 'd' ? row : null,
      after: op === 'd' ? null : row,
      source: { ts_ms: 1000 },
      key: { id },
    },
    position,
    sourceTsMs: 1000,
    origin: {
      topic: 't',
      partition: 0,
      offset: String(id),
      key: Buffer.from(String(id)),
      value: Buffer.from('v'),
    },
  };
}

class MemorySink implements Sink {
  readonly name = 'memory';
  readonly capabilities = { idempotent: true, maxBatchRows: 1000 };
  batches: PredictionBatch[] = [];
  failuresLeft = 0;
  async open() {}
  async close() {}
  async write(b: PredictionBatch) {
    if (this.failuresLeft-- > 0)
      throw new PipelineError('connection lost', { code: 'X', stage: 'sink', retryable: true });
    this.batches.push(b);
  }
}

function processor(
  records: ChangeRecord[],
  sink: Sink,
  onNull: 'reject' | number = 0,
  dlq = true,
  decode: { decodeBatch?: () => Promise<DecodedBatch>; metrics?: Metrics } = {},
) {
  const mapper = new FeatureMapper({
    pipeline: 'p',
    key: expr('after.id'),
    features: [
      { name: 'amount', type: 'float', expr: expr('after.amount'), width: 1, onNull },
      { name: 'double', type: 'float', expr: expr('after.amount * 2'), width: 1, onNull: 0 },
    ],
    scoreOps: ['c', 'u', 'r'],
  });
  const letters: { message: RawMessage; error: PipelineError }[] = [];
  const bp = new BatchProcessor({
    pipeline: 'p',
    decoder: {
      decodeBatch:
        decode.decodeBatch ?? (async (): Promise<DecodedBatch> => ({ records, failures: [], skipped: 1 })),
    },
    mapper,
    models: fixedModel(
      { name: 'm', version: '1' },
      {
        outputFields: ['score'],
        predict: async (f, rows) => ({
          score: Float64Array.from({ length: rows }, (_, i) => f[i * 2]! + f[i * 2 + 1]!),
        }),
      },
    ),
    sinks: [sink],
    deadLetters: dlq ? { write: async (f) => void letters.push(...f) } : undefined,
    retry: { maxRetries: 3, initialBackoffMs: 1 },
    metrics: decode.metrics ?? metrics,
  });
  return { bp, letters };
}

test('scores, deletes and dead letters of one batch reach the sinks together', async () => {
  const sink = new MemorySink();
  const records = [
    record('c', 1, 2, 10n),
    record('u', 2, null, 11n),
    record('d', 3, 5, 12n),
    record('c', 4, 'x', 13n),
  ];
  const { bp, letters } = processor(records, sink, 'reject');
  const result = await bp.process([]);
  assert.deepEqual(result, { scored: 1, deleted: 1, deadLettered: 2, skipped: 1 });
  const rows = sink.batches[0]!.rows;
  assert.deepEqual(sink.batches[0]!.fields, ['score', 'feature.amount', 'feature.double']);
  assert.deepEqual(
    rows.map((r) => [r.key, r.op, r.values, r.position]),
    [
      [1, 'c', [6, 2, 4], 10n],
      [3, 'd', [], 12n],
    ],
  );
  assert.deepEqual(letters.map((l) => l.error.code).sort(), ['FEATURE_NOT_FINITE', 'FEATURE_NULL']);
  assert.equal(letters[0]!.message.topic, 't');
});

test('a transient sink error is retried; a terminal one rejects so nothing is committed', async () => {
  const sink = new MemorySink();
  sink.failuresLeft = 2;
  await processor([record('c', 1, 1, 1n)], sink).bp.process([]);
  assert.equal(sink.batches.length, 1);

  const terminal: Sink = {
    name: 't',
    capabilities: { idempotent: true, maxBatchRows: 1 },
    open: async () => {},
    close: async () => {},
    write: async () => {
      throw new PipelineError('no such table', { code: 'T', stage: 'sink' });
    },
  };
  await assert.rejects(processor([record('c', 1, 1, 1n)], terminal).bp.process([]), /no such table/);

  const flaky = new MemorySink();
  flaky.failuresLeft = 10;
  await assert.rejects(processor([record('c', 1, 1, 1n)], flaky).bp.process([]), /connection lost/);
});

test('a batch waits for an unreachable schema registry past max_retries; any other decode error rejects at once', async () => {
  const sink = new MemorySink();
  const retries: number[] = [];
  let calls = 0;
  const { bp } = processor([], sink, 0, true, {
    decodeBatch: async () => {
      if (++calls <= 6)
        throw new PipelineError(
          'schema registry unavailable while fetching schema id 7: connect ECONNREFUSED',
          {
            code: 'DECODE_REGISTRY',
            stage: 'decode',
            retryable: true,
          },
        );
      return { records: [record('c', 1, 1, 1n)], failures: [], skipped: 0 };
    },
    metrics: { ...metrics, decodeRetry: (_err, attempt) => void retries.push(attempt) },
  });
  // max_retries is 3 here: the registry is waited for without limit.
  assert.deepEqual(await bp.process([]), { scored: 1, deleted: 0, deadLettered: 0, skipped: 0 });
  assert.deepEqual(retries, [1, 2, 3, 4, 5, 6]);
  assert.equal(bp.waitingForRegistry, false, 'no longer waiting once decoded');
  assert.equal(sink.batches.length, 1);

  let bugCalls = 0;
  const buggy = processor([], new MemorySink(), 0, true, {
    decodeBatch: async () => {
      bugCalls++;
      throw new TypeError('a decoder bug');
    },
  });
  await assert.rejects(buggy.bp.process([]), /a decoder bug/);
  assert.equal(bugCalls, 1);
});

test('a batch waiting for the schema registry gives up uncommitted (BATCH_ABANDONED) when the worker stops', async () => {
  let calls = 0;
  const { bp } = processor([], new MemorySink(), 0, true, {
    decodeBatch: async () => {
      calls++;
      throw new PipelineError('schema registry unavailable while fetching schema id 7', {
        code: 'DECODE_REGISTRY',
        stage: 'decode',
        retryable: true,
      });
    },
  });
  const waiting = bp.process([]);
  await new Promise((r) => setTimeout(r, 50));
  const before = calls;
  assert.ok(before >= 3, `still retrying (${before} attempts)`);
  assert.equal(bp.waitingForRegistry, true, 'held on purpose: the stall watchdog does not count it');
  bp.abandonWaiting();
  await assert.rejects(waiting, (err: unknown) => PipelineError.is(err) && err.code === 'BATCH_ABANDONED');
  assert.equal(bp.waitingForRegistry, false);
  assert.ok(calls <= before + 1, 'at most one more attempt after the stop');
});

test('rows a sink rejects for their values go to the dead-letter topic; the others are written', async () => {
  const written: unknown[] = [];
  const picky: Sink = {
    name: 'postgres:ml.scores',
    capabilities: { idempotent: true, maxBatchRows: 100 },
    open: async () => {},
    close: async () => {},
    write: async (b) => {
      if (b.rows.some((r) => r.key === 3))
        throw new PipelineError('value too long', { code: 'SINK_DATA', stage: 'sink', pipeline: 'p' });
      for (const r of b.rows) written.push(r.key);
    },
  };
  // Fresh records for each processor: a batch's records are its own (process() lets their
  // envelopes go once the features are computed).
  const records = () => [1, 2, 3, 4, 5].map((id) => record('c', id, id, BigInt(id)));
  const { bp, letters } = processor(records(), picky);
  const result = await bp.process([]);
  assert.deepEqual(written.sort(), [1, 2, 4, 5]);
  assert.equal(result.deadLettered, 1);
  assert.equal(letters.length, 1);
  assert.equal(letters[0]!.message.offset, '3', 'the dead letter is the source message of the rejected row');
  assert.equal(letters[0]!.error.code, 'SINK_DATA');
  assert.match(
    letters[0]!.error.message,
    /postgres:ml\.scores rejected the prediction for key 3 \(position 3\): value too long/,
  );

  // Without a dead-letter topic the same rejection stops the batch: nothing is dropped.
  await assert.rejects(processor(records(), picky, 0, false).bp.process([]), /value too long/);
});

test('a batch process() decoded lets its envelopes go once the features are computed, before the sinks write', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const rootsAtWrite: unknown[] = [];
  let records: ChangeRecord[] = [];
  const slow = Object.assign(new MemorySink(), {
    write: async () => {
      rootsAtWrite.push(...records.map((r) => r.root['after']));
      await gate;
    },
  });
  records = [record('c', 1, 2, 1n), record('u', 2, 3, 2n)];
  const { bp } = processor(records, slow);
  const done = bp.process([]);
  await new Promise((r) => setImmediate(r));
  release();
  await done;
  assert.deepEqual(rootsAtWrite, [undefined, undefined], 'no envelope is held while the sink writes');
  assert.equal(records[0]!.origin?.offset, '1', 'the origin (for dead letters) stays');

  // processDecoded's callers (backfill, `streamscore test`) own their records: left as they are.
  const own = [record('c', 3, 4, 3n)];
  const sink = new MemorySink();
  await processor([], sink).bp.processDecoded({ records: own, failures: [], skipped: 0 }, 1);
  assert.deepEqual(own[0]!.root['after'], { id: 3, amount: 4 });
  assert.equal(sink.batches[0]!.rows[0]!.key, 3);
});

test('the backfill path writes only the backfill sinks and records no end-to-end latency; the stream path writes every sink', async () => {
  const streamOnly = new MemorySink();
  const both = new MemorySink();
  const latencies: number[] = [];
  const records = [record('r', 1, 2, 10n), record('r', 2, 3, 11n)];
  const { bp } = processor(records, streamOnly);
  const deps = (bp as unknown as { deps: Record<string, unknown> }).deps;
  deps['sinks'] = [streamOnly, both];
  deps['backfillSinks'] = [both];
  deps['metrics'] = { ...metrics, endToEndMs: { record: (v: number) => void latencies.push(v) } };
  await bp.backfill.processDecoded({ records, failures: [], skipped: 0 }, records.length);
  assert.equal(streamOnly.batches.length, 0);
  assert.deepEqual(
    both.batches.flatMap((b) => b.rows.map((r) => r.key)),
    [1, 2],
  );
  assert.deepEqual(latencies, []);
  await bp.processDecoded({ records, failures: [], skipped: 0 }, records.length);
  assert.equal(streamOnly.batches.length, 1);
  assert.equal(both.batches.length, 2);
  assert.equal(latencies.length, 2);
});
