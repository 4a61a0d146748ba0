import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { aliasKey, readControlState } from '../../../workers/control/index.js';
import { CUSTOMERS_DDL } from '../../support/churn.js';
import { runCli } from '../../support/cli.js';
import { deleteTopics, dropPgTables, env, testKafka, uniqueId, withPg } from '../../support/stack.js';
import { aliasPipeline, corruptedVersion, tmpRegistry } from '../../unit/models/fixtures.js';
import { dropPrefix, redis } from '../backfill/support.js';

// `streamscore model …` and `pipeline …` against the real broker, on a control topic of their own,
// with a registry (churn 1, 2; 3 = a 4-feature model; 4 = a corrupted copy of 2) and one pipeline
// following churn@champion. A refused move exits 1 with a clear message and leaves the alias as it was.
const id = uniqueId();
const topic = `ctl-cli-${id}`;
const { registry, pipelines, cleanup } = tmpRegistry(`cli-${id}`);
corruptedVersion(registry, '4');
const pipelineFile = aliasPipeline(pipelines, registry, `churn-alias-${id}`, { alias: 'champion', topic });
const common = ['--control-topic', topic, '--models', registry, '--pipelines', pipelines];

const sourceTable = `public.ctl_src_${id}`;
const bullPrefix = `ctlbf${id}`;

after(async () => {
  await deleteTopics([topic]);
  await dropPgTables(sourceTable);
  const r = redis();
  await dropPrefix(r, bullPrefix);
  r.disconnect();
  cleanup();
});

async function cli(...args: string[]): Promise<{ code: number | null; output: string }> {
  return runCli([...args, ...common], {
    KAFKA_BROKERS: env.kafkaBrokers,
    REDIS_URL: env.redisUrl,
    STREAMSCORE_BACKFILL_PREFIX: bullPrefix,
    CHURN_SOURCE_TABLE: sourceTable,
  });
}

async function champion(): Promise<string | undefined> {
  return (await readControlState(testKafka(), topic)).aliases.get(aliasKey('churn', 'champion'))?.version;
}

