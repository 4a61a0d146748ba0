import { PipelineError } from '../core/errors.js';
import type { RawMessage } from '../core/types.js';
import { AvroReadError } from './avro-reader.js';
import { ValueConversionError } from './logical.js';

/**
 * Stable codes of decode failures (per record, dead-lettered unless noted):
 * - DECODE_JSON: the value or key is not valid JSON (or not an object where one is required).
 * - DECODE_AVRO: not Confluent wire format (magic byte 0 + 4-byte schema id) or malformed Avro bytes.
 * - DECODE_SCHEMA: the schema id is unknown to the registry, not Avro, or not a valid schema.
 * - DECODE_ENVELOPE: a Debezium envelope without `op`, without `after` for c/u/r, or without `source`.
 * - DECODE_VALUE: a logical-type value that cannot be converted (e.g. a malformed ZonedTimestamp).
 * - DECODE_UNAVAILABLE_VALUE: an unchanged TOASTed column under `unavailable_value: reject`.
 * - DECODE_REGISTRY (retryable, fails the whole batch): the registry could not be reached.
 * - DECODE_CONFIG (at creation): the decoder's dependencies do not fit its configuration.
 */
export type DecodeCode =
  | 'DECODE_JSON'
  | 'DECODE_AVRO'
  | 'DECODE_SCHEMA'
  | 'DECODE_ENVELOPE'
  | 'DECODE_VALUE'
  | 'DECODE_UNAVAILABLE_VALUE'
  | 'DECODE_REGISTRY'
  | 'DECODE_CONFIG';

/** `topic/partition@offset`, the form every decode error names its record by. */
export function positionOf(msg: RawMessage): string {
  return `${msg.topic}/${msg.partition}@${msg.offset}`;
}

export function decodeError(
  code: DecodeCode,
  msg: RawMessage,
  what: string,
  options: { cause?: unknown; context?: Record<string, unknown> } = {},
): PipelineError {
  const position = positionOf(msg);
  return new PipelineError(`${position}: ${what}`, {
    code,
    stage: 'decode',
    position,
    ...(options.context === undefined ? {} : { context: options.context }),
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  });
}

/** Which part of the message failed, for messages: the record's key or its value. */
export type Part = 'key' | 'value';

/** Maps an exception thrown while decoding one part of a message to its PipelineError. */
export function failureOf(err: unknown, msg: RawMessage, part: Part, fallback: DecodeCode): PipelineError {
  if (PipelineError.is(err)) return err;
  if (err instanceof ValueConversionError) {
    const at = err.path.length > 0 ? ` at ${part}.${err.path.join('.')}` : ` in the ${part}`;
    return decodeError('DECODE_VALUE', msg, `cannot convert the value${at}: ${err.message}`, {
      cause: err,
      context: { part, field: err.path.join('.') },
    });
  }
  if (err instanceof AvroReadError) {
    return decodeError('DECODE_AVRO', msg, `invalid Avro ${part}: ${err.message}`, {
      cause: err,
      context: { part },
    });
  }
  const text = err instanceof Error ? err.message : String(err);
  return decodeError(fallback, msg, `cannot decode the ${part}: ${text}`, { cause: err, context: { part } });
}
