import pg from 'pg';
import { int64FromText } from '../../core/int64.js';
import { zonedTime, zonedTimestamp } from '../../decode/logical.js';

/**
 * Postgres text values → the very JS values the Debezium decoder produces for the same column
 * (see `decode/logical.ts` and the fixtures' README), so a backfilled row and a streamed change
 * of it compute identical features:
 *
 * | type | value | as Debezium (default modes) |
 * |---|---|---|
 * | int8 | number, bigint beyond 2^53 (`core/int64.ts`) | int64 |
 * | numeric | number (nearest double of the decimal text); integral text exact like int8 | Decimal / VariableScaleDecimal |
 * | date | epoch ms at UTC midnight | Date (days) × 86 400 000 |
 * | time | ms of day, µs kept as a fraction | MicroTime / 1000, Time |
 * | timetz | ms of day in UTC | ZonedTime |
 * | timestamp | epoch ms, µs kept as a fraction | MicroTimestamp / 1000, Timestamp |
 * | timestamptz | epoch ms, µs kept as a fraction | ZonedTimestamp |
 * | bytea | base64 string | bytes (JsonConverter) |
 * | json, jsonb | parsed value | Json |
 * | uuid, text, bool, int2, int4, float4, float8 | unchanged (pg's defaults) | |
 *
 * Arrays of these convert element by element. The client session must use `TimeZone=UTC` and
 * `DateStyle=ISO` (see `SESSION_OPTIONS`). A value this module cannot read (a BC date, say) is
 * passed on as its text, so the feature that uses it fails for that row (dead letter) rather than
 * the chunk. Not converted: interval (Debezium MicroDuration) and money stay text.
 *
 * These parsers are installed on the reader's own clients (`types`), never globally.
 */

/** libpq options that make the text forms above deterministic. */
export const SESSION_OPTIONS = '-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres';

const MS_PER_DAY = 86_400_000;
/** 400 Gregorian years, in ms: shifts years 0–99 out of Date.UTC's 1900s mapping. */
const ERA_MS = 146_097 * MS_PER_DAY;

function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number {
  return y >= 0 && y < 100
    ? Date.UTC(y + 400, mo - 1, d, h, mi, s) - ERA_MS
    : Date.UTC(y, mo - 1, d, h, mi, s);
}

const DATE = /^(\d{4,})-(\d{2})-(\d{2})$/;
const TIME = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;
const TIMESTAMP = /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;
const TIMESTAMPTZ = /^(\d{4,}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)([+-]\d{2}(?::\d{2}){0,2})$/;

const micros = (frac: string | undefined) => (frac === undefined ? 0 : Number(frac.padEnd(6, '0')));

export function parseDate(text: string): number | string {
  const m = DATE.exec(text);
  if (m === null) return special(text);
  return utcMs(Number(m[1]), Number(m[2]), Number(m[3]));
}

export function parseTime(text: string): number | string {
  const m = TIME.exec(text);
  if (m === null) return text;
  const us = ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1_000_000 + micros(m[4]);
  return us / 1000;
}

export function parseTimestamp(text: string): number | string {
  const m = TIMESTAMP.exec(text);
  if (m === null) return special(text);
  const ms = utcMs(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return (ms * 1000 + micros(m[7])) / 1000;
}

export function parseTimestamptz(text: string): number | string {
  // The reader's sessions are in UTC: `2024-01-15 11:45:30.123456+00` is Debezium's
  // `2024-01-15T11:45:30.123456Z`, which zonedTimestamp reads without a regex or Date.parse.
  const n = text.length;
  if (n >= 22 && n <= 29 && text.charCodeAt(10) === 32 && text.endsWith('+00') && text.charCodeAt(4) === 45) {
    try {
      return zonedTimestamp(`${text.slice(0, 10)}T${text.slice(11, n - 3)}Z`);
    } catch {
      return text;
    }
  }
  const m = TIMESTAMPTZ.exec(text);
  if (m === null) return special(text);
  if (m[3]!.length > 6) return text; // an offset with seconds: not an ISO-8601 form
  try {
    return zonedTimestamp(`${m[1]}T${m[2]}${m[3]}`);
  } catch {
    return text;
  }
}

export function parseTimetz(text: string): number | string {
  try {
    return zonedTime(text);
  } catch {
    return text;
  }
}

function special(text: string): number | string {
  if (text === 'infinity') return Number.POSITIVE_INFINITY;
  if (text === '-infinity') return Number.NEGATIVE_INFINITY;
  return text;
}

const INTEGRAL = /^-?\d+$/;

/** NUMERIC text: an integer exactly (as Debezium's scale-0 decimals), anything else its nearest double. */
export function parseNumeric(text: string): number | bigint {
  return INTEGRAL.test(text) ? int64FromText(text) : Number(text);
}

export function parseBytea(text: string): string {
  return text.startsWith('\\x') ? Buffer.from(text.slice(2), 'hex').toString('base64') : text;
}

type Parser = (text: string) => unknown;

const OID = {
  bytea: 17,
  int8: 20,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  timetz: 1266,
  numeric: 1700,
  text_array: 1009,
} as const;

const SCALARS = new Map<number, Parser>([
  [OID.bytea, parseBytea],
  [OID.int8, int64FromText],
  [OID.numeric, parseNumeric],
  [OID.date, parseDate],
  [OID.time, parseTime],
  [OID.timetz, parseTimetz],
  [OID.timestamp, parseTimestamp],
  [OID.timestamptz, parseTimestamptz],
]);

/** Array type oid → element type oid, for the element types converted above. */
const ARRAYS = new Map<number, number>([
  [1001, OID.bytea],
  [1016, OID.int8],
  [1231, OID.numeric],
  [1182, OID.date],
  [1183, OID.time],
  [1270, OID.timetz],
  [1115, OID.timestamp],
  [1185, OID.timestamptz],
]);

function mapArray(value: unknown, element: Parser): unknown {
  if (Array.isArray(value)) return value.map((v) => mapArray(v, element));
  return value === null ? null : element(value as string);
}

const getParser = pg.types.getTypeParser as (oid: number, format: 'text' | 'binary') => Parser;
const textArray = getParser(OID.text_array, 'text');

/** Parser for one type oid (text format). */
export function parserFor(oid: number): Parser {
  const scalar = SCALARS.get(oid);
  if (scalar !== undefined) return scalar;
  const element = ARRAYS.get(oid);
  if (element !== undefined) {
    const parse = SCALARS.get(element)!;
    return (text) => mapArray(textArray(text), parse);
  }
  return getParser(oid, 'text');
}

/** The `types` option of the reader's pg clients. */
export const debeziumTypes = {
  getTypeParser: ((oid: number, format?: string) =>
    format === 'binary' ? getParser(oid, 'binary') : parserFor(oid)) as typeof pg.types.getTypeParser,
};
