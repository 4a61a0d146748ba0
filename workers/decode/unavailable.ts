/**
 * Debezium's placeholder for unchanged TOASTed columns (REPLICA IDENTITY DEFAULT): a string
 * column gets the placeholder text, a bytes column its bytes (base64 under JsonConverter), an
 * array column a one-element array of it. The decoders replace such values by `UNAVAILABLE` while
 * converting (before any logical conversion, so a Json or Decimal column does not choke on it),
 * raise `state.unavailable`, and the envelope applies the configured policy afterwards.
 */

export const DEFAULT_PLACEHOLDER = '__debezium_unavailable_value';

/** Marks a value Debezium could not provide; never left in a decoded record. */
export const UNAVAILABLE: unique symbol = Symbol.for('streamscore.decode.unavailable');

export interface Placeholder {
  text: string;
  /** Same as bytes, base64 (how JsonConverter writes a bytes column). */
  base64: string;
  bytes: Buffer;
}

/** Per-decoder scratch state, reset before each message (decoding a message is synchronous). */
export interface DecodeState {
  unavailable: boolean;
}

/** Debezium's `unavailable.value.placeholder`: text, or `hex:<octets>` for a binary placeholder. */
export function makePlaceholder(text: string = DEFAULT_PLACEHOLDER): Placeholder {
  const bytes = text.startsWith('hex:') ? Buffer.from(text.slice(4), 'hex') : Buffer.from(text, 'utf8');
  return { text, base64: bytes.toString('base64'), bytes };
}

/** Connect field kinds Debezium can put the placeholder into. */
export type PlaceholderKind = 'string' | 'bytes' | 'array';

/** A check for JSON-decoded values of a field of that kind (bytes arrive as base64). */
export function jsonPlaceholderCheck(kind: PlaceholderKind, p: Placeholder): (value: unknown) => boolean {
  switch (kind) {
    case 'string':
      return (v) => v === p.text;
    case 'bytes':
      return (v) => v === p.base64;
    case 'array':
      return (v) => Array.isArray(v) && v.length === 1 && (v[0] === p.text || v[0] === p.base64);
  }
}
