/** Closures for the unary, binary and ternary operators, with SQL-like null propagation. */
import { ExprRuntimeError, type Site } from './errors.js';
import { describeValue, epochMs, fail, finite, num, parseTimestamp } from './runtime.js';
import type { Evaluator } from './types.js';

export function negate(operand: Evaluator, site: Site): Evaluator {
  return (r) => {
    const v = operand(r);
    return v === null ? null : 0 - num(v, site);
  };
}

export function not(operand: Evaluator, site: Site): Evaluator {
  return (r) => {
    const v = operand(r);
    if (v === null) return null;
    return typeof v === 'boolean' ? !v : fail(site, 'bool', v);
  };
}

/** Reads a timestamp operand as epoch ms, so that timestamps take part in arithmetic and comparisons. */
export function asEpochMs(operand: Evaluator, site: Site): Evaluator {
  return (r) => {
    const v = operand(r);
    return v === null ? null : epochMs(v, site);
  };
}

type Arithmetic = (a: number, b: number) => number;
const ARITHMETIC: Readonly<Record<'+' | '-' | '*' | '/' | '%', Arithmetic>> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '%': (a, b) => a % b,
};

/** Null in, null out; division or remainder by zero, and any non-finite result, give null. */
export function arithmetic(
  op: keyof typeof ARITHMETIC,
  l: Evaluator,
  r: Evaluator,
  sites: [Site, Site],
): Evaluator {
  const f = ARITHMETIC[op];
  const [sl, sr] = sites;
  return (row) => {
    const a = l(row);
    if (a === null) return null;
    const b = r(row);
    if (b === null) return null;
    return finite(f(num(a, sl), num(b, sr)));
  };
}

/**
 * Equality treats null as a value (`null == null` is true, `x == null` tests for null); values of
 * different kinds are an error rather than silently unequal.
 */
export function equality(negated: boolean, l: Evaluator, r: Evaluator, site: Site): Evaluator {
  return (row) => equals(l(row), r(row), site) !== negated;
}

function equals(a: unknown, b: unknown, site: Site): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  const kind = typeof a;
  if (kind === typeof b && kind !== 'object') return false;
  return compareSlow(a, b, site) === 0;
}

/** Negative, zero or positive; NaN when either number is NaN (every comparison is then false). */
export function compare(a: unknown, b: unknown, site: Site): number {
  if (typeof a === 'number' && typeof b === 'number')
    return a < b ? -1 : a > b ? 1 : a === b ? 0 : Number.NaN;
  return compareSlow(a, b, site);
}

function compareSlow(a: unknown, b: unknown, site: Site): number {
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (isInteger64(a) && isInteger64(b)) {
    // An int64 beyond 2^53 is a bigint: JS compares bigints with numbers exactly.
    return a < b ? -1 : a > b ? 1 : Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : 0;
  }
  const x = comparableNumber(a, b);
  const y = comparableNumber(b, a);
  if (x !== undefined && y !== undefined) return compare(x, y, site);
  throw new ExprRuntimeError(`${site.op} cannot compare ${describeValue(a)} with ${describeValue(b)}`, site);
}

function isInteger64(v: unknown): v is number | bigint {
  return typeof v === 'bigint' || typeof v === 'number';
}

/**
 * `v` as a number for comparing with `other`: numbers and bigints; Dates with Dates; and a Date or
 * an ISO-8601 string facing a number is read as a timestamp (epoch ms). Otherwise undefined.
 */
function comparableNumber(v: unknown, other: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  const facesNumber = typeof other === 'number' || typeof other === 'bigint';
  if (v instanceof Date) return facesNumber || other instanceof Date ? v.getTime() : undefined;
  return typeof v === 'string' && facesNumber ? parseTimestamp(v) : undefined;
}

export function ordering(op: '<' | '<=' | '>' | '>=', l: Evaluator, r: Evaluator, site: Site): Evaluator {
  const test = ORDER_TESTS[op];
  return (row) => {
    const a = l(row);
    if (a === null) return null;
    const b = r(row);
    return b === null ? null : test(compare(a, b, site));
  };
}

const ORDER_TESTS: Readonly<Record<'<' | '<=' | '>' | '>=', (c: number) => boolean>> = {
  '<': (c) => c < 0,
  '<=': (c) => c <= 0,
  '>': (c) => c > 0,
  '>=': (c) => c >= 0,
};

/** Three-valued AND/OR (SQL, Kleene): false AND null is false, true OR null is true, otherwise null wins. */
export function logical(op: '&&' | '||', l: Evaluator, r: Evaluator, sites: [Site, Site]): Evaluator {
  const decisive = op === '||';
  const [sl, sr] = sites;
  return (row) => {
    const a = l(row);
    if (a === decisive) return decisive;
    if (a !== null && typeof a !== 'boolean') return fail(sl, 'bool', a);
    const b = r(row);
    if (b !== null && typeof b !== 'boolean') return fail(sr, 'bool', b);
    if (b === decisive) return decisive;
    return a === null || b === null ? null : !decisive;
  };
}

/** A null condition takes the else branch. */
export function conditional(test: Evaluator, then: Evaluator, otherwise: Evaluator, site: Site): Evaluator {
  return (row) => {
    const c = test(row);
    if (c === true) return then(row);
    if (c === false || c === null) return otherwise(row);
    return fail(site, 'bool', c);
  };
}
