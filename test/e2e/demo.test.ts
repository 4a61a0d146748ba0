import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aliasKey, readControlState } from '../../workers/control/index.js';
import { readVersion } from '../../workers/models/catalog.js';
import { runCli } from '../support/cli.js';
import { testKafka, withPg } from '../support/stack.js';
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

/**
 * Warnings dependencies print (kafkajs, the AWS SDK under snowflake-sdk, Node's own, npm's), and
 * kafkajs' log entries that reach the workers' logs at warn or error.
 */
const DEPENDENCY_WARNINGS = [
  /logger=kafkajs|"logger":"kafkajs"/,
  /KafkaJS v2\.0\.0 switched default partitioner/,
  /KAFKAJS_NO_PARTITIONER_WARNING/,
  /AWS SDK for JavaScript/i,
  /NodeVersion|node version .* (deprecat|end of support)/i,
  /\b\w*(Deprecation|Experimental|MaxListenersExceeded)Warning\b/,
  /^\(node:\d+\) /,
  /^npm warn/i,
];

// The demo, shortened, so `make demo` never rots: seed, backfill, fleet under traffic (shadow report,
// churn 3 promoted to champion and rolled back, each timed), summary.
// The demo keeps its warehouse tables across runs (they may be a real account's), so the warehouse
// is checked on this run's rows: those scored since the demo started, equal to the CRM's table.
test('streamscore demo runs the churn story end to end and prints the summary', async () => {
  const started = new Date();
  // With kafkajs' partitioner notice left on, as on a user's machine.
  const { code, output } = await runCli(['demo', '--seconds', '4', '--customers', '1500', '--rate', '60'], {
    KAFKAJS_NO_PARTITIONER_WARNING: '',
  });
  assert.equal(code, 0, output.slice(-4000));
  // A story for people: no raw JSON log line, no warning of a dependency.
  const lines = output.split('\n');
  assert.deepEqual(
    lines.filter((l) => /^\s*\{.*\}\s*$/.test(l)),
    [],
    'JSON log lines in the demo',
  );
  assert.deepEqual(
    lines.filter((l) => DEPENDENCY_WARNINGS.some((re) => re.test(l))),
    [],
    'warnings of dependencies in the demo',
  );
  assert.match(output, /1\. Seeding the CRM/);
  assert.match(output, /1\/1 chunks {2}1,500\/1,500 rows/);
  const crm = /predictions in ml\.customer_churn_scores: (\d+) rows/.exec(output);
  assert.ok(crm && Number(crm[1]) >= 1500, output.slice(-3000));
  assert.match(output, /predictions in the warehouse: \d+ rows/);
  assert.match(output, /The ten customers most at risk/);
  assert.match(output, /demo finished/);
  // It ends pointing at the drift view and the stack's Prometheus, which scraped its workers.
  assert.match(output, /npx streamscore drift pipelines\/churn-scoring\.yaml/);
  if (process.env['PROMETHEUS_URL'])
    assert.ok(output.includes(`${process.env['PROMETHEUS_URL']}/alerts`), output.slice(-2000));

  // The rollout story: the shadow report's verdict, then both moves timed on rows of the new version.
  assert.match(output, /control topic streamscore\.control: churn@champion → 1/);
  assert.match(output, /\$ streamscore shadow report pipelines\/churn-scoring\.yaml --since \S+Z/);
  assert.match(output, /^ {3}verdict: (PASS|FAIL|INSUFFICIENT)$/m);
  assert.match(output, /churn@champion: 1 → 3 promoted at /);
  assert.match(output, /churn@champion: 3 → 1 rolled back at /);
  const promote = /promote → first row with model_version 3 in ml\.customer_churn_scores: (-?\d+) ms/.exec(
    output,
  );
  const rollback = /rollback → first row with model_version 1 in ml\.customer_churn_scores: (-?\d+) ms/.exec(
    output,
  );
  assert.ok(promote && rollback, output.slice(-6000));
  // A row of the new version was written after each move (how soon is the bench's to measure).
  for (const m of [promote, rollback]) assert.ok(Number(m[1]) >= 0, m[0]);
  assert.match(output, /promote +champion +1 → 3 +demo: promote 3 while traffic flows/);
  assert.match(output, /rollback +champion +3 → 1 +demo: back to 1/);
  assert.match(output, /shadow verdict +(PASS|FAIL|INSUFFICIENT)/);
  assert.match(output, /rows by model_version +1: \d+, 3: \d+/);

  // Re-runnable: the champion is back at 1 (and the challenger at 3) on the control topic.
  const state = await readControlState(testKafka(), 'streamscore.control');
  assert.equal(state.aliases.get(aliasKey('churn', 'champion'))?.version, '1');
  assert.equal(state.aliases.get(aliasKey('churn', 'challenger'))?.version, '3');
  // Every row names the version that scored it and that version's sha256.
  const versions = await withPg(async (c) => {
    const r = await c.query(
      'select model_version, model_sha256, count(*)::int n from ml.customer_churn_scores group by 1, 2',
    );
    return r.rows as { model_version: string; model_sha256: string; n: number }[];
  });
  for (const v of versions) {
    assert.equal(
      v.model_sha256,
      readVersion('pipelines/models', 'churn', v.model_version).sha256,
      v.model_version,
    );
  }
  assert.deepEqual(versions.map((v) => v.model_version).sort(), ['1', '3']);

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
