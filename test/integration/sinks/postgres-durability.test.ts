import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { Secret } from '../../../workers/core/secret.js';
import type { PredictionRow } from '../../../workers/core/types.js';
import { createPostgresKnex } from '../../../workers/sinks/postgres/client.js';
import type { PostgresSinkConfig } from '../../../workers/sinks/postgres/config.js';
import { PostgresSink } from '../../../workers/sinks/postgres/sink.js';
import { type PrivatePostgres, postgresLogTail, privatePostgres } from '../../support/private-postgres.js';
import { uniqueId } from '../../support/stack.js';
import { batch, del, pgConfig, pos, row, schema, silentLogger } from '../../unit/sinks/fixtures.js';

// Every write path of the Postgres sink commits durably on a server whose default is not:
// a Postgres of this test's own runs with the stack's test-speed settings (fsync,
// synchronous_commit and full_page_writes off), writers hammer each path, the server is stopped
// with `pg_ctl stop -m immediate` (the postmaster and backends quit at once, WAL buffers not yet
// written are lost, the OS keeps what was written), restarted, and every write the sink had
// acknowledged must be there. With the server's synchronous_commit=off and nothing in the sink
// insisting, a few dozen acknowledged commits vanish per stop.
interface Path {
  name: string;
  write_mode: PostgresSinkConfig['write_mode'];
  on_delete: PostgresSinkConfig['on_delete'];
  deletes: boolean;
}
const PATHS: Path[] = [
  { name: 'lone unnest upsert, no transaction', write_mode: 'unnest', on_delete: 'ignore', deletes: false },
  {
    name: 'unnest + deletes, tombstone transaction',
    write_mode: 'unnest',
    on_delete: 'delete',
    deletes: true,
  },
  { name: 'COPY + deletes, tombstone transaction', write_mode: 'copy', on_delete: 'delete', deletes: true },
  { name: 'COPY, no tombstones', write_mode: 'copy', on_delete: 'ignore', deletes: false },
  { name: 'VALUES + deletes, mark mode', write_mode: 'values', on_delete: 'mark', deletes: true },
];
const ROUNDS = 3;
const WRITERS_PER_PATH = 3;
const ROWS_PER_WRITE = 20;
const id = uniqueId();
let pgi: PrivatePostgres;

/** What a key must look like: its last acknowledged write. */
type Expected = Map<number, { position: bigint; deleted: boolean }>;

before(async () => {
  pgi = await privatePostgres(`sinkdur-${id}`, { durability: 'fast' });
  const r = pgi.up();
  assert.equal(r.status, 0, r.output);
});

after(() => pgi?.remove());

const tableOf = (i: number) => `durable_${id}.p${i}`;

function sinkFor(i: number): PostgresSink {
  const p = PATHS[i]!;
  const config = pgConfig({
    url: new Secret(pgi.url),
    table: tableOf(i),
    write_mode: p.write_mode,
    on_delete: p.on_delete,
    pool_size: WRITERS_PER_PATH,
  });
  return new PostgresSink({
    config,
    schema,
    pipeline: 'durability',
    knex: createPostgresKnex(config),
    ownsKnex: true,
    logger: silentLogger,
  });
}

/**
 * Writes batches of new keys (and, on paths with deletes, deletes of keys written before) until a
 * write fails; records only what the sink acknowledged. Each writer owns its keys, and its writes
 * are sequential, so a key's last acknowledged write is what the table must show; the keys of the
 * one write in flight at the stop may show either state and are left out.
 */
async function writer(sink: PostgresSink, p: Path, w: number, round: number, expected: Expected) {
  const uncertain = new Set<number>();
  let acked = 0;
  for (let n = 0; ; n++) {
    const base = (round * 1000 + w) * 1_000_000 + n * ROWS_PER_WRITE;
    const t = round * 1_000_000 + n + 1;
    const rows: PredictionRow[] = [];
    for (let k = 0; k < ROWS_PER_WRITE; k++) rows.push(row(base + k, pos(t, k), (k % 10) / 10));
    if (p.deletes && n >= 2) {
      const older = base - 2 * ROWS_PER_WRITE;
      for (let k = 0; k < ROWS_PER_WRITE; k += 2) rows.push(del(older + k, pos(t, 100 + k)));
    }
    try {
      await sink.write(batch(rows));
    } catch {
      for (const r of rows) uncertain.add(r.key as number);
      break;
    }
    acked++;
    for (const r of rows) expected.set(r.key as number, { position: r.position, deleted: r.op === 'd' });
  }
  for (const k of uncertain) expected.delete(k);
  return acked;
}

