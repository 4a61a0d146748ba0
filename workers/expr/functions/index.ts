/** The function library, in documentation order; each theme lives in its own file. */
import { CATEGORICAL } from './categorical.js';
import { MATH } from './math.js';
import { NULLS } from './null.js';
import type { FunctionSpec } from './spec.js';
import { STRINGS } from './string.js';
import { TIME } from './time.js';

export const FUNCTION_SPECS: readonly FunctionSpec[] = [
  ...MATH,
  ...NULLS,
  ...STRINGS,
  ...TIME,
  ...CATEGORICAL,
];

export const FUNCTION_BY_NAME: ReadonlyMap<string, FunctionSpec> = new Map(
  FUNCTION_SPECS.map((f) => [f.name, f]),
);
