/**
 * A change the order guard discards although its LSN is above the stored row's while its commit
 * time lies before it: the source's clock stepped backwards across a restart of the partition's
 * worker (which had held the time). The Postgres sink finds such rows after a write that wrote
 * fewer rows than it was given, logs them as errors and reports them; replays (LSN not above),
 * backfill rows (LSN 0) and equal positions are not losses. On the real Postgres, every write path.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { AuditContext } from '../../../workers/audit/record.js';
import { Secret } from '../../../workers/core/secret.js';
import type { PredictionSchema } from '../../../workers/core/types.js';
import { createPostgresKnex } from '../../../workers/sinks/postgres/client.js';
import type { ClockLoss } from '../../../workers/sinks/postgres/clock-losses.js';
import type { PostgresSinkConfig } from '../../../workers/sinks/postgres/config.js';
import { PostgresSink } from '../../../workers/sinks/postgres/sink.js';
import { withPg } from '../../support/stack.js';
import { batch, compositeSchema, pgConfig, pos, row, schema } from '../../unit/sinks/fixtures.js';
import { DATABASE_URL, unique } from './env.js';

const SCHEMA = unique('clockloss');

after(() => withPg((c) => c.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`)));

const auditContext: AuditContext = {
  pipeline: 'test-pipeline',
  pipelineSha256: '0'.repeat(64),
  worker: 'test-worker',
  policies: {},
  defaultPolicy: 'full',
};

interface Case {
  name: string;
  config?: Partial<PostgresSinkConfig>;
  audit?: boolean;
  schema?: PredictionSchema;
  key?: (k: number) => unknown;
}

const cases: Case[] = [
  { name: 'unnest', config: { write_mode: 'unnest' } },
  { name: 'values', config: { write_mode: 'values' } },
  { name: 'copy', config: { write_mode: 'copy' } },
  { name: 'unnest with tombstones (a transaction)', config: { write_mode: 'unnest', on_delete: 'delete' } },
  { name: 'with the audit log', config: { write_mode: 'unnest' }, audit: true },
  {
    name: 'a composite key',
    config: { write_mode: 'unnest', key: ['tenant', 'customer_id'] },
    schema: compositeSchema,
    key: (k) => ({ tenant: 'acme', customer_id: k }),
  },
];

describe('postgres sink: changes discarded across a clock step', () => {
  for (const c of cases) {
    it(`${c.name}: reports the row whose LSN is above the stored one's, and no other`, async () => {
      const table = `${SCHEMA}.${unique('scores')}`;
      const base = pgConfig({ url: new Secret(DATABASE_URL), table, ...c.config });
      const cfg: PostgresSinkConfig =
        c.schema === compositeSchema
          ? {
              ...base,
              columns: { ...base.columns, tenant: 'key.tenant', customer_id: 'key.customer_id' },
            }
          : base;
      const reported: ClockLoss[] = [];
      const errors: Record<string, unknown>[] = [];
      const sink = new PostgresSink({
        config: cfg,
        schema: c.schema ?? schema,
        pipeline: 'test-pipeline',
        knex: createPostgresKnex(cfg),
        ownsKnex: true,
        logger: {
          debug() {},
          info() {},
          warn() {},
          error: (o: unknown) => errors.push(o as Record<string, unknown>),
        },
        onClockLosses: (losses) => reported.push(...losses),
        ...(c.audit
          ? { audit: { table: `${table}__audit`, retentionDays: 180, context: auditContext } }
          : {}),
      });
      const key = c.key ?? ((k: number) => k);
      await sink.open();
      try {
        await sink.write(
          batch([
            row(key(1), pos(100, 500)),
            row(key(2), pos(100, 500)),
            row(key(3), pos(100, 0)), // a backfill's row: no LSN
            row(key(4), pos(100, 500)),
          ]),
        );
        assert.equal(reported.length, 0, 'every row written: nothing to check');
        await sink.write(
          batch([
            row(key(1), pos(90, 600)), // later in the WAL, earlier by the clock: lost
            row(key(2), pos(90, 400)), // earlier in both: a replay of an older change
            row(key(3), pos(90, 600)), // older than the backfill's read: the backfill has it
            row(key(4), pos(100, 500)), // the same change again
            row(key(5), pos(1, 1)), // a new key: written
          ]),
        );
        assert.deepEqual(
          reported.map((l) => [l.key, l.position, l.stored]),
          [[key(1), pos(90, 600), pos(100, 500)]],
        );
        assert.equal(errors.length, 1);
        assert.equal(errors[0]!['count'], 1);
        const first = (errors[0]!['first'] as Record<string, unknown>[])[0]!;
        assert.equal(first['lsn'], '600');
        assert.equal(first['stored_lsn'], '500');
        assert.equal(first['commit_time'], new Date(90_000).toISOString());
        assert.equal(first['stored_time'], new Date(100_000).toISOString());
      } finally {
        await sink.close();
      }
    });
  }
});
