import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { parse } from 'yaml';
import { readVersion } from '../models/catalog.js';
import { columnsOfRowSchema, rowSchemaOf, type SourceColumn } from './columns.js';
import { connectorsCapturing } from './connect.js';
import { type FeatureMatch, matchFeatures } from './match.js';
import { introspectTable } from './postgres.js';
import { pipelineDocument, pipelineName, type ScaffoldInput, testDocument } from './scaffold.js';

export interface InitOptions {
  /** `schema.table` (Postgres mode; with a subject, only names things). */
  table?: string | undefined;
  /** A version folder: `<registry>/<name>/<version>/` with manifest.yaml. */
  model: string;
  topic?: string | undefined;
  /** A registry subject (`<topic>-value`): the row schema is read from it instead of Postgres. */
  subject?: string | undefined;
  out?: string | undefined;
  schemaOut?: string | undefined;
  force?: boolean;
  databaseUrl?: string | undefined;
  registryUrl?: string | undefined;
  /** Kafka Connect: without --topic, the topic of the one Debezium connector capturing the table. */
  connectUrl?: string | undefined;
  command: string;
}

export interface InitResult {
  files: { pipeline: string; schema: string; test: string };
  /** The topic written (given, found on Kafka Connect, or the subject's); undefined leaves a TODO. */
  topic: string | undefined;
  matches: FeatureMatch[];
  todos: number;
}

/** A user mistake init reports in one line (exit 1), without a stack trace. */
export class InitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InitError';
  }
}

interface ModelFacts {
  name: string;
  version: string;
  registryDir: string;
  features: string[];
  classes: (string | number)[] | undefined;
  regression: boolean;
}

function readModel(dir: string): ModelFacts {
  const abs = resolve(dir);
  const manifestPath = join(abs, 'manifest.yaml');
  if (!existsSync(manifestPath)) {
    throw new InitError(
      `--model ${dir}: expected a model version folder with manifest.yaml (e.g. pipelines/models/churn/1), found none`,
    );
  }
  const registryDir = dirname(dirname(abs));
  const info = readVersion(registryDir, basename(dirname(abs)), basename(abs));
  if (info.features === undefined || info.features.length === 0) {
    throw new InitError(
      `${manifestPath}: inputs[0].features: expected the model's feature names, found none`,
    );
  }
  const raw = parse(readFileSync(manifestPath, 'utf8')) as { classes?: unknown };
  const classes = Array.isArray(raw.classes) ? (raw.classes as (string | number)[]) : undefined;
  const regression = classes === undefined && info.outputs.length === 1;
  return {
    name: info.name,
    version: info.version,
    registryDir,
    features: info.features,
    classes,
    regression,
  };
}

function splitTable(table: string): [string, string] {
  const m = /^([A-Za-z_][A-Za-z0-9_$]*)\.([A-Za-z_][A-Za-z0-9_$]*)$/.exec(table);
  if (!m) throw new InitError(`--table: expected schema.table (e.g. crm.customers), got '${table}'`);
  return [m[1]!, m[2]!];
}

/** The URL without its password: what the pipeline may show as a default. */
function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

