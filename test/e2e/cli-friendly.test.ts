import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { assertDistFresh, runDist, startDist } from '../support/dist-cli.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import { deleteGroups, deleteTopics, dropPgTables, uniqueId, waitFor } from '../support/stack.js';

// The first impression of the built CLI: `--version` says what runs, and a worker's logs are
// readable lines for people (--log-format pretty, or a terminal) and JSON lines for collectors.
assertDistFresh();

const topics: string[] = [];
const groups: string[] = [];
const tables: string[] = [];
after(async () => {
  await deleteTopics(topics);
  await deleteGroups(groups);
  await dropPgTables(...tables);
});

const version = (pkg: string) =>
  (JSON.parse(readFileSync(`node_modules/${pkg}/package.json`, 'utf8')) as { version: string }).version;

describe('streamscore --version', () => {
  it('prints the version, the commit built and the key dependency versions', async () => {
    const { code, stdout } = await runDist(['--version']);
    assert.equal(code, 0);
    const own = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    const built = (JSON.parse(readFileSync('dist/build-info.json', 'utf8')) as { commit: string }).commit;
    assert.ok(built.length >= 7, `dist/build-info.json names a commit: '${built}'`);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines[0], `streamscore ${own} (commit ${built})`);
    for (const dep of ['onnxruntime-node', 'kafkajs', 'pg', 'snowflake-sdk', 'bullmq'])
      assert.ok(
        lines.some((l) => new RegExp(`^ +${dep} +${version(dep).replaceAll('.', '\\.')}$`).test(l)),
        `${dep} ${version(dep)}:\n${stdout}`,
      );
    assert.ok(
      lines.some((l) => new RegExp(`^ +node +${process.versions.node}$`).test(l)),
      stdout,
    );
  });
});

/** `run` of the churn pipeline on a topic that does not exist yet: it logs that it waits (a warning). */
function startWaitingWorker(args: string[], runArgs: string[], env: Record<string, string>) {
  const id = uniqueId();
  const topic = `logfmt${id}.crm.customers`;
  topics.push(topic, `logfmt-scores-${id}`, `logfmt-${id}.dlq`);
  groups.push(`logfmt-${id}`);
  tables.push(`ml.logfmt_${id}`);
  const worker = startDist(
    [...args, 'run', ...runArgs, churnPipelineCopy(`logfmt-${id}`, { warehouse: false })],
    {
      env: {
        CHURN_TOPIC: topic,
        CHURN_GROUP: `logfmt-${id}`,
        CHURN_SCORES_TABLE: `ml.logfmt_${id}`,
        CHURN_OUTPUT_TOPIC: `logfmt-scores-${id}`,
        CHURN_DLQ: `logfmt-${id}.dlq`,
        METRICS_PORT: '0',
        // At info: a topic the broker creates at the worker's first request is waited for at info level.
        STREAMSCORE_LOG_LEVEL: 'info',
        ...env,
      },
    },
  );
  return { worker, topic };
}

async function waitingLines(
  args: string[],
  runArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<string[]> {
  const { worker, topic } = startWaitingWorker(args, runArgs, env);
  try {
    await waitFor(
      'the worker to say it waits for its topic',
      async () => worker.stdout().includes(`Waiting for topic ${topic}`) || worker.child.exitCode !== null,
      60_000,
    );
  } finally {
    assert.equal(await worker.stop(), 0, worker.output().slice(-3000));
  }
  return worker.stdout().trimEnd().split('\n');
}

const PRETTY_WAIT =
  /^\d\d:\d\d:\d\d\.\d{3} (WARN |INFO ) Waiting for topic \S+ to be .* worker=\d+ .*topics=\S+/;

describe('worker logs', () => {
  it('are pretty lines with --log-format pretty, never JSON', async () => {
    const lines = await waitingLines(['--log-format', 'pretty']);
    assert.ok(
      lines.some((l) => PRETTY_WAIT.test(l)),
      lines.join('\n'),
    );
    assert.deepEqual(
      lines.filter((l) => l.trimStart().startsWith('{')),
      [],
    );
  });

  it('are JSON lines when stdout is not a terminal and nothing else is asked', async () => {
    const lines = await waitingLines([]);
    const entries = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
    assert.ok(
      entries.some((e) => e.level >= 30 && e.msg.startsWith('Waiting for topic')),
      lines.join('\n'),
    );
  });

  it("reach a fleet's workers (--log-format pretty, and the environment)", async () => {
    const lines = [
      ...(await waitingLines(['--log-format', 'pretty'], ['--workers', '2'])),
      ...(await waitingLines([], ['--workers', '2'], { STREAMSCORE_LOG_FORMAT: 'pretty' })),
    ];
    assert.ok(
      lines.some((l) => PRETTY_WAIT.test(l)),
      lines.join('\n'),
    );
    assert.deepEqual(
      lines.filter((l) => l.trimStart().startsWith('{')),
      [],
    );
  });
});
