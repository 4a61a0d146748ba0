import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { z } from 'zod';
import type { schemaRegistryConfig } from '../../decode/registry-config.js';

export type SinkRegistryConfig = z.output<typeof schemaRegistryConfig>;

/** Builds the schema registry client of a sink's `schema_registry` config (once per sink). */
export function createSinkRegistry(config: SinkRegistryConfig): SchemaRegistry {
  const auth =
    config.username === undefined
      ? undefined
      : { username: config.username, password: config.password?.reveal() ?? '' };
  return new SchemaRegistry({ host: config.url, ...(auth ? { auth } : {}) });
}
