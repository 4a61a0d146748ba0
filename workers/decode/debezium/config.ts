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
      .enum(['before', 'null', 'reject'])
      .default('before')
      .describe(
        "Unchanged TOASTed columns arrive as '__debezium_unavailable_value': take the value from `before` " +
          '(REPLICA IDENTITY FULL) else null; always null; or reject the record to the dead-letter topic.',
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
