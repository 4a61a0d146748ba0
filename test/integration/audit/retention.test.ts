import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { auditObjects } from '../../../workers/audit/sql.js';
import { verifyAudit } from '../../../workers/audit/verify.js';
import { formatProblem } from '../../../workers/spec/problems.js';
import { validatePipelineFile } from '../../../workers/spec/validate.js';
import { env } from '../../support/stack.js';
import { batch } from '../../unit/sinks/fixtures.js';
import {
  type AuditFixture,
  assertExactlyOnce,
  auditFixture,
  pipelineFile,
  query,
  rowsOf,
} from './harness.js';

// Retention: the audit log is partitioned by UTC day; the maintain function (run when a sink opens,
// then hourly) creates yesterday's to the day after tomorrow's partitions and drops a partition
// only when its whole range is older than retention_days: never a partial day.

let f: AuditFixture | undefined;
afterEach(async () => {
  await f?.drop();
  f = undefined;
});

/** The server's UTC day `offset` days from today, as YYYY-MM-DD. */
async function day(offset: number): Promise<string> {
  const [r] = await query<{ d: string }>(
    `SELECT to_char((clock_timestamp() AT TIME ZONE 'UTC')::date + $1::int, 'YYYY-MM-DD') AS d`,
    [offset],
  );
  return r!.d;
}

/** Partitions of the audit table: name → FROM…TO. */
async function partitions(fx: AuditFixture): Promise<Map<string, string>> {
  const rows = await query<{ name: string; bound: string }>(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass`,
    [auditObjects(fx.audit).blocks],
  );
  return new Map(
    rows.map((r) => {
      const [, from, to] = /FROM \('([0-9-]+)'\) TO \('([0-9-]+)'\)/.exec(r.bound) ?? [];
      return [r.name, `${from}…${to}`];
    }),
  );
}

/** A partition made by hand, holding one (unchained) row dated `from`. */
async function handMade(fx: AuditFixture, name: string, from: string, to: string): Promise<void> {
  await query(
    `CREATE TABLE "${fx.schema}"."${name}" PARTITION OF ${auditObjects(fx.audit).blocks} FOR VALUES FROM ('${from}') TO ('${to}')`,
  );
  await query(
    `INSERT INTO ${auditObjects(fx.audit).blocks} (chain, seq, n, kind, prev_hash, hash, keys, decision_ids, id_min, id_max, records, record_hashes, written_at, written_day)
     SELECT 'old', 1, 1, 'decision', 'genesis', 'x', '{1}', ARRAY[u], u, u, '{}', '\\x00', $1::date, $1::date FROM gen_random_uuid() AS u`,
    [from],
  );
}

describe('audit retention', () => {
  it('opening the sink creates the partitions of yesterday to the day after tomorrow', async () => {
    f = auditFixture();
    await f.sink().open();
    const expected = new Map<string, string>();
    for (let d = -1; d <= 2; d++) {
      const from = await day(d);
      expected.set(`audit_p${from.replaceAll('-', '')}`, `${from}…${await day(d + 1)}`);
    }
    assert.deepEqual(await partitions(f), expected);
  });

  it('maintain drops the partitions wholly older than retention, keeps a partly retained one and the current ones', async () => {
    f = auditFixture();
    const fx = f;
    const sink = fx.sink();
    await sink.open();
    await sink.write(batch(rowsOf(0, 40, 100)));
    const current = await partitions(fx);
    // retention_days 180: every day before today-180 goes; today-180 itself still has records
    // younger than 180 days.
    await handMade(fx, 'old_range', await day(-190), await day(-181));
    await handMade(fx, 'old_day', await day(-181), await day(-180));
    await handMade(fx, 'straddling', await day(-180), await day(-178));
    await query(`SELECT ${auditObjects(fx.audit).maintainFn}(180)`);
    const after = await partitions(fx);
    assert.deepEqual(
      [...after.keys()].sort(),
      [...current.keys(), 'straddling'].sort(),
      'partitions after maintain',
    );
    const [kept] = await query<{ n: string }>(`SELECT count(*) AS n FROM "${fx.schema}"."straddling"`);
    assert.equal(kept!.n, '1', 'the partly retained partition kept its row');
    const [today] = await query<{ n: string }>(`SELECT count(*) AS n FROM ${fx.audit} WHERE chain <> 'old'`);
    assert.equal(today!.n, '40');
  });

  it('a sink with a short retention (allow_short_retention) prunes when it opens', async () => {
    f = auditFixture();
    const fx = f;
    await fx.sink({}, 30).open();
    await handMade(fx, 'day_31', await day(-31), await day(-30));
    await handMade(fx, 'day_30', await day(-30), await day(-29));
    await fx.sink({}, 30).open();
    const names = [...(await partitions(fx)).keys()];
    assert.ok(!names.includes('day_31'), 'day today-31 dropped');
    assert.ok(names.includes('day_30'), 'day today-30 kept');
    assert.equal(names.length, 5);
  });

  it('after older days are dropped, verify passes on chains that start after seq 1', async () => {
    f = auditFixture();
    const fx = f;
    const sink = fx.sink();
    await sink.open();
    await sink.write(batch(rowsOf(0, 20, 100, 2)));
    await sink.write(batch(rowsOf(0, 20, 200, 2)));
    await assertExactlyOnce(fx);
    // The first batch's records move to a day past retention (written_day is not hashed).
    const old = await day(-200);
    await query(
      `CREATE TABLE "${fx.schema}"."past" PARTITION OF ${auditObjects(fx.audit).blocks} FOR VALUES FROM ('${old}') TO ('${await day(-199)}')`,
    );
    await query(`UPDATE ${auditObjects(fx.audit).blocks} SET written_day = $1::date WHERE seq <= 10`, [old]);
    await query(`SELECT ${auditObjects(fx.audit).maintainFn}(180)`);
    const [min] = await query<{ lo: string; n: string }>(
      `SELECT min(seq)::text AS lo, count(*)::text AS n FROM ${fx.audit}`,
    );
    assert.deepEqual(min, { lo: '11', n: '20' });
    const r = await verifyAudit(env.databaseUrl, fx.audit);
    assert.deepEqual(
      { intact: r.intact, records: r.records, breaks: r.breaks },
      { intact: true, records: 20, breaks: [] },
    );
  });

  it('retention_days below 180 validates with allow_short_retention', async () => {
    f = auditFixture();
    const file = pipelineFile(f, '    retention_days: 30\n    allow_short_retention: true\n');
    const r = await validatePipelineFile(file, { env: {} });
    assert.deepEqual(r.problems.map(formatProblem), []);
  });
});
