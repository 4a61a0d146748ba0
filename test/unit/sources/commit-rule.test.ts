import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
import { createMetrics, noopMeter } from '../../../workers/observability/metrics.js';
import { BatchProcessor, fixedModel } from '../../../workers/runtime/batch-processor.js';
import { type Deferred, deferred, settle, startSource } from './fake-consumer.js';

// The README's commit rule ("Delivery guarantees", "Scaling out"), on a KafkaSource driven through
// a fake kafkajs consumer: an offset is committed only after every sink wrote that batch and every
// earlier batch of its partition; never for a failed batch; never for a partition revoked in a
// rebalance; and a SIGTERM drain commits exactly what was written.

/** The highest offset committed for a partition, as a number (undefined: none). */
function highest(committed: string[]): number | undefined {
  return committed.length === 0 ? undefined : Math.max(...committed.map(Number));
}

describe('Kafka source: an offset is committed only after every sink wrote the batch', () => {
  it('waits for the last of several sinks (a real BatchProcessor in between)', async () => {
    const sinks = [new GatedSink('crm'), new GatedSink('warehouse')];
    const bp = processorOver(sinks);
    const h = await startSource({
      handler: (messages, beat) => bp.process(messages, beat).then(() => undefined),
    });
    await h.consumer.deliver('t', 0, 0, 3);
    await settle();
    assert.equal(sinks[0]!.pending.length, 1, 'the batch reached the first sink');
    assert.equal(sinks[1]!.pending.length, 1, 'and the second');
    sinks[0]!.pending[0]!.resolve();
    await settle();
    assert.deepEqual(h.consumer.commits, [], 'one sink wrote, the other did not: nothing committed');
    sinks[1]!.pending[0]!.resolve();
    await settle();
    assert.deepEqual(h.consumer.commits, [[{ topic: 't', partition: 0, offset: '3' }]]);
    assert.deepEqual(h.fatal, []);
  });

  it('does not commit a fetched batch before it is written (kafkajs only resolved it)', async () => {
    const h = await startSource();
    await h.consumer.deliver('t', 0, 0, 5);
    assert.equal(h.writes.length, 1);
    assert.deepEqual(
      h.consumer.resolved,
      [{ topic: 't', partition: 0, offset: '4' }],
      'resolved so kafkajs fetches on',
    );
    await settle();
    assert.deepEqual(h.consumer.commits, [], 'fetched, not written: nothing committed');
    h.writes[0]!.done.resolve();
    await settle();
    assert.deepEqual(
      h.consumer.commits,
      [[{ topic: 't', partition: 0, offset: '5' }]],
      'the next offset to read',
    );
  });

  it('waits for every earlier batch of the partition, and only of that partition', async () => {
    const h = await startSource();
    await h.consumer.deliver('t', 0, 0, 5); // a: 0..4
    // b: 5..9, fetched while a is written (its eachBatch returns once a is: two batches in flight)
    void h.consumer.deliver('t', 0, 5, 5);
    await h.consumer.deliver('t', 1, 0, 2); // c: partition 1
    const [a, b, c] = h.writes;
    b!.done.resolve();
    await settle();
    assert.deepEqual(h.consumer.committed('t', 0), [], 'b is written but a is not: partition 0 stays');
    c!.done.resolve();
    await settle();
    assert.deepEqual(h.consumer.committed('t', 1), ['2'], 'partition 1 does not wait for partition 0');
    assert.deepEqual(h.consumer.committed('t', 0), []);
    a!.done.resolve();
    await settle();
    assert.equal(highest(h.consumer.committed('t', 0)), 10, 'a and b written: past both');
    for (const o of h.consumer.committed('t', 0))
      assert.ok(['5', '10'].includes(o), `batch boundary, got ${o}`);
  });
});

