import assert from 'node:assert/strict';
import { test } from 'node:test';
import knex from 'knex';
import { env, uniqueId } from '../../support/stack.js';

test('postgres: migrate and query with knex + pg; logical decoding is enabled', async () => {
  const schema = `smoke_${uniqueId()}`;
  const db = knex({ client: 'pg', connection: env.databaseUrl });
  try {
    await db.raw('create schema ??', [schema]);
    const migrations = {
      getMigrations: async () => ['001_items'],
      getMigrationName: (m: string) => m,
      getMigration: async () => ({
        up: (k: knex.Knex) =>
          k.schema.withSchema(schema).createTable('items', (t) => {
            t.bigInteger('id').primary();
            t.decimal('price', 12, 2);
          }),
        down: (k: knex.Knex) => k.schema.withSchema(schema).dropTable('items'),
      }),
    };
    await db.migrate.latest({ migrationSource: migrations, schemaName: schema });
    await db
      .withSchema(schema)
      .table('items')
      .insert([
        { id: 1, price: '9.99' },
        { id: 2, price: '20.00' },
      ]);
    const rows = await db.withSchema(schema).table('items').sum({ total: 'price' });
    assert.equal(rows[0]?.total, '29.99');
    const wal = await db.raw('show wal_level');
    assert.equal(wal.rows[0].wal_level, 'logical');
  } finally {
    await db.raw('drop schema if exists ?? cascade', [schema]);
    await db.destroy();
  }
});
