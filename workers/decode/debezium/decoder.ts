import { PipelineError } from '../../core/errors.js';
import type { Decoder } from '../../core/types.js';
import { ConnectJsonReader } from '../connect-json.js';
import { rowConverter } from '../connect-schema.js';
import type { Leaf } from '../logical.js';
import { avroCodec, batchDecoder, jsonCodec, type PayloadCodec } from '../payload.js';
import type { SchemaRegistryLike } from '../registry.js';
import { type DecodeState, makePlaceholder, type Placeholder } from '../unavailable.js';
import { type ClockStep, ClockStepWatch } from './clock-steps.js';
import type { DebeziumDecoderConfig } from './config.js';
import { envelopeToRecord, markUnavailable } from './envelope.js';

export interface DebeziumDecoderDeps {
  /** Required for `encoding: avro`. */
  registry?: SchemaRegistryLike | undefined;
  /**
   * Row schema (.avsc with `connect.name` annotations, e.g. `features.input_schema`) giving the
   * logical types of JSON messages that come without schemas. Ignored for other messages.
   */
  rowSchema?: unknown;
  /**
   * Told when the source's clock stepped backwards between two changes of a partition. With or
   * without it, positions keep the partition's commit order (`clock-steps.ts`).
   */
  onClockStep?: ((step: ClockStep) => void) | undefined;
}

/**
 * Decodes Debezium change events: JsonConverter with or without schemas, or Avro in Confluent
 * wire format. Tombstones, truncate and message events are `skipped`; malformed messages become
 * failures and the rest of the batch continues. Decoders are not shared between concurrent
 * `decodeBatch` calls of different pipelines (each owns its schema caches).
 */
export function createDebeziumDecoder(
  config: DebeziumDecoderConfig,
  deps: DebeziumDecoderDeps = {},
): Decoder {
  const state: DecodeState = { unavailable: false };
  const placeholder = makePlaceholder(config.unavailable_placeholder);
  const codec =
    config.encoding === 'avro' ? avroFor(deps, placeholder, state) : jsonFor(deps, placeholder, state);
  const policy = config.unavailable_value;
  const clock = new ClockStepWatch(deps.onClockStep);
  return batchDecoder(
    codec,
    (envelope, key, msg) => envelopeToRecord(envelope, key, msg, state, policy, clock),
    () => {
      state.unavailable = false;
    },
  );
}

function avroFor(deps: DebeziumDecoderDeps, placeholder: Placeholder, state: DecodeState): PayloadCodec {
  if (deps.registry === undefined) {
    throw new PipelineError('the debezium decoder with encoding: avro needs a schema registry client', {
      code: 'DECODE_CONFIG',
      stage: 'decode',
    });
  }
  return avroCodec({ registry: deps.registry, placeholder, state });
}

function jsonFor(deps: DebeziumDecoderDeps, placeholder: Placeholder, state: DecodeState): PayloadCodec {
  const keyState: DecodeState = { unavailable: false };
  const row = rowConverter(deps.rowSchema, state);
  const schemaless: Leaf = (envelope) => {
    markUnavailable(envelope, placeholder, state);
    if (row !== undefined && typeof envelope === 'object' && envelope !== null) {
      const env = envelope as Record<string, unknown>;
      if (env['before'] !== null && env['before'] !== undefined) env['before'] = row(env['before']);
      if (env['after'] !== null && env['after'] !== undefined) env['after'] = row(env['after']);
    }
    return envelope;
  };
  return jsonCodec(
    new ConnectJsonReader({ placeholder, state }, schemaless),
    new ConnectJsonReader({ state: keyState }),
  );
}
