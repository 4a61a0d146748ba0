import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { withPg } from '../support/stack.js';
import { warehouseSession, warehouseTable } from '../support/warehouse.js';

/** This run's rows of a warehouse table (scored at or after `since`), by customer; none when it is missing. */
async function warehouseRowsSince(table: string, since: Date): Promise<{ id: number; p: number }[]> {
  const wh = await warehouseSession();
  try {
    const rows = await wh
      .execute(`SELECT CUSTOMER_ID, CHURN_PROBABILITY, SCORED_AT FROM ${warehouseTable(table)}`)
      .catch((err: unknown) => {
        if (/does not exist|not found/i.test(String(err))) return [];
        throw err;
      });
    const recent = rows.filter((r) => new Date(r['SCORED_AT'] as string | Date).getTime() >= since.getTime());
    return recent.map((r) => ({ id: Number(r['CUSTOMER_ID']), p: Number(r['CHURN_PROBABILITY']) }));
  } finally {
    await wh.close();
  }
}

// The demo, shortened, so `make demo` never rots: seed, backfill, fleet under traffic, summary.
// The demo keeps its warehouse tables across runs (they may be a real account's), so the warehouse
// is checked on this run's rows: those scored since the demo started, equal to the CRM's table.
test('streamscore demo runs the churn story end to end and prints the summary', async () => {
  const started = new Date();
  const { code, output } = await runCli(['demo', '--seconds', '4', '--customers', '1500', '--rate', '60']);
  assert.equal(code, 0, output.slice(-4000));
  assert.match(output, /1\. Seeding the CRM/);
  assert.match(output, /1\/1 chunks {2}1,500\/1,500 rows/);
  const crm = /predictions in ml\.customer_churn_scores: (\d+) rows/.exec(output);
  assert.ok(crm && Number(crm[1]) >= 1500, output.slice(-3000));
  assert.match(output, /predictions in the warehouse: \d+ rows/);
  assert.match(output, /The ten customers most at risk/);
  assert.match(output, /demo finished/);

  const scores = await withPg(async (c) => {
    const r = await c.query('select customer_id, churn_probability from ml.customer_churn_scores');
    return new Map(r.rows.map((x) => [Number(x.customer_id), Number(x.churn_probability)]));
  });
  assert.equal(scores.size, Number(crm[1]));
  const current = new Map(
    (await warehouseRowsSince('CUSTOMER_CHURN_SCORES', started)).map((r) => [r.id, r.p]),
  );
  assert.deepEqual(
    [...current.keys()].sort((a, b) => a - b),
    [...scores.keys()].sort((a, b) => a - b),
    'the warehouse rows scored by this run are the CRM scores table’s customers',
  );
  for (const [k, p] of scores) assert.ok(Math.abs(current.get(k)! - p) < 1e-6, `customer ${k}`);
  // The history appends one row per scored event: at least the backfill's 1,500 in this run.
  const history = await warehouseRowsSince('CUSTOMER_CHURN_SCORE_HISTORY', started);
  assert.ok(history.length >= 1500, `${history.length} history rows from this run`);
});
