import {
  type Attributes,
  type Context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { errorMessage } from '../core/errors.js';
import type { Logger, RawMessage } from '../core/types.js';

/**
 * Spans of one batch: a `batch` span (child of the first message's `traceparent` when it has
 * one) and a span per stage under it (decode, features, inference, sink <name>, dead letters,
 * commit). Only created when tracing is on: the hot path holds an `undefined` BatchTrace
 * otherwise and calls `trace?.stage(...)`, which allocates nothing.
 */
export interface BatchTracer {
  /** Starts the `batch` span of these messages (one fetch of one partition). */
  start(messages: readonly RawMessage[]): BatchTrace;
}

export interface BatchTrace {
  /** A child span of the batch, started now. */
  stage(name: string, attributes?: Attributes): StageSpan;
  /** Ends the batch span (and every stage still open) — with an error status when `error` is given. */
  end(error?: unknown, attributes?: Attributes): void;
}

export interface StageSpan {
  end(error?: unknown): void;
}

/** Batch tracers per pipeline, and the provider's flush on shutdown. */
export interface Tracing {
  forPipeline(pipeline: string): BatchTracer;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** At most this many other incoming trace contexts of a batch become links of its span. */
const MAX_LINKS = 32;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/**
 * The W3C `traceparent` header (https://www.w3.org/TR/trace-context/#traceparent-header) as a
 * remote span context; undefined when absent or malformed (version ff, all-zero ids, bad hex).
 */
export function parseTraceparent(header: string | undefined): SpanContext | undefined {
  if (header === undefined) return undefined;
  const m = TRACEPARENT.exec(header.trim().toLowerCase());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags] = m as unknown as [string, string, string, string, string];
  if (version === 'ff' || (version === '00' && header.trim().length !== 55)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
}

/** Whether the standard OTel variables ask for trace export (an OTLP endpoint, exporter not `none`). */
export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return false;
  const exporter = env['OTEL_TRACES_EXPORTER']?.trim().toLowerCase();
  if (exporter !== undefined && exporter !== '' && exporter !== 'otlp') return false;
  return Boolean(env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_ENDPOINT']);
}

/**
 * Tracing for a worker process when `env` asks for it (see tracingWanted), else undefined.
 * The exporter is OTLP over HTTP with JSON bodies, configured by the standard variables
 * (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT; OTEL_TRACES_SAMPLER[_ARG];
 * OTEL_BSP_*). `exporter` replaces it (tests).
 */
export function createTracing(opts: {
  env: NodeJS.ProcessEnv;
  resource: Resource;
  logger: Logger;
  exporter?: SpanExporter;
}): Tracing | undefined {
  if (opts.exporter === undefined && !tracingWanted(opts.env)) return undefined;
  const protocol = (opts.env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? opts.env['OTEL_EXPORTER_OTLP_PROTOCOL'])
    ?.trim()
    .toLowerCase();
  if (opts.exporter === undefined && protocol !== undefined && protocol !== '' && protocol !== 'http/json')
    opts.logger.warn(
      { protocol },
      'Traces are exported as OTLP http/json; the OTEL_EXPORTER_OTLP_PROTOCOL asked for is not supported.',
    );
  const exporter = opts.exporter ?? new OTLPTraceExporter();
  const provider = new BasicTracerProvider({
    resource: opts.resource,
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('streamscore');
  return {
    forPipeline: (pipeline) => ({ start: (messages) => startBatch(tracer, pipeline, messages) }),
    async shutdown() {
      await provider
        .shutdown()
        .catch((err: unknown) =>
          opts.logger.warn({ error: errorMessage(err) }, 'Could not export the last spans.'),
        );
    },
  };
}

function startBatch(tracer: Tracer, pipeline: string, messages: readonly RawMessage[]): BatchTrace {
  let parent: SpanContext | undefined;
  const links: Link[] = [];
  const seen = new Set<string>();
  for (const m of messages) {
    const sc = parseTraceparent(m.headers['traceparent']);
    if (sc === undefined || seen.has(sc.spanId)) continue;
    seen.add(sc.spanId);
    if (parent === undefined) parent = sc;
    else if (links.length < MAX_LINKS) links.push({ context: sc });
  }
  const first = messages[0];
  const parentContext: Context =
    parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent);
  const root = tracer.startSpan(
    'batch',
    {
      attributes: {
        'streamscore.pipeline': pipeline,
        'messaging.system': 'kafka',
        'messaging.batch.message_count': messages.length,
        ...(first === undefined
          ? {}
          : {
              'messaging.destination.name': first.topic,
              'messaging.destination.partition.id': String(first.partition),
              'messaging.kafka.offset': first.offset,
            }),
      },
      links,
    },
    parentContext,
  );
  const inBatch = trace.setSpan(ROOT_CONTEXT, root);
  const open = new Set<Span>();
  let ended = false;
  return {
    stage(name, attributes) {
      if (ended) return NOT_TRACED;
      const span = tracer.startSpan(name, attributes === undefined ? {} : { attributes }, inBatch);
      open.add(span);
      return {
        end(error) {
          if (!open.delete(span)) return;
          finish(span, error);
        },
      };
    },
    end(error, attributes) {
      if (ended) return;
      ended = true;
      for (const s of open) finish(s, error);
      open.clear();
      if (attributes !== undefined) root.setAttributes(attributes);
      finish(root, error);
    },
  };
}

const NOT_TRACED: StageSpan = { end: () => undefined };

function finish(span: Span, error: unknown): void {
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : new Error(String(error)));
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
  }
  span.end();
}
