import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawMessage } from '../../../workers/core/types.js';
import type { SourceMetrics } from '../../../workers/observability/metrics.js';
import type { BatchTrace, BatchTracer } from '../../../workers/observability/tracing.js';
import { deferred, settle, startSource } from './fake-consumer.js';

// What a Kafka source reports besides its records: the batch trace it hands the handler and ends
// after the commit (tracing on), nothing at all with tracing off, and the consumer lag and
// acknowledged commits.

/** A tracer that writes down what happens, in order. */
function recordingTracer(): { tracer: BatchTracer; events: string[] } {
  const events: string[] = [];
  const tracer: BatchTracer = {
    start(messages: readonly RawMessage[]): BatchTrace {
      events.push(`start ${messages.length}`);
      return {
        stage(name) {
          events.push(`stage ${name}`);
          return { end: (error) => events.push(`end ${name}${error ? ' (error)' : ''}`) };
        },
        end(error, attributes) {
          events.push(
            `end batch${error ? ' (error)' : ''} committed=${attributes?.['streamscore.committed']}`,
          );
        },
      };
    },
  };
  return { tracer, events };
}

describe('Kafka source observers', () => {
  it('tracing off: the handler gets no trace', async () => {
    const traces: unknown[] = [];
    const h = await startSource({
      handler: async (_messages, _beat, trace) => {
        traces.push(trace);
      },
    });
    await h.consumer.deliver('t', 0, 0, 3);
    await settle();
    assert.deepEqual(traces, [undefined]);
    assert.deepEqual(h.consumer.committed('t', 0), ['3']);
  });

  it('a batch trace holds the handler’s stages and ends after its offset is committed', async () => {
    const { tracer, events } = recordingTracer();
    const commit = deferred();
    let commits = 0;
    const h = await startSource({
      observers: { tracer },
      handler: async (_messages, _beat, trace) => {
        trace?.stage('sink s').end();
      },
    });
    const realCommit = h.consumer.commitOffsets.bind(h.consumer);
    h.consumer.commitOffsets = async (offsets) => {
      commits++;
      await commit.promise;
      return realCommit(offsets);
    };
    await h.consumer.deliver('t', 0, 0, 3);
    await settle();
    assert.equal(commits, 1, 'the commit request is in flight');
    assert.deepEqual(events, ['start 3', 'stage sink s', 'end sink s', 'stage commit']);
    commit.resolve();
    await settle();
    assert.deepEqual(events.slice(4), ['end commit', 'end batch committed=true']);
  });

  it('a failed batch ends its trace with the error, not committed', async () => {
    const { tracer, events } = recordingTracer();
    const h = await startSource({
      observers: { tracer },
      handler: async () => {
        throw new Error('sink down');
      },
    });
    await h.consumer.deliver('t', 0, 0, 2);
    await settle();
    assert.deepEqual(events, ['start 2', 'end batch (error) committed=false']);
    assert.deepEqual(h.consumer.committed('t', 0), []);
    assert.equal(h.fatal.length, 1);
  });

  it('reports the lag at each fetch and after each acknowledged commit', async () => {
    const seen: string[] = [];
    const metrics: SourceMetrics = {
      lag: (topic, partition, records) => seen.push(`lag ${topic}[${partition}] ${records}`),
      committed: () => seen.push('committed'),
    };
    const writes = [deferred(), deferred()];
    let i = 0;
    const h = await startSource({
      observers: { metrics },
      config: { max_records_in_flight: 100 },
      handler: () => writes[i++]!.promise,
    });
    await h.consumer.deliver('t', 0, 0, 5); // high watermark 5, nothing committed yet
    await settle();
    await h.consumer.deliver('t', 0, 5, 5); // high watermark 10
    await settle();
    assert.deepEqual(seen, ['lag t[0] 5', 'lag t[0] 10']);
    writes[0]!.resolve();
    await settle();
    assert.deepEqual(seen.slice(2), ['committed', 'lag t[0] 5']);
    writes[1]!.resolve();
    await settle();
    assert.deepEqual(seen.slice(4), ['committed', 'lag t[0] 0']);
  });

  it('a partition revoked in a rebalance reports no lag here any more', async () => {
    const seen: string[] = [];
    const metrics: SourceMetrics = {
      lag: (topic, partition, records) => seen.push(`lag ${topic}[${partition}] ${records}`),
      committed: () => undefined,
    };
    const h = await startSource({ observers: { metrics }, handler: () => new Promise(() => undefined) });
    h.consumer.join({ t: [0, 1] });
    void h.consumer.deliver('t', 0, 0, 4);
    await settle();
    assert.deepEqual(seen, ['lag t[0] 4']);
    h.consumer.join({ t: [1] }); // partition 0 went to another member, its batch unwritten
    assert.deepEqual(seen.slice(1), ['lag t[0] 0']);
    h.consumer.join({ t: [1] });
    assert.equal(seen.length, 2, 'reported once');
  });
});