async function fromRegistry(
  url: string,
  subject: string,
): Promise<{ columns: SourceColumn[]; primaryKey: string[]; table: string; topic: string }> {
  const latest = async (s: string): Promise<unknown> => {
    const res = await fetch(`${url.replace(/\/$/, '')}/subjects/${encodeURIComponent(s)}/versions/latest`);
    if (res.status === 404) return undefined;
    if (!res.ok) throw new InitError(`registry ${url}: subject ${s}: HTTP ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { schema?: string };
    return JSON.parse(body.schema ?? 'null');
  };
  const value = await latest(subject);
  if (value === undefined)
    throw new InitError(`--subject ${subject}: no such subject in the registry at ${url}`);
  const columns = columnsOfRowSchema(value);
  if (columns.length === 0) {
    throw new InitError(
      `--subject ${subject}: expected a Debezium envelope (before/after/op) or a row record, found no columns`,
    );
  }
  const topic = subject.replace(/-value$/, '');
  const key = await latest(`${topic}-key`);
  const primaryKey = key === undefined ? [] : columnsOfRowSchema(key).map((c) => c.name);
  const parts = topic.split('.');
  const table = parts.length >= 2 ? parts.slice(-2).join('.') : topic;
  return { columns, primaryKey, table, topic };
}

/**
 * Scaffolds a pipeline from a table (or a registry subject) and a model version: the input schema
 * (.avsc with Debezium's types), the pipeline with every feature it can match and a TODO for each
 * other, and a starter test file. Refuses to overwrite any of them without `force`.
 */
export async function runInit(o: InitOptions): Promise<InitResult> {
  const model = readModel(o.model);
  let columns: SourceColumn[];
  let primaryKey: string[];
  let table: string;
  let topic = o.topic;
  let databaseUrl = o.databaseUrl;
  let topicCandidates: string[] = [];
  if (o.subject !== undefined) {
    if (o.registryUrl === undefined) {
      throw new InitError('--subject needs the registry: pass --registry-url or set SCHEMA_REGISTRY_URL');
    }
    const r = await fromRegistry(o.registryUrl, o.subject);
    columns = r.columns;
    primaryKey = r.primaryKey;
    table = o.table ?? r.table;
    topic ??= r.topic;
  } else {
    if (o.table === undefined) throw new InitError('expected --table schema.table or --subject <subject>');
    if (databaseUrl === undefined) {
      throw new InitError('--table needs the database: pass --database-url or set DATABASE_URL');
    }
    const [schema, name] = splitTable(o.table);
    const client = new pg.Client({ connectionString: databaseUrl });
    try {
      await client.connect();
    } catch (err) {
      throw new InitError(`cannot connect to ${withoutPassword(databaseUrl)}: ${(err as Error).message}`);
    }
    try {
      const t = await introspectTable(client, schema, name);
      columns = t.columns;
      primaryKey = t.primaryKey;
    } finally {
      await client.end().catch(() => undefined);
    }
    table = o.table;
    if (topic === undefined && o.connectUrl !== undefined) {
      const dbname = new URL(databaseUrl).pathname.replace(/^\//, '');
      const found = await connectorsCapturing(o.connectUrl, decodeURIComponent(dbname), table);
      const topics = [...new Set(found.map((c) => c.topic))];
      if (topics.length === 1) topic = topics[0];
      else if (topics.length > 1) topicCandidates = found.map((c) => `${c.topic} (connector ${c.name})`);
    }
  }
  const name = pipelineName(table, model.name);
  const pipelineFile = o.out ?? join('pipelines', `${name}.yaml`);
  const outDir = dirname(pipelineFile);
  const schemaFile = o.schemaOut ?? join(outDir === '.' ? '.' : dirname(outDir), 'schemas', `${table}.avsc`);
  const testFile = pipelineFile.replace(/(\.ya?ml)?$/, '.test.yaml');
  const files = { pipeline: pipelineFile, schema: schemaFile, test: testFile };
  const existing = Object.values(files).filter((f) => existsSync(f));
  if (existing.length > 0 && !o.force) {
    throw new InitError(
      `${existing.join(', ')} already exist(s): nothing was written (use --force to overwrite)`,
    );
  }
  const matches = matchFeatures(model.features, columns);
  const input: ScaffoldInput = {
    table,
    columns,
    primaryKey,
    model,
    matches,
    topic,
    topicCandidates,
    encoding: o.subject !== undefined ? 'avro' : 'json',
    pipelineFile,
    schemaFile,
    testFile,
    databaseUrl: withoutPassword(databaseUrl ?? 'postgres://postgres@127.0.0.1:15432/postgres'),
    command: o.command,
  };
  const { doc, todos } = pipelineDocument(input);
  const avsc = rowSchemaOf(
    topic ?? table,
    `Row of ${table} as Debezium emits it (after/before); written by streamscore init.`,
    columns,
  );
  for (const f of Object.values(files)) mkdirSync(dirname(f), { recursive: true });
  writeFileSync(schemaFile, `${JSON.stringify(avsc, null, 2)}\n`);
  writeFileSync(pipelineFile, doc.toString({ lineWidth: 0 }));
  writeFileSync(testFile, testDocument(input).toString({ lineWidth: 0 }));
  databaseUrl = undefined;
  return { files, topic, matches, todos };
}
