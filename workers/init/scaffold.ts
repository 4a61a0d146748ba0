import { dirname, relative, resolve, sep } from 'node:path';
import { Document, isMap, isPair, isScalar, type Pair, type YAMLMap } from 'yaml';
import { columnKind, type SourceColumn } from './columns.js';
import type { FeatureMatch } from './match.js';

/** What the scaffold is built from. */
export interface ScaffoldInput {
  /** `schema.table`. */
  table: string;
  columns: readonly SourceColumn[];
  primaryKey: readonly string[];
  model: {
    name: string;
    version: string;
    registryDir: string;
    classes: readonly (string | number)[] | undefined;
    regression: boolean;
  };
  matches: readonly FeatureMatch[];
  /** Kafka topic; undefined writes a variable without default (validate names it). */
  topic: string | undefined;
  /** Topics of several connectors capturing the table, when init could not choose (for the TODO). */
  topicCandidates?: readonly string[];
  encoding: 'json' | 'avro';
  /** Paths of the files written (for relative references between them). */
  pipelineFile: string;
  schemaFile: string;
  testFile: string;
  /** The database URL the table was read from, without password (the sink's default). */
  databaseUrl: string;
  /** How init was called, for the header comment. */
  command: string;
}

/** `to` relative to the folder of `from`; absolute when that climbs more than two folders. */
const rel = (from: string, to: string) => {
  const r = relative(dirname(resolve(from)), resolve(to));
  return r.split(sep).filter((s) => s === '..').length > 2 ? resolve(to) : r;
};

/** An identifier-safe name part: `crm.customers` → `customers`. */
const ident = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');

export function pipelineName(table: string, model: string): string {
  const t = table.includes('.') ? table.slice(table.indexOf('.') + 1) : table;
  return `${ident(t)}-${ident(model)}`.replace(/_/g, '-');
}

function keyExpression(input: ScaffoldInput): string | undefined {
  const pk = input.primaryKey;
  if (pk.length === 0) return undefined;
  if (pk.length === 1) return `after.${pk[0]}`;
  const parts = pk.map((k) => {
    const c = input.columns.find((x) => x.name === k);
    return c !== undefined && columnKind(c) === 'string' ? `after.${k}` : `to_string(after.${k})`;
  });
  return `concat(${parts.join(", '/', ")})`;
}

function outputsOf(m: ScaffoldInput['model']): Record<string, string> {
  const n = ident(m.name);
  if (m.regression || m.classes === undefined) return { [`${n}_value`]: 'value' };
  const out: Record<string, string> = {};
  const numeric = m.classes.every((c) => typeof c === 'number');
  if (m.classes.length === 2 && numeric) out[`${n}_probability`] = 'probabilities[1]';
  else {
    for (const c of m.classes) out[`${n}_probability_${ident(String(c))}`] = `probabilities['${String(c)}']`;
  }
  out[`${n}_label`] = 'label';
  return out;
}

/** The pair of `map` whose key is `key`. */
function pairOf(map: unknown, key: string): Pair | undefined {
  if (!isMap(map)) return undefined;
  return (map as YAMLMap).items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key) as
    | Pair
    | undefined;
}

function commentKey(map: unknown, key: string, comment: string): void {
  const pair = pairOf(map, key);
  if (pair && isScalar(pair.key))
    pair.key.commentBefore = comment
      .split('\n')
      .map((l) => ` ${l}`)
      .join('\n');
}

/**
 * The pipeline as a YAML document: every matched feature with a comment saying how it was matched,
 * and a `TODO` for each decision init cannot make (an unmatched feature, a nullable column's null
 * value, a missing primary key or topic), placed so `streamscore validate` fails on that very line.
 */
