import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { otherCa, readSecret, secureStack } from '../support/secure-stack.js';
import { readTopic, removeChurnObjects, uniqueId, withPg } from '../support/stack.js';
import { churnEnv, churnPipeline, createCustomers, scoreRows, testQueues } from './backfill-support.js';

// The churn pipeline with every connection authenticated and encrypted: its Kafka source (and the
// Kafka sink on that cluster) through the SASL_SSL listener, its Postgres sink and backfill source
// as the TLS-only role (verify-full against the stack CA, passwords from files), and the backfill's
// Redis on the TLS port as the ACL user. `streamscore backfill --work` scores the table end to end;
// with a wrong Redis password it stops at once and says so, printing no secret; `streamscore run`
// with a wrong CA or Kafka password stops at start-up (not after kafkajs' retries), naming Kafka.
const stack = secureStack();
const ROWS = 300;
const id = uniqueId();
const e = churnEnv(id, {
  CHURN_SOURCE_TABLE: `streamscore_tls.customers_${id}`,
  CHURN_SCORES_TABLE: `streamscore_tls.churn_${id}`,
  REDIS_URL: stack.redisTlsUrl,
  REDIS_PASSWORD_FILE: stack.redisPasswordFile,
  REDIS_TLS_CA_FILE: stack.caFile,
});
const tls = { ca_file: '${STACK_CA_FILE}' };
const file = churnPipeline(
  id,
  { chunk_size: 100, schedule: undefined },
  {
    edit: (doc) => {
      doc.setIn(['spec', 'source', 'kafka', 'brokers'], '${KAFKA_SASL_BROKERS}');
      doc.setIn(['spec', 'source', 'kafka', 'sasl'], {
        mechanism: 'scram-sha-512',
        username: '${KAFKA_SASL_USERNAME}',
        password: '${KAFKA_SASL_PASSWORD}', // KAFKA_SASL_PASSWORD_FILE
      });
      doc.setIn(['spec', 'source', 'kafka', 'tls'], tls);
      doc.setIn(['spec', 'sinks', 0, 'postgres', 'url'], '${DATABASE_TLS_URL}');
      doc.setIn(['spec', 'sinks', 0, 'postgres', 'password'], `\${file:${stack.pgPasswordFile}}`);
      doc.setIn(['spec', 'sinks', 0, 'postgres', 'tls'], tls);
      doc.setIn(['spec', 'backfill', 'source', 'postgres', 'url'], '${DATABASE_TLS_URL}');
      doc.setIn(['spec', 'backfill', 'source', 'postgres', 'password'], '${DATABASE_TLS_PASSWORD}');
      doc.setIn(['spec', 'backfill', 'source', 'postgres', 'tls'], tls);
    },
  },
);
const { queues, close } = testQueues(id);
const secrets = [stack.kafkaPasswordFile, stack.pgPasswordFile, stack.redisPasswordFile].map(readSecret);

before(async () => {
  await createCustomers(e['CHURN_SOURCE_TABLE']!, ROWS);
  await withPg((c) => c.query(`grant select on ${e['CHURN_SOURCE_TABLE']} to streamscore_tls`));
});

after(async () => {
  await close();
  await removeChurnObjects(e);
});

test('backfill --work over TLS everywhere: Kafka SASL_SSL, Postgres verify-full, Redis TLS + ACL', async () => {
  const r = await runCli(['backfill', file, '--work', '--run-id', `tls-${id}`], e);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /(\d+)\/\1 chunks {2}300\/300 rows .*completed {2}0 failed/);
  assert.equal((await scoreRows(e['CHURN_SCORES_TABLE']!)).size, ROWS);
  assert.equal((await queues.status(`tls-${id}`))?.state, 'completed');
  // the Kafka sink wrote through the source's SASL_SSL client: read back on the plaintext listener
  assert.equal((await readTopic(e['CHURN_OUTPUT_TOPIC']!)).length, ROWS);
  for (const s of secrets) assert.ok(!r.output.includes(s), 'no password in the output');
});

test('a wrong Redis password stops the backfill at once, naming Redis', async () => {
  const wrong = join(tmpdir(), `streamscore-wrong-redis-${id}`);
  writeFileSync(wrong, 'not-the-password\n');
  const t0 = Date.now();
  const r = await runCli(['backfill', file, '--work', '--run-id', `tls-wrong-${id}`], {
    ...e,
    REDIS_PASSWORD_FILE: wrong,
  });
  assert.equal(r.code, 1, r.output);
  assert.match(
    r.output,
    /streamscore backfill: redis: rediss:\/\/streamscore@127\.0\.0\.1:\d+: authentication failed: WRONGPASS/,
  );
  assert.ok(Date.now() - t0 < 9_000, 'not after the connect time-out');
  for (const s of secrets) assert.ok(!r.output.includes(s), 'no password in the output');
});

for (const [what, extra, message] of [
  [
    'a CA that did not sign the broker certificate',
    { STACK_CA_FILE: otherCa() },
    /streamscore run: kafka 127\.0\.0\.1:\d+: TLS failed: the broker certificate is not signed by a trusted CA .*tls\.ca_file/,
  ],
  [
    'a wrong Kafka password',
    { KAFKA_SASL_PASSWORD: 'not-the-password' },
    /streamscore run: kafka 127\.0\.0\.1:\d+: SASL authentication failed: .*\(sasl\.username, sasl\.password\)/,
  ],
] as const) {
  test(`run with ${what} stops at start-up, naming Kafka`, async () => {
    const t0 = Date.now();
    const r = await runCli(['run', file, '--no-backfill'], { ...e, ...extra });
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, message);
    assert.ok(Date.now() - t0 < 20_000, `at start-up, not after kafkajs' retries (${Date.now() - t0} ms)`);
    for (const s of secrets) assert.ok(!r.output.includes(s), 'no password in the output');
  });
}
