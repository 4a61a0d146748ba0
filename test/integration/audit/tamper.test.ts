import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { auditObjects } from '../../../workers/audit/sql.js';
import { type AuditVerifyReport, verifyAudit } from '../../../workers/audit/verify.js';
import { runCli } from '../../support/cli.js';
import { env } from '../../support/stack.js';
import { batch } from '../../unit/sinks/fixtures.js';
import { type AuditFixture, auditFixture, chainOf, pipelineFile, query, rowsOf } from './harness.js';

// Tamper evidence: `audit verify` recomputes each chain and names the first break of each chain
// with its decision id. Each chain below holds 25 records (seq 1…25).

let f: AuditFixture | undefined;
afterEach(async () => {
  await f?.drop();
  f = undefined;
});

/** 50 records: keys 0…19 twice (t 100, then t 200) and keys 20…29, on partitions 0 and 1. */
async function written(): Promise<AuditFixture> {
  f = auditFixture();
  const sink = f.sink();
  await sink.open();
  await sink.write(batch(rowsOf(0, 20, 100, 2)));
  await sink.write(batch(rowsOf(0, 20, 200, 2)));
  await sink.write(batch(rowsOf(20, 30, 300, 2)));
  return f;
}

async function decisionAt(fx: AuditFixture, chain: string, seq: number): Promise<string> {
  const [r] = await query<{ id: string }>(
    `SELECT decision_id::text AS id FROM ${fx.audit} WHERE chain = $1 AND seq = $2`,
    [chain, seq],
  );
  assert.ok(r, `no record ${chain} #${seq}`);
  return r.id;
}

const verify = (fx: AuditFixture, since?: Date) => verifyAudit(env.databaseUrl, fx.audit, { since });

/**
 * Changes the record at `seq` of `chain` inside its block: `expr` is SQL over the record `r`
 * (jsonb). With `forge`, also puts the changed record's sha256 in `record_hashes` and recomputes
 * the block's hash, as a forger would.
 */
async function alter(fx: AuditFixture, chain: string, seqs: number[], expr: string, forge = false) {
  const { blocks, hashFn } = auditObjects(fx.audit);
  for (const seq of seqs) {
    const inBlock = 'b.chain = $1 AND $2::bigint > b.seq - b.n AND $2::bigint <= b.seq';
    const res = await query(
      `UPDATE ${blocks} AS b SET records = convert_to((
         SELECT string_agg(CASE WHEN x.i = $2::bigint - (b.seq - b.n) THEN (SELECT (${expr})::text FROM (SELECT x.line::jsonb AS r) AS rr) ELSE x.line END, E'\\n' ORDER BY x.i)
         FROM unnest(string_to_array(convert_from(b.records, 'UTF8'), E'\\n')) WITH ORDINALITY AS x(line, i)), 'UTF8')
       WHERE ${inBlock} RETURNING b.seq`,
      [chain, seq],
    );
    assert.equal(res.length, 1, `no block holds ${chain} #${seq}`);
    if (!forge) continue;
    await query(
      `UPDATE ${blocks} AS b SET record_hashes = overlay(b.record_hashes PLACING
         sha256(convert_to((string_to_array(convert_from(b.records, 'UTF8'), E'\\n'))[$2::bigint - (b.seq - b.n)], 'UTF8'))
         FROM (($2::bigint - (b.seq - b.n) - 1) * 32 + 1)::int FOR 32)
       WHERE ${inBlock}`,
      [chain, seq],
    );
    await query(
      `UPDATE ${blocks} AS b SET hash = ${hashFn}(b.prev_hash, b.written_at, b.seq, b.kind, b.keys, b.decision_ids, b.record_hashes)
       WHERE ${inBlock}`,
      [chain, seq],
    );
  }
}

/** The one break of a report (the other chain must be intact). */
function oneBreak(r: AuditVerifyReport) {
  assert.equal(r.intact, false);
  assert.equal(r.breaks.length, 1, JSON.stringify(r.breaks));
  return r.breaks[0]!;
}

