import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { silentLogger } from '../../../workers/core/silent-logger.js';
import type { RawMessage } from '../../../workers/core/types.js';
import { createProcessTracing } from '../../../workers/observability/telemetry.js';
import { createTracing, parseTraceparent, tracingWanted } from '../../../workers/observability/tracing.js';

const T1 = '0af7651916cd43dd8448eb211c80319c';
const S1 = 'b7ad6b7169203331';
const T2 = '4bf92f3577b34da6a3ce929d0e0e4736';
const S2 = '00f067aa0ba902b7';

/** Keeps its spans through shutdown (the in-memory exporter forgets them then). */
class KeepingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function message(offset: number, headers: Record<string, string> = {}): RawMessage {
  return {
    topic: 't',
    partition: 3,
    offset: String(offset),
    key: null,
    value: null,
    headers,
    timestamp: '0',
  };
}

test('parseTraceparent reads a W3C traceparent and refuses malformed ones', () => {
  assert.deepEqual(parseTraceparent(`00-${T1}-${S1}-01`), {
    traceId: T1,
    spanId: S1,
    traceFlags: 1,
    isRemote: true,
  });
  assert.equal(parseTraceparent(`00-${T1}-${S1}-00`)?.traceFlags, 0);
  for (const bad of [
    undefined,
    '',
    `ff-${T1}-${S1}-01`, // version ff is invalid
    `00-${'0'.repeat(32)}-${S1}-01`, // all-zero trace id
    `00-${T1}-${'0'.repeat(16)}-01`, // all-zero span id
    `00-${T1}-${S1}-01-extra`, // version 00 has exactly four fields
    `00-${T1.slice(1)}-${S1}-01`,
    `00-${T1}-${S1}-0z`,
  ])
    assert.equal(parseTraceparent(bad), undefined, String(bad));
  // A later version may add fields after the flags.
  assert.equal(parseTraceparent(`01-${T1}-${S1}-01-what-comes-next`)?.spanId, S1);
});

test('tracing is on only when an OTLP endpoint is set and neither the SDK nor the exporter is disabled', () => {
  assert.equal(tracingWanted({}), false);
  assert.equal(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), true);
  assert.equal(tracingWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }), true);
  assert.equal(
    tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }),
    false,
  );
  assert.equal(
    tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }),
    false,
  );
  assert.equal(
    tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'otlp' }),
    true,
  );
});

test('off without an OTLP endpoint: no tracing, so no tracer and no span is ever started', () => {
  assert.equal(createProcessTracing('streamscore', silentLogger, {}), undefined);
  assert.notEqual(
    createProcessTracing('streamscore', silentLogger, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' }),
    undefined,
  );
});

test('a batch span continues the first traceparent, links the others, and holds its stages', async () => {
  const exporter = new KeepingExporter();
  const tracing = createTracing({
    env: {},
    resource: resourceFromAttributes({ 'service.name': 's' }),
    logger: silentLogger,
    exporter,
  })!;
  const trace = tracing
    .forPipeline('churn')
    .start([
      message(10),
      message(11, { traceparent: `00-${T1}-${S1}-01` }),
      message(12, { traceparent: `00-${T1}-${S1}-01` }),
      message(13, { traceparent: `00-${T2}-${S2}-01` }),
    ]);
  trace.stage('decode').end();
  const sink = trace.stage('sink postgres', { rows: 4 });
  sink.end();
  sink.end(new Error('ignored: already ended'));
  trace.stage('commit').end();
  trace.end(undefined, { 'streamscore.committed': true });
  trace.stage('late').end(); // after the batch ended: not recorded
  await tracing.shutdown();

  const spans = exporter.getFinishedSpans();
  const root = spans.find((s) => s.name === 'batch')!;
  assert.equal(root.spanContext().traceId, T1);
  assert.equal(root.parentSpanContext?.spanId, S1);
  assert.equal(root.kind, SpanKind.INTERNAL);
  assert.deepEqual(
    root.links.map((l) => l.context.spanId),
    [S2],
  );
  assert.equal(root.attributes['streamscore.pipeline'], 'churn');
  assert.equal(root.attributes['messaging.batch.message_count'], 4);
  assert.equal(root.attributes['messaging.kafka.offset'], '10');
  assert.equal(root.attributes['streamscore.committed'], true);
  const children = spans.filter((s) => s !== root);
  assert.deepEqual(children.map((s) => s.name).sort(), ['commit', 'decode', 'sink postgres']);
  for (const c of children) {
    assert.equal(c.parentSpanContext?.spanId, root.spanContext().spanId);
    assert.equal(c.spanContext().traceId, T1);
    assert.equal(c.status.code, SpanStatusCode.UNSET);
  }
});

test('a failed batch ends its open stages and itself with the error; no traceparent starts a new trace', async () => {
  const exporter = new KeepingExporter();
  const tracing = createTracing({
    env: {},
    resource: resourceFromAttributes({}),
    logger: silentLogger,
    exporter,
  })!;
  const trace = tracing.forPipeline('p').start([message(1)]);
  trace.stage('sink kafka');
  trace.end(new Error('broker gone'));
  await tracing.shutdown();
  const spans = exporter.getFinishedSpans();
  assert.deepEqual(spans.map((s) => s.name).sort(), ['batch', 'sink kafka']);
  for (const s of spans) {
    assert.equal(s.status.code, SpanStatusCode.ERROR);
    assert.equal(s.status.message, 'broker gone');
  }
  assert.equal(spans.find((s) => s.name === 'batch')!.parentSpanContext, undefined);
});
