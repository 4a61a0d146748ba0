/** Building blocks for library functions: result types and null-propagating closures. */
import type { Site } from '../errors.js';
import { epochMs, finite, num, str } from '../runtime.js';
import { type ExprType, T, unifyAll } from '../types.js';
import type { FunctionSpec } from './spec.js';

type Compile = FunctionSpec['compile'];
type Returns = FunctionSpec['returns'];

export const returnsFixed =
  (t: ExprType): Returns =>
  () =>
    t;

/** int when every argument is an int, else number. */
export const returnsNumeric: Returns = (types) =>
  types.length > 0 && types.every((t) => t.kind === 'int') ? T.int : T.number;

/** The common type of the arguments (coalesce). */
export const returnsUnified: Returns = (types) => unifyAll(types) ?? T.unknown;

/** Reads a non-null argument value as A, or throws `ExprRuntimeError`. */
export type Read<A> = (v: unknown, site: Site) => A;

/** f(x): null in, null out. */
export function lift1<A>(read: Read<A>, f: (a: A) => unknown): Compile {
  return ([x], ctx) => {
    const a = x!.ev;
    const s = ctx.site(0);
    return (r) => {
      const v = a(r);
      return v === null ? null : f(read(v, s));
    };
  };
}

/** f(x, y): null in, null out; y is not evaluated when x is null. */
export function lift2<A>(read: Read<A>, f: (a: A, b: A) => unknown): Compile {
  return ([x, y], ctx) => {
    const a = x!.ev;
    const b = y!.ev;
    const sa = ctx.site(0);
    const sb = ctx.site(1);
    return (r) => {
      const v = a(r);
      if (v === null) return null;
      const w = b(r);
      return w === null ? null : f(read(v, sa), read(w, sb));
    };
  };
}

/** f of numbers; NaN and ±Infinity results become null. */
export const numeric1 = (f: (x: number) => number): Compile => lift1(num, (x) => finite(f(x)));
export const numeric2 = (f: (x: number, y: number) => number): Compile =>
  lift2(num, (x, y) => finite(f(x, y)));
export const timestamp1 = (f: (ms: number) => number): Compile => lift1(epochMs, f);
export const timestamp2 = (f: (a: number, b: number) => number): Compile => lift2(epochMs, f);
export const string1 = (f: (s: string) => unknown): Compile => lift1(str, f);
export const string2 = (f: (s: string, t: string) => unknown): Compile => lift2(str, f);
