import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { errorMessage, PipelineError } from '../core/errors.js';
import type { SchemaRegistryConfig } from './registry-config.js';

/** A schema as the registry serves it under a Confluent schema id. */
export interface RegisteredSchemaText {
  /** The schema's text (Avro: its JSON). */
  schema: string;
  /** AVRO when absent (Confluent API convention). */
  schemaType?: string | undefined;
}

/**
 * What the decoders need from a schema registry: the writer schema for a Confluent schema id.
 * Rejects with `SchemaNotFoundError` when the id is unknown; any other rejection counts as the
 * registry being unreachable (retryable). `registryFromConfluentClient` adapts
 * `@kafkajs/confluent-schema-registry`, which brings its own retries and basic auth.
 */
export interface SchemaRegistryLike {
  schemaById(id: number): Promise<RegisteredSchemaText>;
}

export class SchemaNotFoundError extends Error {
  constructor(readonly id: number) {
    super(`schema id ${id} is not in the registry`);
    this.name = 'SchemaNotFoundError';
  }
}

interface ConfluentApi {
  Schema: { find(params: { id: number }): Promise<{ data(): unknown }> };
}

/** Wraps a `@kafkajs/confluent-schema-registry` client (its HTTP API, for the raw schema text). */
export function registryFromConfluentClient(client: SchemaRegistry): SchemaRegistryLike {
  const api = (client as unknown as { api: ConfluentApi }).api;
  return {
    async schemaById(id) {
      let data: unknown;
      try {
        data = (await api.Schema.find({ id })).data();
      } catch (err) {
        if ((err as { status?: unknown }).status === 404) throw new SchemaNotFoundError(id);
        throw err;
      }
      const found = data as { schema?: unknown; schemaType?: unknown };
      if (typeof found.schema !== 'string') throw new Error(`registry answered id ${id} without a schema`);
      return {
        schema: found.schema,
        schemaType: typeof found.schemaType === 'string' ? found.schemaType : undefined,
      };
    },
  };
}

/** Builds the registry client for a decoder's `schema_registry` config (call once per process). */
export function createSchemaRegistry(config: SchemaRegistryConfig): SchemaRegistryLike {
  const auth =
    config.username === undefined
      ? undefined
      : { username: config.username, password: config.password?.reveal() ?? '' };
  return registryFromConfluentClient(new SchemaRegistry({ host: config.url, ...(auth ? { auth } : {}) }));
}

/** Time an unknown schema id is remembered before it is asked for again. */
const NOT_FOUND_TTL_MS = 60_000;

type Entry<T> = { ok: true; value: T } | { ok: false; reason: string; until: number };

/**
 * Compiled schemas by id, fetched once. `load` fetches every id of a batch that is not cached yet
 * in parallel (before the synchronous decode loop); `get` then answers from memory.
 */
export class SchemaCache<T> {
  private readonly entries = new Map<number, Entry<T>>();
  private readonly inflight = new Map<number, Promise<void>>();

  constructor(
    private readonly registry: SchemaRegistryLike,
    /** Builds the decoder-specific form of a schema; throws when the schema is unusable. */
    private readonly compile: (schema: unknown, id: number) => T,
    private readonly now: () => number = Date.now,
  ) {}

  /** Rejects with a retryable DECODE_REGISTRY PipelineError when the registry cannot be reached. */
  async load(ids: Iterable<number>): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const id of ids) {
      const e = this.entries.get(id);
      if (e !== undefined && (e.ok || e.until > this.now())) continue;
      let p = this.inflight.get(id);
      if (p === undefined) {
        p = this.fetch(id).finally(() => this.inflight.delete(id));
        this.inflight.set(id, p);
      }
      pending.push(p);
    }
    if (pending.length > 0) await Promise.all(pending);
  }

  /** The compiled schema, or why it is unusable (`undefined` when `load` was not called for it). */
  get(id: number): Entry<T> | undefined {
    return this.entries.get(id);
  }

  private async fetch(id: number): Promise<void> {
    let found: RegisteredSchemaText;
    try {
      found = await this.registry.schemaById(id);
    } catch (err) {
      if (err instanceof SchemaNotFoundError) {
        this.entries.set(id, { ok: false, reason: err.message, until: this.now() + NOT_FOUND_TTL_MS });
        return;
      }
      throw new PipelineError(
        `schema registry unavailable while fetching schema id ${id}: ${errorMessage(err)}`,
        {
          code: 'DECODE_REGISTRY',
          stage: 'decode',
          retryable: true,
          context: { schemaId: id },
          cause: err,
        },
      );
    }
    const type = found.schemaType ?? 'AVRO';
    if (type !== 'AVRO') {
      this.entries.set(id, {
        ok: false,
        reason: `schema id ${id} is ${type}, not AVRO`,
        until: Number.POSITIVE_INFINITY,
      });
      return;
    }
    try {
      this.entries.set(id, { ok: true, value: this.compile(JSON.parse(found.schema), id) });
    } catch (err) {
      this.entries.set(id, {
        ok: false,
        reason: `schema id ${id} is not a usable Avro schema: ${errorMessage(err)}`,
        until: Number.POSITIVE_INFINITY,
      });
    }
  }
}

/** Confluent wire format: magic byte 0, 4-byte big-endian schema id, then the Avro datum. */
export const WIRE_HEADER_BYTES = 5;

/** The schema id of a Confluent-framed message, or a description of why it is not one. */
export function wireSchemaId(buf: Buffer): number | string {
  if (buf.length < WIRE_HEADER_BYTES) return `${buf.length} bytes, too short for Confluent wire format`;
  if (buf[0] !== 0) return `unknown magic byte ${buf[0]} (Confluent wire format starts with 0)`;
  return buf.readInt32BE(1);
}
