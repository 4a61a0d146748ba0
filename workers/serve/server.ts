import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import { ModelRegistry } from '../inference/index.js';
import { createMetrics } from '../observability/metrics.js';
import { createTelemetry } from '../observability/telemetry.js';
import { ControlWatchers } from '../rollout/open.js';
import { type OpenedScorer, openValidatedScorer } from '../scoring/open.js';
import type { ValidatedPipeline } from '../spec/validate.js';
import { Admission } from './admission.js';
import { buildApp, type ServedPipeline } from './app.js';
import { TokenSet } from './auth.js';
import { createApiMetrics } from './metrics.js';

export interface ServeOptions {
  pipelines: readonly ValidatedPipeline[];
  logger: Logger;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  bodyLimit: number;
  /** `--no-auth`: serve pipelines without `serve.auth` to anyone. */
  noAuth: boolean;
  tls?: { certFile: string; keyFile: string } | undefined;
  registry?: ModelRegistry;
  /** Clock of the scorers (tests). */
  now?: () => Date;
}

/** Server lifecycle: STARTING → RUNNING → DRAINING → STOPPED. */
export type ServeState = 'STARTING' | 'RUNNING' | 'DRAINING' | 'STOPPED';

export interface RunningServer {
  readonly url: string;
  readonly state: ServeState;
  readonly app: FastifyInstance;
  /** Stops accepting, answers the requests in flight, then closes the scorers and sinks. */
  close(): Promise<void>;
}

/** Why serve will not start, each reason a line (auth missing, no input schema, duplicate names). */
export class ServeConfigError extends Error {
  constructor(readonly reasons: readonly string[]) {
    super(reasons.join('\n'));
    this.name = 'ServeConfigError';
  }
}

/** Checks what serving needs beyond `validate`; throws ServeConfigError listing every reason. */
export function checkServable(pipelines: readonly ValidatedPipeline[], noAuth: boolean): void {
  const reasons: string[] = [];
  const seen = new Map<string, string>();
  for (const v of pipelines) {
    const p = v.pipeline!;
    const name = p.metadata.name;
    const other = seen.get(name);
    if (other !== undefined)
      reasons.push(`${v.file}: pipeline ${name} is also served from ${other}; expected distinct names`);
    seen.set(name, v.file);
    if (p.spec.features.input_schema === undefined) {
      reasons.push(
        `${v.file}: spec.features.input_schema: expected the row schema requests are checked against, got none`,
      );
    }
    if (p.spec.serve?.auth === undefined && !noAuth) {
      reasons.push(
        `${v.file}: spec.serve.auth: expected bearer tokens (serve: { auth: { tokens: ["\${file:/run/secrets/…}"] } }) or an explicit auth: none, got nothing (or start with --no-auth)`,
      );
    }
  }
  if (reasons.length > 0) throw new ServeConfigError(reasons);
}

/**
 * Opens every pipeline's scorer (one control-topic watcher and model registry for the process),
 * builds the API and listens. Rejects if any pipeline cannot open (nothing is left running).
 */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  checkServable(opts.pipelines, opts.noAuth);
  const { logger } = opts;
  const telemetry = createTelemetry('streamscore-serve');
  const meter = telemetry.provider.getMeter('streamscore');
  const registry = opts.registry ?? new ModelRegistry();
  const watchers = new ControlWatchers(logger);
  const scorers: OpenedScorer[] = [];
  const served = new Map<string, ServedPipeline>();
  let state: ServeState = 'STARTING';
  const apiMetrics = createApiMetrics(meter);
  let app: FastifyInstance | undefined;
  try {
    for (const v of opts.pipelines) {
      const p = v.pipeline!;
      const name = p.metadata.name;
      const scorer = await openValidatedScorer(v, {
        logger,
        metrics: createMetrics(meter, name, logger),
        registry,
        watchers,
        ...(opts.now ? { now: opts.now } : {}),
      });
      scorers.push(scorer);
      const auth = p.spec.serve?.auth;
      const admission = new Admission(p.spec.serve?.max_queue ?? 1024);
      apiMetrics.watchQueue(name, () => admission.rows);
      served.set(name, {
        scorer,
        tokens: auth === undefined || auth === 'none' ? TokenSet.none() : TokenSet.of(auth.tokens),
        admission,
        timeoutMs: p.spec.serve?.timeout_ms ?? 1000,
      });
      if (auth === undefined) logger.warn({ pipeline: name }, 'Serving without authentication (--no-auth).');
    }
    app = buildApp({
      pipelines: served,
      bodyLimit: opts.bodyLimit,
      metrics: apiMetrics,
      logger,
      exporter: telemetry.exporter,
      https: opts.tls
        ? { cert: readFileSync(opts.tls.certFile), key: readFileSync(opts.tls.keyFile) }
        : undefined,
      ready: () => state === 'RUNNING' && scorers.every((s) => s.suspended() === undefined),
      draining: () => state === 'DRAINING',
    });
    await app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
    await app?.close().catch(() => undefined);
    for (const s of scorers) await s.close().catch(() => undefined);
    await watchers.close();
    throw err;
  }
  state = 'RUNNING';
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${opts.tls ? 'https' : 'http'}://${host}:${address.port}`;
  logger.info({ url, pipelines: [...served.keys()] }, 'Scoring API listening.');
  const running = app;
  let closing: Promise<void> | undefined;
  return {
    url,
    app: running,
    get state() {
      return state;
    },
    close() {
      closing ??= (async () => {
        state = 'DRAINING';
        // Fastify stops accepting, answers 503 on kept-alive connections, and waits for the
        // requests in flight; only then are the scorers (and their write-through sinks) closed.
        // Rows waiting for their batch to fill are scored now rather than after max_wait_ms.
        const closed = running.close();
        await Promise.all(scorers.map((s) => s.flush().catch(() => undefined)));
        await closed.catch((err: unknown) =>
          logger.warn({ error: errorMessage(err) }, 'Closing the server failed.'),
        );
        for (const s of scorers) await s.close().catch(() => undefined);
        await watchers.close();
        await telemetry.provider.shutdown().catch(() => undefined);
        state = 'STOPPED';
      })();
      return closing;
    },
  };
}
