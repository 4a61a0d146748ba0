import { T } from '../types.js';
import { returnsFixed, returnsUnified } from './helpers.js';
import type { FunctionSpec } from './spec.js';

/** The first non-null argument, evaluating no further than needed. */
const firstNonNull: FunctionSpec['compile'] = (args) => {
  const evs = args.map((a) => a.ev);
  if (evs.length === 2) {
    const [a, b] = evs as [(typeof evs)[0], (typeof evs)[0]];
    return (r) => {
      const v = a(r);
      return v === null ? b(r) : v;
    };
  }
  return (r) => {
    for (const ev of evs) {
      const v = ev(r);
      if (v !== null) return v;
    }
    return null;
  };
};

export const NULLS: readonly FunctionSpec[] = [
  {
    name: 'coalesce',
    theme: 'null',
    params: [
      { name: 'a', kind: 'scalar' },
      { name: 'b', kind: 'scalar', rest: true },
    ],
    sameType: true,
    returns: returnsUnified,
    returnsText: 'the arguments’ type',
    description: 'The first argument that is not null (null when all are). All arguments must have one type.',
    example: 'coalesce(null, 0)',
    result: '0',
    compile: firstNonNull,
  },
  {
    name: 'if_null',
    theme: 'null',
    params: [
      { name: 'x', kind: 'scalar' },
      { name: 'default', kind: 'scalar' },
    ],
    sameType: true,
    returns: returnsUnified,
    returnsText: 'the arguments’ type',
    description: 'x, or default when x is null: coalesce with two arguments.',
    example: 'if_null(null, -1)',
    result: '-1',
    compile: firstNonNull,
  },
  {
    name: 'is_null',
    theme: 'null',
    params: [{ name: 'x', kind: 'scalar' }],
    returns: returnsFixed(T.bool),
    description: 'true when x is null or the field is missing, else false (never null).',
    example: 'is_null(null)',
    result: 'true',
    compile: ([x]) => {
      const a = x!.ev;
      return (r) => a(r) === null;
    },
  },
];
