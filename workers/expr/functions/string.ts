import { scalarText } from '../runtime.js';
import { T } from '../types.js';
import { lift1, returnsFixed, string1, string2 } from './helpers.js';
import type { FunctionSpec } from './spec.js';

const S = [{ name: 's', kind: 'string' }] as const;
const string = returnsFixed(T.string);
const bool = returnsFixed(T.bool);
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Length in Unicode code points (a surrogate pair counts once), without allocating. */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** to_number: numbers as they are, bools 1/0, timestamps as epoch ms, decimal text parsed, else null. */
function toNumber(v: unknown): number | null {
  switch (typeof v) {
    case 'number':
      return v - v === 0 ? v : null;
    case 'bigint':
      return Number(v);
    case 'boolean':
      return v ? 1 : 0;
    case 'string': {
      const t = v.trim();
      return DECIMAL.test(t) ? Number(t) : null;
    }
  }
  if (v instanceof Date) {
    const ms = v.getTime();
    return ms - ms === 0 ? ms : null;
  }
  return null;
}

export const STRINGS: readonly FunctionSpec[] = [
  {
    name: 'lower',
    theme: 'string',
    params: S,
    returns: string,
    description: 'Lower case (Unicode default case mapping, locale-independent).',
    example: "lower('ABC')",
    result: '"abc"',
    compile: string1((s) => s.toLowerCase()),
  },
  {
    name: 'upper',
    theme: 'string',
    params: S,
    returns: string,
    description: 'Upper case (Unicode default case mapping, locale-independent).',
    example: "upper('abc')",
    result: '"ABC"',
    compile: string1((s) => s.toUpperCase()),
  },
  {
    name: 'trim',
    theme: 'string',
    params: S,
    returns: string,
    description: 'Without leading and trailing white space.',
    example: "trim('  a b  ')",
    result: '"a b"',
    compile: string1((s) => s.trim()),
  },
  {
    name: 'len',
    theme: 'string',
    params: S,
    returns: returnsFixed(T.int),
    description: 'Length in Unicode code points.',
    example: "len('héllo')",
    result: '5',
    compile: string1(codePointLength),
  },
  {
    name: 'contains',
    theme: 'string',
    params: [
      { name: 's', kind: 'string' },
      { name: 'part', kind: 'string' },
    ],
    returns: bool,
    description: 'Whether part occurs in s (case-sensitive).',
    example: "contains('enterprise', 'prise')",
    result: 'true',
    compile: string2((s, part) => s.includes(part)),
  },
  {
    name: 'starts_with',
    theme: 'string',
    params: [
      { name: 's', kind: 'string' },
      { name: 'prefix', kind: 'string' },
    ],
    returns: bool,
    description: 'Whether s begins with prefix (case-sensitive).',
    example: "starts_with('ent-42', 'ent-')",
    result: 'true',
    compile: string2((s, prefix) => s.startsWith(prefix)),
  },
  {
    name: 'ends_with',
    theme: 'string',
    params: [
      { name: 's', kind: 'string' },
      { name: 'suffix', kind: 'string' },
    ],
    returns: bool,
    description: 'Whether s ends with suffix (case-sensitive).',
    example: "ends_with('a@example.com', '@example.com')",
    result: 'true',
    compile: string2((s, suffix) => s.endsWith(suffix)),
  },
  {
    name: 'concat',
    theme: 'string',
    params: [
      { name: 'a', kind: 'scalar' },
      { name: 'b', kind: 'scalar', rest: true },
    ],
    returns: string,
    description: 'The arguments’ text (as to_string) joined; null when any is null.',
    example: "concat('plan-', 3)",
    result: '"plan-3"',
    compile: (args, ctx) => {
      const evs = args.map((a) => a.ev);
      const sites = args.map((_, i) => ctx.site(i));
      return (r) => {
        let out = '';
        for (let i = 0; i < evs.length; i++) {
          const v = evs[i]!(r);
          if (v === null) return null;
          out += scalarText(v, sites[i]!);
        }
        return out;
      };
    },
  },
  {
    name: 'to_string',
    theme: 'string',
    params: [{ name: 'x', kind: 'scalar' }],
    returns: string,
    description:
      'Text of a value: strings as they are, numbers in shortest round-trip form (3, not 3.0), true/false, timestamps as ISO-8601 UTC.',
    example: 'to_string(2.50)',
    result: '"2.5"',
    compile: lift1(scalarText, (s) => s),
  },
  {
    name: 'to_number',
    theme: 'string',
    params: [{ name: 'x', kind: 'scalar' }],
    returns: returnsFixed(T.number),
    description:
      'A number from a value: numbers as they are, true/false as 1/0, timestamps as epoch ms, decimal text parsed; null for text that is not a decimal number.',
    example: "to_number(' 42.5 ')",
    result: '42.5',
    compile: ([x]) => {
      const a = x!.ev;
      return (r) => toNumber(a(r));
    },
  },
];
