import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseDocument } from 'yaml';
import { connectSchemaFromAvro } from '../../workers/decode/connect-schema.js';
import { readFixture } from '../../workers/testing/fixture.js';
import { type RunningCli, runCli, startCli } from '../support/cli.js';
import { queryTable } from '../support/debezium-example.js';
import {
  deleteGroups,
  deleteTopics,
  dropDebezium,
  registerDebezium,
  testKafka,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';
import { topicsStartingWith } from '../support/topics.js';

// "Your first pipeline in five minutes", end to end on the real stack: a new user's table (numeric,
// date, timestamptz, boolean, enum and text columns) → `streamscore init` with the churn model →
// the TODOs answered (the only YAML written by hand) → `validate` → `test` → `run` with a real
// Debezium connector → rows in the score table; then `capture` of the same topic replayed by
// `test` gives the very outputs the streaming run wrote.
const id = uniqueId();
const schema = `firstpipe_${id}`;
const table = `${schema}.accounts`;
const prefix = `firstpipe${id}`;
const topic = `${prefix}.${table}`;
const connector = `firstpipe_${id}`;
const group = `${prefix}-group`;
const dlq = `${prefix}.dlq`;
const scores = `${schema}.accounts_churn_scores`;
const dir = mkdtempSync(join(tmpdir(), 'streamscore-first-'));
const pipeline = join(dir, 'pipelines', 'accounts-churn.yaml');
const testFile = join(dir, 'pipelines', 'accounts-churn.test.yaml');
const avsc = join(dir, 'schemas', `${table}.avsc`);
const ROWS = 24;
const runEnv = { ACCOUNTS_CHURN_GROUP: group, ACCOUNTS_CHURN_DLQ: dlq };
let worker: RunningCli | undefined;

before(async () => {
  await withPg((c) =>
    c.query(`
      create schema ${schema};
      create type ${schema}.tier as enum ('basic', 'pro', 'enterprise');
      create table ${table} (
        account_id bigint primary key,
        name text not null,
        plan ${schema}.tier not null,
        signup_date date not null,
        monthly_spend numeric(12,2) not null,
        seats integer not null,
        tickets_90d integer,
        is_enterprise boolean not null,
        last_login_at timestamptz,
        updated_at timestamptz not null default now()
      );
      insert into ${table} (account_id, name, plan, signup_date, monthly_spend, seats, tickets_90d, is_enterprise, last_login_at)
      select g, 'Account ' || g, (array['basic','pro','enterprise'])[1 + g % 3]::${schema}.tier,
             date '2023-01-01' + g * 17, round((20 + g * 37.3)::numeric, 2), 1 + g % 40,
             case when g % 5 = 0 then null else g % 7 end, g % 3 = 2,
             case when g % 4 = 0 then null else timestamptz '2025-05-01 10:00+00' + g * interval '1 day' end
      from generate_series(1, ${ROWS}) g;`),
  );
});

after(async () => {
  await worker?.stop();
  await dropDebezium(connector).catch(() => undefined);
  await withPg((c) => c.query(`drop schema if exists ${schema} cascade`));
  await deleteTopics(await topicsStartingWith(prefix));
  await deleteGroups([group]);
  rmSync(dir, { recursive: true, force: true });
});

/** Lines (1-based) of the file where a TODO token (not a comment) stands. */
function todoLines(text: string): number[] {
  return text
    .split('\n')
    .map((l, i) => [l.replace(/#.*$/, ''), i + 1] as const)
    .filter(([l]) => /\bTODO\b/.test(l))
    .map(([, i]) => i);
}

test('init → answer the TODOs → validate → test', async () => {
  // The table is captured first: init finds its topic on Kafka Connect.
  await registerDebezium({ name: connector, topicPrefix: prefix, tables: [table], converter: 'json' });
  const init = await runCli([
    'init',
    '--table',
    table,
    '--model',
    'pipelines/models/churn/1',
    '--out',
    pipeline,
  ]);
  assert.equal(init.code, 0, init.output);
  assert.match(init.output, new RegExp(`topic: ${topic.replace(/\./g, '\\.')}\n`));
  assert.match(init.output, /6\/8 feature\(s\) matched to columns; 3 TODO\(s\)/);
  assert.match(init.output, /plan_basic ← value 'basic' of enum column plan/);
  assert.match(init.output, /is_enterprise ← exact name/);

  // The input schema has the types Debezium emits (checked against a real event below).
  const row = JSON.parse(readFileSync(avsc, 'utf8')) as { fields: { name: string; type: unknown }[] };
  const typeOf = (n: string) => JSON.stringify(row.fields.find((f) => f.name === n)?.type);
  assert.match(typeOf('signup_date'), /"io\.debezium\.time\.Date"/);
  assert.match(typeOf('last_login_at'), /^\["null",\{.*"io\.debezium\.time\.ZonedTimestamp"/);
  assert.match(typeOf('monthly_spend'), /"logicalType":"decimal".*|"scale":2/);
  assert.match(typeOf('plan'), /"allowed":"basic,pro,enterprise".*"io\.debezium\.data\.Enum"/);

  // validate fails at each TODO's line, and only there.
  const text = readFileSync(pipeline, 'utf8');
  const first = await runCli(['validate', pipeline]);
  assert.equal(first.code, 1, first.output);
  const lines = [...first.output.matchAll(/accounts-churn\.yaml:(\d+):\d+: /g)].map((m) => Number(m[1]));
  assert.deepEqual(lines, todoLines(text));
  assert.equal(lines.length, 3);

  // Never overwrites without --force.
  const again = await runCli([
    'init',
    '--table',
    table,
    '--model',
    'pipelines/models/churn/1',
    '--out',
    pipeline,
  ]);
  assert.equal(again.code, 1);
  assert.match(again.output, /already exist\(s\): nothing was written \(use --force/);
  assert.equal(readFileSync(pipeline, 'utf8'), text);

  // The answers: the only YAML written by hand.
  const doc = parseDocument(text);
  const map = ['spec', 'features', 'map'];
  doc.setIn([...map, 'tenure_months'], 'months_between(after.signup_date, source.ts_ms)');
  doc.setIn([...map, 'days_since_login'], 'coalesce(days_between(after.last_login_at, source.ts_ms), 365)');
  doc.setIn([...map, 'tickets_90d', 'expr'], 'coalesce(after.tickets_90d, 0)');
  writeFileSync(pipeline, doc.toString({ lineWidth: 0 }));
  const valid = await runCli(['validate', pipeline]);
  assert.equal(valid.code, 0, valid.output);

  const snap = await runCli(['test', testFile, '--update']);
  assert.equal(snap.code, 0, snap.output);
  const run = await runCli(['test', testFile]);
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /2\/2 case\(s\) pass/);
});

test('run: Debezium captures the table and the pipeline writes a score per row; capture + test replay the same outputs', async () => {
  worker = startCli(['run', '--no-backfill', '--port', '0', pipeline], runEnv);
  const w = worker;
  const rows = await waitFor(
    `${ROWS} scores in ${scores}`,
    async () => {
      const r = await queryTable<{ account_id: string; churn_probability: number; churn_label: string }>(
        scores,
        `select account_id::text, churn_probability, churn_label::text from ${scores} order by account_id`,
      );
      return r.length === ROWS ? r : undefined;
    },
    90000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nworker output:\n${w.output().slice(-3000)}`);
  });
  assert.ok(rows.every((r) => r.churn_probability > 0 && r.churn_probability < 1));

  const fixture = join(dir, 'fixture.json');
  const cap = await runCli(
    ['capture', pipeline, '--limit', '100', '--redact', 'name', '--out', fixture],
    runEnv,
  );
  assert.equal(cap.code, 0, cap.output);
  const fx = readFixture(fixture);
  assert.equal(fx.events.length, ROWS);
  const firstAfter = (fx.events[0]!.value as { payload: { after: Record<string, unknown> } }).payload.after;
  assert.equal(firstAfter['name'], '[redacted]');
  // The Connect schema of a real event's row is the one the .avsc init wrote stands for.
  const eventRow = (
    fx.events[0]!.value as { schema: { fields: { field: string; fields: unknown[] }[] } }
  ).schema.fields.find((f) => f.field === 'after')!.fields as {
    field: string;
    type: string;
    name?: string;
    optional: boolean;
  }[];
  const ours = connectSchemaFromAvro(JSON.parse(readFileSync(avsc, 'utf8'))).fields!;
  assert.deepEqual(
    ours.map((f) => [f.field, f.type, f.name ?? null, f.optional === true]),
    eventRow.map((f) => [f.field, f.type, f.name ?? null, f.optional]),
  );

  const replay = join(dir, 'pipelines', 'replay.test.yaml');
  writeFileSync(
    replay,
    `pipeline: accounts-churn.yaml\ncases:\n  - name: captured\n    fixture: ${fixture}\n`,
  );
  const upd = await runCli(['test', replay, '--update']);
  assert.equal(upd.code, 0, upd.output);
  const recorded = parseDocument(readFileSync(replay, 'utf8')).toJS() as {
    cases: {
      expect: { key: number; outputs: { churn_probability: { value: number }; churn_label: number } }[];
    }[];
  };
  const byKey = new Map(recorded.cases[0]!.expect.map((e) => [String(e.key), e.outputs]));
  assert.equal(byKey.size, ROWS);
  for (const r of rows) {
    const o = byKey.get(r.account_id)!;
    assert.equal(o.churn_probability.value, r.churn_probability, `account ${r.account_id}`);
    assert.equal(String(o.churn_label), r.churn_label, `account ${r.account_id}`);
  }
  // Capture's own consumer group is gone; the pipeline's group was never joined by it.
  const admin = testKafka().admin();
  await admin.connect();
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
  await admin.disconnect();
  assert.deepEqual(
    groups.filter((g) => g.startsWith('streamscore-capture-')),
    [],
  );
});
