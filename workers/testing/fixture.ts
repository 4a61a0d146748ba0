import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { RawMessage } from '../core/types.js';
import { parseJsonExact } from '../decode/exact-json.js';
import type { RegisteredSchemaText, SchemaRegistryLike } from '../decode/registry.js';
import { SchemaNotFoundError } from '../decode/registry.js';

/**
 * A fixture file (`streamscore capture`): real Kafka messages of a pipeline's topic. JSON messages
 * are stored decoded (the JsonConverter message as JSON, integers beyond 2^53 exact); Avro ones
 * as their bytes (base64) with the writer schemas they name, so `streamscore test` replays both
 * through the stream's decoder without Kafka or a registry.
 */
export const FIXTURE_FORMAT = 'streamscore.fixture/v1';

const eventSchema = z.strictObject({
  partition: z.number().int(),
  offset: z.string(),
  timestamp: z.string(),
  encoding: z.enum(['json', 'avro']),
  key: z.unknown().optional(),
  value: z.unknown().optional(),
  key_base64: z.string().nullable().optional(),
  value_base64: z.string().nullable().optional(),
  headers: z.record(z.string(), z.string()).optional(),
});

export const fixtureSchema = z.strictObject({
  format: z.literal(FIXTURE_FORMAT),
  pipeline: z.string(),
  topic: z.string(),
  captured_at: z.string(),
  redacted: z.array(z.string()),
  /** Avro writer schemas by Confluent schema id (their JSON text). */
  schemas: z.record(z.string(), z.string()),
  events: z.array(eventSchema),
});

export type Fixture = z.output<typeof fixtureSchema>;
export type FixtureEvent = z.output<typeof eventSchema>;

const BIG = '\u0000bigint:';

/** JSON text with bigints written as plain integers (exact). */
export function stringifyExact(value: unknown, indent?: number): string {
  const text = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${BIG}${v}` : v), indent);
  return text.replace(/"\\u0000bigint:(-?\d+)"/g, '$1');
}

export function writeFixture(file: string, fixture: Fixture): void {
  writeFileSync(file, `${stringifyExact(fixture, 1)}\n`);
}

/** Reads a fixture; throws an Error naming the file and what is wrong. */
export function readFixture(file: string): Fixture {
  let data: unknown;
  try {
    data = parseJsonExact(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not a fixture file (${(err as Error).message})`);
  }
  const parsed = fixtureSchema.safeParse(data);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new Error(
      `${file}: not a ${FIXTURE_FORMAT} fixture: ${i.path.map(String).join('.') || '(top)'}: ${i.message}`,
    );
  }
  return parsed.data;
}

/** The Kafka message an event was; `offset` is replaced by the caller's index (to map results back). */
export function messageOf(fixture: Fixture, e: FixtureEvent, offset: string): RawMessage {
  const buf = (json: unknown, b64: string | null | undefined): Buffer | null => {
    if (e.encoding === 'avro') return b64 === null || b64 === undefined ? null : Buffer.from(b64, 'base64');
    return json === null || json === undefined ? null : Buffer.from(stringifyExact(json));
  };
  return {
    topic: fixture.topic,
    partition: e.partition,
    offset,
    key: buf(e.key, e.key_base64),
    value: buf(e.value, e.value_base64),
    headers: e.headers ?? {},
    timestamp: e.timestamp,
  };
}

/** A registry answering from a fixture's stored writer schemas (offline replay of Avro events). */
export function fixtureRegistry(schemas: ReadonlyMap<number, string>): SchemaRegistryLike {
  return {
    async schemaById(id: number): Promise<RegisteredSchemaText> {
      const schema = schemas.get(id);
      if (schema === undefined) throw new SchemaNotFoundError(id);
      return { schema, schemaType: 'AVRO' };
    },
  };
}
