/** Helpers of the backfill integration tests (real Postgres and Redis of the local stack). */
import { Redis } from 'ioredis';
import type { BackfillSpec } from '../../../workers/backfill/create.js';
import { Secret } from '../../../workers/core/secret.js';
import type { Logger } from '../../../workers/core/types.js';
import { env } from '../../support/stack.js';

export const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export function redis(): Redis {
  return new Redis(env.redisUrl, { maxRetriesPerRequest: null });
}

/** Deletes every key under a BullMQ prefix (each test uses its own). */
export async function dropPrefix(r: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await r.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** A backfill section with the schema's defaults, for a Postgres table. */
export function backfillSpec(
  table: string,
  key: string[],
  overrides: Partial<Omit<BackfillSpec, 'source'>> & { updated_at?: string } = {},
): BackfillSpec {
  const { updated_at, ...rest } = overrides;
  return {
    source: {
      postgres: {
        url: new Secret(env.databaseUrl),
        table,
        key,
        ...(updated_at ? { updated_at } : {}),
      },
    },
    chunk_size: 100,
    fetch_rows: 40,
    concurrency: 2,
    attempts: 3,
    backoff_ms: 100,
    lock_ms: 2000,
    ...rest,
  };
}