export function pipelineDocument(input: ScaffoldInput): { doc: Document; todos: number } {
  const name = pipelineName(input.table, input.model.name);
  const envName = name.toUpperCase().replace(/-/g, '_');
  const key = keyExpression(input);
  const map: Record<string, unknown> = {};
  let todos = 0;
  for (const m of input.matches) {
    if (m.kind === 'column') {
      map[m.feature] = m.definition;
      if (m.nullTodo) todos++;
    } else {
      map[m.feature] = 'TODO';
      todos++;
    }
  }
  const outputs = outputsOf(input.model);
  const [schema, table] = input.table.includes('.') ? input.table.split('.', 2) : ['public', input.table];
  const keyColumn = input.primaryKey.length === 1 ? input.primaryKey[0]! : 'entity_key';
  const columns: Record<string, string> = { [keyColumn]: 'key' };
  for (const o of Object.keys(outputs)) columns[o] = o;
  columns['model_sha256'] = 'model.sha256';
  const spec = {
    apiVersion: 'streamscore/v1',
    kind: 'Pipeline',
    metadata: { name, description: `Scores every change of ${input.table} with model ${input.model.name}.` },
    spec: {
      source: {
        kafka: {
          brokers: '${KAFKA_BROKERS:-127.0.0.1:19092}',
          topics: input.topic ?? `\${${envName}_TOPIC}`,
          group_id: `\${${envName}_GROUP:-${name}}`,
        },
      },
      decode: {
        debezium: {
          encoding: input.encoding,
          ...(input.encoding === 'avro'
            ? { schema_registry: { url: '${SCHEMA_REGISTRY_URL:-http://127.0.0.1:18081/apis/ccompat/v7}' } }
            : {}),
        },
      },
      features: {
        key: key ?? 'TODO',
        input_schema: rel(input.pipelineFile, input.schemaFile),
        map,
      },
      model: {
        name: input.model.name,
        version: input.model.version,
        registry: rel(input.pipelineFile, input.model.registryDir),
        outputs,
      },
      sinks: [
        {
          postgres: {
            url: `\${DATABASE_URL:-${input.databaseUrl}}`,
            table: `\${${envName}_SCORES_TABLE:-${ident(schema!)}.${ident(table!)}_${ident(input.model.name)}_scores}`,
            key: [keyColumn],
            columns,
            create_table: true,
          },
        },
      ],
      errors: { dead_letter_topic: `\${${envName}_DLQ:-${name}.dlq}` },
    },
  };
  if (key === undefined) todos++;
  if (input.topic === undefined) todos++;
  const doc = new Document(spec);
  doc.commentBefore = [
    ` Generated by: ${input.command}`,
    ` Answer each TODO below, then: streamscore validate ${input.pipelineFile} && streamscore test ${input.testFile}`,
  ].join('\n');
  const specNode = doc.get('spec') as YAMLMap;
  const features = specNode.get('features') as YAMLMap;
  const mapNode = features.get('map') as YAMLMap;
  for (const m of input.matches) {
    if (m.kind === 'column') {
      const base = `${m.feature} ← ${m.how} (${m.column.dbType}${m.column.nullable ? ', nullable' : ''})`;
      commentKey(mapNode, m.feature, m.nullTodo ? `${base}\nTODO: ${m.nullTodo}` : base);
      const v = pairOf(mapNode, m.feature)?.value;
      if (isMap(v)) v.flow = true;
    } else commentKey(mapNode, m.feature, `TODO: ${m.reason}`);
  }
  const inventory = columnInventory(input.columns);
  if (key === undefined) {
    commentKey(
      features,
      'key',
      `TODO: ${input.table} has no primary key: write the expression of the entity key`,
    );
  }
  const kafka = (specNode.get('source') as YAMLMap).get('kafka') as YAMLMap;
  if (input.topic === undefined) {
    commentKey(
      kafka,
      'topics',
      `TODO: the Debezium topic of ${input.table} (<topic.prefix>.${input.table}); or set ${envName}_TOPIC${
        input.topicCandidates && input.topicCandidates.length > 0
          ? `\nConnectors capturing it: ${input.topicCandidates.join(', ')}`
          : ''
      }`,
    );
  }
  commentKey(
    features,
    'map',
    `Model ${input.model.name} ${input.model.version}'s inputs, in its order. Columns of ${input.table}:\n${inventory}`,
  );
  return { doc, todos };
}