describe('Kafka source: a failed write is never committed', () => {
  it('commits neither the failed batch nor any later one, and reports the failure', async () => {
    const h = await startSource();
    await h.consumer.deliver('t', 0, 0, 5); // a: fails
    void h.consumer.deliver('t', 0, 5, 5); // b: written, but after a
    await h.consumer.deliver('t', 1, 0, 2); // c: another partition, written before the failure
    const [a, b, c] = h.writes;
    c!.done.resolve();
    b!.done.resolve();
    await settle();
    a!.done.reject(new PipelineError('retries exhausted', { code: 'SINK', stage: 'sink', retryable: true }));
    await settle();
    assert.equal(h.fatal.length, 1, 'the failure stops the worker');
    assert.match(String((h.fatal[0] as Error).message), /retries exhausted/);
    assert.deepEqual(h.consumer.committed('t', 0), [], 'nothing of partition 0: a failed, b is after it');
    assert.deepEqual(h.consumer.committed('t', 1), ['2'], 'what was written before the failure stands');
    // Written after the failure, on a healthy partition: still not committed (the worker is stopping).
    await h.consumer.deliver('t', 1, 2, 2);
    assert.equal(h.writes.length, 3, 'no batch is handled after a failure');
  });

  it('commits nothing past a failed batch when an earlier one is still in flight', async () => {
    const h = await startSource();
    await h.consumer.deliver('t', 0, 0, 5); // a: still writing
    void h.consumer.deliver('t', 0, 5, 5); // b: fails first
    const [a, b] = h.writes;
    b!.done.reject(new Error('permission denied for table scores'));
    await settle();
    a!.done.resolve();
    await settle();
    assert.equal(h.fatal.length, 1);
    const top = highest(h.consumer.committed('t', 0));
    assert.ok(top === undefined || top <= 5, `committed past the failed batch (5..9): ${top}`);
  });
});

describe('Kafka source: never commits for a partition revoked in a rebalance', () => {
  it('drops the commit of a batch whose partition moved to another member', async () => {
    const h = await startSource();
    h.consumer.join({ t: [0, 1] });
    await h.consumer.deliver('t', 0, 0, 5);
    await h.consumer.deliver('t', 1, 0, 5);
    h.consumer.join({ t: [1] }); // rebalance: partition 0 now belongs to another member
    for (const w of h.writes) w.done.resolve();
    await settle();
    assert.deepEqual(
      h.consumer.committed('t', 0),
      [],
      'partition 0 was revoked before its batch was written',
    );
    // kafkajs re-reads the kept partition from its committed offset after a rebalance; that commits.
    await h.consumer.deliver('t', 1, 0, 5);
    h.writes[2]!.done.resolve();
    await settle();
    assert.equal(highest(h.consumer.committed('t', 1)), 5);
    assert.deepEqual(h.fatal, []);
  });

  it('drops offsets still waiting for the commit request in flight when the partition is revoked', async () => {
    const h = await startSource();
    h.consumer.join({ t: [0] });
    h.consumer.commitGate = deferred(); // a commit request is slow
    await h.consumer.deliver('t', 0, 0, 2);
    void h.consumer.deliver('t', 0, 2, 2);
    h.writes[0]!.done.resolve();
    await settle();
    assert.deepEqual(h.consumer.committed('t', 0), ['2'], 'the first commit is in flight');
    h.writes[1]!.done.resolve();
    await settle(); // offset 4 waits behind the request in flight
    h.consumer.join({ t: [] }); // partition 0 revoked meanwhile
    h.consumer.commitGate.resolve();
    h.consumer.commitGate = undefined;
    await settle();
    assert.deepEqual(h.consumer.committed('t', 0), ['2'], 'offset 4 is not sent after the revoke');
  });

  it('does not commit a batch of an earlier assignment when the partition comes back', async () => {
    const h = await startSource();
    h.consumer.join({ t: [0] });
    await h.consumer.deliver('t', 0, 0, 5);
    h.consumer.join({ t: [] }, 'member-1'); // revoked ...
    h.consumer.join({ t: [0] }, 'member-1'); // ... and assigned back: another member may have owned it meanwhile
    h.writes[0]!.done.resolve();
    await settle();
    assert.deepEqual(h.consumer.committed('t', 0), []);
  });

  it('does not commit across a rejoin as a new member (kicked out of the group, then back)', async () => {
    const h = await startSource();
    h.consumer.join({ t: [0] }, 'member-1');
    await h.consumer.deliver('t', 0, 0, 5);
    h.consumer.join({ t: [0] }, 'member-2'); // the group went on without this member in between
    h.writes[0]!.done.resolve();
    await settle();
    assert.deepEqual(h.consumer.committed('t', 0), []);
  });

  it('does not handle a batch delivered for a partition it no longer owns', async () => {
    const h = await startSource();
    h.consumer.join({ t: [0, 1] });
    h.consumer.join({ t: [1] });
    await h.consumer.deliver('t', 0, 0, 5);
    assert.equal(h.writes.length, 0);
    await settle();
    assert.deepEqual(h.consumer.commits, []);
  });
});

