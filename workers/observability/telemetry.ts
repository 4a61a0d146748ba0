import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { Logger } from '../core/types.js';
import { createTracing, type Tracing } from './tracing.js';

/** One MeterProvider per process, created by the CLI and passed in; nothing global is registered. */
export function createTelemetry(service: string): { provider: MeterProvider; exporter: PrometheusExporter } {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    readers: [exporter],
  });
  return { provider, exporter };
}

/**
 * The process's trace export when the standard OTel variables ask for it (OTEL_EXPORTER_OTLP_ENDPOINT
 * or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set), else undefined: then no span is ever created. The
 * resource is `service.name` (OTEL_SERVICE_NAME, default `service`) with OTEL_RESOURCE_ATTRIBUTES.
 */
export function createProcessTracing(
  service: string,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Tracing | undefined {
  return createTracing({
    env,
    logger,
    resource: resourceFromAttributes({ 'service.name': service }).merge(
      detectResources({ detectors: [envDetector] }),
    ),
  });
}
