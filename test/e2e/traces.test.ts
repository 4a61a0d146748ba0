import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { type RunningCli, startCli } from '../support/cli.js';
import { cleanUpMonitored, type MonitoredPipeline, monitoredPipeline } from '../support/monitoring.js';
import { freePort, uniqueId, waitFor } from '../support/stack.js';
import { committedOffset, createTopic, produce, range } from './commit-support.js';

// Traces on the real stack: a worker with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a small
// OTLP/HTTP receiver (JSON bodies, as the exporter sends with OTEL_EXPORTER_OTLP_PROTOCOL=http/json)
// exports one span tree per batch — `batch` with decode, features, inference, one span per sink
// write, dead letters and commit under it — and a batch whose messages carry a `traceparent`
// header continues that trace: same trace id, the header's span as the batch span's parent.

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
  status?: { code?: number };
}

const p: MonitoredPipeline = monitoredPipeline('traces', uniqueId());
const spans: OtlpSpan[] = [];
const resources: string[] = [];
let receiver: Server | undefined;
let worker: RunningCli | undefined;

/** An OTLP/HTTP receiver: POST /v1/traces with an ExportTraceServiceRequest in JSON. */
async function startReceiver(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const doc = JSON.parse(body.toString('utf8')) as {
        resourceSpans: {
          resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: OtlpSpan[] }[];
        }[];
      };
      for (const rs of doc.resourceSpans) {
        const name = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue;
        if (name) resources.push(name);
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return server;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const attr = (s: OtlpSpan, key: string) => s.attributes?.find((a) => a.key === key)?.value;

/** The batch spans of a trace, each with its children. */
function trees(traceId?: string): { root: OtlpSpan; children: OtlpSpan[] }[] {
  return spans
    .filter((s) => s.name === 'batch' && (traceId === undefined || s.traceId === traceId))
    .map((root) => ({
      root,
      children: spans.filter((s) => s.traceId === root.traceId && s.parentSpanId === root.spanId),
    }));
}

const STAGES = ['decode', 'features', 'inference', 'commit'];

/** Checks a batch's span tree: every stage once under the batch span, one span per sink write. */
function assertTree(t: { root: OtlpSpan; children: OtlpSpan[] }, withDeadLetters: boolean): void {
  const names = t.children.map((c) => c.name).sort();
  for (const stage of STAGES)
    assert.equal(names.filter((n) => n === stage).length, 1, `${stage} in ${names}`);
  const sinks = names.filter((n) => n.startsWith('sink '));
  assert.equal(sinks.length, 1, `one postgres sink span: ${names}`);
  assert.match(sinks[0]!, /postgres/);
  assert.equal(names.includes('dead letters'), withDeadLetters, `dead letters span: ${names}`);
  assert.equal(attr(t.root, 'streamscore.pipeline')?.['stringValue'], p.name);
  assert.equal(attr(t.root, 'streamscore.committed')?.['boolValue'], true);
  assert.notEqual(t.root.status?.code, 2, 'the batch span is not an error');
}

before(async () => {
  const port = await freePort();
  receiver = await startReceiver(port);
  await createTopic(p.topic);
  worker = startCli(['run', '--no-backfill', '--port', '0', p.file], {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: 'streamscore-e2e',
    OTEL_BSP_SCHEDULE_DELAY: '200',
  });
});

after(async () => {
  await worker?.stop('SIGKILL');
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  await cleanUpMonitored(p);
});

async function committed(upTo: number): Promise<void> {
  await waitFor(`offsets committed up to ${upTo}`, async () => {
    if (worker!.child.exitCode !== null) throw new Error(`worker exited:\n${worker!.output()}`);
    return (await committedOffset(p.group, p.topic)) === upTo;
  });
}

test('a batch carrying a traceparent continues that trace: one span tree with its sink and commit spans', async () => {
  const traceId = hex(16);
  const parent = hex(8);
  await produce(p.topic, range(1, 10), { 4: '{not json' }, { traceparent: `00-${traceId}-${parent}-01` });
  await committed(10);
  await waitFor('the batch spans of the trace exported', async () =>
    trees(traceId).some((t) => t.children.length >= 6),
  );
  const batches = trees(traceId);
  assert.ok(batches.length >= 1);
  let messages = 0;
  for (const t of batches) {
    assert.equal(t.root.parentSpanId, parent, 'the batch span is a child of the header’s span');
    assertTree(
      t,
      t.children.some((c) => c.name === 'dead letters'),
    );
    messages += Number(attr(t.root, 'messaging.batch.message_count')?.['intValue']);
  }
  assert.equal(messages, 10, 'the trace’s batches hold the 10 messages');
  assert.equal(batches.filter((t) => t.children.some((c) => c.name === 'dead letters')).length, 1);
  assert.ok(resources.includes('streamscore-e2e'), 'OTEL_SERVICE_NAME names the resource');
});

test('each batch has its own tree; without a traceparent it starts a new trace', async () => {
  const traceId = hex(16);
  const parent = hex(8);
  await produce(p.topic, range(11, 15), {}, { traceparent: `00-${traceId}-${parent}-01` });
  await committed(15);
  await produce(p.topic, range(16, 20));
  await committed(20);
  await waitFor('both batches exported', async () => {
    const untraced = trees().filter((t) => t.root.parentSpanId === undefined || t.root.parentSpanId === '');
    return trees(traceId).length > 0 && untraced.length > 0 && untraced.every((t) => t.children.length >= 5);
  });
  for (const t of trees(traceId)) {
    assert.equal(t.root.parentSpanId, parent);
    assertTree(t, false);
  }
  const untraced = trees().filter((t) => !t.root.parentSpanId);
  for (const t of untraced) assertTree(t, false);
  // Trace ids are not shared between the header's trace and the new ones.
  assert.ok(untraced.every((t) => t.root.traceId !== traceId));
});

test('a worker stopped cleanly flushes its last spans and exits 0', async () => {
  const code = await worker!.stop('SIGTERM');
  assert.equal(code, 0, worker!.output().slice(-3000));
});
