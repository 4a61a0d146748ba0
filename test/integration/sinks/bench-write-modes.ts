/**
 * Throughput of the Postgres sink's write modes on the real database: 10,000-row batches of new
 * keys (inserts), then the same keys at newer positions (updates), then a replay (all rows skipped
 * by the position guard). Measures, never asserts. Run:
 *   npx tsx test/integration/sinks/bench-write-modes.ts [batches=10] [on_delete=delete] [rows per batch=10000]
 */
import { Secret } from '../../../workers/core/secret.js';
import type { PredictionRow } from '../../../workers/core/types.js';
import { createPostgresKnex } from '../../../workers/sinks/postgres/client.js';
import type { PostgresSinkConfig } from '../../../workers/sinks/postgres/config.js';
import { PostgresSink } from '../../../workers/sinks/postgres/sink.js';
import { batch, pgConfig, pos, row, schema, silentLogger } from '../../unit/sinks/fixtures.js';
import { DATABASE_URL, unique } from './env.js';

const BATCH = Number(process.argv[4] ?? 10_000);
const batches = Number(process.argv[2] ?? 10);
const onDelete = (process.argv[3] ?? 'delete') as PostgresSinkConfig['on_delete'];
const modes = ['unnest', 'values', 'copy'] as const;
const schemaName = unique('sinkbench');

function rows(b: number, t: number): PredictionRow[] {
  return Array.from({ length: BATCH }, (_, i) => row(b * BATCH + i, pos(t, i), (i % 1000) / 1000));
}

async function main(): Promise<void> {
  const results: Record<string, Record<string, number>> = {};
  const sinks = new Map<string, PostgresSink>();
  for (const mode of modes) {
    const cfg = pgConfig({
      url: new Secret(DATABASE_URL),
      table: `${schemaName}.${mode}`,
      write_mode: mode,
      on_delete: onDelete,
      pool_size: 1,
    });
    const sink = new PostgresSink({
      config: cfg,
      schema,
      pipeline: 'bench',
      knex: createPostgresKnex(cfg),
      ownsKnex: true,
      logger: silentLogger,
    });
    await sink.open();
    await sink.write(batch(rows(9999, 1))); // warm-up: connection, staging table, plans
    sinks.set(mode, sink);
    results[mode] = {};
  }
  for (const [phase, t] of [
    ['insert', 10],
    ['update', 20],
    ['replay', 20],
  ] as const) {
    const elapsed: Record<string, number> = Object.fromEntries(modes.map((m) => [m, 0]));
    for (let b = 0; b < batches; b++) {
      const data = batch(rows(b, t));
      for (const mode of modes) {
        const started = performance.now();
        await sinks.get(mode)!.write(data);
        elapsed[mode]! += performance.now() - started;
      }
    }
    for (const mode of modes) results[mode]![phase] = Math.round((batches * BATCH) / (elapsed[mode]! / 1000));
  }
  console.log(`rows/s, ${batches} batches of ${BATCH} rows, on_delete=${onDelete}`);
  console.table(results);
  const admin = createPostgresKnex({ url: new Secret(DATABASE_URL), pool_size: 1 });
  await admin.raw(`DROP SCHEMA "${schemaName}" CASCADE`);
  await admin.destroy();
  for (const s of sinks.values()) await s.close();
}

await main();
