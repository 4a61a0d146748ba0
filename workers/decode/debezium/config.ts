import { z } from 'zod';
import { schemaRegistryConfig } from '../registry-config.js';

export const debeziumDecoderConfig = z
  .strictObject({
    encoding: z
      .enum(['json', 'avro'])
      .default('json')
      .describe('Value converter used by Kafka Connect: JsonConverter (schemas on or off) or Avro.'),
    schema_registry: schemaRegistryConfig.optional(),
    unavailable_value: z
      .enum(['before', 'null', 'reject', 'lookup'])
      .default('before')
      .describe(
        "Unchanged TOASTed columns (REPLICA IDENTITY DEFAULT) arrive as '__debezium_unavailable_value'. " +
          'lookup: read them from the source table (spec.backfill.source.postgres) by key, one query per ' +
          'batch, converted as the backfill converts them, so stream and backfill score alike; before: take ' +
          'the value from `before` (REPLICA IDENTITY FULL), else null; null: always null; reject: send the ' +
          'record to the dead-letter topic.',
      ),
    unavailable_placeholder: z
      .string()
      .min(1)
      .default('__debezium_unavailable_value')
      .describe(
        "The connector's `unavailable.value.placeholder`, if it was changed (`hex:` prefix for a binary one).",
      ),
  })
  .describe('Debezium change-event envelopes (before/after/source/op), tombstones, Connect logical types.');
export type DebeziumDecoderConfig = z.output<typeof debeziumDecoderConfig>;