describe('audit verify', () => {
  it('passes on chains written by the sink', async () => {
    const fx = await written();
    const r = await verify(fx);
    assert.deepEqual(
      { intact: r.intact, chains: r.chains, records: r.records, breaks: r.breaks, notes: r.notes },
      { intact: true, chains: 2, records: 50, breaks: [], notes: [] },
    );
    assert.ok(r.first !== null && r.last !== null && r.first <= r.last);
  });

  it('a feature value changed in one record: record altered, with its decision id', async () => {
    const fx = await written();
    const id = await decisionAt(fx, chainOf(0), 12);
    await alter(fx, chainOf(0), [12], `jsonb_set(r, '{features,tenure_months}', '13')`);
    const b = oneBreak(await verify(fx));
    assert.deepEqual(
      { chain: b.chain, kind: b.kind, seq: b.seq, decisionId: b.decisionId },
      { chain: chainOf(0), kind: 'altered', seq: '12', decisionId: id },
    );
    assert.match(b.message, /record altered/);
  });

  it('a middle block deleted: records missing before the next one (the seq gap and its decision id)', async () => {
    const fx = await written();
    const next = await decisionAt(fx, chainOf(1), 21);
    await query(`DELETE FROM ${auditObjects(fx.audit).blocks} WHERE chain = $1 AND seq = 20`, [chainOf(1)]);
    const b = oneBreak(await verify(fx));
    assert.deepEqual(
      { chain: b.chain, kind: b.kind, seq: b.seq, decisionId: b.decisionId },
      { chain: chainOf(1), kind: 'missing', seq: '21', decisionId: next },
    );
    assert.match(b.message, /seq 10 is followed by seq 21 \(10 missing/);
  });

  it('one record cut out of its block: altered, naming the decision cut out', async () => {
    const fx = await written();
    const cut = await decisionAt(fx, chainOf(1), 14);
    await query(
      `UPDATE ${auditObjects(fx.audit).blocks} AS b SET records = convert_to((
         SELECT string_agg(x.line, E'\\n' ORDER BY x.i) FROM unnest(string_to_array(convert_from(b.records, 'UTF8'), E'\\n')) WITH ORDINALITY AS x(line, i) WHERE x.i <> 4), 'UTF8')
       WHERE chain = $1 AND seq = 20`,
      [chainOf(1)],
    );
    const b = oneBreak(await verify(fx));
    assert.deepEqual(
      { chain: b.chain, kind: b.kind, seq: b.seq, decisionId: b.decisionId },
      { chain: chainOf(1), kind: 'altered', seq: '14', decisionId: cut },
    );
  });

  it('the newest records deleted: detected through the chain head', async () => {
    const fx = await written();
    const last = await decisionAt(fx, chainOf(0), 20);
    await query(`DELETE FROM ${auditObjects(fx.audit).blocks} WHERE chain = $1 AND seq = 25`, [chainOf(0)]);
    const b = oneBreak(await verify(fx));
    assert.deepEqual(
      { chain: b.chain, kind: b.kind, seq: b.seq, decisionId: b.decisionId },
      { chain: chainOf(0), kind: 'head', seq: '20', decisionId: last },
    );
    assert.match(b.message, /head is at seq 25 .* newest 5 record/);
  });

  it('a record changed with its block’s hashes recomputed: the next block’s prev_hash breaks', async () => {
    const fx = await written();
    const next = await decisionAt(fx, chainOf(0), 11);
    await alter(fx, chainOf(0), [4], `jsonb_set(r, '{outputs,churn_probability}', '0.01')`, true);
    const b = oneBreak(await verify(fx));
    assert.deepEqual(
      { chain: b.chain, kind: b.kind, seq: b.seq, decisionId: b.decisionId },
      { chain: chainOf(0), kind: 'chain', seq: '11', decisionId: next },
    );
    assert.match(b.message, /prev_hash is not the hash of seq 10/);
  });

  it('the newest record rewritten with its hash: the head no longer matches', async () => {
    const fx = await written();
    await alter(fx, chainOf(1), [25], `jsonb_set(r, '{key}', '999')`, true);
    const b = oneBreak(await verify(fx));
    assert.deepEqual(
      { chain: b.chain, kind: b.kind, seq: b.seq },
      { chain: chainOf(1), kind: 'head', seq: '25' },
    );
  });

  it('seq 1 rewritten to start from another hash: not from genesis', async () => {
    const fx = await written();
    const { hashFn } = auditObjects(fx.audit);
    await query(
      `UPDATE ${auditObjects(fx.audit).blocks} SET prev_hash = 'forged', hash = ${hashFn}('forged', written_at, seq, kind, keys, decision_ids, record_hashes)
       WHERE chain = $1 AND seq - n = 0`,
      [chainOf(0)],
    );
    const b = oneBreak(await verify(fx));
    assert.deepEqual({ kind: b.kind, seq: b.seq }, { kind: 'chain', seq: '1' });
  });

  it('the decision context a record names rewritten (another model version), or deleted: context, at each chain’s first record', async () => {
    const fx = await written();
    const { contexts } = auditObjects(fx.audit);
    const [ctx] = await query<{ id: string; context: string }>(`SELECT id, context FROM ${contexts}`);
    assert.ok(ctx, 'one context');
    assert.ok(ctx.context.includes('"version":"1"'), 'of churn version 1');
    await query(`UPDATE ${contexts} SET context = replace(context, '"version":"1"', '"version":"2"')`);
    const r = await verify(fx);
    assert.deepEqual(
      r.breaks.map((b) => [b.chain, b.kind, b.seq]),
      [
        [chainOf(0), 'context', '1'],
        [chainOf(1), 'context', '1'],
      ],
    );
    assert.match(r.breaks[0]!.message, new RegExp(`context ${ctx.id} .*missing or altered`));
    await query(`DELETE FROM ${contexts}`);
    assert.deepEqual(
      (await verify(fx)).breaks.map((b) => b.kind),
      ['context', 'context'],
    );
  });

  it('only the first break of each chain is reported; every broken chain is', async () => {
    const fx = await written();
    const first0 = await decisionAt(fx, chainOf(0), 3);
    const first1 = await decisionAt(fx, chainOf(1), 20);
    await alter(fx, chainOf(0), [3, 10], `r || '{"worker":"x"}'`);
    await alter(fx, chainOf(1), [20], `r || '{"worker":"x"}'`);
    await query(`DELETE FROM ${auditObjects(fx.audit).blocks} WHERE chain = $1 AND seq = 25`, [chainOf(1)]);
    const r = await verify(fx);
    assert.deepEqual(
      r.breaks.map((b) => [b.chain, b.kind, b.decisionId]),
      [
        [chainOf(0), 'altered', first0],
        [chainOf(1), 'altered', first1],
      ],
    );
  });

  it('--since: only records written since are checked; the first of each chain may follow a gap', async () => {
    f = auditFixture();
    const fx = f;
    const sink = fx.sink();
    await sink.open();
    await sink.write(batch(rowsOf(0, 20, 100, 2)));
    await new Promise((r) => setTimeout(r, 20));
    const [{ now }] = (await query<{ now: Date }>('SELECT clock_timestamp() AS now')) as [{ now: Date }];
    await new Promise((r) => setTimeout(r, 20));
    await sink.write(batch(rowsOf(0, 20, 200, 2)));
    // Altered before --since: outside the span checked.
    await alter(fx, chainOf(0), [2], `r || '{"worker":"x"}'`);
    const since = await verify(fx, now);
    assert.deepEqual(
      { intact: since.intact, chains: since.chains, records: since.records },
      { intact: true, chains: 2, records: 20 },
    );
    assert.equal(since.since, now.toISOString());
    assert.equal(oneBreak(await verify(fx)).seq, '2');
  });
});

describe('streamscore audit verify (CLI)', () => {
  it('exit 0 when intact: chains, records and the span checked; --format json', async () => {
    const fx = await written();
    const file = pipelineFile(fx);
    const text = await runCli(['audit', 'verify', file]);
    assert.equal(text.code, 0, text.output);
    assert.match(text.output, new RegExp(`audit verify ${fx.audit}: intact`));
    assert.match(text.output, /checked 50 records in 2 chains, written \d{4}-.*Z … \d{4}-.*Z/);
    const json = await runCli(['audit', 'verify', file, '--format', 'json', '--since', '30d']);
    assert.equal(json.code, 0, json.output);
    const r = JSON.parse(json.output) as AuditVerifyReport;
    assert.deepEqual(
      { intact: r.intact, chains: r.chains, records: r.records, table: r.table },
      { intact: true, chains: 2, records: 50, table: fx.audit },
    );
    assert.ok(r.since);
  });

  it('exit 1 on a break, naming the chain and the decision id', async () => {
    const fx = await written();
    const id = await decisionAt(fx, chainOf(1), 7);
    await alter(fx, chainOf(1), [7], `jsonb_set(r, '{features,tenure_months}', '0')`);
    const file = pipelineFile(fx);
    const text = await runCli(['audit', 'verify', file]);
    assert.equal(text.code, 1, text.output);
    assert.match(text.output, /1 chain broken/);
    assert.match(text.output, new RegExp(`chain ${chainOf(1)}: record altered.*seq 7, decision ${id}`));
    const json = await runCli(['audit', 'verify', file, '--format', 'json']);
    assert.equal(json.code, 1, json.output);
    assert.equal((JSON.parse(json.output) as AuditVerifyReport).breaks[0]?.decisionId, id);
  });

  it('exit 2 on usage and configuration errors, with streamscore: on stderr', async () => {
    f = auditFixture();
    const fx = f;
    const cases: [string[], RegExp][] = [
      [['audit', 'verify', pipelineFile(fx)], /audit table .* does not exist/],
      [['audit', 'verify', pipelineFile(fx, '')], /spec\.audit is not set/],
      [
        ['audit', 'verify', pipelineFile(fx), '--since', 'yesterday'],
        /--since yesterday: expected a duration/,
      ],
      [['audit', 'verify', '/nonexistent/pipeline.yaml'], /is not a valid pipeline/],
      [
        ['audit', 'verify', pipelineFile(fx, '    retention_days: 3\n    bogus: 1\n')],
        /is not a valid pipeline/,
      ],
      [['audit', 'verify', pipelineFile(fx), '--format', 'xml'], /argument 'xml' is invalid/],
      [['audit', 'verify'], /missing required argument/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.output}`);
      assert.match(r.output, /streamscore: |error: /, args.join(' '));
      assert.match(r.output, message, args.join(' '));
    }
  });
});
