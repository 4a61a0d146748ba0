import { finite, num } from '../runtime.js';
import { T } from '../types.js';
import { numeric1, numeric2, returnsFixed, returnsNumeric } from './helpers.js';
import type { FunctionSpec } from './spec.js';

const X = [{ name: 'x', kind: 'number' }] as const;
const number = returnsFixed(T.number);
const int = returnsFixed(T.int);

/** Rounds half away from zero, at `digits` decimal places (negative digits round to tens, hundreds...). */
function roundHalfAway(x: number, digits: number): number {
  const f = 10 ** Math.trunc(digits);
  const y = Math.round(Math.abs(x) * f) / f;
  return x < 0 ? 0 - y : y;
}

/** min/max over two or more numbers: null when any argument is null. */
function extremumSpec(
  name: string,
  pick: (a: number, b: number) => number,
  description: string,
  [example, result]: [string, string],
): FunctionSpec {
  return {
    name,
    theme: 'math',
    params: [
      { name: 'a', kind: 'number' },
      { name: 'b', kind: 'number', rest: true },
    ],
    returns: returnsNumeric,
    returnsText: 'number (int for ints)',
    description,
    example,
    result,
    compile: extremum(pick),
  };
}

function extremum(pick: (a: number, b: number) => number): FunctionSpec['compile'] {
  return (args, ctx) => {
    const evs = args.map((a) => a.ev);
    const sites = args.map((_, i) => ctx.site(i));
    return (r) => {
      let acc = Number.NaN;
      for (let i = 0; i < evs.length; i++) {
        const v = evs[i]!(r);
        if (v === null) return null;
        const x = num(v, sites[i]!);
        acc = i === 0 ? x : pick(acc, x);
      }
      return finite(acc);
    };
  };
}

export const MATH: readonly FunctionSpec[] = [
  {
    name: 'abs',
    theme: 'math',
    params: X,
    returns: returnsNumeric,
    returnsText: 'number (int for an int)',
    description: 'Absolute value.',
    example: 'abs(-3)',
    result: '3',
    compile: numeric1(Math.abs),
  },
  {
    name: 'sqrt',
    theme: 'math',
    params: X,
    returns: number,
    description: 'Square root; null for a negative x.',
    example: 'sqrt(16)',
    result: '4',
    compile: numeric1(Math.sqrt),
  },
  {
    name: 'log',
    theme: 'math',
    params: X,
    returns: number,
    description: 'Natural logarithm; null for x <= 0.',
    example: 'log(1)',
    result: '0',
    compile: numeric1(Math.log),
  },
  {
    name: 'log1p',
    theme: 'math',
    params: X,
    returns: number,
    description:
      'ln(1 + x), exact for small x; null for x <= -1. The usual transform for counts and amounts.',
    example: 'log1p(0)',
    result: '0',
    compile: numeric1(Math.log1p),
  },
  {
    name: 'exp',
    theme: 'math',
    params: X,
    returns: number,
    description: 'e raised to x; null when that overflows.',
    example: 'exp(0)',
    result: '1',
    compile: numeric1(Math.exp),
  },
  {
    name: 'pow',
    theme: 'math',
    params: [
      { name: 'x', kind: 'number' },
      { name: 'y', kind: 'number' },
    ],
    returns: number,
    description: 'x raised to y; null when the result is not a finite number.',
    example: 'pow(2, 10)',
    result: '1024',
    compile: numeric2((x, y) => x ** y),
  },
  {
    name: 'sigmoid',
    theme: 'math',
    params: X,
    returns: number,
    description: 'The logistic function 1 / (1 + e^-x).',
    example: 'sigmoid(0)',
    result: '0.5',
    compile: numeric1((x) => 1 / (1 + Math.exp(-x))),
  },
  extremumSpec(
    'min',
    Math.min,
    'The smallest argument; null when any argument is null (use coalesce to skip nulls).',
    ['min(3, 1, 2)', '1'],
  ),
  extremumSpec('max', Math.max, 'The largest argument; null when any argument is null.', [
    'max(3, 1, 2)',
    '3',
  ]),
  {
    name: 'clamp',
    theme: 'math',
    params: [
      { name: 'x', kind: 'number' },
      { name: 'lo', kind: 'number' },
      { name: 'hi', kind: 'number' },
    ],
    returns: returnsNumeric,
    returnsText: 'number (int for ints)',
    description: 'x limited to [lo, hi]: max(lo, min(x, hi)). With lo > hi the result is lo.',
    example: 'clamp(150, 0, 100)',
    result: '100',
    compile: clampCompile(),
  },
  {
    name: 'round',
    theme: 'math',
    params: [
      { name: 'x', kind: 'number' },
      { name: 'digits', kind: 'number', optional: true },
    ],
    returns: (types) => (types.length === 1 ? T.int : T.number),
    returnsText: 'int, or number with digits',
    description:
      'Rounds half away from zero (2.5 → 3, -2.5 → -3), to `digits` decimal places when given (in binary floating point).',
    example: 'round(3.14159, 2)',
    result: '3.14',
    compile: (args, ctx) =>
      args.length === 1
        ? numeric1((x) => roundHalfAway(x, 0))(args, ctx)
        : numeric2(roundHalfAway)(args, ctx),
  },
  {
    name: 'floor',
    theme: 'math',
    params: X,
    returns: int,
    description: 'The largest integer <= x.',
    example: 'floor(-1.5)',
    result: '-2',
    compile: numeric1(Math.floor),
  },
  {
    name: 'ceil',
    theme: 'math',
    params: X,
    returns: int,
    description: 'The smallest integer >= x.',
    example: 'ceil(1.2)',
    result: '2',
    compile: numeric1(Math.ceil),
  },
];

function clampCompile(): FunctionSpec['compile'] {
  return ([x, lo, hi], ctx) => {
    const a = x!.ev;
    const l = lo!.ev;
    const h = hi!.ev;
    const [sx, sl, sh] = [ctx.site(0), ctx.site(1), ctx.site(2)];
    return (r) => {
      const v = a(r);
      if (v === null) return null;
      const vl = l(r);
      const vh = h(r);
      if (vl === null || vh === null) return null;
      return finite(Math.max(num(vl, sl), Math.min(num(v, sx), num(vh, sh))));
    };
  };
}
