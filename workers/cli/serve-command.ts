import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { errorMessage } from '../core/errors.js';
import { redactText } from '../core/secret.js';
import { ModelRegistry } from '../inference/index.js';
import { createLogger } from '../observability/logger.js';
import { runFleet } from '../runtime/fleet.js';
import { shouldExitWithParent, watchParent } from '../runtime/parent-watch.js';
import { checkServable, type RunningServer, ServeConfigError, startServer } from '../serve/server.js';
import { validateFiles } from './validate-files.js';

interface ServeCliOptions {
  workers: string;
  host: string;
  port: string;
  bodyLimit: string;
  auth: boolean;
  tlsCert?: string;
  tlsKey?: string;
  logLevel: string;
  exitWithParent?: boolean;
}

function positiveInt(flag: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min)
    throw new Error(`${flag}: expected an integer of at least ${min}, got '${raw}'`);
  return n;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Online scoring API: score records over HTTP with the pipelines’ own features and models.')
    .argument('<files...>', 'pipeline YAML files (each served at /v1/pipelines/<name>/predict)')
    .option(
      '-w, --workers <n>',
      'processes sharing the port (Node cluster; crashed ones restarted as in run)',
      '1',
    )
    .option('--host <host>', 'address to listen on', '0.0.0.0')
    .option('--port <port>', 'port of the API, /metrics, /healthz, /readyz and /docs', '8080')
    .option('--body-limit <bytes>', 'largest request body (413 beyond)', '1048576')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--no-auth', 'serve pipelines that have no serve.auth without authentication (say so explicitly)')
    .option('--exit-with-parent', 'drain and exit when the parent process exits (default as for run)')
    .option('--no-exit-with-parent', 'keep running when the parent process exits')
    .option(
      '--log-level <level>',
      'debug, info, warn or error',
      process.env['STREAMSCORE_LOG_LEVEL'] ?? 'info',
    )
    .addHelpText(
      'after',
      `
Each pipeline needs features.input_schema (requests are checked against it) and serve.auth:
bearer tokens (\${file:…} secrets; list two while rotating) or an explicit \`auth: none\`.
SIGTERM/SIGINT stop accepting, answer the requests in flight, close the sinks and exit 0.

Examples:
  $ streamscore serve pipelines/fraud-scoring.yaml --port 8080
  $ curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
      -d '{"after": {…}}' http://127.0.0.1:8080/v1/pipelines/fraud-scoring/predict
  $ streamscore serve --workers 2 pipelines/fraud-scoring.yaml`,
    )
    .action(async (files: string[], opts: ServeCliOptions) => {
      const logger = createLogger(opts.logLevel, { worker: process.env['STREAMSCORE_WORKER_ID'] ?? '0' });
      const workers = positiveInt('--workers', opts.workers, 1);
      const port = positiveInt('--port', opts.port, 0);
      const bodyLimit = positiveInt('--body-limit', opts.bodyLimit, 1);
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
        throw new Error('--tls-cert and --tls-key: expected both, got one');
      }
      const registry = new ModelRegistry();
      const validated = await validateFiles(files, { keepModel: workers === 1, registry });
      if (validated === undefined) {
        process.exitCode = 1;
        return;
      }
      try {
        checkServable(validated, !opts.auth);
      } catch (err) {
        if (!(err instanceof ServeConfigError)) throw err;
        process.stderr.write(`streamscore serve: ${err.message}\n`);
        process.exitCode = 1;
        return;
      }
      const exitWithParent = shouldExitWithParent(opts.exitWithParent);
      if (workers > 1) {
        const args = ['serve', ...files, '--workers', '1', '--host', opts.host, '--port', String(port)];
        args.push('--body-limit', String(bodyLimit), '--log-level', opts.logLevel);
        if (!opts.auth) args.push('--no-auth');
        if (opts.tlsCert !== undefined) args.push('--tls-cert', opts.tlsCert, '--tls-key', opts.tlsKey!);
        // Cluster workers share the port: the primary accepts and hands connections round-robin.
        process.exitCode = await runFleet({
          workers,
          module: process.argv[1] ?? fileURLToPath(new URL('./main.js', import.meta.url)),
          args,
          logger,
          exitWithParent,
          fork: (module, forkArgs, o) => {
            cluster.setupPrimary({ exec: module, args: forkArgs });
            return cluster.fork(o.env).process;
          },
        });
        return;
      }
      let server: RunningServer | undefined;
      let stopping = false;
      const drain = (s: RunningServer) => {
        logger.info({}, 'Draining: answering the requests in flight, then exiting.');
        void s.close().then(() => process.exit(0));
      };
      const stop = () => {
        if (stopping) return;
        stopping = true;
        if (server !== undefined) drain(server);
      };
      if (exitWithParent || cluster.isWorker) watchParent(() => stop());
      try {
        server = await startServer({
          pipelines: validated,
          logger,
          host: opts.host,
          port,
          bodyLimit,
          noAuth: !opts.auth,
          tls: opts.tlsCert ? { certFile: opts.tlsCert, keyFile: opts.tlsKey! } : undefined,
          registry,
        });
      } catch (err) {
        process.stderr.write(
          `streamscore serve: ${redactText(
            errorMessage(err),
            validated.flatMap((v) => [...v.secrets]),
          )}\n`,
        );
        process.exit(1);
      }
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      // Asked to stop while starting: drain now that there is a server.
      if (stopping) drain(server);
      else process.stdout.write(`streamscore serve: listening on ${server.url}\n`);
    });
}