describe('Kafka source: the SIGTERM drain commits exactly what was written', () => {
  it('finishes the batches in flight, commits them, and only then leaves the group', async () => {
    const h = await startSource();
    h.consumer.join({ t: [0, 1] });
    await h.consumer.deliver('t', 0, 0, 5); // a
    await h.consumer.deliver('t', 1, 0, 5); // b
    void h.consumer.deliver('t', 0, 5, 5); // c
    const [a, b, c] = h.writes;
    a!.done.resolve();
    await settle();
    let stopped = false;
    const stop = h.source.stop().then(() => {
      stopped = true;
    });
    await settle();
    assert.ok(h.consumer.calls.includes('pause'), 'fetching stops');
    // Fetched after the stop began: neither handled nor committed (re-read after the restart).
    await h.consumer.deliver('t', 1, 5, 5);
    assert.equal(h.writes.length, 3);
    assert.equal(stopped, false, 'b and c are still being written');
    assert.ok(!h.consumer.calls.includes('stop'));
    h.consumer.commitGate = deferred(); // the drain's commit is slow: the group must wait for it
    b!.done.resolve();
    c!.done.resolve();
    await settle();
    assert.equal(stopped, false, 'the commit request is still in flight');
    assert.ok(!h.consumer.calls.includes('stop'), 'the consumer leaves the group only after its commits');
    h.consumer.commitGate.resolve();
    await stop;
    assert.equal(highest(h.consumer.committed('t', 0)), 10, 'partition 0: a and c, all written');
    assert.equal(
      highest(h.consumer.committed('t', 1)),
      5,
      'partition 1: b, not the batch fetched after the stop',
    );
    const lastCommit = h.consumer.calls.lastIndexOf('commit');
    assert.ok(
      lastCommit < h.consumer.calls.indexOf('stop'),
      `commits before stop: ${h.consumer.calls.join(',')}`,
    );
    assert.deepEqual(h.consumer.calls.slice(-2), ['stop', 'disconnect']);
    assert.deepEqual(h.fatal, []);
  });

  it('commits up to a batch that fails during the drain, not past it', async () => {
    const h = await startSource();
    await h.consumer.deliver('t', 0, 0, 5); // a
    void h.consumer.deliver('t', 0, 5, 5); // b: fails while draining
    const stop = h.source.stop();
    h.writes[0]!.done.resolve();
    await settle();
    h.writes[1]!.done.reject(new Error('connection terminated'));
    await stop;
    assert.deepEqual(h.consumer.committed('t', 0), ['5']);
    assert.equal(h.fatal.length, 1);
  });
});

// --- a BatchProcessor over gated sinks, for the "every sink" rule --------------------------------

class GatedSink implements Sink {
  readonly capabilities = { idempotent: true, maxBatchRows: 1000 };
  readonly pending: Deferred[] = [];
  constructor(readonly name: string) {}
  async open() {}
  async close() {}
  write(_b: PredictionBatch): Promise<void> {
    const d = deferred();
    this.pending.push(d);
    return d.promise;
  }
}

const metrics = createMetrics(noopMeter(), 'p', silentLogger);

function expr(s: string) {
  const r = compileExpression(s);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

function processorOver(sinks: Sink[]): BatchProcessor {
  const toRecord = (m: RawMessage): ChangeRecord => ({
    op: 'c',
    root: { id: Number(m.offset), amount: 1, key: null },
    position: BigInt(m.offset),
    sourceTsMs: 0,
    origin: { topic: m.topic, partition: m.partition, offset: m.offset, key: m.key, value: m.value },
  });
  return new BatchProcessor({
    pipeline: 'p',
    decoder: {
      decodeBatch: async (messages): Promise<DecodedBatch> => ({
        records: messages.map(toRecord),
        failures: [],
        skipped: 0,
      }),
    },
    mapper: new FeatureMapper({
      pipeline: 'p',
      key: expr('id'),
      features: [{ name: 'amount', type: 'float', expr: expr('amount'), width: 1, onNull: 0 }],
      scoreOps: ['c', 'u', 'r'],
    }),
    models: fixedModel(
      { name: 'm', version: '1' },
      {
        outputFields: ['score'],
        predict: async (_f, rows) => ({ score: new Float64Array(rows) }),
      },
    ),
    sinks,
    deadLetters: undefined,
    retry: { maxRetries: 0, initialBackoffMs: 1 },
    metrics,
  });
}
