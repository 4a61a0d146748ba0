import { z } from 'zod';
import { secret } from '../spec/fields.js';

export const schemaRegistryConfig = z
  .strictObject({
    url: z.url().describe('Confluent-compatible schema registry API (Apicurio: /apis/ccompat/v7).'),
    username: z.string().optional().describe('Basic-auth user.'),
    password: secret().optional(),
  })
  .describe('Schema registry for Avro (Confluent wire format: magic byte + 4-byte schema id).');
export type SchemaRegistryConfig = z.output<typeof schemaRegistryConfig>;
