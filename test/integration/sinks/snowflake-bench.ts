/**
 * Throughput of the Snowflake sink's bulk paths (`load`: bind, values, copy) through snowflake-sdk
 * against the SNOWFLAKE_* target (the stack's fakesnow by default): batches of new keys (inserts),
 * the same keys at newer positions (updates), then a replay (no-ops). One flush per batch. Measures,
 * never asserts. A path the target does not support is reported, not measured. Run:
 *   npx tsx test/integration/sinks/snowflake-bench.ts [rows=2000] [batches=3] [on_delete=delete] [loads=bind,values,copy]
 */
import { errorMessage } from '../../../workers/core/errors.js';
import type { PredictionRow } from '../../../workers/core/types.js';
import type { SnowflakeSink } from '../../../workers/sinks/snowflake/sink.js';
import { batch, row } from '../../unit/sinks/fixtures.js';
import { adminSession, bigPos, sfConfig, sfSink } from './snowflake-support.js';

const ROWS = Number(process.argv[2] ?? 2000);
const batches = Number(process.argv[3] ?? 3);
const onDelete = process.argv[4] ?? 'delete';
const loads = (process.argv[5] ?? 'bind,values,copy').split(',');

function rows(b: number, t: number): PredictionRow[] {
  return Array.from({ length: ROWS }, (_, i) => row(b * ROWS + i, bigPos(t, i), (i % 1000) / 1000));
}

async function main(): Promise<void> {
  const results: Record<string, Record<string, number | string>> = {};
  const sinks = new Map<string, SnowflakeSink>();
  for (const load of loads) {
    const sink = sfSink(
      sfConfig({
        load,
        on_delete: onDelete,
        create_table: true,
        batch: { max_rows: ROWS, max_interval_ms: 60_000 },
        max_rows_per_statement: 1000,
      }),
    );
    results[load] = {};
    try {
      await sink.open();
      await sink.write(batch(rows(9999, 1))); // warm-up: session, staging table
      sinks.set(load, sink);
    } catch (err) {
      results[load]!['error'] = errorMessage(err).split('\n')[0]!.slice(0, 160);
      await sink.close().catch(() => undefined);
    }
  }
  for (const [phase, t] of [
    ['insert', 10],
    ['update', 20],
    ['replay', 20],
  ] as const) {
    const elapsed = new Map<string, number>();
    for (let b = 0; b < batches; b++) {
      const data = batch(rows(b, t));
      for (const [load, sink] of sinks) {
        const started = performance.now();
        await sink.write(data);
        elapsed.set(load, (elapsed.get(load) ?? 0) + performance.now() - started);
      }
    }
    for (const [load, ms] of elapsed) results[load]![phase] = Math.round((batches * ROWS) / (ms / 1000));
  }
  console.log(`rows/s, ${batches} flushes of ${ROWS} rows, mode=merge on_delete=${onDelete}`);
  console.table(results);
  const admin = await adminSession();
  for (const sink of sinks.values()) {
    await admin.execute(`DROP TABLE IF EXISTS ${sink.plan.quoted}`);
    if (sink.plan.tombstone) await admin.execute(`DROP TABLE IF EXISTS ${sink.plan.tombstone.quoted}`);
    await sink.close();
  }
  await admin.close();
}

await main();
