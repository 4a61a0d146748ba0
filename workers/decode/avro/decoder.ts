import { PipelineError } from '../../core/errors.js';
import type { Decoder } from '../../core/types.js';
import { avroCodec } from '../payload.js';
import { plainDecoder } from '../plain.js';
import type { SchemaRegistryLike } from '../registry.js';
import type { AvroDecoderConfig } from './config.js';

export interface AvroDecoderDeps {
  registry?: SchemaRegistryLike | undefined;
}

/**
 * Plain Avro records in Confluent wire format (not CDC), decoded with the writer schema from the
 * registry; see `plainDecoder` for the record shape. `config.schema_registry` is what the caller
 * built `deps.registry` from (`createSchemaRegistry`).
 */
export function createAvroDecoder(_config: AvroDecoderConfig, deps: AvroDecoderDeps = {}): Decoder {
  if (deps.registry === undefined) {
    throw new PipelineError('the avro decoder needs a schema registry client', {
      code: 'DECODE_CONFIG',
      stage: 'decode',
    });
  }
  return plainDecoder(avroCodec({ registry: deps.registry, state: { unavailable: false } }), undefined);
}
