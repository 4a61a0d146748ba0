import { randomUUID } from 'node:crypto';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import { parseJsonExact } from '../decode/exact-json.js';
import type { OpenedScorer } from '../scoring/open.js';
import { type Decision, ScoreRejectedError, ScorerError } from '../scoring/scorer.js';
import type { Admission } from './admission.js';
import type { TokenSet } from './auth.js';
import { DOCS_PAGE } from './docs-page.js';
import type { ApiMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';

/** One pipeline behind the API: its scorer, who may call it, and its limits. */
export interface ServedPipeline {
  scorer: Pick<OpenedScorer, 'info' | 'current' | 'suspended' | 'score'>;
  tokens: TokenSet;
  admission: Admission;
  timeoutMs: number;
}

export interface AppOptions {
  pipelines: ReadonlyMap<string, ServedPipeline>;
  /** Largest request body in bytes (413 beyond). */
  bodyLimit: number;
  metrics: ApiMetrics;
  logger: Logger;
  /** Serves /metrics (Prometheus text) when given. */
  exporter?: PrometheusExporter | undefined;
  https?: { cert: Buffer; key: Buffer } | undefined;
  /** Ready to take traffic (/readyz): every scorer open, not draining. */
  ready(): boolean;
  /** Shutting down: answers close their connection, so the drain does not wait on kept-alive ones. */
  draining(): boolean;
}

/** An error answer: `{ error, message, path? }` with a stable code; never a stack trace. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** JSON with int64s exact: a bigint within 2^53 as a number, beyond as its digits in a string. */
function jsonText(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v,
  );
}

const PREDICT = '/v1/pipelines/:name/predict';

/**
 * The scoring API: predict, pipeline listing and description, OpenAPI 3.1 and a docs page,
 * health, readiness and metrics. Bodies are parsed with int64s exact (as the stream's decoder
 * parses them); every error is `{ error, message }` with a stable code — 401 has no body, and no
 * answer ever carries a stack trace.
 */
