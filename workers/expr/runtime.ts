/**
 * Value helpers shared by the compiled closures. The fast path of each is one `typeof` test and
 * allocates nothing; the slow paths convert rare representations or throw `ExprRuntimeError`.
 */
import { ExprRuntimeError, type Site } from './errors.js';

export const MS_PER_DAY = 86_400_000;

/** `typeName value`, for runtime errors: `string 'abc'`, `number 3`, `list of 2`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'string':
      return `string '${v.length > 40 ? `${v.slice(0, 37)}...` : v}'`;
    case 'number':
    case 'bigint':
      return `number ${String(v)}`;
    case 'boolean':
      return `bool ${v}`;
  }
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'invalid Date' : `Date ${v.toISOString()}`;
  if (Array.isArray(v)) return `list of ${v.length}`;
  if (ArrayBuffer.isView(v)) return 'bytes';
  return typeof v === 'object' ? 'object' : typeof v;
}

export function fail(site: Site, expected: string, value: unknown): never {
  const where = site.where === '' ? '' : ` ${site.where}`;
  throw new ExprRuntimeError(`${site.op} expects ${expected}${where}, got ${describeValue(value)}`, site);
}

/** A non-null value as a number: numbers as they are, bigints converted, anything else rejected. */
export function num(v: unknown, site: Site): number {
  return typeof v === 'number' ? v : numSlow(v, site);
}

function numSlow(v: unknown, site: Site): number {
  if (typeof v === 'bigint') return Number(v);
  return fail(site, 'number', v);
}

export function str(v: unknown, site: Site): string {
  return typeof v === 'string' ? v : fail(site, 'string', v);
}

/** The number, or null when it is NaN or ±Infinity: results are always finite. */
export function finite(x: number): number | null {
  return x - x === 0 ? x : null;
}

/** A non-null timestamp as epoch ms: epoch ms numbers, Dates, ISO-8601 strings (UTC unless an offset is given). */
export function epochMs(v: unknown, site: Site): number {
  return typeof v === 'number' && v - v === 0 ? v : epochMsSlow(v, site);
}

function epochMsSlow(v: unknown, site: Site): number {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) {
    const ms = v.getTime();
    if (ms - ms === 0) return ms;
  } else if (typeof v === 'string') {
    const ms = parseTimestamp(v);
    if (ms !== undefined) return ms;
  }
  return fail(site, 'a timestamp (epoch ms, Date or ISO-8601 string)', v);
}

/** The canonical text of a scalar: what `to_string` returns and `hash_bucket` hashes. */
export function scalarText(v: unknown, site: Site): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
    case 'bigint':
      return String(v);
    case 'boolean':
      return v ? 'true' : 'false';
  }
  if (v instanceof Date && !Number.isNaN(v.getTime())) return v.toISOString();
  return fail(site, 'a string, number, bool or timestamp', v);
}

const ISO =
  /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/**
 * ISO-8601 date or date-time → epoch ms, or undefined when malformed or out of range.
 * Without an offset the time is UTC. Fractions beyond milliseconds are truncated.
 */
export function parseTimestamp(text: string): number | undefined {
  const m = ISO.exec(text.trim());
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4] ?? 0);
  const minute = Number(m[5] ?? 0);
  const second = Number(m[6] ?? 0);
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  const offHours = Number(m[10] ?? 0);
  const offMinutes = Number(m[11] ?? 0);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || offHours > 23 || offMinutes > 59) return undefined;
  const offset = (m[9] === '-' ? -1 : 1) * (offHours * 60 + offMinutes) * 60_000;
  return (
    daysFromCivil(year, month, day) * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000 + ms - offset
  );
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export type CivilPart = 'year' | 'month' | 'day';

/** One part of the UTC calendar date of a day number, computed without allocating. */
export function civilPart(days: number, part: CivilPart): number {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  if (part === 'day') return doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  if (part === 'month') return month;
  return yoe + era * 400 + (month <= 2 ? 1 : 0);
}
