import { z } from 'zod';
import { schemaRegistryConfig } from '../../decode/registry-config.js';
import { kafkaConnection } from '../../sources/kafka/config.js';
import { positiveInt } from '../../spec/fields.js';
import { backfillFlag } from '../columns.js';

export const kafkaSinkConfig = z
  .strictObject({
    ...kafkaConnection,
    brokers: kafkaConnection.brokers.optional().describe('Brokers; defaults to the source brokers.'),
    topic: z.string().min(1).describe('Output topic; messages are keyed by the entity key.'),
    format: z.enum(['json', 'avro']).default('json').describe('Message encoding.'),
    schema_registry: schemaRegistryConfig.optional(),
    backfill: backfillFlag,
    acks: z
      .union([z.literal(-1), z.literal(1)])
      .default(-1)
      .describe('-1 waits for all in-sync replicas.'),
    compression: z.enum(['none', 'gzip']).default('none').describe('Batch compression.'),
    max_request_bytes: positiveInt()
      .default(900_000)
      .describe(
        "Most message bytes (keys, values, headers) in one produce request; larger writes are split. Keep it under the topic's max.message.bytes (1 MiB by default).",
      ),
    headers: z
      .enum(['tombstones', 'all', 'none'])
      .default('tombstones')
      .describe(
        "Which messages carry the streamscore.* headers (pipeline, model, position, op). 'tombstones': " +
          'deletes only, as upserts carry the same fields in their value; each header costs about ' +
          '2.5 µs of producer CPU per message.',
      ),
  })
  .describe('Predictions as Kafka messages keyed by entity key; deletes are tombstones.');
export type KafkaSinkConfig = z.output<typeof kafkaSinkConfig>;
