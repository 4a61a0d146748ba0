import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/stack.js';
import { warehouseSession, warehouseTable } from '../support/warehouse.js';
import { backfillCase, scoreRows } from './backfill-support.js';

// The committed churn pipeline, warehouse sinks included: a backfill writes every sink the stream
// writes — the Postgres scores table, the Snowflake current-scores MERGE and history append.
const ROWS = 300;
const { env: e, scores, file } = backfillCase(ROWS, { chunk_size: 100 }, { warehouse: true });

test('a backfill writes the warehouse too: current scores equal Postgres, one history row per row', async () => {
  const r = await runCli(['backfill', file, '--work'], e);
  assert.equal(r.code, 0, r.output);
  const pg = await scoreRows(scores);
  assert.equal(pg.size, ROWS);
  const wh = await warehouseSession();
  try {
    const current = await waitFor('warehouse rows', async () => {
      const rows = await wh.execute(
        `select CUSTOMER_ID, CHURN_PROBABILITY from ${warehouseTable(e['CHURN_WH_TABLE']!)}`,
      );
      return rows.length === ROWS ? rows : undefined;
    });
    for (const row of current) {
      const p = pg.get(Number(row['CUSTOMER_ID']))!.p;
      assert.ok(Math.abs(Number(row['CHURN_PROBABILITY']) - p) < 1e-6, `customer ${row['CUSTOMER_ID']}`);
    }
    const history = await wh.execute(
      `select count(*) as N from ${warehouseTable(e['CHURN_WH_HISTORY_TABLE']!)}`,
    );
    assert.equal(Number(history[0]!['N']), ROWS);
  } finally {
    await wh.close();
  }
});
