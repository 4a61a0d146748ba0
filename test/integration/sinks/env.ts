import { randomBytes } from 'node:crypto';

/** Stack endpoints: `.stack/env` values when exported, else the local stack's defaults. */
export const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:15432/streamscore';
export const KAFKA_BROKERS = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:19092').split(',');
export const SCHEMA_REGISTRY_URL =
  process.env['SCHEMA_REGISTRY_URL'] ?? 'http://127.0.0.1:18081/apis/ccompat/v7';

/** A name unique to this test run: `<prefix>_<8 hex>`. */
export const unique = (prefix: string) => `${prefix}_${randomBytes(4).toString('hex')}`;
