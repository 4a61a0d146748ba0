/** The shape of a library function: its checked signature, its documentation, its closure factory. */
import type { Site } from '../errors.js';
import type { Evaluator, ExprType } from '../types.js';

/**
 * What an argument must be. Value kinds admit null and unknown-typed values (checked at run time);
 * `timestamp` also admits epoch-ms numbers and ISO-8601 strings. Literal kinds must be written
 * in the expression: their values are fixed at compile time.
 */
export type ParamKind =
  | 'number'
  | 'string'
  | 'bool'
  | 'timestamp'
  | 'scalar'
  | 'number_list'
  | 'string_list'
  | 'positive_int';

export interface Param {
  readonly name: string;
  readonly kind: ParamKind;
  /** May be left out (only trailing parameters). */
  readonly optional?: true;
  /** This parameter and any number of further ones of the same kind (last parameter only). */
  readonly rest?: true;
}

export type Theme = 'math' | 'string' | 'time' | 'categorical' | 'null';

/** An argument as the compiler hands it to a function. */
export interface Arg {
  readonly ev: Evaluator;
  readonly type: ExprType;
  /** For literal parameters, the checked value: number[] (ascending), string[] (distinct) or a number. */
  readonly literal: unknown;
}

export interface CallContext {
  readonly name: string;
  /** The injected clock, epoch ms. */
  readonly now: () => number;
  /** Where argument `index` (0-based) is checked, for runtime errors. */
  site(index: number): Site;
}

/** The documentation of one function, as rendered into FUNCTIONS.md. */
export interface FunctionDoc {
  readonly name: string;
  readonly theme: Theme;
  /** E.g. `clamp(x: number, lo: number, hi: number) → number`. */
  readonly signature: string;
  readonly description: string;
  /** A self-contained expression (no fields), evaluated in the unit tests... */
  readonly example: string;
  /** ...to exactly this JSON value. */
  readonly result: string;
}

export interface FunctionSpec {
  readonly name: string;
  readonly theme: Theme;
  readonly params: readonly Param[];
  /** The result type, from the argument types and the literal arguments (undefined for value args). */
  readonly returns: (types: readonly ExprType[], literals: readonly unknown[]) => ExprType;
  /** Written in the result column of the docs, e.g. `int`; defaults to the name of a fixed return type. */
  readonly returnsText?: string;
  /** All value arguments must have one common type (coalesce): the checker reports the first that differs. */
  readonly sameType?: true;
  /** False when the result depends on more than the arguments (now()): never folded at compile time. */
  readonly pure?: false;
  readonly description: string;
  readonly example: string;
  readonly result: string;
  compile(args: readonly Arg[], ctx: CallContext): Evaluator;
}

const KIND_TEXT: Readonly<Record<ParamKind, string>> = {
  number: 'number',
  string: 'string',
  bool: 'bool',
  timestamp: 'timestamp',
  scalar: 'scalar',
  number_list: '[number, ...]',
  string_list: "['category', ...]",
  positive_int: 'int literal',
};

export function kindText(kind: ParamKind): string {
  return KIND_TEXT[kind];
}

export function signatureOf(spec: FunctionSpec): string {
  const params = spec.params.map(
    (p) => `${p.rest ? '...' : ''}${p.name}${p.optional ? '?' : ''}: ${kindText(p.kind)}`,
  );
  const ret = spec.returnsText ?? spec.returns([], []).kind;
  return `${spec.name}(${params.join(', ')}) → ${ret}`;
}

/** Smallest and largest argument count (Infinity with a rest parameter). */
export function arity(spec: FunctionSpec): { min: number; max: number } {
  const min = spec.params.filter((p) => !p.optional).length;
  const max = spec.params.some((p) => p.rest) ? Number.POSITIVE_INFINITY : spec.params.length;
  return { min, max };
}

/** The parameter that argument `index` binds to. */
export function paramAt(spec: FunctionSpec, index: number): Param | undefined {
  const last = spec.params[spec.params.length - 1];
  return spec.params[index] ?? (last?.rest ? last : undefined);
}