/** The row's columns by kind, one line each, for the comment above the features. */
function columnInventory(columns: readonly SourceColumn[]): string {
  const kinds: [string, (c: SourceColumn) => boolean][] = [
    ['numbers', (c) => ['int', 'number'].includes(columnKind(c))],
    ['booleans', (c) => columnKind(c) === 'bool'],
    [
      'timestamps (epoch ms: days_between(after.x, source.ts_ms), months_between, hour, day_of_week)',
      (c) => columnKind(c) === 'timestamp',
    ],
    ["text (after.x == 'value' with type: bool)", (c) => columnKind(c) === 'string'],
    ['other', (c) => columnKind(c) === 'other'],
  ];
  return kinds
    .map(([label, test]) => {
      const cols = columns.filter(test);
      if (cols.length === 0) return '';
      const names = cols.map(
        (c) => `${c.name}${c.enumValues ? ` (${c.enumValues.join('|')})` : ''}${c.nullable ? '?' : ''}`,
      );
      return `  ${label}: ${names.join(', ')}`;
    })
    .filter((l) => l !== '')
    .join('\n');
}

const DAY_MS = 86_400_000;

/** A value of the column's type in the forms a test row takes (dates as YYYY-MM-DD). */
function sampleValue(c: SourceColumn, i: number): unknown {
  if (c.enumValues && c.enumValues.length > 0) return c.enumValues[0];
  const avro = c.avro;
  const name = typeof avro === 'object' ? avro['connect.name'] : undefined;
  switch (name) {
    case 'io.debezium.time.Date':
      return new Date(Date.UTC(2025, 0, 15) - i * DAY_MS).toISOString().slice(0, 10);
    case 'io.debezium.time.ZonedTimestamp':
    case 'io.debezium.time.Timestamp':
    case 'io.debezium.time.MicroTimestamp':
      return '2025-01-15T10:00:00Z';
    case 'io.debezium.time.MicroTime':
      return 36_000_000_000;
    case 'io.debezium.time.Time':
      return 36_000_000;
    case 'io.debezium.time.ZonedTime':
      return '10:00:00Z';
    case 'io.debezium.time.MicroDuration':
      return 3_600_000_000;
    case 'io.debezium.data.Uuid':
      return '00000000-0000-4000-8000-000000000001';
    case 'io.debezium.data.Json':
      return '{}';
    case 'io.debezium.data.VariableScaleDecimal':
      return { scale: 0, value: 'AQ==' };
    default:
      break;
  }
  if (typeof avro === 'object' && avro['type'] === 'array') return [];
  switch (columnKind(c)) {
    case 'int':
      return 1;
    case 'number':
      return 1.5;
    case 'bool':
      return true;
    case 'string':
      return 'text';
    default:
      return typeof avro === 'string' && avro === 'bytes' ? '' : null;
  }
}

/** The starter test file: one change of a row of sample values, and its delete; expectations come from `--update`. */
export function testDocument(input: ScaffoldInput): Document {
  const row = Object.fromEntries(input.columns.map((c, i) => [c.name, sampleValue(c, i)]));
  const doc = new Document({
    pipeline: rel(input.testFile, input.pipelineFile),
    source_ts: '2025-01-15T12:00:00Z',
    cases: [
      { name: 'a change of one row is scored', row },
      { name: 'a delete reaches the sinks by its key', op: 'd', row: structuredClone(row) },
    ],
  });
  doc.commentBefore = [
    ` Tests of ${rel(input.testFile, input.pipelineFile)}: streamscore test ${input.testFile}`,
    ' The rows are sample values of each column’s type: put in real rows (or `streamscore capture` fixtures),',
    ' then `streamscore test --update` records what they become; check it, and commit it.',
  ].join('\n');
  return doc;
}
