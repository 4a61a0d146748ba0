import { type ConvertOptions, compileConnectSchema, isConnectSchema } from './connect-schema.js';
import { parseJsonExact } from './exact-json.js';
import type { Leaf } from './logical.js';

const SCHEMA_PREFIX = '{"schema":';
const PAYLOAD_SEP = '},"payload":';
/** Distinct schemas remembered per reader; a topic has a handful (one per table version). */
const MAX_CACHED_SCHEMAS = 256;

type Schema = Parameters<typeof compileConnectSchema>[0];

/**
 * Reads JsonConverter output, with schemas (`{"schema":…,"payload":…}`) or without, into the
 * payload with Connect logical types converted and integers exact (`exact-json.ts`).
 *
 * With schemas, every message repeats the same schema text, often several times larger than the
 * payload, so the schema is neither parsed nor decoded again:
 * - the bytes up to `"payload":` are compared (memcmp) with those of the previous message; when
 *   equal, only the payload bytes are turned into a string and parsed;
 * - otherwise the converter is looked up by the schema's text (the prefix up to `},"payload":`).
 *   A prefix enters that cache only after it parsed as one complete JSON value, which it can only
 *   be if it ends exactly where the schema ends; so a later message that starts with the same
 *   characters carries the same schema.
 * Anything unusual (extra top-level keys, whitespace, key order) falls back to parsing it all.
 */
export class ConnectJsonReader {
  private readonly converters = new Map<string, Leaf | null>();
  /** Bytes of `{"schema":<schema>,"payload":` of the last fast-path message, and its converter. */
  private last: { prefix: Buffer; conv: Leaf | null } | undefined;

  constructor(
    private readonly opts: ConvertOptions,
    /** Converter for payloads that come without a schema (from a row .avsc), if any. */
    private readonly schemaless?: Leaf | undefined,
  ) {}

  /** Throws SyntaxError for invalid JSON, ValueConversionError for unconvertible values. */
  read(input: Buffer | string): unknown {
    if (typeof input !== 'string') {
      const last = this.last;
      if (last !== undefined && input.length > last.prefix.length) {
        const n = last.prefix.length;
        if (input.compare(last.prefix, 0, n, 0, n) === 0) {
          const end = lastBrace(input);
          if (end > n) {
            const fast = this.payload(input.toString('utf8', n, end), last.conv);
            if (fast !== NOT_FAST) return fast;
          }
        }
      }
    }
    const text = typeof input === 'string' ? input : input.toString('utf8');
    if (text.startsWith(SCHEMA_PREFIX)) {
      const fast = this.readFast(text);
      if (fast !== NOT_FAST) return fast;
    }
    const parsed: unknown = parseJsonExact(text);
    if (isSchemaEnvelope(parsed)) {
      const { schema, payload } = parsed;
      if (payload === null) return null;
      if (schema === null) return this.schemaless === undefined ? payload : this.schemaless(payload);
      const conv = this.converterFor(JSON.stringify(schema), schema);
      return conv === null ? payload : conv(payload);
    }
    if (parsed === null || this.schemaless === undefined) return parsed;
    return this.schemaless(parsed);
  }

  private readFast(text: string): unknown {
    let end = text.length - 1;
    while (end > 0 && text.charCodeAt(end) <= 32) end--;
    if (text.charCodeAt(end) !== 125 /* } */) return NOT_FAST;
    let idx = text.indexOf(PAYLOAD_SEP, SCHEMA_PREFIX.length);
    while (idx >= 0) {
      const schemaText = text.slice(SCHEMA_PREFIX.length, idx + 1);
      let conv = this.converters.get(schemaText);
      if (conv === undefined) {
        let schema: unknown;
        try {
          schema = JSON.parse(schemaText);
        } catch {
          idx = text.indexOf(PAYLOAD_SEP, idx + 1);
          continue;
        }
        if (!isConnectSchema(schema)) return NOT_FAST;
        conv = this.converterFor(schemaText, schema);
      }
      const start = idx + PAYLOAD_SEP.length;
      const value = this.payload(text.slice(start, end), conv);
      if (value !== NOT_FAST) this.last = { prefix: Buffer.from(text.slice(0, start), 'utf8'), conv };
      return value;
    }
    return NOT_FAST;
  }

  private payload(text: string, conv: Leaf | null): unknown {
    let payload: unknown;
    try {
      payload = parseJsonExact(text);
    } catch {
      return NOT_FAST;
    }
    return conv === null || payload === null ? payload : conv(payload);
  }

  private converterFor(key: string, schema: Schema): Leaf | null {
    const cached = this.converters.get(key);
    if (cached !== undefined) return cached;
    const conv = compileConnectSchema(schema, this.opts) ?? null;
    if (this.converters.size >= MAX_CACHED_SCHEMAS) this.converters.clear();
    this.converters.set(key, conv);
    return conv;
  }
}

const NOT_FAST: unique symbol = Symbol('not-fast');

/** Index of the closing `}` of a message (trailing whitespace skipped), or -1. */
function lastBrace(buf: Buffer): number {
  let end = buf.length - 1;
  while (end > 0 && buf[end]! <= 32) end--;
  return buf[end] === 125 ? end : -1;
}

function isSchemaEnvelope(v: unknown): v is { schema: Schema | null; payload: unknown } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  if (keys.length !== 2 || !('schema' in v) || !('payload' in v)) return false;
  const schema = (v as { schema: unknown }).schema;
  return schema === null || isConnectSchema(schema);
}
