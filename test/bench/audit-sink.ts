/**
 * The audit log's cost at the sink, without Kafka, the model or the fleet: a real PostgresSink
 * writes the same batches (512 rows over 3 partitions, the e2e bench's eight features, every one
 * under `hash`) without and with `audit:`, interleaved; worker CPU (this process) and Postgres CPU
 * (every server process, from /proc) per row for each. A finer lens than the e2e section of the
 * bench, whose catch-up lasts a few seconds.
 *
 *   npx tsx test/bench/audit-sink.ts [--batches 200] [--rounds 3] [--only on|off] [--rows 512] [--replayed 0]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { AuditContext } from '../../workers/audit/record.js';
import { auditObjects, dropAuditSql } from '../../workers/audit/sql.js';
import { makePosition } from '../../workers/core/position.js';
import { Secret } from '../../workers/core/secret.js';
import type { PredictionBatch, PredictionRow, PredictionSchema } from '../../workers/core/types.js';
import { createPostgresKnex } from '../../workers/sinks/postgres/client.js';
import { PostgresSink } from '../../workers/sinks/postgres/sink.js';
import { uniqueId, withPg } from '../support/stack.js';
import { pgConfig } from '../unit/sinks/fixtures.js';

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
    replayed: { type: 'string', default: '0' },
    rows: { type: 'string', default: '512' },
  },
});
const BATCHES = Number(args.batches);
const ROUNDS = Number(args.rounds);
const ROWS = Number(args.rows);
const REPLAYED = Number(args.replayed);
const url = process.env['BENCH_DATABASE_URL'] ?? process.env['DATABASE_URL'];
if (!url) throw new Error('DATABASE_URL is not set: load .stack/env');

const features = [
  'tenure_months',
  'monthly_spend',
  'is_enterprise',
  'tickets_90d',
  'seats',
  'days_since_login',
  'plan_basic',
  'plan_pro',
];
const schema: PredictionSchema = {
  key: 'int',
  fields: [
    { name: 'churn_probability', type: 'float' },
    { name: 'churn_label', type: 'int' },
    ...features.map((f) => ({
      name: `feature.${f}`,
      type: (f.startsWith('is_') || f.startsWith('plan_')
        ? 'bool'
        : f.includes('_')
          ? 'float'
          : 'int') as 'float',
    })),
  ],
};
const fields = schema.fields.map((f) => f.name);
const context: AuditContext = {
  pipeline: 'audit-sink-bench',
  pipelineSha256: '0'.repeat(64),
  worker: 'bench-worker',
  policies: {},
  defaultPolicy: 'hash',
  hashKey: 'bench-audit-hash-key',
};

/**
 * Batch `b`: keys b×512 … (every batch new keys: every row is written), 3 partitions; with
 * `--replayed k`, its last k rows are batch b−1's again (older: the order guard skips them, and
 * the audit takes its per-record path).
 */
function batchOf(b: number): PredictionBatch {
  const rows: PredictionRow[] = [];
  const scoredAt = new Date(); // a batch's rows share one scoring time, as the scorer's do
  for (let i = 0; i < ROWS; i++) {
    const from = b > 0 && i >= ROWS - REPLAYED ? b - 1 : b;
    const t = 1_765_000_000 + from;
    const key = from * ROWS + i;
    const p = (key % 997) / 997;
    rows.push({
      key,
      op: 'u',
      values: [
        p,
        p >= 0.5 ? 1 : 0,
        (key % 1201) / 10,
        (key % 50_021) / 100,
        key % 7 === 0,
        key % 12,
        1 + (key % 40),
        key % 400,
        key % 3 === 0,
        key % 3 === 1,
      ],
      position: makePosition(BigInt(t) * 1_000_000n, i),
      scoredAt,
      sourceTsMs: t * 1000 + (i >> 6),
      origin: { topic: 'bench.customers', partition: i % 3, offset: String(key) },
    });
  }
  return {
    pipeline: 'audit-sink-bench',
    model: { name: 'churn', version: '1', sha256: 'b'.repeat(64) },
    fields,
    rows,
  };
}

/** CPU ms of every postgres server process (utime + stime). */
function postgresCpuMs(): number {
  let ms = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ms += (Number(f[11]) + Number(f[12])) * 10;
    } catch {}
  }
  return ms;
}

async function run(audit: boolean): Promise<{ worker: number; pg: number }> {
  const id = uniqueId();
  const table = `ml.bench_${id}`;
  // The unit tests' sink config (the e2e bench's columns), on this run's table.
  const config = pgConfig({
    url: new Secret(url!),
    table,
    write_mode: (process.env['WRITE_MODE'] ?? 'unnest') as 'unnest',
  });
  const sink = new PostgresSink({
    config,
    pipeline: 'audit-sink-bench',
    knex: createPostgresKnex(config),
    ownsKnex: true,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    schema,
    ...(audit ? { audit: { table: `${table}__audit`, retentionDays: 180, context } } : {}),
  });
  await sink.open();
  const batches = Array.from({ length: BATCHES }, (_, b) => batchOf(b));
  for (let b = 0; b < 10; b++) await sink.write(batchOf(BATCHES + b)); // warm-up
  const pg0 = postgresCpuMs();
  const w0 = process.cpuUsage();
  for (const b of batches) await sink.write(b);
  const w = process.cpuUsage(w0);
  const pg = postgresCpuMs() - pg0;
  await sink.close();
  await withPg(async (c) => {
    if (audit) for (const s of dropAuditSql(auditObjects(`${table}__audit`))) await c.query(s);
    await c.query(`DROP TABLE IF EXISTS ${table}`);
  });
  const n = BATCHES * ROWS;
  return { worker: (w.user + w.system) / n, pg: (pg * 1000) / n };
}

const out: Record<string, { worker: number[]; pg: number[] }> = {
  off: { worker: [], pg: [] },
  on: { worker: [], pg: [] },
};
for (let r = 0; r < ROUNDS; r++) {
  for (const audit of [false, true]) {
    if (args.only !== undefined && args.only !== (audit ? 'on' : 'off')) continue;
    const m = await run(audit);
    const side = out[audit ? 'on' : 'off']!;
    side.worker.push(m.worker);
    side.pg.push(m.pg);
    console.log(
      `round ${r + 1} audit ${audit ? 'on ' : 'off'}: worker ${m.worker.toFixed(2)} µs/row, postgres ${m.pg.toFixed(2)} µs/row`,
    );
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;
const off = out['off']!;
const on = out['on']!;
console.log(
  `median: worker ${median(off.worker).toFixed(2)} → ${median(on.worker).toFixed(2)} µs/row (+${(median(on.worker) - median(off.worker)).toFixed(2)}), ` +
    `postgres ${median(off.pg).toFixed(2)} → ${median(on.pg).toFixed(2)} µs/row (+${(median(on.pg) - median(off.pg)).toFixed(2)})`,
);
