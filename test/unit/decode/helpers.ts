import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RawMessage } from '../../../workers/core/types.js';
import { SchemaNotFoundError, type SchemaRegistryLike } from '../../../workers/decode/registry.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');

/** Messages captured from Kafka (see fixtures/README.md): raw key/value bytes as base64. */
export function loadMessages(name: string): RawMessage[] {
  return readFileSync(join(FIXTURES, name), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const m = JSON.parse(l) as {
        topic: string;
        partition: number;
        offset: string;
        timestamp: string;
        key: string | null;
        value: string | null;
        headers: Record<string, string>;
      };
      return {
        ...m,
        key: m.key === null ? null : Buffer.from(m.key, 'base64'),
        value: m.value === null ? null : Buffer.from(m.value, 'base64'),
      };
    });
}

/** The registry's schemas for the captured Avro messages, by Confluent id. */
export function fixtureSchemas(): Record<string, string> {
  return JSON.parse(readFileSync(join(FIXTURES, 'registry-schemas.json'), 'utf8')) as Record<string, string>;
}

/** An in-memory registry; counts look-ups so tests can assert caching. */
export function memoryRegistry(schemas: Record<string, string>): SchemaRegistryLike & { calls: number } {
  const reg = {
    calls: 0,
    async schemaById(id: number) {
      reg.calls++;
      const schema = schemas[String(id)];
      if (schema === undefined) throw new SchemaNotFoundError(id);
      return { schema };
    },
  };
  return reg;
}

export function message(value: Buffer | string | null, extra: Partial<RawMessage> = {}): RawMessage {
  return {
    topic: 't',
    partition: 0,
    offset: '7',
    key: null,
    value: typeof value === 'string' ? Buffer.from(value) : value,
    headers: {},
    timestamp: '1700000000000',
    ...extra,
  };
}
