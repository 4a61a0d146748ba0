import { z } from 'zod';
import { schemaRegistryConfig } from '../registry-config.js';

export const avroDecoderConfig = z
  .strictObject({ schema_registry: schemaRegistryConfig })
  .describe('Plain Avro records in Confluent wire format (not CDC).');
export type AvroDecoderConfig = z.output<typeof avroDecoderConfig>;
