import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { columnsOfRowSchema, rowSchemaOf, type SourceColumn } from '../../../workers/init/columns.js';
import { matchFeatures } from '../../../workers/init/match.js';
import { pipelineDocument, testDocument } from '../../../workers/init/scaffold.js';
import { validatePipelineFile } from '../../../workers/spec/validate.js';

const date = { type: 'int', 'connect.name': 'io.debezium.time.Date' };
const cols: SourceColumn[] = [
  { name: 'id', avro: 'long', nullable: false, dbType: 'bigint' },
  {
    name: 'Monthly_Spend',
    avro: { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 },
    nullable: false,
    dbType: 'numeric(12,2)',
  },
  { name: 'seats', avro: 'int', nullable: true, dbType: 'integer' },
  { name: 'is_enterprise', avro: 'boolean', nullable: false, dbType: 'boolean' },
  { name: 'signup_date', avro: date, nullable: false, dbType: 'date' },
  {
    name: 'plan',
    avro: {
      type: 'string',
      'connect.name': 'io.debezium.data.Enum',
      'connect.parameters': { allowed: 'basic,pro' },
    },
    nullable: false,
    dbType: 'tier',
    enumValues: ['basic', 'pro'],
  },
  { name: 'tenure', avro: 'string', nullable: false, dbType: 'text' },
  { name: 'tickets', avro: 'int', nullable: false, dbType: 'integer' },
  { name: 'TICKETS', avro: 'int', nullable: false, dbType: 'integer' },
];

test('features match by exact name, then ignoring case and underscores, then as enum indicators', () => {
  const m = matchFeatures(
    ['monthlyspend', 'seats', 'is_enterprise', 'plan_pro', 'signup_date', 'tenure', 'tickets_', 'age'],
    cols,
  );
  const by = new Map(m.map((x) => [x.feature, x]));
  const col = (f: string) => {
    const x = by.get(f)!;
    assert.equal(x.kind, 'column', f);
    return x as Extract<typeof x, { kind: 'column' }>;
  };
  assert.equal(col('monthlyspend').definition, 'after.Monthly_Spend');
  assert.match(col('monthlyspend').how, /case\/underscore-insensitive/);
  assert.deepEqual(col('seats').definition, { expr: 'coalesce(after.seats, TODO)', type: 'int' });
  assert.match(col('seats').nullTodo!, /seats can be null/);
  assert.deepEqual(col('is_enterprise').definition, { expr: 'after.is_enterprise', type: 'bool' });
  assert.deepEqual(col('plan_pro').definition, { expr: "after.plan == 'pro'", type: 'bool' });
  const todo = (f: string) => {
    const x = by.get(f)!;
    assert.equal(x.kind, 'todo', f);
    return (x as Extract<typeof x, { kind: 'todo' }>).reason;
  };
  assert.match(todo('signup_date'), /column signup_date matches by name but is a timestamp/);
  assert.match(todo('tenure'), /column tenure matches by name but is text/);
  assert.match(todo('tickets_'), /several columns match tickets_ .*\(tickets, TICKETS\)/);
  assert.match(todo('age'), /no column is named age/);
});

test('the scaffolded pipeline fails validate at exactly its TODOs, and passes once they are answered', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'streamscore-init-'));
  const pipelineFile = join(dir, 'p.yaml');
  const schemaFile = join(dir, 'row.avsc');
  const columns: SourceColumn[] = [
    { name: 'customer_id', avro: 'long', nullable: false, dbType: 'bigint' },
    { name: 'signup_date', avro: date, nullable: false, dbType: 'date' },
    { name: 'monthly_spend', avro: 'double', nullable: true, dbType: 'double precision' },
    { name: 'seats', avro: 'int', nullable: false, dbType: 'integer' },
  ];
  writeFileSync(schemaFile, JSON.stringify(rowSchemaOf('t', 'row', columns)));
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
  const input = {
    table: 'crm.customers',
    columns,
    primaryKey: ['customer_id'],
    model: {
      name: 'churn',
      version: '1',
      registryDir: resolve('pipelines/models'),
      classes: [0, 1],
      regression: false,
    },
    matches: matchFeatures(features, columns),
    topic: 'crm.crm.customers',
    encoding: 'json' as const,
    pipelineFile,
    schemaFile,
    testFile: join(dir, 'p.test.yaml'),
    databaseUrl: 'postgres://postgres@127.0.0.1:15432/streamscore',
    command: 'streamscore init …',
  };
  const { doc, todos } = pipelineDocument(input);
  const text = doc.toString({ lineWidth: 0 });
  writeFileSync(pipelineFile, text);
  const todoLines = text
    .split('\n')
    .map((l, i) => [l.replace(/#.*$/, ''), i + 1] as const)
    .filter(([l]) => /\bTODO\b/.test(l))
    .map(([, i]) => i);
  assert.equal(todos, 7);
  const v = await validatePipelineFile(pipelineFile);
  assert.deepEqual(
    v.problems.map((p) => p.line),
    todoLines,
  );
  assert.ok(v.problems.every((p) => p.message.includes("unknown field 'TODO'")));
  assert.match(text, /# TODO: monthly_spend can be null/);
  assert.match(text, /key: after\.customer_id/);
  assert.match(text, /churn_probability: probabilities\[1\]/);
  assert.match(text, /create_table: true/);

  const answered = text
    .replace(/: TODO$/gm, ': "0"')
    .replace('coalesce(after.monthly_spend, TODO)', 'coalesce(after.monthly_spend, 0)');
  writeFileSync(pipelineFile, answered);
  const ok = await validatePipelineFile(pipelineFile);
  assert.deepEqual(ok.problems, []);

  // The starter test reads every column of the schema, in the forms a test row takes.
  const t = testDocument(input).toJS() as { cases: { row: Record<string, unknown> }[] };
  assert.deepEqual(Object.keys(t.cases[0]!.row), ['customer_id', 'signup_date', 'monthly_spend', 'seats']);
  assert.match(String(t.cases[0]!.row['signup_date']), /^\d{4}-\d{2}-\d{2}$/);
});

test('a registered Debezium envelope gives the row columns (nullable, enum labels)', () => {
  const envelope = {
    type: 'record',
    name: 'Envelope',
    fields: [
      {
        name: 'before',
        type: [
          'null',
          {
            type: 'record',
            name: 'Value',
            fields: [
              { name: 'id', type: 'long' },
              {
                name: 'plan',
                type: [
                  'null',
                  {
                    type: 'string',
                    'connect.name': 'io.debezium.data.Enum',
                    'connect.parameters': { allowed: 'a,b' },
                  },
                ],
                default: null,
              },
            ],
          },
        ],
      },
      { name: 'after', type: ['null', 'Value'] },
      { name: 'op', type: 'string' },
    ],
  };
  const c = columnsOfRowSchema(envelope);
  assert.deepEqual(
    c.map((x) => [x.name, x.nullable, x.enumValues ?? null]),
    [
      ['id', false, null],
      ['plan', true, ['a', 'b']],
    ],
  );
});
