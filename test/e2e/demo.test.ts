import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';

// The demo, shortened, so `make demo` never rots: seed, backfill, fleet under traffic, summary.
test('streamscore demo runs the churn story end to end and prints the summary', async () => {
  const { code, output } = await runCli(['demo', '--seconds', '4', '--customers', '1500', '--rate', '60']);
  assert.equal(code, 0, output.slice(-4000));
  assert.match(output, /1\. Seeding the CRM/);
  assert.match(output, /1\/1 chunks {2}1,500\/1,500 rows/);
  const crm = /predictions in ml\.customer_churn_scores: (\d+) rows/.exec(output);
  assert.ok(crm && Number(crm[1]) >= 1500, output.slice(-3000));
  const wh = /predictions in the warehouse: (\d+) rows/.exec(output);
  assert.ok(wh && Number(wh[1]) > 0, output.slice(-3000));
  assert.match(output, /The ten customers most at risk/);
  assert.match(output, /demo finished/);
});
