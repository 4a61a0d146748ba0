/** The feature expression language: parse, type-check and compile expressions to closures. */
export type { BinaryOp, Node, Span } from './ast.js';
export {
  type CompiledExpression,
  type CompileOptions,
  type CompileResult,
  compileExpression,
} from './compiler.js';
export { EXAMPLE_NOW_MS, FUNCTIONS, renderFunctionDocs } from './docs.js';
export { type ExprDiagnostic, type ExprErrorCode, ExprRuntimeError } from './errors.js';
export { bucketIndex, fnv1a32 } from './functions/categorical.js';
export type { FunctionDoc, Theme } from './functions/spec.js';
export { DAYS_PER_MONTH } from './functions/time.js';
export { parse } from './parser.js';
export { parseTimestamp } from './runtime.js';
export type { Evaluator, ExprType, FieldTypeLookup, Row } from './types.js';
