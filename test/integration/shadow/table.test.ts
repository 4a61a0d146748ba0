import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../workers/core/silent-logger.js';
import {
  computeShadowReport,
  queryShadowReport,
  type ShadowPairRow,
  type ShadowReportOptions,
} from '../../../workers/shadow/report.js';
import { type ShadowPairBatch, ShadowTable } from '../../../workers/shadow/table.js';
import { runCli } from '../../support/cli.js';
import { env, uniqueId, withPg } from '../../support/stack.js';

const id = uniqueId();
const SCHEMA = `shadowtest_${id}`;
const TABLE = `${SCHEMA}.pairs_${id}`;
const compare = { score: 'churn_probability', label: 'churn_label', threshold: 0.5 };
const limits = { max_flip_rate: 0.02, min_label_agreement: 0.9, max_abs_delta_p95: 0.2, min_samples: 1000 };
const T0 = Date.UTC(2026, 2, 10, 12, 0);
const BIG = 9007199254740993n; // 2^53 + 1: a number would read 9007199254740992

/** A deterministic generator (mulberry32), so a failure is reproducible. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Batch `b` of `n` rows, scored at T0 + b minutes: the shadow moves each score by a small noise. */
function makeBatch(b: number, n: number): ShadowPairBatch {
  const r = rng(b + 1);
  const cp = new Float32Array(n);
  const sp = new Float32Array(n);
  const cl: (number | bigint)[] = [];
  const sl: (number | bigint)[] = [];
  const keys: unknown[] = [];
  for (let i = 0; i < n; i++) {
    cp[i] = r();
    sp[i] = Math.min(1, Math.max(0, cp[i]! + (r() - 0.5) * 0.06));
    cl.push(cp[i]! >= 0.5 ? 1 : 0);
    sl.push(sp[i]! >= 0.5 ? 1 : 0);
    keys.push(b * 100_000 + i);
  }
  if (b === 0) {
    keys[0] = BIG;
    cl[0] = BIG; // an int64 label beyond 2^53 stays exact too
    sl[0] = BIG;
    keys[1] = { region: 'eu', id: BIG };
    // At the threshold exactly: the champion decides yes (>=), the shadow no.
    cp[2] = 0.5;
    sp[2] = 0.49;
  }
  return {
    pipeline: 'shadow-test',
    champion: { name: 'churn', version: '1', sha256: 'c'.repeat(64), ms: 2 + b * 0.5 },
    shadow: { name: 'churn', version: '2', sha256: 's'.repeat(64), ms: 3 + b },
    scoredAt: new Date(T0 + b * 60_000),
    keys,
    positions: keys.map((_, i) => String(1_700_000_000_000_000_000_000n + BigInt(b * 100_000 + i))),
    fields: ['churn_probability', 'churn_label'],
    championColumns: { churn_probability: cp, churn_label: cl },
    shadowColumns: { churn_probability: sp, churn_label: sl },
  };
}

const batches = [0, 1, 2, 3].map((b) => makeBatch(b, 500));
let table: ShadowTable;
const files: string[] = [];

async function storedRows(): Promise<(ShadowPairRow & { key: string; position: string })[]> {
  return withPg(async (c) => {
    const res = await c.query(`SELECT * FROM ${TABLE}`);
    return res.rows.map((r) => ({
      key: r.key,
      position: r.position,
      championScore: r.champion_score,
      shadowScore: r.shadow_score,
      championLabel: r.champion_label,
      shadowLabel: r.shadow_label,
      championMs: r.champion_ms,
      shadowMs: r.shadow_ms,
      championVersion: r.champion_version,
      shadowVersion: r.shadow_version,
      scoredAt: r.scored_at,
    }));
  });
}

/** Flips and agreements counted by hand over rows: the definitions, written once more, plainly. */
function offline(rows: readonly ShadowPairRow[], since?: Date) {
  let n = 0;
  let flips = 0;
  let agree = 0;
  for (const r of rows) {
    if (since && r.scoredAt < since) continue;
    n++;
    if (r.championScore! >= compare.threshold !== r.shadowScore! >= compare.threshold) flips++;
    if (r.championLabel === r.shadowLabel) agree++;
  }
  return { n, flips, agree };
}

