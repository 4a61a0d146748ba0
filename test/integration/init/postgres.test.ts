import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { IntrospectionError, introspectTable } from '../../../workers/init/postgres.js';
import { uniqueId, withPg } from '../../support/stack.js';

// What `streamscore init` reads from the catalog: every column in order, its nullability, the
// primary key in key order, enum labels in their order, and the Avro type Debezium emits for it
// with its default settings (the e2e test compares these with a real event's schema).
const schema = `initpg_${uniqueId()}`;

before(async () => {
  await withPg((c) =>
    c.query(`
      create schema ${schema};
      create type ${schema}.mood as enum ('sad', 'ok', 'happy');
      create table ${schema}.wide (
        b bigint, a int not null, s smallint, r real, d double precision,
        n numeric(10,3), nv numeric, m money, t text not null, v varchar(20), u uuid, j jsonb,
        dt date, ts timestamp, ts3 timestamp(3), tz timestamptz, tm time, tmtz timetz, iv interval,
        bo boolean, by bytea, e ${schema}.mood, arr int[], earr ${schema}.mood[],
        primary key (a, b)
      );
      create table ${schema}.odd (p point);`),
  );
});

after(() => withPg((c) => c.query(`drop schema if exists ${schema} cascade`)));

test('columns, nullability, the primary key in key order, and the Avro types Debezium emits', async () => {
  const t = await withPg((c) => introspectTable(c, schema, 'wide'));
  assert.deepEqual(t.primaryKey, ['a', 'b']);
  const by = new Map(t.columns.map((c) => [c.name, c]));
  assert.deepEqual(
    t.columns.map((c) => c.name),
    [
      'b',
      'a',
      's',
      'r',
      'd',
      'n',
      'nv',
      'm',
      't',
      'v',
      'u',
      'j',
      'dt',
      'ts',
      'ts3',
      'tz',
      'tm',
      'tmtz',
      'iv',
      'bo',
      'by',
      'e',
      'arr',
      'earr',
    ],
  );
  assert.equal(by.get('b')!.nullable, false, 'a primary-key column is not null');
  assert.equal(by.get('r')!.nullable, true);
  const name = (c: string) => (by.get(c)!.avro as Record<string, unknown>)['connect.name'];
  assert.equal(by.get('b')!.avro, 'long');
  assert.equal(by.get('a')!.avro, 'int');
  assert.deepEqual(by.get('s')!.avro, { type: 'int', 'connect.type': 'int16' });
  assert.equal(by.get('r')!.avro, 'float');
  assert.equal(by.get('d')!.avro, 'double');
  assert.deepEqual(
    [
      (by.get('n')!.avro as Record<string, unknown>)['scale'],
      (by.get('n')!.avro as Record<string, unknown>)['precision'],
      name('n'),
    ],
    [3, 10, 'org.apache.kafka.connect.data.Decimal'],
  );
  assert.equal(name('nv'), 'io.debezium.data.VariableScaleDecimal');
  assert.equal(name('m'), 'org.apache.kafka.connect.data.Decimal');
  assert.equal(by.get('t')!.avro, 'string');
  assert.equal(by.get('v')!.avro, 'string');
  assert.equal(name('u'), 'io.debezium.data.Uuid');
  assert.equal(name('j'), 'io.debezium.data.Json');
  assert.equal(name('dt'), 'io.debezium.time.Date');
  assert.equal(name('ts'), 'io.debezium.time.MicroTimestamp');
  assert.equal(name('ts3'), 'io.debezium.time.Timestamp');
  assert.equal(name('tz'), 'io.debezium.time.ZonedTimestamp');
  assert.equal(name('tm'), 'io.debezium.time.MicroTime');
  assert.equal(name('tmtz'), 'io.debezium.time.ZonedTime');
  assert.equal(name('iv'), 'io.debezium.time.MicroDuration');
  assert.equal(by.get('bo')!.avro, 'boolean');
  assert.equal(by.get('by')!.avro, 'bytes');
  assert.equal(name('e'), 'io.debezium.data.Enum');
  assert.deepEqual(by.get('e')!.enumValues, ['sad', 'ok', 'happy']);
  assert.deepEqual(by.get('arr')!.avro, { type: 'array', items: ['null', 'int'] });
  const earr = by.get('earr')!.avro as { items: [string, Record<string, unknown>] };
  assert.equal(earr.items[1]['connect.name'], 'io.debezium.data.Enum');
});

test('an unsupported type and a missing table are refused, naming them', async () => {
  await assert.rejects(
    withPg((c) => introspectTable(c, schema, 'odd')),
    (e: unknown) =>
      e instanceof IntrospectionError &&
      new RegExp(`column ${schema}\\.odd\\.p: type point is not supported`).test(e.message),
  );
  await assert.rejects(
    withPg((c) => introspectTable(c, schema, 'nope')),
    (e: unknown) =>
      e instanceof IntrospectionError && new RegExp(`table ${schema}\\.nope not found`).test(e.message),
  );
});