async function missing(c: pg.Client, i: number, expected: Expected): Promise<string[]> {
  const p = PATHS[i]!;
  if (expected.size === 0) return [];
  const table = tableOf(i);
  const rows = await c.query(
    `select customer_id::int8::text as k, source_position::text as p, ${p.on_delete === 'mark' ? 'deleted_at is not null' : 'false'} as d from ${table}`,
  );
  const have = new Map(rows.rows.map((r) => [Number(r.k), { position: String(r.p), deleted: Boolean(r.d) }]));
  const tombs =
    p.on_delete === 'delete'
      ? new Map(
          (
            await c.query(
              `select customer_id::int8::text as k, source_position::text as p from ${table}__tombstones`,
            )
          ).rows.map((r) => [Number(r.k), String(r.p)]),
        )
      : new Map<number, string>();
  const wrong: string[] = [];
  for (const [k, e] of expected) {
    const h = have.get(k);
    if (e.deleted && p.on_delete === 'delete') {
      if (h !== undefined || tombs.get(k) !== e.position.toString())
        wrong.push(
          `${k}: deleted at ${e.position}, found row ${JSON.stringify(h)} tombstone ${tombs.get(k)}`,
        );
    } else if (h?.position !== e.position.toString() || h.deleted !== e.deleted) {
      wrong.push(`${k}: expected ${e.deleted ? 'deleted ' : ''}${e.position}, found ${JSON.stringify(h)}`);
    }
  }
  return wrong;
}

test(`every write path survives ${ROUNDS} immediate stops of a Postgres running with synchronous_commit=off: no acknowledged write lost`, async () => {
  const report: string[] = [];
  const lost = PATHS.map(() => 0);
  for (let round = 0; round < ROUNDS; round++) {
    const sinks = PATHS.map((_, i) => sinkFor(i));
    for (const s of sinks) await s.open();
    const expected = PATHS.map(() => new Map() as Expected);
    const writes = PATHS.flatMap((p, i) =>
      Array.from({ length: WRITERS_PER_PATH }, (_, w) => writer(sinks[i]!, p, w, round, expected[i]!)),
    );
    await new Promise((r) => setTimeout(r, 1500));
    pgi.stopImmediate();
    const acked = await Promise.all(writes);
    await Promise.all(sinks.map((s) => s.close().catch(() => undefined)));
    const up = pgi.up();
    assert.equal(up.status, 0, `${up.output}\n${postgresLogTail(pgi)}`);
    const c = new pg.Client({ connectionString: pgi.url });
    await c.connect();
    try {
      for (let i = 0; i < PATHS.length; i++) {
        const wrong = await missing(c, i, expected[i]!);
        const writesAcked = acked
          .slice(i * WRITERS_PER_PATH, (i + 1) * WRITERS_PER_PATH)
          .reduce((a, b) => a + b, 0);
        assert.ok(writesAcked > 0, `${PATHS[i]!.name}: no write was acknowledged before the stop`);
        lost[i]! += wrong.length;
        report.push(
          `round ${round + 1} · ${PATHS[i]!.name}: ${writesAcked} writes acknowledged, ${expected[i]!.size} keys checked, ${wrong.length} wrong${wrong.length ? ` (e.g. ${wrong.slice(0, 2).join('; ')})` : ''}`,
        );
      }
    } finally {
      await c.end();
    }
  }
  process.stdout.write(`${report.join('\n')}\n`);
  assert.deepEqual(
    lost,
    PATHS.map(() => 0),
    `acknowledged writes lost per path:\n${report.join('\n')}`,
  );
});
