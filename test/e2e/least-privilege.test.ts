/**
 * Least privilege (README: Least privilege): the churn pipeline on the real stack with three
 * minimal roles — Debezium's (LOGIN REPLICATION, SELECT on the table, a publication made by the
 * table's owner), the sink's (exactly the GRANTs `streamscore plan` prints: no CREATE anywhere) and
 * the backfill reader's (SELECT on the source) — streams inserts, updates and deletes into the scores
 * table, then backfills it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { publicationName } from '../../workers/connect/debezium.js';
import { dropPrefix, redis } from '../integration/backfill/support.js';
import { CUSTOMERS_DDL, insertCustomers } from '../support/churn.js';
import { type RunningCli, runCli, startCli } from '../support/cli.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import {
  deleteGroups,
  deleteTopics,
  dropDebezium,
  dropPgTables,
  env,
  registerDebeziumWith,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';

const id = uniqueId();
const table = `crm.lp_${id}`;
const scores = `ml.lp_scores_${id}`;
const prefix = `lp${id}`;
const topic = `${prefix}.${table}`;
const connector = `lp_${id}`;
const roles = { cdc: `lp_cdc_${id}`, sink: `lp_sink_${id}`, reader: `lp_reader_${id}` };
const PASSWORD = 'lp-test-password';
const ROWS = 120;

const url = (role: string) => {
  const u = new URL(env.databaseUrl);
  u.username = role;
  u.password = PASSWORD;
  return u.toString();
};

const pipelineEnv = {
  CHURN_TOPIC: topic,
  CHURN_GROUP: `lp-${id}`,
  CHURN_SCORES_TABLE: scores,
  CHURN_OUTPUT_TOPIC: `lp-scores-${id}`,
  CHURN_DLQ: `lp-${id}.dlq`,
  CHURN_SOURCE_TABLE: table,
  CHURN_ENCODING: 'json',
  METRICS_PORT: '0',
  REDIS_URL: env.redisUrl,
  // The backfill's queues, this test's alone (a churn-scoring worker elsewhere must not take its chunks).
  STREAMSCORE_BACKFILL_PREFIX: `lp${id}`,
};

const file = churnPipelineCopy(`lp-${id}`, {
  warehouse: false,
  edit: (doc) => {
    doc.setIn(['spec', 'sinks', 0, 'postgres', 'url'], url(roles.sink));
    doc.setIn(['spec', 'sinks', 0, 'postgres', 'create_table'], false);
    doc.setIn(['spec', 'backfill', 'source', 'postgres', 'url'], url(roles.reader));
  },
});

let worker: RunningCli | undefined;

before(async () => {
  await withPg(async (c) => {
    await c.query(CUSTOMERS_DDL(table));
    await insertCustomers(c, table, 1, ROWS);
    await c.query(`create role ${roles.cdc} login replication password '${PASSWORD}'`);
    await c.query(`create role ${roles.sink} login password '${PASSWORD}'`);
    await c.query(`create role ${roles.reader} login password '${PASSWORD}'`);
    await c.query(`grant usage on schema crm to ${roles.cdc}, ${roles.reader}`);
    await c.query(`grant select on ${table} to ${roles.cdc}, ${roles.reader}`);
    // The table's owner makes the publication: Debezium's user could not (it owns no table).
    await c.query(`create publication ${publicationName(connector)} for table ${table}`);
  });
});

after(async () => {
  await worker?.stop();
  const r = redis();
  await dropPrefix(r, `lp${id}`);
  r.disconnect();
  await dropDebezium(connector);
  await deleteTopics([topic, pipelineEnv.CHURN_OUTPUT_TOPIC, pipelineEnv.CHURN_DLQ]);
  await deleteGroups([pipelineEnv.CHURN_GROUP]);
  await dropPgTables(scores, `${scores}__tombstones`, table);
  await withPg(async (c) => {
    for (const r of Object.values(roles)) {
      await c.query(`drop owned by ${r}`).catch(() => undefined);
      await c.query(`drop role if exists ${r}`);
    }
  });
});

/** The DDL and GRANT lines `streamscore plan` prints for the postgres sink. */
async function planned(): Promise<{ ddl: string; grants: string[] }> {
  const res = await runCli(['plan', file], pipelineEnv);
  assert.equal(res.code, 0, res.output);
  const lines = res.output.split('\n').map((l) => l.trim());
  const start = lines.findIndex((l) => l.startsWith(`postgres:${scores}`));
  const marker = lines.indexOf(
    '-- least privilege: what the role of the url needs (README: Least privilege)',
    start,
  );
  assert.ok(start >= 0 && marker > start, res.output);
  const grants: string[] = [];
  for (let i = marker + 1; lines[i]?.startsWith('GRANT '); i++) grants.push(lines[i]!);
  return { ddl: lines.slice(start + 1, marker).join('\n'), grants };
}

test('the churn pipeline streams and backfills with minimal roles: replication, the planned grants, SELECT', async () => {
  const { ddl, grants } = await planned();
  const q = (s: string) => `"${s}"`;
  const [schema, name] = scores.split('.') as [string, string];
  assert.deepEqual(grants, [
    `GRANT USAGE ON SCHEMA ${q(schema)} TO ${q(roles.sink)};`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${q(schema)}.${q(name)} TO ${q(roles.sink)};`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${q(schema)}.${q(`${name}__tombstones`)} TO ${q(roles.sink)};`,
  ]);
  await withPg(async (c) => {
    await c.query(ddl);
    for (const g of grants) await c.query(g);
    const r = await c.query(
      `select has_schema_privilege($1, 'ml', 'CREATE') as ml, has_database_privilege($1, current_database(), 'CREATE') as db`,
      [roles.sink],
    );
    assert.deepEqual(r.rows[0], { ml: false, db: false }, 'the sink role can create nothing');
  });

  await registerDebeziumWith(
    { name: connector, topicPrefix: prefix, tables: [table], converter: 'json' },
    {
      'database.user': roles.cdc,
      'database.password': PASSWORD,
      'publication.autocreate.mode': 'disabled',
    },
  );
  // With its backfill workers: they take the chunks `backfill --wait` enqueues below.
  worker = startCli(['run', file], pipelineEnv);
  const count = (where = 'true') =>
    withPg(async (c) =>
      Number((await c.query(`select count(*) from ${scores} where ${where}`)).rows[0].count),
    );
  await waitFor(`${ROWS} scores written by ${roles.sink}`, async () => (await count()) === ROWS, 120_000);

  // Updates (UPDATE) and a delete (DELETE, tombstone) through the same role.
  await withPg(async (c) => {
    await c.query(`update ${table} set tickets_90d = 40, updated_at = now() where customer_id <= 10`);
    await c.query(`delete from ${table} where customer_id = ${ROWS}`);
  });
  await waitFor('the updates and the delete applied', async () => {
    const n = await count();
    const updated = await withPg(async (c) =>
      Number(
        (
          await c.query(
            `select count(*) from ${scores} s where customer_id <= 10 and source_position > (select min(source_position) from ${scores} where customer_id > 10)`,
          )
        ).rows[0].count,
      ),
    );
    return n === ROWS - 1 && updated === 10;
  });
  assert.doesNotMatch(worker.output(), /permission denied/i, worker.output());

  // The backfill reads the source as the reader role and writes through the sink role.
  const res = await runCli(['backfill', file, '--wait'], pipelineEnv);
  assert.equal(res.code, 0, res.output);
  assert.equal(await count(), ROWS - 1);
});
