import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Logger } from '../../../workers/core/types.js';
import { sourceTable } from '../../../workers/runtime/source-table.js';
import { validatePipelineFile } from '../../../workers/spec/validate.js';
import { env, uniqueId, withPg } from '../../support/stack.js';

// The start-up check of the CDC source table: a warning for each way REPLICA IDENTITY DEFAULT
// makes this pipeline's scores wrong, none when nothing can go wrong.
const id = uniqueId();
const schema = `st_${id}`;
const dir = join(tmpdir(), `streamscore-st-${id}`);

before(async () => {
  mkdirSync(dir, { recursive: true });
  await withPg((c) =>
    c.query(`create schema ${schema};
      create table ${schema}.big (id bigint primary key, email text not null, body text);
      insert into ${schema}.big select g, 'u' || g, (select string_agg(md5(g::text || x::text), '') from generate_series(1, 400) x) from generate_series(1, 3) g;
      create table ${schema}.small (id bigint primary key, email text not null, body text);
      insert into ${schema}.small values (1, 'a', 'short');
      create table ${schema}.full_big (like ${schema}.big including all);
      insert into ${schema}.full_big select * from ${schema}.big;
      alter table ${schema}.full_big replica identity full;`),
  );
});

after(async () => {
  await withPg((c) => c.query(`drop schema ${schema} cascade`));
});

async function warnings(
  t: string,
  o: { policy: string; key?: string; deleteKey?: string },
): Promise<string[]> {
  const file = join(dir, `${uniqueId()}.yaml`);
  writeFileSync(
    file,
    `apiVersion: streamscore/v1
kind: Pipeline
metadata: { name: st }
spec:
  source: { kafka: { brokers: "${env.kafkaBrokers}", topics: none, group_id: st } }
  decode: { debezium: { unavailable_value: "${o.policy}" } }
  features:
    key: ${o.key ?? 'after.id'}
    delete_key: ${o.deleteKey ?? 'message_key'}
    map:
      a: "len(after.body)"
      b: "len(after.email)"
      c: "0"
      d: "0"
      e: "0"
      f: "0"
  model: { name: demand, version: 1, path: ${resolve('pipelines/models/demand/1/model.onnx')}, outputs: { y: value } }
  sinks: [{ kafka: { topic: st-out } }]
  backfill: { source: { postgres: { url: "${env.databaseUrl}", table: ${schema}.${t}, key: [id] } } }
`,
  );
  const v = await validatePipelineFile(file, { keepModel: false });
  assert.deepEqual(v.problems, []);
  const out: string[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (_o, msg) => out.push(msg ?? ''),
    error: () => undefined,
  };
  const st = sourceTable(v.pipeline!, v.checked!, 'st', logger)!;
  try {
    await st.check();
  } finally {
    await st.close();
  }
  return out;
}

describe('source table start-up check', () => {
  it('warns when features read TOAST-able columns of a DEFAULT-identity table holding out-of-line values', async () => {
    const w = await warnings('big', { policy: 'before' });
    assert.equal(w.length, 1, w.join('\n'));
    assert.match(
      w[0]!,
      /Features read column\(s\) body, email that Postgres may TOAST .*unavailable_value: lookup/,
    );
  });

  it('is quiet under lookup, under REPLICA IDENTITY FULL, and when nothing is stored out of line', async () => {
    assert.deepEqual(await warnings('big', { policy: 'lookup' }), []);
    assert.deepEqual(await warnings('full_big', { policy: 'before' }), []);
    assert.deepEqual(await warnings('small', { policy: 'null' }), []);
  });

  it('warns when the key reads a column outside the table key, or trusts before without FULL', async () => {
    assert.match(
      (await warnings('small', { policy: 'lookup', key: 'after.email' }))[0] ?? '',
      /deletes cannot be keyed/,
    );
    assert.match(
      (await warnings('small', { policy: 'lookup', deleteKey: 'before' }))[0] ?? '',
      /delete_key: before needs REPLICA IDENTITY FULL/,
    );
    assert.deepEqual(await warnings('full_big', { policy: 'lookup', deleteKey: 'before' }), []);
  });
});
