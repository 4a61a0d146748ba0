import { PipelineError } from '../core/errors.js';
import type { ChangeRecord, DecodedBatch, Decoder, Origin, RawMessage } from '../core/types.js';
import { type AvroDatumReader, compileAvroReader } from './avro-reader.js';
import type { ConnectJsonReader } from './connect-json.js';
import { type DecodeCode, decodeError, failureOf, type Part } from './failure.js';
import { SchemaCache, type SchemaRegistryLike, WIRE_HEADER_BYTES, wireSchemaId } from './registry.js';
import type { DecodeState, Placeholder } from './unavailable.js';

/**
 * One message encoding (JsonConverter or Confluent-framed Avro), shared by all decoders.
 * `prepare` runs once per batch (registry look-ups, in parallel); `decode` is synchronous and
 * throws on a bad key or value (`failureOf` maps the exception to a PipelineError).
 */
export interface PayloadCodec {
  /** Code of failures that are not otherwise classified. */
  readonly failureCode: DecodeCode;
  /** May reject with a retryable DECODE_REGISTRY PipelineError: the whole batch is retried. */
  prepare(messages: readonly RawMessage[]): Promise<void>;
  decode(buf: Buffer, msg: RawMessage, part: Part): unknown;
  /**
   * A message key: null when absent, decoded when it is in this encoding, else its UTF-8 text
   * (e.g. a key written by Connect's StringConverter).
   */
  decodeKey(msg: RawMessage): unknown;
}

export function jsonCodec(value: ConnectJsonReader, key: ConnectJsonReader): PayloadCodec {
  return {
    failureCode: 'DECODE_JSON',
    prepare: async () => {},
    decode(buf, msg, part) {
      try {
        return (part === 'key' ? key : value).read(buf);
      } catch (err) {
        if (err instanceof SyntaxError) {
          throw decodeError('DECODE_JSON', msg, `invalid JSON in the ${part}: ${err.message}`, {
            cause: err,
            context: { part },
          });
        }
        throw err;
      }
    },
    decodeKey(msg) {
      if (msg.key === null || msg.key.length === 0) return null;
      try {
        return key.read(msg.key);
      } catch (err) {
        if (err instanceof SyntaxError) return msg.key.toString('utf8');
        throw err;
      }
    },
  };
}

export interface AvroCodecOptions {
  registry: SchemaRegistryLike;
  placeholder?: Placeholder | undefined;
  state: DecodeState;
}

export function avroCodec(opts: AvroCodecOptions): PayloadCodec {
  const schemas = new SchemaCache<AvroDatumReader>(opts.registry, (schema) =>
    compileAvroReader(schema, { placeholder: opts.placeholder, state: opts.state }),
  );
  const ids = new Set<number>();
  return {
    failureCode: 'DECODE_AVRO',
    async prepare(messages) {
      ids.clear();
      for (const m of messages) {
        if (m.value !== null && m.value.length >= WIRE_HEADER_BYTES && m.value[0] === 0)
          ids.add(m.value.readInt32BE(1));
        if (m.key !== null && m.key.length >= WIRE_HEADER_BYTES && m.key[0] === 0)
          ids.add(m.key.readInt32BE(1));
      }
      await schemas.load(ids);
    },
    decode(buf, msg, part) {
      const id = wireSchemaId(buf);
      if (typeof id === 'string') {
        throw decodeError('DECODE_AVRO', msg, `the ${part} is not Confluent-framed Avro: ${id}`, {
          context: { part },
        });
      }
      const entry = schemas.get(id);
      if (entry === undefined) {
        throw new PipelineError(`schema id ${id} was not loaded before decoding`, {
          code: 'DECODE_SCHEMA',
          stage: 'decode',
        });
      }
      if (!entry.ok)
        throw decodeError('DECODE_SCHEMA', msg, `${part}: ${entry.reason}`, {
          context: { part, schemaId: id },
        });
      return entry.value(buf, WIRE_HEADER_BYTES);
    },
    decodeKey(msg) {
      const key = msg.key;
      if (key === null || key.length === 0) return null;
      if (key.length < WIRE_HEADER_BYTES || key[0] !== 0) return key.toString('utf8');
      return this.decode(key, msg, 'key');
    },
  };
}

/** What one message became: a record, a failure, or nothing to score (counted as skipped). */
export type RecordResult = ChangeRecord | PipelineError | 'skip';

/**
 * The batch loop every decoder shares: registry look-ups once per batch, tombstones (null or
 * empty values) skipped, value then key decoded, `toRecord` shapes the rest. `begin` runs before
 * each message (to reset per-message scratch state).
 */
export function batchDecoder(
  codec: PayloadCodec,
  toRecord: (value: unknown, key: unknown, msg: RawMessage) => RecordResult,
  begin?: () => void,
): Decoder {
  return {
    async decodeBatch(messages): Promise<DecodedBatch> {
      await codec.prepare(messages);
      const out: DecodedBatch = { records: [], failures: [], skipped: 0 };
      for (const msg of messages) {
        if (msg.value === null || msg.value.length === 0) {
          out.skipped++;
          continue;
        }
        begin?.();
        let part: Part = 'value';
        let result: RecordResult;
        try {
          const value = codec.decode(msg.value, msg, 'value');
          part = 'key';
          const key = codec.decodeKey(msg);
          part = 'value';
          result = toRecord(value, key, msg);
        } catch (err) {
          result = failureOf(err, msg, part, codec.failureCode);
        }
        if (result === 'skip') out.skipped++;
        else if (PipelineError.is(result)) out.failures.push({ message: msg, error: result });
        else out.records.push(result);
      }
      return out;
    },
  };
}

/** Where a record came from, for commits, errors and the dead-letter topic. */
export function originOf(msg: RawMessage): Origin {
  return {
    topic: msg.topic,
    partition: msg.partition,
    offset: msg.offset,
    key: msg.key,
    value: msg.value,
    headers: msg.headers,
  };
}