export function buildApp(opts: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A client must send its whole request within 10 s (slow-loris).
    requestTimeout: 10_000,
    ...(opts.https ? { https: opts.https } : {}),
  });
  const pipelines = opts.pipelines;
  const openapi = jsonText(
    openApiDocument(
      [...pipelines.values()].map((p) => p.scorer.info),
      { auth: [...pipelines.values()].some((p) => !p.tokens.open) },
    ),
  );
  const labelOf = (req: FastifyRequest): string => {
    const name = (req.params as { name?: string } | undefined)?.name;
    return name !== undefined && pipelines.has(name) ? name : 'unknown';
  };

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonExact(body as string));
    } catch (err) {
      const detail = (body as string).trim() === '' ? 'the body is empty' : errorMessage(err);
      done(new ApiError(400, 'bad_json', `expected a JSON body, got invalid JSON: ${detail}`), undefined);
    }
  });

  const send = (reply: FastifyReply, status: number, body: unknown) =>
    reply.code(status).type('application/json; charset=utf-8').send(jsonText(body));

  const sendError = (req: FastifyRequest, reply: FastifyReply, e: ApiError) => {
    opts.metrics.error(labelOf(req), e.code);
    for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
    return send(reply, e.status, { error: e.code, message: e.message, ...e.extra });
  };

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ApiError) return sendError(req, reply, err);
    const code = (err as { code?: string }).code;
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(
        req,
        reply,
        new ApiError(413, 'body_too_large', `expected a body of at most ${opts.bodyLimit} bytes, got more`),
      );
    }
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      const got = req.headers['content-type'] ?? 'none';
      return sendError(
        req,
        reply,
        new ApiError(415, 'unsupported_media_type', `expected Content-Type: application/json, got ${got}`),
      );
    }
    if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      return sendError(req, reply, new ApiError(400, 'bad_json', 'expected a JSON body, got an empty one'));
    }
    if (status >= 400 && status < 500) {
      return sendError(req, reply, new ApiError(status, 'bad_request', errorMessage(err)));
    }
    const id = randomUUID();
    opts.logger.error(
      { error_id: id, url: req.url, error: errorMessage(err) },
      'Request failed unexpectedly.',
    );
    return sendError(req, reply, new ApiError(500, 'internal', `internal error (logged as ${id})`));
  });

  app.setNotFoundHandler((req, reply) =>
    sendError(
      req,
      reply,
      new ApiError(
        404,
        'not_found',
        `expected a route of the scoring API (see /docs), got ${req.method} ${req.url.split('?')[0]}`,
      ),
    ),
  );

  // Auth first, before the body is read: a caller without a valid token learns nothing, not even
  // whether a pipeline exists (401, no body). A valid token of another pipeline gets the 404.
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/v1/')) return;
    const header = req.headers.authorization;
    const name = (req.params as { name?: string } | undefined)?.name;
    const p = name === undefined ? undefined : pipelines.get(name);
    const allowed =
      p !== undefined
        ? p.tokens.allows(header)
        : [...pipelines.values()].some((x) => x.tokens.allows(header));
    if (!allowed) {
      opts.metrics.error(labelOf(req), 'unauthorized');
      return reply.code(401).header('www-authenticate', 'Bearer').send();
    }
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    if (opts.draining()) reply.header('connection', 'close');
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    if (req.url.startsWith('/v1/')) opts.metrics.request(labelOf(req), reply.statusCode, reply.elapsedTime);
  });

  const served = (req: FastifyRequest): ServedPipeline => {
    const name = (req.params as { name: string }).name;
    const p = pipelines.get(name);
    if (p === undefined) {
      throw new ApiError(
        404,
        'not_found',
        `expected a served pipeline (${[...pipelines.keys()].join(', ')}), got '${name}'`,
      );
    }
    return p;
  };

  app.post(PREDICT, async (req, reply) => {
    const p = served(req);
    const body = req.body;
    const single = !Array.isArray(body);
    if (body === undefined) {
      throw new ApiError(
        400,
        'bad_input',
        'expected a JSON body: a record {"after": {…}} or a list of them, got none',
      );
    }
    if (single && (typeof body !== 'object' || body === null)) {
      throw new ApiError(
        400,
        'bad_input',
        `expected a record {"after": {…}} or a list of them, got ${body === null ? 'null' : typeof body}`,
        { path: '' },
      );
    }
    const records = single ? [body] : (body as unknown[]);
    if (records.length === 0)
      throw new ApiError(400, 'bad_input', 'expected at least one record, got an empty list', { path: '' });
    if (records.length > p.admission.maxRows) {
      throw new ApiError(
        413,
        'too_many_records',
        `expected at most ${p.admission.maxRows} records in a request (serve.max_queue), got ${records.length}`,
      );
    }
    if (!p.admission.tryEnter(records.length)) {
      throw new ApiError(
        429,
        'overloaded',
        `pipeline ${p.scorer.info.name} has ${p.admission.rows} rows waiting or being scored (serve.max_queue ${p.admission.maxRows}); retry after 1 s`,
        {},
        { 'retry-after': '1' },
      );
    }
    const request = randomUUID();
    const scoring = p.scorer.score(records, { request, allOrNothing: true });
    void scoring.then(
      () => p.admission.leave(records.length),
      () => p.admission.leave(records.length),
    );
    const results = await withTimeout(scoring, p.timeoutMs, p.scorer.info.name, single);
    const withFeatures = (req.query as { features?: string } | undefined)?.features === 'true';
    const predictions = (results as Decision[]).map((d) => ({
      decision_id: d.decisionId,
      key: d.key,
      outputs: d.outputs,
      model: d.model,
      ...(d.shadow ? { shadow: d.shadow } : {}),
      ...(withFeatures ? { features: d.features } : {}),
    }));
    opts.metrics.records(p.scorer.info.name, predictions.length);
    reply.header('x-request-id', request);
    return send(
      reply,
      200,
      single ? { request_id: request, ...predictions[0] } : { request_id: request, predictions },
    );
  });

  app.get('/v1/pipelines', async (req, reply) => {
    const header = req.headers.authorization;
    const list = [...pipelines.values()]
      .filter((p) => p.tokens.allows(header))
      .map((p) => ({
        name: p.scorer.info.name,
        description: p.scorer.info.description,
        model: p.scorer.current().primary,
        predict: `/v1/pipelines/${p.scorer.info.name}/predict`,
      }));
    return send(reply, 200, { pipelines: list });
  });

  app.get('/v1/pipelines/:name', async (req, reply) => {
    const p = served(req);
    const { inputSchema, file: _file, ...info } = p.scorer.info;
    const current = p.scorer.current();
    return send(reply, 200, {
      ...info,
      current: { primary: current.primary, shadow: current.shadow, canary: current.canary },
      suspended: p.scorer.suspended() ?? null,
      input_schema: inputSchema,
      limits: { max_queue: p.admission.maxRows, timeout_ms: p.timeoutMs },
    });
  });

  app.get('/openapi.json', async (_req, reply) =>
    reply.type('application/json; charset=utf-8').send(openapi),
  );
  app.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(DOCS_PAGE));
  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok\n'));
  app.get('/readyz', async (_req, reply) => {
    const ok = opts.ready();
    return reply
      .code(ok ? 200 : 503)
      .type('text/plain')
      .send(ok ? 'ok\n' : 'not ready\n');
  });
  const exporter = opts.exporter;
  if (exporter) {
    app.get('/metrics', (req, reply) => {
      reply.hijack();
      exporter.getMetricsRequestHandler(req.raw, reply.raw);
    });
  }
  return app;
}

/** Maps a scorer error to its answer; resolves the scoring, or rejects after `ms` (503). */
async function withTimeout<T>(
  scoring: Promise<T>,
  ms: number,
  pipeline: string,
  single: boolean,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ApiError(
            503,
            'timeout',
            `pipeline ${pipeline} did not answer within ${ms} ms (serve.timeout_ms); retry`,
            {},
            {
              'retry-after': '1',
            },
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([scoring, timeout]);
  } catch (err) {
    throw asApiError(err, single);
  } finally {
    clearTimeout(timer);
  }
}

/** A record's path as the client wrote it: `after.seats` for a single record, `[2].after.seats` in a list. */
function clientPath(path: string, single: boolean): string {
  return single ? path.replace(/^\[0\]\.?/, '') : path;
}

function asApiError(err: unknown, single: boolean): unknown {
  if (err instanceof ScoreRejectedError) {
    const failures = err.failures
      .slice(0, 20)
      .map((f) => ({ path: clientPath(f.path, single), error: f.code, message: f.message }));
    const first = failures[0]!;
    const where = first.path === '' ? '' : `${first.path}: `;
    return new ApiError(400, first.error, `${where}${first.message}`, { path: first.path, errors: failures });
  }
  if (ScorerError.is(err)) {
    return new ApiError(503, err.code, err.message, {}, { 'retry-after': '1' });
  }
  return err;
}
