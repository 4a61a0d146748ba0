import type { z } from 'zod';
import { suggestion } from '../core/suggest.js';
import { describeValue } from './problems.js';

export interface PathMessage {
  path: (string | number)[];
  message: string;
  code: string;
  /** Point at the key itself rather than its value (unknown keys). */
  atKey?: boolean;
}

type Issue = z.core.$ZodIssue;

/** Allowed keys of the object schema at `path`, for "did you mean …?". */
export function keysAt(schema: z.ZodType, path: readonly (string | number)[], data: unknown): string[] {
  let node: unknown = schema;
  let value: unknown = data;
  for (const seg of [...path, null]) {
    node = unwrap(node, value);
    if (seg === null) break;
    const def = defOf(node);
    if (def?.type === 'object') node = (def.shape as Record<string, unknown>)[String(seg)];
    else if (def?.type === 'array') node = def.element;
    else if (def?.type === 'record') node = def.valueType;
    else return [];
    value =
      value !== null && typeof value === 'object'
        ? (value as Record<string, unknown>)[String(seg)]
        : undefined;
  }
  const def = defOf(node);
  return def?.type === 'object' ? Object.keys(def.shape as object) : [];
}

interface Def {
  type: string;
  [k: string]: unknown;
}
function defOf(node: unknown): Def | undefined {
  return (node as { _zod?: { def?: Def } } | undefined)?._zod?.def;
}

function unwrap(node: unknown, value: unknown): unknown {
  for (let i = 0; i < 20; i++) {
    const def = defOf(node);
    if (!def) return node;
    if (['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch'].includes(def.type))
      node = def.innerType;
    else if (def.type === 'pipe') node = def.in;
    else if (def.type === 'union') {
      const options = def.options as unknown[];
      const wantObject = value !== null && typeof value === 'object' && !Array.isArray(value);
      node = options.find((o) => (defOf(unwrap(o, value))?.type === 'object') === wantObject) ?? options[0];
    } else return node;
  }
  return node;
}

/** zod's type names in the reference's terms (docs/pipeline-reference.md: map, list, integer). */
const DOC_TYPES: Readonly<Record<string, string>> = {
  object: 'map',
  record: 'map',
  map: 'map',
  array: 'list',
  tuple: 'list',
  set: 'list',
  int: 'integer',
};

function expectedGot(expected: string, input: unknown): string {
  return `expected ${expected}, got ${describeValue(input)}`;
}

/** Turns zod issues into located, actionable messages: "expected X, got Y". */
export function explainIssues(schema: z.ZodType, data: unknown, issues: readonly Issue[]): PathMessage[] {
  const out: PathMessage[] = [];
  for (const issue of issues) explain(schema, data, issue, out);
  return out;
}

function explain(schema: z.ZodType, data: unknown, issue: Issue, out: PathMessage[]): void {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)) as (string | number)[];
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = keysAt(schema, path, data);
      for (const key of issue.keys) {
        const hint = suggestion(key, allowed);
        out.push({
          path: [...path, key],
          code: 'unknown_key',
          atKey: true,
          message: `unknown key '${key}'${hint || (allowed.length > 0 ? ` (expected one of: ${allowed.join(', ')})` : '')}`,
        });
      }
      return;
    }
    case 'invalid_type': {
      const expected = DOC_TYPES[issue.expected] ?? issue.expected;
      const msg = input === undefined ? `required ${expected} is missing` : expectedGot(expected, input);
      out.push({ path, code: input === undefined ? 'missing_key' : 'invalid_type', message: msg });
      return;
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v)));
      const hint = typeof input === 'string' ? suggestion(input, issue.values.map(String)) : '';
      out.push({
        path,
        code: 'invalid_value',
        message: `${expectedGot(values.length === 1 ? values[0]! : `one of ${values.join(', ')}`, input)}${hint}`,
      });
      return;
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const inclusive = issue.inclusive !== false;
      const word =
        issue.code === 'too_small'
          ? inclusive
            ? 'at least'
            : 'more than'
          : inclusive
            ? 'at most'
            : 'less than';
      const unit =
        issue.origin === 'array'
          ? ' item(s)'
          : issue.origin === 'string'
            ? ' character(s)'
            : issue.origin === 'set'
              ? ' item(s)'
              : '';
      const found = Array.isArray(input) ? `${input.length} item(s)` : describeValue(input);
      out.push({ path, code: issue.code, message: `expected ${word} ${String(bound)}${unit}, got ${found}` });
      return;
    }
    case 'invalid_format': {
      const what = issue.format === 'regex' ? issue.message : issue.format === 'url' ? 'a URL' : issue.format;
      out.push({ path, code: 'invalid_format', message: expectedGot(what, input) });
      return;
    }
    case 'invalid_key': {
      const inner = issue.issues[0];
      const what = inner?.code === 'invalid_format' ? inner.message : 'a valid key';
      out.push({ path, code: 'invalid_key', atKey: true, message: expectedGot(what, input) });
      return;
    }
    case 'invalid_union': {
      // Explain the branch that fits the value's shape best (fewest issues, deepest path).
      const branches = issue.errors.filter((b) => b.length > 0);
      const score = (b: readonly Issue[]) =>
        b.filter((i) => (i.code === 'invalid_type' || i.code === 'invalid_value') && i.path.length === 0)
          .length *
          100 +
        b.length;
      const best = branches.sort((a, b) => score(a) - score(b))[0];
      if (!best || score(best) >= 100) {
        out.push({
          path,
          code: 'invalid_type',
          message: expectedGot(
            issue.message.includes('Invalid input')
              ? 'a value of another shape (see the reference)'
              : issue.message,
            input,
          ),
        });
        return;
      }
      for (const sub of best)
        explain(schema, data, { ...sub, path: [...issue.path, ...sub.path] } as Issue, out);
      return;
    }
    default: {
      const m = issue.message;
      out.push({ path, code: issue.code, message: m.includes(', got ') ? m : expectedGot(m, input) });
    }
  }
}
