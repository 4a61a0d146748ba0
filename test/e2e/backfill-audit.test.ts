import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { uniqueId, withPg } from '../support/stack.js';
import { backfillCase } from './backfill-support.js';

// A backfill at the default bulk sizes (5,000-row fetches, so the Postgres sink's COPY path) into a
// sink that keeps the audit log: every written row gets exactly one audit record in its statement,
// and the log's hash chain verifies.
const ROWS = 12_000;
const schema = `bfaudit_${uniqueId()}`;
const c = backfillCase(
  ROWS,
  {},
  {
    edit: (doc) => {
      doc.setIn(['spec', 'audit'], {
        table: `${schema}.audit`,
        hash_key: 'backfill-audit-test-key-32-chars!',
      });
    },
  },
);
const file = c.file;

before(() => withPg((p) => p.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)));
after(() => withPg((p) => p.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)));

test('a bulk backfill into an audited Postgres sink: one audit record per row, the chain intact', async () => {
  const r = await runCli(['backfill', file, '--work', '--run-id', `audit-${c.id}`], c.env);
  assert.equal(r.code, 0, r.output);
  const n = await withPg(async (p) => ({
    scores: (await p.query(`SELECT count(*)::int AS n FROM ${c.scores}`)).rows[0].n,
    audit: (await p.query(`SELECT count(*)::int AS n FROM "${schema}".audit`)).rows[0].n,
  }));
  assert.deepEqual(n, { scores: ROWS, audit: ROWS });
  const v = await runCli(['audit', 'verify', file], c.env);
  assert.equal(v.code, 0, v.output);
  assert.match(v.output, new RegExp(`intact[\\s\\S]*checked ${ROWS} records`));
});
