import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { startCli } from '../support/cli.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import { env, uniqueId, waitFor } from '../support/stack.js';
import { TcpProxy } from '../support/tcp-proxy.js';

// A database that is down when the worker starts (restarting, failing over) must not stop the
// worker: opening the sinks is retried with the pipeline's back-off until it comes back.
const id = uniqueId();
const proxy = new TcpProxy(new URL(env.databaseUrl).hostname, Number(new URL(env.databaseUrl).port || 5432));
const pipelineFile = churnPipelineCopy(`startup-${id}`, { warehouse: false });

before(async () => {
  await proxy.start();
  const kafka = new Kafka({ brokers: env.kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: `startup-${id}`, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
});

after(async () => {
  await proxy.stop();
});

test('a Postgres sink unreachable at start-up is retried, and the worker runs once it is back', async () => {
  proxy.pause();
  const db = new URL(env.databaseUrl);
  db.host = `127.0.0.1:${proxy.port}`;
  const worker = startCli(['run', pipelineFile], {
    CHURN_TOPIC: `startup-${id}`,
    CHURN_GROUP: `startup-${id}`,
    CHURN_SCORES_TABLE: `ml.startup_${id}`,
    CHURN_OUTPUT_TOPIC: `startup-scores-${id}`,
    CHURN_DLQ: `startup-${id}.dlq`,
    METRICS_PORT: '0',
    DATABASE_URL: db.toString(),
    STREAMSCORE_LOG_LEVEL: 'info',
  });
  try {
    await waitFor(
      'the sink open to be retried',
      async () =>
        worker.output().includes('Sink not ready at start-up; retrying.') || worker.child.exitCode !== null,
      30_000,
    );
    assert.equal(worker.child.exitCode, null, `the worker is still up:\n${worker.output().slice(-2000)}`);
    proxy.resume();
    await waitFor(
      'the worker to run',
      async () => worker.output().includes('Worker running.') || worker.child.exitCode !== null,
      60_000,
    );
    assert.equal(worker.child.exitCode, null, `the worker runs:\n${worker.output().slice(-2000)}`);
  } finally {
    const code = await worker.stop();
    assert.equal(code, 0, worker.output().slice(-2000));
  }
});