before(async () => {
  table = new ShadowTable({ url: env.databaseUrl, table: TABLE, logger: silentLogger, compare });
  // Two workers starting at once: the DDL must not trip over itself.
  const other = new ShadowTable({ url: env.databaseUrl, table: TABLE, logger: silentLogger, compare });
  await Promise.all([table.open(), other.open(), table.open()]);
  await other.close();
});

after(async () => {
  await table?.close();
  await withPg((c) => c.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`));
  for (const f of files) rmSync(f, { force: true });
});

describe('ShadowTable on Postgres', () => {
  it('writes one row per pair, and a replayed batch adds none', async () => {
    for (const b of batches) assert.equal(await table.write(b), 500);
    assert.equal(await table.write(batches[1]!), 0);
    assert.equal(await table.write({ ...batches[2]!, scoredAt: new Date(T0 + 3_600_000) }), 0);
    const rows = await storedRows();
    assert.equal(rows.length, 2000);
    assert.equal(new Set(rows.map((r) => `${r.key}|${r.position}`)).size, 2000);
  });

  it('keeps int64 keys and labels beyond 2^53 exact, and scores as the exact float32 values', async () => {
    const rows = await storedRows();
    const big = rows.find((r) => r.key === '9007199254740993');
    assert.ok(big, 'the bigint key is stored as its exact digits');
    assert.equal(big.championLabel, '9007199254740993');
    assert.ok(rows.some((r) => r.key === '{"region":"eu","id":"9007199254740993"}'));
    const b0 = batches[0]!;
    const cp = b0.championColumns['churn_probability'] as Float32Array;
    const byPosition = new Map(rows.map((r) => [r.position, r]));
    for (let i = 0; i < 500; i++) {
      const r = byPosition.get(b0.positions[i]!)!;
      assert.equal(r.championScore, cp[i], `row ${i}: float32 ${cp[i]} read back as ${r.championScore}`);
    }
    const outputs = await withPg((c) =>
      c.query(`SELECT champion_outputs::text AS o, champion_sha256 AS sha FROM ${TABLE} WHERE key = $1`, [
        '9007199254740993',
      ]),
    );
    // Both fields are compared (score and label columns): no outputs beyond them to keep.
    assert.equal(outputs.rows[0].o, null);
    assert.equal(outputs.rows[0].sha, 'c'.repeat(64));
  });

  it("reports agreement and flip rates equal to an offline count over the table's rows", async () => {
    const rows = await storedRows();
    const opts: ShadowReportOptions = { compare, limits };
    const report = await queryShadowReport(env.databaseUrl, TABLE, opts);
    const hand = offline(rows);
    assert.ok(hand.flips > 0 && hand.flips < hand.n, `the data should have some flips, got ${hand.flips}`);
    assert.equal(report.n, 2000);
    assert.deepEqual([report.flipRate.k, report.flipRate.n], [hand.flips, hand.n]);
    assert.equal(report.flipRate.rate, hand.flips / hand.n);
    assert.deepEqual([report.labelAgreement?.k, report.labelAgreement?.n], [hand.agree, hand.n]);
    // …and to what was written, counted from the batches themselves.
    let flips = 0;
    for (const b of batches) {
      const c = b.championColumns['churn_probability'] as Float32Array;
      const s = b.shadowColumns['churn_probability'] as Float32Array;
      for (let i = 0; i < c.length; i++) if (c[i]! >= 0.5 !== s[i]! >= 0.5) flips++;
    }
    assert.equal(report.flipRate.k, flips);

    // Percentiles and the histogram: the SQL aggregation and the in-memory one agree exactly.
    const memory = computeShadowReport(TABLE, rows, opts);
    assert.deepEqual(report.absDelta, memory.absDelta);
    assert.deepEqual(report.histogram, memory.histogram);
    assert.equal(
      report.histogram.reduce((s, b) => s + b.count, 0),
      2000,
    );
    assert.deepEqual(report.versions, memory.versions);
    assert.deepEqual([report.verdict, report.reasons], [memory.verdict, memory.reasons]);
    // ms per batch (four batches): 2, 2.5, 3, 3.5 and 3, 4, 5, 6.
    assert.deepEqual(report.championMs, { p50: 2.75, p95: 3.425 });
    assert.deepEqual(report.shadowMs, { p50: 4.5, p95: 5.85 });
  });

  it('limits the report to --since', async () => {
    const since = new Date(T0 + 90_000); // batches 2 and 3
    const report = await queryShadowReport(env.databaseUrl, TABLE, { compare, limits, since });
    const hand = offline(await storedRows(), since);
    assert.equal(hand.n, 1000);
    assert.deepEqual([report.n, report.flipRate.k, report.labelAgreement?.k], [1000, hand.flips, hand.agree]);
    assert.equal(report.versions[0]?.first, new Date(T0 + 120_000).toISOString());
  });

  it('reports a table that does not exist yet as insufficient data', async () => {
    const report = await queryShadowReport(env.databaseUrl, `${SCHEMA}.missing`, { compare, limits });
    assert.equal(report.verdict, 'insufficient');
    assert.equal(report.n, 0);
    assert.match(report.notes[0]!, /does not exist yet/);
  });
});

describe('streamscore shadow report', () => {
  /** The churn example with a shadow section (its sinks' url, DATABASE_URL, is where the pairs are). */
  function pipelineFile(shadow: string): string {
    const file = join(tmpdir(), `shadow-${id}-${uniqueId()}.yaml`);
    files.push(file);
    // The example's own shadow section (from `    shadow:` to the sinks) is replaced by the test's.
    const churn = readFileSync('pipelines/churn-scoring.yaml', 'utf8');
    const start = churn.indexOf('    shadow:\n');
    const end = churn.indexOf('  sinks:\n');
    assert.ok(start > 0 && end > start);
    writeFileSync(file, `${churn.slice(0, start)}${shadow}\n${churn.slice(end)}`);
    return file;
  }
  const shadow = (limitsYaml: string, table = TABLE) =>
    `    shadow:
      version: 2
      compare: { score: churn_probability, label: churn_label, threshold: 0.5 }
      table: ${table}
      limits: ${limitsYaml}`;

  it('exits 0 on pass, 1 on fail naming the limit, 3 on insufficient data, and prints JSON', async () => {
    const pass = await runCli([
      'shadow',
      'report',
      pipelineFile(shadow('{ max_flip_rate: 0.5, min_samples: 100 }')),
    ]);
    assert.equal(pass.code, 0, pass.output);
    assert.match(pass.output, /verdict: PASS/);
    assert.match(pass.output, /Δ = shadow − champion/);
    if (process.env['SHADOW_SHOW_REPORT']) process.stdout.write(pass.output);

    const fail = await runCli([
      'shadow',
      'report',
      pipelineFile(shadow('{ max_flip_rate: 0.001, min_samples: 100 }')),
    ]);
    assert.equal(fail.code, 1, fail.output);
    assert.match(fail.output, /verdict: FAIL\n {2}- flip rate [\d.]+ % > 0\.1 %/);

    const few = await runCli([
      'shadow',
      'report',
      pipelineFile(shadow('{ max_flip_rate: 0.5, min_samples: 501 }')),
      '--since',
      '2026-03-10T12:03:00Z',
      '--format',
      'json',
    ]);
    assert.equal(few.code, 3, few.output);
    const json = JSON.parse(few.output);
    assert.equal(json.verdict, 'insufficient');
    assert.equal(json.n, 500);
  });

  it('exits 2 with `streamscore: …` on a bad --since, a pipeline without a shadow, or a bad table name', async () => {
    const file = pipelineFile(shadow('{ min_samples: 100 }'));
    const since = await runCli(['shadow', 'report', file, '--since', 'yesterday']);
    assert.equal(since.code, 2);
    assert.match(since.output, /^streamscore: --since yesterday: expected a duration/m);
    const none = await runCli(['shadow', 'report', pipelineFile('')]);
    assert.equal(none.code, 2);
    assert.match(none.output, /streamscore: .*spec\.model\.shadow is not set/);
    const format = await runCli(['shadow', 'report', file, '--format', 'yaml']);
    assert.equal(format.code, 2);
    const badTable = await runCli(['shadow', 'report', pipelineFile(shadow('{}', 'a.b.c'))]);
    assert.equal(badTable.code, 2);
    assert.match(badTable.output, /streamscore: shadow table 'a\.b\.c': expected table or schema\.table/);
  });
});
