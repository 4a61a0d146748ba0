import assert from 'node:assert/strict';
import { test } from 'node:test';
import { debeziumExample, query, queryTable } from '../support/debezium-example.js';
import { referenceSession, runReference } from '../support/onnx-reference.js';
import { header, readTopicUntil, topicEnd, waitCommitted } from '../support/topics.js';

// pipelines/demand-forecast.yaml as shipped: the ERP's store/SKU inputs captured by a real Debezium
// connector (JSON with schemas), a regression output, a composite text key, deletes marked
// (`on_delete: mark`). Every forecast must equal onnxruntime's, run directly on features computed
// here from the table's own columns.
const DDL = (table: string) => `
  create table ${table} (
    store_id int not null,
    sku text not null,
    as_of date not null,
    unit_price numeric(10,2) not null,
    on_promo boolean not null,
    qty_last_7d int,
    store_size int not null,
    primary key (store_id, sku)
  );`;

const ROWS = 120;
/** Rows g with g % 29 = 0 have no qty_last_7d (`on_null: reject`): dead-lettered. */
const NULL_QTY = Math.floor(ROWS / 29);

const ex = debeziumExample({
  name: 'demand',
  table: 'store_sku_weekly',
  converter: 'json',
  ddl: DDL,
  // The snapshot (op r) is scored: score_ops defaults to c, u, r.
  seed: (c, table) =>
    c.query(
      `insert into ${table}
       select 1 + g % 7, 'SKU-' || lpad(g::text, 4, '0'), date '2024-01-01' + (g * 11 % 366),
              round((0.5 + (g * 613 % 9000) / 100.0)::numeric, 2), g % 5 = 0,
              case when g % 29 = 0 then null else g * 7 % 60 end, 1 + g % 3
       from generate_series(1, ${ROWS}) g`,
    ),
  args: ['--no-backfill', '--port', '0', 'pipelines/demand-forecast.yaml'],
  env: (n) => ({ DEMAND_TOPIC: n.topic, DEMAND_GROUP: n.group, DEMAND_TABLE: n.scores, DEMAND_DLQ: n.dlq }),
});

interface Input {
  store_sku: string;
  dow: number;
  month: number;
  unit_price: string;
  on_promo: boolean;
  qty_last_7d: number;
  store_size: number;
}

/** The columns as they are, with the key the pipeline builds (store_id/sku), and the date parts. */
const inputs = (where = 'true') =>
  query<Input>(
    `select store_id || '/' || sku as store_sku, extract(isodow from as_of)::int as dow,
            extract(month from as_of)::int as month, unit_price::text, on_promo, qty_last_7d, store_size
     from ${ex.table} where qty_last_7d is not null and (${where}) order by store_id, sku`,
  );

/** The demand features written out by hand, in the model's input order (manifest.yaml). */
const demandFeatures = (r: Input) => [
  r.dow,
  r.month,
  Number(r.unit_price),
  r.on_promo ? 1 : 0,
  r.qty_last_7d,
  r.store_size,
];

interface Forecast {
  store_sku: string;
  forecast_units: number;
  position: string;
  deleted: boolean;
}

async function forecasts(): Promise<Map<string, Forecast>> {
  const rows = await queryTable<Forecast>(
    ex.scores,
    `select store_sku, forecast_units, source_position::text as position, deleted_at is not null as deleted
     from ${ex.scores}`,
  );
  return new Map(rows.map((r) => [r.store_sku, r]));
}

/** Asserts every forecast of `rows` equals onnxruntime's on their hand-built features. */
async function assertForecasts(rows: Input[], got: Map<string, Forecast>): Promise<void> {
  const session = await referenceSession('pipelines/models/demand/1/model.onnx');
  const out = await runReference(session, rows.map(demandFeatures), ['variable']);
  await session.release();
  const values = out['variable']!.data as Float32Array;
  rows.forEach((r, i) => {
    const f = got.get(r.store_sku);
    assert.ok(f, `${r.store_sku} has no forecast`);
    assert.equal(f.forecast_units, values[i], `${r.store_sku}: forecast`);
  });
}

test('demand: the snapshot is forecast equal to onnxruntime, keyed store_id/sku; a row without qty is dead-lettered', async () => {
  await ex.waitFor('the forecast table', async () => (await queryTable(ex.scores, 'select 1')).length > 0);
  const columns = await query<{ column_name: string }>(
    `select column_name from information_schema.columns where table_schema = $1 and table_name = 'scores'`,
    [ex.schema],
  );
  assert.ok(
    columns.some((c) => c.column_name === 'deleted_at'),
    `on_delete: mark keeps deleted rows with a deleted_at column; the table has ${columns.map((c) => c.column_name)}`,
  );
  const expected = ROWS - NULL_QTY;
  const got = await ex.waitFor(
    `${expected} forecasts`,
    async () => {
      const f = await forecasts();
      return f.size >= expected ? f : undefined;
    },
    90_000,
  );
  assert.equal(got.size, expected);
  await assertForecasts(await inputs(), got);
  const letters = await readTopicUntil(ex.dlq, (m) => m.length >= NULL_QTY);
  assert.equal(letters.length, NULL_QTY);
  for (const l of letters) {
    assert.equal(header(l, 'streamscore.error.code'), 'FEATURE_NULL');
    assert.match(header(l, 'streamscore.error.message'), /qty_last_7d is null/);
    assert.equal(header(l, 'streamscore.pipeline'), 'demand-forecast');
  }
});

test('demand: updates are forecast again from a newer position; deletes set deleted_at and keep the forecast', async () => {
  const before = await forecasts();
  const end = await topicEnd(ex.topic);
  const updated = "sku between 'SKU-0001' and 'SKU-0010'";
  const deleted = "sku between 'SKU-0011' and 'SKU-0020'";
  await query(
    `update ${ex.table} set qty_last_7d = qty_last_7d + 25, on_promo = not on_promo where ${updated}`,
  );
  const gone = await inputs(deleted);
  await query(`delete from ${ex.table} where ${deleted}`);
  // 10 updates; 10 deletes, each followed by its tombstone.
  await waitCommitted(ex.group, ex.topic, end + 30n);
  const after = await forecasts();

  const changed = await inputs(updated);
  assert.equal(changed.length, 10);
  for (const r of changed)
    assert.ok(
      BigInt(after.get(r.store_sku)!.position) > BigInt(before.get(r.store_sku)!.position),
      `${r.store_sku}: forecast again from the update`,
    );
  await assertForecasts(changed, after);

  assert.equal(gone.length, 10);
  for (const r of gone) {
    const f = after.get(r.store_sku);
    assert.ok(f, `${r.store_sku}: a marked row stays`);
    assert.equal(f.deleted, true, `${r.store_sku}: deleted_at is set`);
    assert.equal(f.forecast_units, before.get(r.store_sku)!.forecast_units, `${r.store_sku}: forecast kept`);
    assert.ok(
      BigInt(f.position) > BigInt(before.get(r.store_sku)!.position),
      `${r.store_sku}: delete's position`,
    );
  }
  const marked = [...after.values()].filter((f) => f.deleted).map((f) => f.store_sku);
  assert.deepEqual(marked.sort(), gone.map((r) => r.store_sku).sort(), 'only the deleted rows are marked');
  assert.equal(after.size, before.size, 'nothing removed');
});
