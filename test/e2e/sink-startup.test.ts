import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { makePosition } from '../../workers/core/position.js';
import { EnvelopeEncoder } from '../bench/events.js';
import { startCli } from '../support/cli.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import {
  deleteGroups,
  deleteTopics,
  dropPgTables,
  env,
  testKafka,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';
import { TcpProxy } from '../support/tcp-proxy.js';

// A database that is down when the worker starts (restarting, failing over) must not stop the
// worker: opening the sinks is retried with the pipeline's back-off until it comes back, and the
// worker then writes what it consumes.
const id = uniqueId();
const proxy = new TcpProxy(new URL(env.databaseUrl).hostname, Number(new URL(env.databaseUrl).port || 5432));
const pipelineFile = churnPipelineCopy(`startup-${id}`, { warehouse: false });
const topic = `startup-${id}`;
const scores = `ml.startup_${id}`;
const outputTopic = `startup-scores-${id}`;
const dlq = `startup-${id}.dlq`;

before(async () => {
  await proxy.start();
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
});

after(async () => {
  await proxy.stop();
  await deleteTopics([topic, outputTopic, dlq]);
  await deleteGroups([topic]);
  await dropPgTables(scores);
});

test('a Postgres sink unreachable at start-up is retried; once it is back the worker runs and writes', async () => {
  proxy.pause();
  const db = new URL(env.databaseUrl);
  db.host = `127.0.0.1:${proxy.port}`;
  const worker = startCli(['run', pipelineFile], {
    CHURN_TOPIC: topic,
    CHURN_GROUP: topic,
    CHURN_SCORES_TABLE: scores,
    CHURN_OUTPUT_TOPIC: outputTopic,
    CHURN_DLQ: dlq,
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

    // One Debezium-shaped change (JsonConverter with schemas) after the database came back.
    const change = {
      op: 'c' as const,
      id: 4242,
      version: 0,
      tsUs: Date.now() * 1000,
      lsn: 0x6c000128,
      txId: 1,
    };
    const producer = testKafka().producer();
    await producer.connect();
    await producer.send({ topic, messages: new EnvelopeEncoder({ prefix: topic }, 'json').encode(change) });
    await producer.disconnect();
    const written = await waitFor(
      `customer ${change.id} in ${scores}`,
      () =>
        withPg(async (c) => {
          const r = await c.query(
            `select source_position::text as pos from ${scores} where customer_id = $1`,
            [change.id],
          );
          return r.rows[0] as { pos: string } | undefined;
        }),
      30_000,
    ).catch((err) => {
      throw new Error(`${err}; worker output:\n${worker.output().slice(-2000)}`);
    });
    assert.equal(written.pos, String(makePosition(change.tsUs, change.lsn)), 'the row is that change’s');
  } finally {
    const code = await worker.stop();
    assert.equal(code, 0, worker.output().slice(-2000));
  }
});
