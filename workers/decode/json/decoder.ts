import type { Decoder } from '../../core/types.js';
import { ConnectJsonReader } from '../connect-json.js';
import { rowConverter } from '../connect-schema.js';
import type { Leaf } from '../logical.js';
import { jsonCodec } from '../payload.js';
import { plainDecoder } from '../plain.js';
import type { DecodeState } from '../unavailable.js';
import type { JsonDecoderConfig } from './config.js';

export interface JsonDecoderDeps {
  /** Row schema (.avsc) whose logical types convert the records' fields (e.g. base64 decimals). */
  rowSchema?: unknown;
}

/**
 * Plain JSON records (not CDC). JsonConverter's `{schema, payload}` wrapping is unwrapped and its
 * logical types converted; see `plainDecoder` for the record shape.
 */
export function createJsonDecoder(config: JsonDecoderConfig, deps: JsonDecoderDeps = {}): Decoder {
  const state: DecodeState = { unavailable: false };
  const row = rowConverter(deps.rowSchema, state);
  // Non-objects pass through unconverted: plainDecoder reports them as what they are.
  const schemaless: Leaf | undefined =
    row === undefined
      ? undefined
      : (v) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? row(v) : v);
  const codec = jsonCodec(new ConnectJsonReader({ state }, schemaless), new ConnectJsonReader({ state }));
  return plainDecoder(codec, config.key_field);
}
