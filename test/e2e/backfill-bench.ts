/**
 * Backfill throughput on the local stack (test/bench/backfill.ts): the same table backfilled by 1
 * and 2 worker processes, with and without the Kafka sink, at the defaults and the old ones, plus
 * more variants by name. The shared stack's Postgres (test-speed durability); `make bench` runs the
 * same measure against its own durable Postgres.
 *
 *   set -a; . .stack/env; set +a; npx tsx test/e2e/backfill-bench.ts [rows] ['variant|…']
 *
 * BACKFILL_BENCH_PROF=<dir>: each worker writes a V8 CPU profile there (node --cpu-prof).
 */
import { cpus } from 'node:os';
import { BENCH_VARIANTS, MORE_VARIANTS, runBackfillBench } from '../bench/backfill.js';

const rows = Number(process.argv[2] ?? 200_000);
const pick = process.argv[3]?.split('|');
const all = [...BENCH_VARIANTS, ...MORE_VARIANTS];
const variants = pick ? pick.map((n) => all.find((v) => v.name === n) ?? fail(n)) : BENCH_VARIANTS;
const prof = process.env['BACKFILL_BENCH_PROF'];

function fail(name: string): never {
  throw new Error(`no variant '${name}'; variants: ${all.map((v) => v.name).join(', ')}`);
}

const out = await runBackfillBench({
  rows,
  variants,
  nodeArgs: prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [],
  log: (line) => process.stdout.write(`${line}\n`),
});
process.stdout.write(`${JSON.stringify({ ...out, cpus: cpus().length }, null, 2)}\n`);