describe('model and pipeline commands', () => {
  it('promote of an unknown version: exit 1, the versions that exist, nothing recorded', async () => {
    const r = await cli('model', 'promote', 'churn', '9', '--reason', 'try');
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /^streamscore: .*no version '9' of model 'churn'.*versions there: 1, 2, 3, 4$/m);
    assert.equal(await champion(), undefined);
  });

  it('promote 1 then 2: from → to with the time; again 2: a no-op that says so', async () => {
    const first = await cli('model', 'promote', 'churn', '1', '--reason', 'first', '--by', 'alice');
    assert.equal(first.code, 0, first.output);
    assert.match(
      first.output,
      new RegExp(`fits 1 pipeline\\(s\\) following churn@champion: ${pipelineFile} \\(primary\\)`),
    );
    assert.match(
      first.output,
      /churn@champion: \(unset\) → 1 promoted at \d{4}-\d\d-\d\dT[\d:.]+Z by alice: first/,
    );
    const second = await cli('model', 'promote', 'churn', '2', '--reason', 'shadow passed');
    assert.equal(second.code, 0, second.output);
    assert.match(second.output, /churn@champion: 1 → 2 promoted at /);
    const again = await cli('model', 'promote', 'churn', '2', '--reason', 'again');
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /churn@champion already points to 2 \(since .* by .*\); nothing to do/);
    assert.equal(await champion(), '2');
  });

  it('promote of a corrupted copy (sha256 mismatch): exit 1, path, found and expected; alias unchanged', async () => {
    const r = await cli('model', 'promote', 'churn', '4', '--reason', 'corrupt');
    assert.equal(r.code, 1, r.output);
    assert.match(
      r.output,
      /streamscore: model .*churn\/4\/model\.onnx: sha256 is [0-9a-f]{64} \(\d+ bytes\), .*manifest\.yaml says 6420f8c55eb0[0-9a-f]+: the file is corrupted or was replaced/,
    );
    assert.equal(await champion(), '2');
  });

  it('promote of a version that does not fit a pipeline following the alias: exit 1 naming the file', async () => {
    const r = await cli('model', 'promote', 'churn', '3', '--reason', 'wrong model');
    assert.equal(r.code, 1, r.output);
    assert.match(
      r.output,
      /churn\/3 does not fit 1 of the 1 pipeline\(s\) following churn@champion; nothing changed/,
    );
    assert.ok(r.output.includes(`${pipelineFile} (churn-alias-${id}, primary): `), r.output);
    assert.match(r.output, /has width 4, but the pipeline declares 8 features/);
    assert.equal(await champion(), '2');
  });

  it('rollback returns to the previous target; with nothing earlier it is refused', async () => {
    const back = await cli('model', 'rollback', 'churn', '--reason', 'precision drop');
    assert.equal(back.code, 0, back.output);
    assert.match(back.output, /churn@champion: 2 → 1 rolled back at .*: precision drop/);
    assert.equal(await champion(), '1');
    const none = await cli('model', 'rollback', 'churn');
    assert.equal(none.code, 1, none.output);
    assert.match(
      none.output,
      /streamscore: churn@champion has nothing earlier to roll back to: 1 is the only version/,
    );
    assert.equal(await champion(), '1');
  });

  it('history lists every move: at, by, action, alias, from → to, reason', async () => {
    const r = await cli('model', 'history', 'churn');
    assert.equal(r.code, 0, r.output);
    const lines = r.output.trim().split('\n');
    assert.match(lines[0]!, /^AT\s+BY\s+ACTION\s+ALIAS\s+FROM → TO\s+REASON$/);
    assert.equal(lines.length, 4, r.output);
    assert.match(lines[1]!, /^\S+Z\s+alice\s+promote\s+champion\s+- → 1\s+first$/);
    assert.match(lines[2]!, /promote\s+champion\s+1 → 2\s+shadow passed$/);
    assert.match(lines[3]!, /rollback\s+champion\s+2 → 1\s+precision drop$/);
  });

  it('list shows the aliases and flags the corrupted file', async () => {
    const r = await cli('model', 'list', 'churn');
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^ {2}1\s+7f918d97fb5b\s+2025-01-15\s+champion\s/m);
    assert.match(r.output, /^ {2}4\s+6420f8c55eb0 !\s/m);
  });

  it('pipeline suspend, status, resume; an unknown name is refused', async () => {
    const name = `churn-alias-${id}`;
    const typo = await cli('pipeline', 'suspend', `${name}x`, '--reason', 'risk');
    assert.equal(typo.code, 1, typo.output);
    assert.match(typo.output, new RegExp(`no pipeline named '${name}x' in .* \\(there: ${name}\\)`));
    const s = await cli(
      'pipeline',
      'suspend',
      name,
      '--reason',
      'drift in EU segment',
      '--by',
      'risk-office',
    );
    assert.equal(s.code, 0, s.output);
    const status = await cli('pipeline', 'status');
    assert.match(
      status.output,
      new RegExp(`^${name}\\s+suspended since \\S+ by risk-office: drift in EU segment$`, 'm'),
    );
    const r = await cli('pipeline', 'resume', name);
    assert.equal(r.code, 0, r.output);
    assert.match(
      (await cli('pipeline', 'status', name)).output,
      new RegExp(`^${name}\\s+running\\s+since \\S+ by \\S+: resume$`, 'm'),
    );
  });

  it('usage errors exit 2', async () => {
    assert.equal((await cli('model', 'promote', 'churn', '2')).code, 2, 'no --reason');
    const r = await cli('model', 'rollback', 'churn', '--rescore-since', 'promotion');
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /--rescore-since needs --pipeline/);
  });

  it('rollback --rescore-since promotion enqueues a backfill of the rows changed since the bad version came', async () => {
    await withPg(async (c) => {
      // Its own table (a fresh stack has no crm.customers until the demo or a Debezium test made it).
      await c.query(CUSTOMERS_DDL(sourceTable));
      await c.query(
        `insert into ${sourceTable} (customer_id, email, plan, signup_date, updated_at)
         select g, 'c' || g || '@x', 'pro', '2024-01-01', '2020-01-01' from generate_series(1, 5) g`,
      );
    });
    const up = await cli('model', 'promote', 'churn', '2', '--reason', 'again');
    assert.equal(up.code, 0, up.output);
    await withPg((c) => c.query(`update ${sourceTable} set updated_at = now() where customer_id in (2, 4)`));
    const r = await cli(
      'model',
      'rollback',
      'churn',
      '--reason',
      'bad scores',
      '--rescore-since',
      'promotion',
      '--pipeline',
      pipelineFile,
    );
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /churn@champion: 2 → 1 rolled back at /);
    assert.match(r.output, /re-scoring the rows of .* changed since \d{4}-\d\d-\d\dT/);
    assert.match(r.output, new RegExp(`run \\S+: \\d+ chunks, 2 rows of ${sourceTable}`));
    assert.equal(await champion(), '1');
  });
});
