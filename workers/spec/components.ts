import { postgresTableSource } from '../backfill/postgres/index.js';
import type { ComponentSpec } from '../core/component.js';
import { avroDecoder } from '../decode/avro/index.js';
import { debeziumDecoder } from '../decode/debezium/index.js';
import { jsonDecoder } from '../decode/json/index.js';
import { kafkaSink } from '../sinks/kafka/index.js';
import { postgresSink } from '../sinks/postgres/index.js';
import { snowflakeSink } from '../sinks/snowflake/index.js';
import { kafkaSource } from '../sources/kafka/index.js';

/**
 * The explicit component list. Adding an implementation = one folder + one line here; the pipeline
 * schema, the JSON Schema and the docs pick it up. No registration by import side effects.
 */
export const components = {
  source: [kafkaSource],
  decoder: [debeziumDecoder, jsonDecoder, avroDecoder],
  sink: [postgresSink, snowflakeSink, kafkaSink],
  table_source: [postgresTableSource],
} as const satisfies Record<string, readonly ComponentSpec[]>;

export type ComponentKind = keyof typeof components;
