/** Static types of expressions. Every type also admits null at run time; `null` is the type of the literal. */
export type ExprType =
  | { kind: 'number' }
  | { kind: 'int' }
  | { kind: 'bool' }
  | { kind: 'string' }
  | { kind: 'timestamp' }
  | { kind: 'null' }
  /** The input type is not known: allowed anywhere, checked at run time. */
  | { kind: 'unknown' }
  /** A one-hot vector, only as the whole expression. */
  | { kind: 'vector'; width: number }
  /** A list literal, only as a function argument. */
  | { kind: 'list'; of: ExprType };

/** Looks up a field's type by path, e.g. `['after', 'plan']`; undefined when the field is unknown. */
export type FieldTypeLookup = (path: readonly string[]) => ExprType | undefined;

export const T = {
  number: { kind: 'number' },
  int: { kind: 'int' },
  bool: { kind: 'bool' },
  string: { kind: 'string' },
  timestamp: { kind: 'timestamp' },
  null: { kind: 'null' },
  unknown: { kind: 'unknown' },
} as const satisfies Record<string, ExprType>;

export function typeName(t: ExprType): string {
  if (t.kind === 'vector') return `vector of width ${t.width}`;
  if (t.kind === 'list') return 'list';
  return t.kind;
}

/** True for types whose values are numbers at run time (int is a number). */
export function isNumeric(t: ExprType): boolean {
  return t.kind === 'number' || t.kind === 'int';
}

/**
 * The common type of two values that meet (ternary branches, coalesce arguments, equality):
 * null gives way, int widens to number, unknown absorbs; undefined when they cannot meet.
 */
export function unify(a: ExprType, b: ExprType): ExprType | undefined {
  if (a.kind === 'null') return b;
  if (b.kind === 'null') return a;
  if (a.kind === 'unknown' || b.kind === 'unknown') return T.unknown;
  if (a.kind === b.kind)
    return a.kind === 'vector' && b.kind === 'vector' && a.width !== b.width ? undefined : a;
  if (isNumeric(a) && isNumeric(b)) return T.number;
  return undefined;
}

/** The common type of all, or undefined (null for none). */
export function unifyAll(types: readonly ExprType[]): ExprType | undefined {
  let acc: ExprType | undefined = T.null;
  for (const t of types) acc = acc === undefined ? undefined : unify(acc, t);
  return acc;
}

/** What an expression reads: a Debezium envelope `{ before, after, source, op, ... }` or a plain record. */
export type Row = Readonly<Record<string, unknown>>;

/**
 * A compiled expression or sub-expression. Returns number | boolean | string | null, a `number[]`
 * for vectors, or for a bare field of unknown type whatever the record holds (never undefined).
 */
export type Evaluator = (root: Row) => unknown;
