import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { dropAudit } from '../bench/audit.js';
import { EnvelopeEncoder } from '../bench/events.js';
import { assertDistFresh } from '../support/dist-cli.js';
import {
  deleteGroups,
  deleteTopics,
  dropPgTables,
  env,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';
import { warehouseSession, warehouseTable } from '../support/warehouse.js';

// The container image's runtime stage, without a Docker engine: the npm package (`npm pack`: dist/
// as the Dockerfile's build stage makes it, package.json, schemas/), the production dependencies
// installed by the Dockerfile's own script (tools/image/production-deps.sh: `npm ci --omit=dev`,
// no install scripts, other platforms' onnxruntime binaries removed) in a clean folder, the
// example pipelines beside them as the Dockerfile copies them. From that folder alone,
// `streamscore validate` passes and a worker scores a change on the local stack.
assertDistFresh();

const id = uniqueId();
const names = {
  topic: `img${id}.crm.customers`,
  group: `img-${id}`,
  table: `ml.img_${id}`,
  audit: `ml.img_${id}__audit`,
  output: `img-scores-${id}`,
  dlq: `img-${id}.dlq`,
  warehouse: `IMG_${id.toUpperCase()}`,
};
const root = mkdtempSync(join(tmpdir(), 'streamscore-image-'));
const app = join(root, 'package');
let worker: ChildProcess | undefined;

/** Runs a command in the clean folder; its output on failure. */
function inApp(cmd: string, args: string[], extraEnv: Record<string, string> = {}): string {
  try {
    return execFileSync(cmd, args, {
      cwd: app,
      encoding: 'utf8',
      env: { ...process.env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

function bytesOf(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

before(() => {
  const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', root], {
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .at(-1)!;
  execFileSync('tar', ['-xzf', join(root, tarball), '-C', root]);
  // What the Dockerfile's deps stage copies next to package.json, then what the runtime stage adds.
  cpSync('package-lock.json', join(app, 'package-lock.json'));
  cpSync('.npmrc', join(app, '.npmrc'));
  inApp('sh', [resolve('tools/image/production-deps.sh')]);
  cpSync('pipelines', join(app, 'pipelines'), { recursive: true });
});

after(async () => {
  if (worker && worker.exitCode === null) worker.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
  await deleteTopics([names.topic, names.output, names.dlq]);
  await deleteGroups([names.group]);
  await dropPgTables(names.table);
  await dropAudit(names.audit);
  const wh = await warehouseSession();
  try {
    for (const t of [names.warehouse, `${names.warehouse}_HISTORY`, `${names.warehouse}__TOMBSTONES`])
      await wh.execute(`DROP TABLE IF EXISTS ${warehouseTable(t)}`);
  } finally {
    await wh.close();
  }
});

describe('the image runtime stage, from a clean folder', () => {
  it('holds the production dependencies only, with one onnxruntime binary', (t) => {
    const modules = join(app, 'node_modules');
    for (const dev of ['typescript', 'tsx', '@biomejs/biome', 'autocannon'])
      assert.equal(existsSync(join(modules, dev)), false, `${dev} is a dev dependency`);
    for (const dep of Object.keys(
      (JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> })
        .dependencies,
    ))
      assert.ok(existsSync(join(modules, dep)), `${dep} is installed`);
    const binaries = join(modules, 'onnxruntime-node', 'bin');
    const platforms = readdirSync(binaries).flatMap((napi) =>
      readdirSync(join(binaries, napi)).flatMap((os) =>
        readdirSync(join(binaries, napi, os)).map((a) => `${os}/${a}`),
      ),
    );
    assert.deepEqual(platforms, [`linux/${process.arch}`]);
    // The README's figures ("Deploying"): measured, not asserted.
    t.diagnostic(
      `node_modules ${(bytesOf(modules) / 1e6).toFixed(0)} MB, onnxruntime-node ${(bytesOf(join(modules, 'onnxruntime-node')) / 1e6).toFixed(0)} MB, dist ${(bytesOf(join(app, 'dist')) / 1e6).toFixed(1)} MB, pipelines ${(bytesOf(join(app, 'pipelines')) / 1e6).toFixed(1)} MB`,
    );
  });

  it('validates the example pipelines and says its version', () => {
    const out = inApp('node', [
      'dist/workers/cli/main.js',
      'validate',
      'pipelines/churn-scoring.yaml',
      'pipelines/fraud-scoring.yaml',
      'pipelines/demand-forecast.yaml',
    ]);
    assert.doesNotMatch(out, /error|problem/i, out);
    const version = inApp('node', ['dist/workers/cli/main.js', '--version']);
    const built = (JSON.parse(readFileSync('dist/build-info.json', 'utf8')) as { commit: string }).commit;
    assert.match(version, new RegExp(`^streamscore \\S+ \\(commit ${built}\\)`));
    assert.match(version, /onnxruntime-node +\d/);
  });

  it('runs a worker on the local stack: a change is scored into Postgres and the warehouse, SIGTERM drains', async () => {
    const kafka = new Kafka({
      brokers: env.kafkaBrokers.split(','),
      clientId: 'image-test',
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: names.topic, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    let output = '';
    worker = spawn(
      process.execPath,
      ['dist/workers/cli/main.js', 'run', 'pipelines/churn-scoring.yaml', '--port', '0'],
      {
        cwd: app,
        env: {
          ...process.env,
          STREAMSCORE_LOG_LEVEL: 'warn',
          CHURN_TOPIC: names.topic,
          CHURN_GROUP: names.group,
          CHURN_SCORES_TABLE: names.table,
          CHURN_AUDIT_TABLE: names.audit,
          CHURN_OUTPUT_TOPIC: names.output,
          CHURN_DLQ: names.dlq,
          CHURN_WH_TABLE: names.warehouse,
          CHURN_WH_HISTORY_TABLE: `${names.warehouse}_HISTORY`,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const collect = (d: Buffer) => {
      output += d.toString();
    };
    worker.stdout!.on('data', collect);
    worker.stderr!.on('data', collect);
    const exited = new Promise<number | null>((r) => worker!.once('close', (code) => r(code)));

    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: names.topic,
      messages: new EnvelopeEncoder({ prefix: `img${id}` }, 'json').encode({
        op: 'c',
        id: 42,
        version: 0,
        tsUs: Date.now() * 1000,
        lsn: 0x6d000001,
        txId: 1,
      }),
    });
    await producer.disconnect();

    const score = await waitFor(
      'the change to be scored (or the worker to exit)',
      async () => {
        if (worker!.exitCode !== null) return -1;
        return withPg(async (c) => {
          const r = await c.query(`select churn_probability from ${names.table} where customer_id = 42`);
          return r.rows[0]?.churn_probability as number | undefined;
        }).catch(() => undefined);
      },
      120_000,
    );
    assert.ok(score >= 0 && score <= 1, `score ${score}:\n${output.slice(-3000)}`);
    const wh = await warehouseSession();
    try {
      const rows = await waitFor(
        'the warehouse row',
        async () => {
          const r = await wh
            .execute(
              `SELECT CHURN_PROBABILITY FROM ${warehouseTable(names.warehouse)} WHERE CUSTOMER_ID = 42`,
            )
            .catch(() => []);
          return r.length > 0 ? r : undefined;
        },
        60_000,
      );
      assert.ok(Math.abs(Number(rows[0]!['CHURN_PROBABILITY']) - score) < 1e-6);
    } finally {
      await wh.close();
    }
    worker.kill('SIGTERM');
    assert.equal(await exited, 0, output.slice(-3000));
  });
});
