import { createServer, type Server } from 'node:http';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';

export interface HealthState {
  /** Process is alive and not failed. */
  live(): boolean;
  /** Consumers joined and sinks open. */
  ready(): boolean;
}

/**
 * `/metrics` (Prometheus text), `/healthz`, `/readyz` on one port, and `/drift` (JSON: each
 * pipeline's latest drift windows, what `streamscore drift` reads) when `drift` is given.
 */
export async function startObservabilityServer(
  port: number,
  exporter: PrometheusExporter,
  health: HealthState,
  drift?: () => unknown,
): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (drift !== undefined && (url === '/drift' || url.startsWith('/drift?'))) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(drift()));
      return;
    }
    if (url.startsWith('/metrics')) {
      exporter.getMetricsRequestHandler(req, res);
      return;
    }
    if (url.startsWith('/healthz') || url.startsWith('/readyz')) {
      const ok = url.startsWith('/healthz') ? health.live() : health.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'not ready\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`not found: try /metrics, /healthz, /readyz${drift ? ', /drift' : ''}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve());
  });
  return server;
}
