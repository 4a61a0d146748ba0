import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/** One MeterProvider per process, created by the CLI and passed in; nothing global is registered. */
export function createTelemetry(service: string): { provider: MeterProvider; exporter: PrometheusExporter } {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    readers: [exporter],
  });
  return { provider, exporter };
}
