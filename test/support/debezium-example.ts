/**
 * One example pipeline of pipelines/ run as shipped, end to end on the real stack: a source table
 * in a Postgres schema of the test's own, a real Debezium connector capturing it, and
 * `streamscore run <pipeline>` pointed at the test's topics and tables through the pipeline's
 * variables. Afterwards the worker stops and the connector, its slot and publication, the schema
 * (source and score tables), the topics, the consumer groups and the registry subjects go.
 */
import { after, before } from 'node:test';
import type pg from 'pg';
import { type RunningCli, startCli } from './cli.js';
import {
  deleteGroups,
  deleteTopics,
  dropDebezium,
  env,
  registerDebezium,
  uniqueId,
  waitFor,
  withPg,
} from './stack.js';
import { topicsStartingWith } from './topics.js';

export interface ExampleNames {
  id: string;
  /** The test's Postgres schema: the source table and the score table live in it. */
  schema: string;
  /** The captured source table, `schema.table`. */
  table: string;
  /** The Debezium topic of the table. */
  topic: string;
  /** The pipeline's consumer group, dead-letter topic, output topic and score table. */
  group: string;
  dlq: string;
  output: string;
  scores: string;
}

export interface ExampleOptions {
  /** Short name: prefix of the schema, topics and connector. */
  name: string;
  /** Unqualified name of the source table. */
  table: string;
  converter: 'json' | 'avro';
  /** `create table <table> (...)` for the qualified table name. */
  ddl(table: string): string;
  /** Rows in the table before the connector starts (its snapshot: op r). */
  seed?(c: pg.Client, table: string): Promise<unknown>;
  /** `streamscore run` arguments after `run` (the pipeline file, options). */
  args: string[];
  /** The pipeline's variables pointing it at the test's names. */
  env(n: ExampleNames): Record<string, string>;
}

export interface ExampleCase extends ExampleNames {
  /** The running worker (started in `before`). */
  worker(): RunningCli;
  /** stack.ts' waitFor, with the end of the worker's output in its timeout error. */
  waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
}

export function debeziumExample(o: ExampleOptions): ExampleCase {
  const id = uniqueId();
  const schema = `${o.name}_${id}`;
  const prefix = `${o.name}${id}`;
  const table = `${schema}.${o.table}`;
  const names: ExampleNames = {
    id,
    schema,
    table,
    topic: `${prefix}.${table}`,
    group: `${prefix}-group`,
    dlq: `${prefix}.dlq`,
    output: `${prefix}-scores`,
    scores: `${schema}.scores`,
  };
  const connector = `${o.name}_${id}`;
  let worker: RunningCli | undefined;

  before(async () => {
    await withPg(async (c) => {
      await c.query(`create schema ${schema}; ${o.ddl(table)}`);
      await o.seed?.(c, table);
    });
    await registerDebezium({ name: connector, topicPrefix: prefix, tables: [table], converter: o.converter });
    worker = startCli(['run', ...o.args], o.env(names));
  });

  after(async () => {
    await worker?.stop();
    await dropDebezium(connector);
    await withPg((c) => c.query(`drop schema if exists ${schema} cascade`));
    await deleteTopics(await topicsStartingWith(prefix));
    await deleteGroups([names.group]);
    if (o.converter === 'avro') {
      for (const subject of [`${names.topic}-key`, `${names.topic}-value`]) {
        const url = `${env.registryUrl}/subjects/${encodeURIComponent(subject)}`;
        await fetch(url, { method: 'DELETE' }).catch(() => undefined);
        await fetch(`${url}?permanent=true`, { method: 'DELETE' }).catch(() => undefined);
      }
    }
  });

  return {
    ...names,
    worker: () => {
      if (!worker) throw new Error('the worker is started in before()');
      return worker;
    },
    waitFor: (what, check, timeoutMs) =>
      waitFor(what, check, timeoutMs).catch((err: Error) => {
        throw new Error(`${err.message}\nworker output:\n${worker?.output().slice(-3000)}`);
      }),
  };
}

/** The rows of `sql`, read through a fresh connection. */
export function query<R = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
  return withPg(async (c) => (await c.query(sql, params)).rows as R[]);
}

/** The rows of `sql` on `table`, none while the table does not exist yet (the worker creates it). */
export async function queryTable<R = Record<string, unknown>>(table: string, sql: string): Promise<R[]> {
  const [exists] = await query<{ t: string | null }>('select to_regclass($1) as t', [table]);
  return exists?.t === null ? [] : query<R>(sql);
}
