import assert from 'node:assert/strict';
import { createLogger } from '../../workers/observability/logger.js';
import { type RunningServer, startServer } from '../../workers/serve/server.js';
import { type ValidatedPipeline, validatePipelineFile } from '../../workers/spec/validate.js';

/**
 * `streamscore serve` in the test's process on a free port of 127.0.0.1: each pipeline file is
 * validated (with `env` over the process environment, for its `${VAR}`s) and must have no problem.
 */
export async function serveForTest(
  files: readonly string[],
  options: {
    bodyLimit?: number;
    now?: () => Date;
    env?: Record<string, string>;
    tls?: { certFile: string; keyFile: string };
  } = {},
): Promise<RunningServer> {
  const validated: ValidatedPipeline[] = [];
  const saved = { ...process.env };
  Object.assign(process.env, options.env ?? {});
  try {
    for (const f of files) {
      const v = await validatePipelineFile(f, { keepModel: true });
      assert.deepEqual(v.problems, [], f);
      validated.push(v);
    }
  } finally {
    process.env = saved;
  }
  return startServer({
    pipelines: validated,
    logger: createLogger('error'),
    host: '127.0.0.1',
    port: 0,
    bodyLimit: options.bodyLimit ?? 1 << 20,
    noAuth: false,
    ...(options.now ? { now: options.now } : {}),
    tls: options.tls,
  });
}
