import type { z } from 'zod';
import { PipelineError } from '../core/errors.js';
import { Secret } from '../core/secret.js';
import type { Decoder } from '../core/types.js';
import { avroDecoderConfig } from './avro/config.js';
import { createAvroDecoder } from './avro/decoder.js';
import type { ClockStep } from './debezium/clock-steps.js';
import { debeziumDecoderConfig } from './debezium/config.js';
import { createDebeziumDecoder } from './debezium/decoder.js';
import { jsonDecoderConfig } from './json/config.js';
import { createJsonDecoder } from './json/decoder.js';
import type { SchemaRegistryLike } from './registry.js';

/**
 * The pipeline's `spec.decode`: exactly one of the decoder types, with its config (as validated
 * by the pipeline schema, or raw: defaults are applied here).
 */
export interface DecodeSpec {
  debezium?: unknown;
  json?: unknown;
  avro?: unknown;
}

export interface DecoderDeps {
  /** Schema registry client (`createSchemaRegistry(config.schema_registry)`); needed for Avro. */
  registry?: SchemaRegistryLike | undefined;
  /** Row schema (`features.input_schema`, parsed .avsc) for JSON without schemas. */
  rowSchema?: unknown;
  /** Debezium: told when the source database's clock stepped backwards (`debezium/clock-steps.ts`). */
  onClockStep?: ((step: ClockStep) => void) | undefined;
}

/** Builds the decoder `spec.decode` names. Throws a DECODE_CONFIG PipelineError for a bad spec. */
export function createDecoder(spec: DecodeSpec, deps: DecoderDeps = {}): Decoder {
  const present = (['debezium', 'json', 'avro'] as const).filter((k) => spec[k] !== undefined);
  if (present.length !== 1) {
    throw new PipelineError(
      `spec.decode must name exactly one decoder (debezium, json or avro), found ${present.length === 0 ? 'none' : present.join(' and ')}`,
      { code: 'DECODE_CONFIG', stage: 'decode' },
    );
  }
  const type = present[0]!;
  switch (type) {
    case 'debezium':
      return createDebeziumDecoder(parse(debeziumDecoderConfig, spec.debezium, type), deps);
    case 'json':
      return createJsonDecoder(parse(jsonDecoderConfig, spec.json, type), deps);
    case 'avro':
      return createAvroDecoder(parse(avroDecoderConfig, spec.avro, type), deps);
  }
}

function parse<S extends z.ZodType>(schema: S, value: unknown, type: string): z.output<S> {
  // A config the pipeline schema validated already holds Secrets: parse their text again (re-wrapped).
  const result = schema.safeParse(revealSecrets(value));
  if (result.success) return result.data;
  const problems = result.error.issues
    .map((i) => `spec.decode.${type}${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`)
    .join('; ');
  throw new PipelineError(`invalid decoder config: ${problems}`, { code: 'DECODE_CONFIG', stage: 'decode' });
}

function revealSecrets(value: unknown): unknown {
  if (value instanceof Secret) return value.reveal();
  if (Array.isArray(value)) return value.map(revealSecrets);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revealSecrets(v)]));
}
